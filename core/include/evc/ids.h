/* evc/ids.h: the ids of the product (CP ids, driver ids) and small secrets
 * read from files. */
#ifndef EVC_IDS_H
#define EVC_IDS_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>

#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_ID_MAX 64 /* longest CP or driver id, in bytes */

/* True for 1..EVC_ID_MAX bytes of [A-Za-z0-9_.-] (CP ids like "CP_001",
 * driver ids like "driver1"). NULL is not valid. Thread: any. */
EVC_API bool evc_id_valid(const char *id);

/* Reads the first line of `path` (a password or secret file) into out (cap
 * bytes), trailing whitespace removed. EVC_ECONFIG naming `what` ("--secret-file")
 * and the path when the file cannot be read, the line is empty or does not
 * fit. The secret itself never appears in a message. Thread: any. */
EVC_API int evc_read_secret_file(const char *what, const char *path, char *out, size_t cap,
                                 evc_error *err);

#ifdef __cplusplus
}
#endif
#endif
