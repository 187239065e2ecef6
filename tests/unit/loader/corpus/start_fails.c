/* start_fails: loads and creates fine; start cannot reach its endpoint.
 * Callers turn this into EVC_REFUSE_START (exit code 31). */
#include <stdio.h>
#include <stdlib.h>

#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

struct evc_transport {
    char endpoint[128];
};

static int start_fails_create(const struct evc_host_api *host, const evc_transport_params *params,
                              evc_transport **out, evc_error *err)
{
    *out = NULL;
    evc_transport *t = calloc(1, sizeof *t);
    if (t == NULL)
        return evc_error_set(err, EVC_ENOMEM, "start_fails: out of memory");
    const char *endpoint = params && params->endpoint ? params->endpoint : "(none)";
    snprintf(t->endpoint, sizeof t->endpoint, "%s", endpoint);
    *out = t;
    return EVC_OK;
}

static int start_fails_start(evc_transport *t, evc_error *err)
{
    return evc_error_set(err, EVC_EIO,
                         "start_fails: cannot connect to '%s' (this plugin always fails start)",
                         t->endpoint);
}

static void start_fails_destroy(evc_transport *t) { free(t); }

static const evc_transport_ops ops = {
    .struct_size = sizeof(evc_transport_ops),
    .create = start_fails_create,
    .start = start_fails_start,
    .destroy = start_fails_destroy,
};

static const evc_plugin_descriptor desc = {CORPUS_DESCRIPTOR_FIELDS(&ops)};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    return &desc;
}
