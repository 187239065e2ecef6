/* wrong_kind: a store plugin in a transport plugin's file. */
#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

#pragma GCC diagnostic ignored "-Woverride-init"
static const evc_plugin_descriptor desc = {CORPUS_DESCRIPTOR_FIELDS(&corpus_stub_ops), .kind = EVC_PLUGIN_STORE};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    return &desc;
}
