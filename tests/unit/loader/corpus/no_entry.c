/* no_entry: a shared object that exports something, but not evc_plugin_query
 * (a typo in the entry's name, or a library that is not a plugin at all). */
#include "corpus.h"

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_qeury(uint16_t major, uint16_t minor);

static const evc_plugin_descriptor desc = {CORPUS_DESCRIPTOR_FIELDS(&corpus_stub_ops)};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_qeury(uint16_t major, uint16_t minor)
{
    return &desc;
}
