/* loader_search.c: the directories a plugin is looked for in, in order.
 *
 *   1. --plugin-dir (search->cli_dir)
 *   2. $EVC_PLUGIN_DIR
 *   3. config plugin_dir (search->config_dir)
 *   4. <dir of libevc_core.so>/../plugins   the build tree (build/lib -> build/plugins)
 *   5. <dir of libevc_core.so>/evc/plugins  an install (<prefix>/<libdir>/evc/plugins)
 *
 * 4 and 5 are found from where libevc_core.so really is (dladdr), so neither
 * a build tree nor an install needs any environment to find its plugins, and
 * a relocated install still works. Unset sources are left out; a directory
 * that is set but does not exist stays in the list (flagged) so that the
 * "not found" message shows an operator the typo in --plugin-dir; the same
 * directory reached twice is listed once. */
#include "loader_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void add_dir(evc_loader_dirs *out, const char *path)
{
    if (path == NULL || path[0] == '\0' || out->n >= EVC_LOADER_MAX_DIRS)
        return;
    char clean[PATH_MAX];
    int len = snprintf(clean, sizeof clean, "%s", path);
    if (len < 0 || (size_t)len >= sizeof clean)
        return; /* cannot hold a file name below it anyway */
    /* "dir/" and "dir" are the same directory; keep "/" as is. */
    while (len > 1 && clean[len - 1] == '/')
        clean[--len] = '\0';

    struct stat st;
    bool exists = stat(clean, &st) == 0 && S_ISDIR(st.st_mode);
    for (size_t i = 0; i < out->n; i++) {
        if (strcmp(out->dir[i].path, clean) == 0)
            return;
        struct stat other;
        if (exists && out->dir[i].exists && stat(out->dir[i].path, &other) == 0 &&
            other.st_dev == st.st_dev && other.st_ino == st.st_ino)
            return;
    }
    evc_loader_dir *d = &out->dir[out->n++];
    memcpy(d->path, clean, (size_t)len + 1);
    d->exists = exists;
}

/* Writes the real directory holding libevc_core.so into buf; false when it
 * cannot be found (a static build, or dladdr unsupported). */
static bool core_lib_dir(char *buf, size_t cap)
{
    Dl_info info;
    if (dladdr((void *)(uintptr_t)evc_plugin_search_dirs, &info) == 0 || info.dli_fname == NULL)
        return false;
    char real[PATH_MAX];
    if (realpath(info.dli_fname, real) == NULL)
        return false;
    char *slash = strrchr(real, '/');
    if (slash == NULL)
        return false;
    if (slash == real)
        slash[1] = '\0';
    else
        *slash = '\0';
    int n = snprintf(buf, cap, "%s", real);
    return n >= 0 && (size_t)n < cap;
}

void evc_loader_collect_dirs(const evc_plugin_search *search, evc_loader_dirs *out)
{
    out->n = 0;
    add_dir(out, search ? search->cli_dir : NULL);
    add_dir(out, getenv("EVC_PLUGIN_DIR"));
    add_dir(out, search ? search->config_dir : NULL);

    char lib[PATH_MAX];
    if (core_lib_dir(lib, sizeof lib)) {
        char path[PATH_MAX + 32];
        /* The parent of lib/ rather than "lib/../plugins": messages show a
         * clean path. */
        char parent[PATH_MAX];
        memcpy(parent, lib, sizeof parent);
        char *slash = strrchr(parent, '/');
        if (slash != NULL && slash != parent)
            *slash = '\0';
        else if (slash != NULL)
            slash[1] = '\0';
        snprintf(path, sizeof path, "%s%splugins", parent,
                 parent[strlen(parent) - 1] == '/' ? "" : "/");
        add_dir(out, path);
        snprintf(path, sizeof path, "%s%sevc/plugins", lib,
                 lib[strlen(lib) - 1] == '/' ? "" : "/");
        add_dir(out, path);
    }
}

size_t evc_plugin_search_dirs(const evc_plugin_search *search, const char **dirs, size_t max)
{
    /* The strings live here until the next call, as the contract says: this
     * is a diagnostics helper for main(), not for concurrent use. The loader
     * itself uses a list on its own stack. */
    static evc_loader_dirs list;
    evc_loader_collect_dirs(search, &list);
    for (size_t i = 0; i < list.n && i < max && dirs != NULL; i++)
        dirs[i] = list.dir[i].path;
    return list.n;
}
