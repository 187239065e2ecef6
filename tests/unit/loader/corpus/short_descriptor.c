/* short_descriptor: a descriptor that stops after the fixed header (what a
 * plugin built against a broken or hand-rolled header might return). It is
 * really this short in memory: the loader must not read past struct_size. */
#include <stddef.h>

#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

struct header_only {
    uint32_t magic;
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
};

static const struct header_only desc = {
    .magic = EVC_PLUGIN_MAGIC,
    .abi_major = EVC_ABI_MAJOR,
    .abi_minor = EVC_ABI_MINOR,
    .struct_size = sizeof(struct header_only),
};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    return (const evc_plugin_descriptor *)(const void *)&desc;
}
