/* evc/plugin.h: the plugin ABI and the loader.
 *
 * A plugin is a shared object that exports one function, EVC_PLUGIN_ENTRY
 * ("evc_plugin_query"), returning a static descriptor. The descriptor starts
 * with a magic number, the ABI version the plugin was built against and its
 * own size; the loader checks these before touching anything else, so a
 * stale or foreign .so is refused with a message and a documented exit code,
 * never a crash.
 *
 * Versioning: the major changes when a struct changes incompatibly (refused
 * on mismatch). The minor grows when fields are appended: a plugin built
 * against minor N requires a host of minor >= N. A host accepts plugins of
 * any older minor; fields past a plugin's struct_size read as NULL/absent.
 *
 * Files: a plugin of kind K and name N is the file "evc_<K>_<N>.so"
 * (evc_transport_zmq.so, evc_store_sqlite.so), searched in order in:
 *   1. --plugin-dir DIR        4. the build tree's plugins/ (when run from it)
 *   2. $EVC_PLUGIN_DIR         5. <install prefix>/lib/evc/plugins
 *   3. config `plugin_dir`
 * The first directory holding the file wins. A name containing '/' is a path
 * and is loaded as is.
 */
#ifndef EVC_PLUGIN_H
#define EVC_PLUGIN_H

#include "evc/api.h"

#include <stddef.h>
#include <stdint.h>

#include "evc/config.h"
#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_PLUGIN_MAGIC 0x45564350u /* "EVCP" */
#define EVC_ABI_MAJOR 1
/* 1.1: evc_transport_stats.joined; 1.2: evc_transport_ops.subscribe_keys */
#define EVC_ABI_MINOR 2

#define EVC_PLUGIN_ENTRY evc_plugin_query
#define EVC_PLUGIN_ENTRY_NAME "evc_plugin_query"
#define EVC_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef enum evc_plugin_kind {
    EVC_PLUGIN_TRANSPORT = 1,
    EVC_PLUGIN_STORE = 2,
} evc_plugin_kind;

typedef struct evc_plugin_descriptor {
    uint32_t magic;        /* EVC_PLUGIN_MAGIC */
    uint16_t abi_major;    /* EVC_ABI_MAJOR the plugin was built with */
    uint16_t abi_minor;    /* minimum host minor it needs */
    uint32_t struct_size;  /* sizeof(evc_plugin_descriptor) as the plugin saw it */
    evc_plugin_kind kind;
    const char *name;      /* "zmq"; must match the file name's <N> */
    const char *version;   /* plugin's own version, "1.0.0" */
    const char *description;
    const evc_cfg_field *config_schema; /* its section's keys; NULL = takes no config */
    const void *ops;       /* const evc_transport_ops * or const evc_store_ops * */
} evc_plugin_descriptor;

/* Signature of the exported entry. The plugin may return NULL to decline the
 * given host version; the loader then refuses it (EVC_REFUSE_DECLINED). */
typedef const evc_plugin_descriptor *(*evc_plugin_query_fn)(uint16_t host_abi_major,
                                                            uint16_t host_abi_minor);

/* Why a plugin was refused. Each has a fixed process exit code (see
 * docs/CONFIG.md, "Exit codes"), returned by evc_plugin_refusal_exit_code. */
typedef enum evc_plugin_refusal {
    EVC_REFUSE_NONE = 0,
    EVC_REFUSE_MISSING = 1,       /* file not found in any search directory */
    EVC_REFUSE_NOT_SO = 2,        /* dlopen failed: not a shared object, bad ELF, missing deps */
    EVC_REFUSE_NO_ENTRY = 3,      /* no evc_plugin_query symbol */
    EVC_REFUSE_DECLINED = 4,      /* entry returned NULL */
    EVC_REFUSE_BAD_MAGIC = 5,
    EVC_REFUSE_MAJOR = 6,         /* ABI major differs */
    EVC_REFUSE_MINOR = 7,         /* plugin needs a newer host minor */
    EVC_REFUSE_SHORT = 8,         /* descriptor or ops struct_size too small */
    EVC_REFUSE_KIND = 9,          /* wrong kind or name for what was asked */
    EVC_REFUSE_CREATE = 10,       /* create op failed */
    EVC_REFUSE_START = 11,        /* start op failed */
} evc_plugin_refusal;

/* Process exit code for a refusal: 20 + refusal (21..31). */
EVC_API int evc_plugin_refusal_exit_code(evc_plugin_refusal r);
EVC_API const char *evc_plugin_refusal_name(evc_plugin_refusal r);

typedef struct evc_plugin evc_plugin; /* a loaded .so */

/* Search settings; any field may be NULL. Borrowed during the call. */
typedef struct evc_plugin_search {
    const char *cli_dir;     /* --plugin-dir */
    const char *config_dir;  /* config plugin_dir */
    /* $EVC_PLUGIN_DIR, the build tree and the install prefix are found by the
     * loader itself. */
} evc_plugin_search;

/* Finds, opens and checks plugin `name` of `kind`. On success *out is owned
 * by the caller (evc_plugin_unload). On refusal returns EVC_EPLUGIN, sets
 * *refusal (if non-NULL) and err's message to one line naming the file (or
 * every directory searched) and the reason. */
EVC_API int evc_plugin_load(evc_plugin_kind kind, const char *name, const evc_plugin_search *search,
                            evc_plugin **out, evc_plugin_refusal *refusal, evc_error *err);

/* Releases the plugin handle. Every instance created from it must be
 * destroyed first. The code stays mapped (RTLD_NODELETE) for the life of the
 * process, for the sake of the libraries it pulled in. NULL is a no-op. */
EVC_API void evc_plugin_unload(evc_plugin *p);

/* Borrowed until evc_plugin_unload. */
EVC_API const evc_plugin_descriptor *evc_plugin_descriptor_of(const evc_plugin *p);
EVC_API const char *evc_plugin_path(const evc_plugin *p);

/* The directories that would be searched, in order, for diagnostics: writes
 * up to `max` borrowed strings (valid until the next call) and returns how
 * many exist. */
EVC_API size_t evc_plugin_search_dirs(const evc_plugin_search *search, const char **dirs, size_t max);

/* Minimum struct sizes the host accepts (ABI 1.0 layouts). */
EVC_API size_t evc_plugin_min_descriptor_size(void);
EVC_API size_t evc_plugin_min_ops_size(evc_plugin_kind kind);

/* True when `field` of a versioned struct `s` lies within s->struct_size and
 * is non-NULL: the way to test for an optional op. */
#define EVC_HAS_FIELD(s, field)                                                        \
    ((s) != NULL &&                                                                     \
     offsetof(__typeof__(*(s)), field) + sizeof((s)->field) <= (s)->struct_size &&     \
     (s)->field != NULL)

#ifdef __cplusplus
}
#endif
#endif
