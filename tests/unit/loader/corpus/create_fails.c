/* create_fails: loads fine; its create op rejects the configuration with a
 * message naming what is wrong, as a real plugin would. Callers turn this
 * into EVC_REFUSE_CREATE (exit code 30). */
#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

static int create_fails_create(const struct evc_host_api *host, const evc_transport_params *params,
                               evc_transport **out, evc_error *err)
{
    *out = NULL;
    const char *endpoint = params && params->endpoint ? params->endpoint : "(none)";
    return evc_error_set(err, EVC_ECONFIG,
                         "create_fails: endpoint '%s' rejected (this plugin always fails create)",
                         endpoint);
}

static const evc_transport_ops ops = {
    .struct_size = sizeof(evc_transport_ops),
    .create = create_fails_create,
};

static const evc_plugin_descriptor desc = {CORPUS_DESCRIPTOR_FIELDS(&ops)};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    return &desc;
}
