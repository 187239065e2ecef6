/* envelope_internal.h: jansson helpers shared by the envelope codec and the
 * payload builder. */
#ifndef EVC_ENVELOPE_INTERNAL_H
#define EVC_ENVELOPE_INTERNAL_H

#include <jansson.h>

/* "an object", "a string", ... for error messages. */
const char *evc_json_type_name(const json_t *j);

/* Serialises j compactly into a malloc'd NUL-terminated buffer (freed with
 * free(), whatever allocator jansson was given). NULL on out of memory. */
char *evc_json_dump_compact(const json_t *j, size_t *out_len);

#endif
