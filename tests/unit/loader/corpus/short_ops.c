/* short_ops: a valid descriptor whose transport ops table holds only
 * struct_size and create (an ops struct from before the 1.0 layout). */
#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

struct create_only_ops {
    uint32_t struct_size;
    int (*create)(const struct evc_host_api *host, const evc_transport_params *params,
                  evc_transport **out, evc_error *err);
};

static const struct create_only_ops ops = {
    .struct_size = sizeof(struct create_only_ops),
    .create = corpus_stub_create,
};

static const evc_plugin_descriptor desc = {CORPUS_DESCRIPTOR_FIELDS(&ops)};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    return &desc;
}
