/* newer_minor: needs a newer host minor than this host has. */
#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

#pragma GCC diagnostic ignored "-Woverride-init"
static const evc_plugin_descriptor desc = {CORPUS_DESCRIPTOR_FIELDS(&corpus_stub_ops), .abi_minor = EVC_ABI_MINOR + 3};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    return &desc;
}
