/* driver_services.h: the services file -- one CP id per line, requested in
 * turn (F3, F12).
 *
 * Format: one CP id per line; leading/trailing blanks ignored; '#' starts a
 * comment that runs to the end of the line (a whole line or after an id);
 * blank lines ignored. An id must match [A-Za-z0-9_.-]{1,64}; a line that
 * holds anything else (two ids, spaces inside, control bytes) is reported
 * as "FILE:LINE: invalid CP id '...' ...; skipped" and left out. Nothing
 * else is fatal: a file of only bad lines gives an empty list.
 */
#ifndef DRIVER_SERVICES_H
#define DRIVER_SERVICES_H

#include <stddef.h>

#include "driver_format.h"
#include "evc/error.h"

#define DRIVER_SERVICES_MAX_BYTES (1024u * 1024u)
#define DRIVER_SERVICES_MAX_ENTRIES 10000u

typedef struct driver_service {
    char cp_id[DRIVER_ID_MAX + 1];
    unsigned line; /* 1-based line in the file */
} driver_service;

typedef struct driver_services {
    char file[256];            /* name used in messages */
    driver_service *entries;   /* owned; count entries */
    size_t count;
    char **problems;           /* owned; one "FILE:LINE: ..." line each */
    size_t nproblems;
} driver_services;

/* Parses `len` bytes of `text` (need not be NUL-terminated; NUL bytes make
 * their line invalid). `name` is used in problem lines. On EVC_OK *out is
 * filled (free with driver_services_free). EVC_ENOMEM, or EVC_ETOOBIG when
 * more than DRIVER_SERVICES_MAX_ENTRIES ids, with err naming the file. */
int driver_services_parse(const char *name, const char *text, size_t len, driver_services *out,
                          evc_error *err);

/* Reads and parses a file (at most DRIVER_SERVICES_MAX_BYTES). EVC_EIO with
 * "services file 'PATH': cannot open: <strerror>" when unreadable. */
int driver_services_load(const char *path, driver_services *out, evc_error *err);

void driver_services_free(driver_services *s);

#endif
