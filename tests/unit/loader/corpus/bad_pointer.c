/* bad_pointer: the entry returns a pointer into unmapped memory (a stale
 * build, memory corruption). The loader must refuse, not crash. */
#include <stdint.h>

#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor);

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *EVC_PLUGIN_ENTRY(uint16_t major, uint16_t minor)
{
    /* The first page is never mapped on Linux (vm.mmap_min_addr). */
    return (const evc_plugin_descriptor *)(uintptr_t)0x10;
}
