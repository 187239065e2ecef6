/* loader_internal.h: pieces of the plugin loader shared by its source files
 * (loader.c: open and check; loader_search.c: where to look; loader_mem.c:
 * reading memory a plugin points us at without trusting it). Not SDK. */
#ifndef EVC_LOADER_INTERNAL_H
#define EVC_LOADER_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "evc/plugin.h"

#define EVC_LOADER_HIDDEN __attribute__((visibility("hidden")))

/* cli, env, config, build tree, install prefix. */
#define EVC_LOADER_MAX_DIRS 5

typedef struct evc_loader_dir {
    char path[PATH_MAX];
    bool exists; /* a directory at collection time */
} evc_loader_dir;

typedef struct evc_loader_dirs {
    size_t n;
    evc_loader_dir dir[EVC_LOADER_MAX_DIRS];
} evc_loader_dirs;

/* Fills `out` with the search directories in order, duplicates (same string,
 * or same directory by device and inode) removed, non-existent ones kept and
 * flagged. `search` may be NULL. Reads $EVC_PLUGIN_DIR. */
EVC_LOADER_HIDDEN void evc_loader_collect_dirs(const evc_plugin_search *search,
                                               evc_loader_dirs *out);

/* Copies n bytes from src to dst if every byte of src is readable memory of
 * this process; returns false (dst unspecified) instead of faulting when not.
 * For pointers handed to us by a plugin, which may be garbage. */
EVC_LOADER_HIDDEN bool evc_loader_copy_mem(void *dst, const void *src, size_t n);

/* Copies the NUL-terminated string at src into dst (cap bytes, cap > 0)
 * reading only readable memory. Returns false when src is unreadable or has
 * no NUL within cap-1 bytes. */
EVC_LOADER_HIDDEN bool evc_loader_copy_str(char *dst, size_t cap, const char *src);

#endif
