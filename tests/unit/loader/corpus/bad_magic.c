/* bad_magic: a descriptor whose magic is not "EVCP" (a foreign or corrupt .so). */
#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

#pragma GCC diagnostic ignored "-Woverride-init"
static const evc_plugin_descriptor desc = {CORPUS_DESCRIPTOR_FIELDS(&corpus_stub_ops), .magic = 0x12345678u};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    return &desc;
}
