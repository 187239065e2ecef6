/* loader.c: opens a plugin .so and checks its descriptor before trusting it.
 *
 * Order of checks (each failure is one refusal, one line naming the file):
 *   dlopen (RTLD_NOW | RTLD_LOCAL) -> entry symbol -> entry returns non-NULL
 *   -> the fixed 12-byte header (magic, abi_major, abi_minor, struct_size) is
 *   readable -> magic -> major -> minor -> struct_size covers the ABI 1.0
 *   descriptor -> kind -> name -> ops non-NULL, readable, and its
 *   struct_size covers the ABI 1.0 ops table of that kind.
 *
 * Magic and major come before struct_size on purpose: the header layout is
 * the one thing every ABI version shares, so for a foreign struct (bad magic)
 * or another major (other layout) struct_size means nothing and "too short"
 * would be a misleading reason. Nothing past the header is read before
 * struct_size is known to cover it, and every read of plugin-provided memory
 * goes through evc_loader_copy_mem so that a garbage pointer is a refusal,
 * not a SIGSEGV. */
#include "loader_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "evc/store.h"
#include "evc/transport.h"

struct evc_plugin {
    void *handle;              /* dlopen handle, closed by evc_plugin_unload */
    char *path;                /* owned */
    evc_plugin_descriptor desc; /* host-sized copy; fields past the plugin's
                                 * struct_size are zero (NULL/absent) */
};

/* The fields every ABI version starts with. */
#define HEADER_LEN (offsetof(evc_plugin_descriptor, struct_size) + sizeof(uint32_t))
/* The ABI 1.0 descriptor ends with `ops`; later minors append after it. */
#define DESC_MIN_1_0 (offsetof(evc_plugin_descriptor, ops) + sizeof(const void *))
/* The ABI 1.0 transport ops table ends with `stats`. */
#define TRANSPORT_OPS_MIN_1_0 (offsetof(evc_transport_ops, stats) + sizeof(void (*)(void)))
/* The ABI 1.0 store ops table ends with `kv_list`. */
#define STORE_OPS_MIN_1_0 (offsetof(evc_store_ops, kv_list) + sizeof(void (*)(void)))

/* Longest plugin name or string field the loader reads from a descriptor. */
#define NAME_MAX_LEN 128

static const char *kind_word(evc_plugin_kind kind)
{
    switch (kind) {
    case EVC_PLUGIN_TRANSPORT: return "transport";
    case EVC_PLUGIN_STORE: return "store";
    }
    return NULL;
}

size_t evc_plugin_min_descriptor_size(void) { return DESC_MIN_1_0; }

size_t evc_plugin_min_ops_size(evc_plugin_kind kind)
{
    switch (kind) {
    case EVC_PLUGIN_TRANSPORT: return TRANSPORT_OPS_MIN_1_0;
    case EVC_PLUGIN_STORE: return STORE_OPS_MIN_1_0;
    }
    return 0;
}

int evc_plugin_refusal_exit_code(evc_plugin_refusal r)
{
    if (r == EVC_REFUSE_NONE)
        return 0;
    if (r >= EVC_REFUSE_MISSING && r <= EVC_REFUSE_START)
        return 20 + (int)r;
    return 1;
}

const char *evc_plugin_refusal_name(evc_plugin_refusal r)
{
    switch (r) {
    case EVC_REFUSE_NONE: return "none";
    case EVC_REFUSE_MISSING: return "missing";
    case EVC_REFUSE_NOT_SO: return "not_so";
    case EVC_REFUSE_NO_ENTRY: return "no_entry";
    case EVC_REFUSE_DECLINED: return "declined";
    case EVC_REFUSE_BAD_MAGIC: return "bad_magic";
    case EVC_REFUSE_MAJOR: return "major";
    case EVC_REFUSE_MINOR: return "minor";
    case EVC_REFUSE_SHORT: return "short";
    case EVC_REFUSE_KIND: return "kind";
    case EVC_REFUSE_CREATE: return "create";
    case EVC_REFUSE_START: return "start";
    }
    return "unknown";
}

static int refuse(evc_plugin_refusal *out, evc_plugin_refusal r, evc_error *err,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int refuse(evc_plugin_refusal *out, evc_plugin_refusal r, evc_error *err,
                  const char *fmt, ...)
{
    if (out)
        *out = r;
    va_list ap;
    va_start(ap, fmt);
    evc_error_setv(err, EVC_EPLUGIN, fmt, ap);
    va_end(ap);
    return EVC_EPLUGIN;
}

/* Same, after closing the handle: every refusal past dlopen goes here. */
static int refuse_close(void *handle, evc_plugin_refusal *out, evc_plugin_refusal r,
                        evc_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int refuse_close(void *handle, evc_plugin_refusal *out, evc_plugin_refusal r,
                        evc_error *err, const char *fmt, ...)
{
    if (out)
        *out = r;
    va_list ap;
    va_start(ap, fmt);
    evc_error_setv(err, EVC_EPLUGIN, fmt, ap);
    va_end(ap);
    dlclose(handle);
    return EVC_EPLUGIN;
}

/* Checks a string field of the descriptor: NULL is allowed when `optional`. */
static bool string_ok(const char *s, bool optional, char *buf, size_t cap)
{
    if (s == NULL) {
        buf[0] = '\0';
        return optional;
    }
    return evc_loader_copy_str(buf, cap, s);
}

static int check_and_keep(evc_plugin_kind kind, const char *path, const char *expect_name,
                          evc_plugin **out, evc_plugin_refusal *refusal, evc_error *err)
{
    dlerror();
    /* RTLD_NODELETE: a plugin stays mapped after evc_plugin_unload. Libraries
     * it pulls in keep process-wide state (librdkafka initialises libsasl2
     * once per process, never to be undone); unmapping them would turn that
     * state into leaks at exit, or crash their atexit handlers. Plugins are
     * never reloaded in a running process, so nothing is lost by it. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (h == NULL) {
        const char *why = dlerror();
        if (why == NULL)
            why = "unknown dlopen error";
        /* dlerror() usually starts with the path again; say it once. */
        size_t plen = strlen(path);
        if (strncmp(why, path, plen) == 0 && strncmp(why + plen, ": ", 2) == 0)
            why += plen + 2;
        return refuse(refusal, EVC_REFUSE_NOT_SO, err,
                      "plugin %s: not a loadable shared object: %s", path, why);
    }

    dlerror();
    void *sym = dlsym(h, EVC_PLUGIN_ENTRY_NAME);
    if (sym == NULL)
        return refuse_close(h, refusal, EVC_REFUSE_NO_ENTRY, err,
                            "plugin %s: no %s symbol (not an EVC plugin, or the entry is not "
                            "exported with EVC_PLUGIN_EXPORT)",
                            path, EVC_PLUGIN_ENTRY_NAME);
    evc_plugin_query_fn query;
    memcpy(&query, &sym, sizeof query); /* object -> function pointer, as dlsym intends */

    const evc_plugin_descriptor *dp = query(EVC_ABI_MAJOR, EVC_ABI_MINOR);
    if (dp == NULL)
        return refuse_close(h, refusal, EVC_REFUSE_DECLINED, err,
                            "plugin %s: declined this host (ABI %d.%d): %s returned NULL",
                            path, EVC_ABI_MAJOR, EVC_ABI_MINOR, EVC_PLUGIN_ENTRY_NAME);

    evc_plugin_descriptor d;
    memset(&d, 0, sizeof d);
    if (!evc_loader_copy_mem(&d, dp, HEADER_LEN))
        return refuse_close(h, refusal, EVC_REFUSE_BAD_MAGIC, err,
                            "plugin %s: descriptor pointer %p is not readable memory", path,
                            (const void *)dp);
    if (d.magic != EVC_PLUGIN_MAGIC)
        return refuse_close(h, refusal, EVC_REFUSE_BAD_MAGIC, err,
                            "plugin %s: bad magic 0x%08x (expected 0x%08x)", path,
                            (unsigned)d.magic, (unsigned)EVC_PLUGIN_MAGIC);
    if (d.abi_major != EVC_ABI_MAJOR)
        return refuse_close(h, refusal, EVC_REFUSE_MAJOR, err,
                            "plugin %s: built for ABI %u.%u, this host is %d.%d (the major "
                            "version must match: rebuild the plugin against this SDK)",
                            path, (unsigned)d.abi_major, (unsigned)d.abi_minor, EVC_ABI_MAJOR,
                            EVC_ABI_MINOR);
    if (d.abi_minor > EVC_ABI_MINOR)
        return refuse_close(h, refusal, EVC_REFUSE_MINOR, err,
                            "plugin %s: needs host ABI %d.%u, this host is %d.%d", path,
                            EVC_ABI_MAJOR, (unsigned)d.abi_minor, EVC_ABI_MAJOR, EVC_ABI_MINOR);
    if (d.struct_size < DESC_MIN_1_0)
        return refuse_close(h, refusal, EVC_REFUSE_SHORT, err,
                            "plugin %s: descriptor struct_size %u is smaller than the ABI %d.0 "
                            "descriptor (%zu bytes)",
                            path, (unsigned)d.struct_size, EVC_ABI_MAJOR, (size_t)DESC_MIN_1_0);

    /* Read what both sides know; what this host knows and the plugin does not
     * stays zero, which is how later-minor fields read as absent. */
    size_t take = d.struct_size < sizeof d ? d.struct_size : sizeof d;
    uint32_t plugin_size = d.struct_size;
    if (!evc_loader_copy_mem(&d, dp, take))
        return refuse_close(h, refusal, EVC_REFUSE_BAD_MAGIC, err,
                            "plugin %s: descriptor at %p claims %u bytes that are not all "
                            "readable memory",
                            path, (const void *)dp, (unsigned)plugin_size);

    if (d.kind != kind) {
        const char *is = kind_word(d.kind);
        char unknown[32];
        if (is == NULL) {
            snprintf(unknown, sizeof unknown, "kind-%d", (int)d.kind);
            is = unknown;
        }
        return refuse_close(h, refusal, EVC_REFUSE_KIND, err,
                            "plugin %s: is a %s plugin, expected a %s plugin", path, is,
                            kind_word(kind));
    }

    char name[NAME_MAX_LEN], scratch[NAME_MAX_LEN];
    if (!string_ok(d.name, false, name, sizeof name))
        return refuse_close(h, refusal, EVC_REFUSE_BAD_MAGIC, err,
                            "plugin %s: descriptor name %s", path,
                            d.name ? "is not a readable string of under 128 bytes" : "is NULL");
    if (expect_name != NULL && strcmp(name, expect_name) != 0)
        return refuse_close(h, refusal, EVC_REFUSE_KIND, err,
                            "plugin %s: calls itself '%s', expected '%s' (a plugin named N "
                            "must be the file evc_%s_N.so)",
                            path, name, expect_name, kind_word(kind));
    if (!string_ok(d.version, true, scratch, sizeof scratch) ||
        !string_ok(d.description, true, scratch, sizeof scratch))
        return refuse_close(h, refusal, EVC_REFUSE_BAD_MAGIC, err,
                            "plugin %s: descriptor version or description is not a readable "
                            "string",
                            path);

    size_t ops_min = evc_plugin_min_ops_size(kind);
    if (d.ops == NULL)
        return refuse_close(h, refusal, EVC_REFUSE_SHORT, err,
                            "plugin %s: descriptor has no ops table (ops is NULL)", path);
    uint32_t ops_size;
    unsigned char ops_probe[1024]; /* >= every kind's 1.0 ops table */
    if (!evc_loader_copy_mem(&ops_size, d.ops, sizeof ops_size))
        return refuse_close(h, refusal, EVC_REFUSE_BAD_MAGIC, err,
                            "plugin %s: ops pointer %p is not readable memory", path, d.ops);
    if (ops_size < ops_min)
        return refuse_close(h, refusal, EVC_REFUSE_SHORT, err,
                            "plugin %s: %s ops struct_size %u is smaller than the ABI %d.0 "
                            "minimum (%zu bytes)",
                            path, kind_word(kind), (unsigned)ops_size, EVC_ABI_MAJOR, ops_min);
    if (ops_min > sizeof ops_probe || !evc_loader_copy_mem(ops_probe, d.ops, ops_min))
        return refuse_close(h, refusal, EVC_REFUSE_BAD_MAGIC, err,
                            "plugin %s: ops table at %p claims %u bytes that are not all "
                            "readable memory",
                            path, d.ops, (unsigned)ops_size);

    evc_plugin *p = calloc(1, sizeof *p);
    char *owned_path = p ? strdup(path) : NULL;
    if (owned_path == NULL) {
        free(p);
        dlclose(h);
        return evc_error_set(err, EVC_ENOMEM, "plugin %s: out of memory", path);
    }
    p->handle = h;
    p->path = owned_path;
    p->desc = d;
    *out = p;
    return EVC_OK;
}

/* For a plugin given by path: the name its file name promises, if the file
 * follows the evc_<kind>_<name>.so convention (NULL otherwise: any name). */
static const char *name_from_file(const char *path, const char *kind, char *buf, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "evc_%s_", kind);
    size_t plen = strlen(prefix), blen = strlen(base);
    if (strncmp(base, prefix, plen) != 0 || blen <= plen + 3 ||
        strcmp(base + blen - 3, ".so") != 0)
        return NULL;
    size_t n = blen - plen - 3;
    if (n >= cap)
        return NULL;
    memcpy(buf, base + plen, n);
    buf[n] = '\0';
    return buf;
}

static int not_found(const char *name, const char *file, const evc_loader_dirs *dirs,
                     evc_plugin_refusal *refusal, evc_error *err)
{
    char list[EVC_ERROR_MSG_MAX];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < dirs->n && n < sizeof list; i++) {
        int w = snprintf(list + n, sizeof list - n, "%s%s%s", i ? ", " : "", dirs->dir[i].path,
                         dirs->dir[i].exists ? "" : " (no such directory)");
        if (w < 0)
            break;
        n += (size_t)w;
    }
    if (dirs->n == 0)
        snprintf(list, sizeof list, "(no directory: give --plugin-dir)");
    return refuse(refusal, EVC_REFUSE_MISSING, err, "plugin '%s' (%s) not found; searched: %s",
                  name, file, list);
}

int evc_plugin_load(evc_plugin_kind kind, const char *name, const evc_plugin_search *search,
                    evc_plugin **out, evc_plugin_refusal *refusal, evc_error *err)
{
    if (refusal)
        *refusal = EVC_REFUSE_NONE;
    if (out == NULL || name == NULL)
        return evc_error_set(err, EVC_EINVAL, "evc_plugin_load: name and out are required");
    *out = NULL;
    const char *kw = kind_word(kind);
    if (kw == NULL)
        return evc_error_set(err, EVC_EINVAL, "evc_plugin_load: unknown plugin kind %d",
                             (int)kind);
    if (name[0] == '\0')
        return refuse(refusal, EVC_REFUSE_MISSING, err, "%s plugin name is empty", kw);

    if (strchr(name, '/') != NULL) {
        struct stat st;
        if (stat(name, &st) != 0)
            return refuse(refusal, EVC_REFUSE_MISSING, err, "plugin %s: not found (%s)", name,
                          strerror(errno));
        char expect[NAME_MAX_LEN];
        return check_and_keep(kind, name, name_from_file(name, kw, expect, sizeof expect), out,
                              refusal, err);
    }

    char file[NAME_MAX_LEN + 32];
    int fl = snprintf(file, sizeof file, "evc_%s_%s.so", kw, name);
    if (fl < 0 || (size_t)fl >= sizeof file)
        return refuse(refusal, EVC_REFUSE_MISSING, err, "plugin name '%.64s...' is too long",
                      name);

    evc_loader_dirs dirs;
    evc_loader_collect_dirs(search, &dirs);
    for (size_t i = 0; i < dirs.n; i++) {
        if (!dirs.dir[i].exists)
            continue;
        char path[PATH_MAX + sizeof file + 1];
        snprintf(path, sizeof path, "%s%s%s", dirs.dir[i].path,
                 strcmp(dirs.dir[i].path, "/") == 0 ? "" : "/", file);
        struct stat st;
        if (stat(path, &st) == 0)
            return check_and_keep(kind, path, name, out, refusal, err);
    }
    return not_found(name, file, &dirs, refusal, err);
}

void evc_plugin_unload(evc_plugin *p)
{
    if (p == NULL)
        return;
    dlclose(p->handle);
    free(p->path);
    free(p);
}

const evc_plugin_descriptor *evc_plugin_descriptor_of(const evc_plugin *p)
{
    return p ? &p->desc : NULL;
}

const char *evc_plugin_path(const evc_plugin *p) { return p ? p->path : NULL; }

_Static_assert(TRANSPORT_OPS_MIN_1_0 <= 1024 && STORE_OPS_MIN_1_0 <= 1024,
               "ops_probe in evc_plugin_load must hold every kind's 1.0 ops table");
