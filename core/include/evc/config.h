/* evc/config.h: YAML configuration as a tree that remembers where each value
 * came from, plus declarative schemas that the core, each plugin and each role
 * publish and the core validates against.
 *
 * Lifetime: an evc_cfg owns every node and string reachable from it; nodes and
 * strings are borrowed by callers until evc_cfg_free. Not thread-safe; read it
 * from the thread that loaded it (the loop thread) or after loading is done.
 */
#ifndef EVC_CONFIG_H
#define EVC_CONFIG_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evc_cfg evc_cfg;
typedef struct evc_cfg_node evc_cfg_node;

typedef enum evc_cfg_node_kind {
    EVC_CFG_NODE_SCALAR = 1,
    EVC_CFG_NODE_MAP = 2,
    EVC_CFG_NODE_SEQ = 3,
} evc_cfg_node_kind;

/* Where a node starts in its source. `file` is the path as given to the
 * loader, or "<string>" / a caller-chosen name for in-memory sources. line and
 * column are 1-based. */
typedef struct evc_cfg_pos {
    const char *file;
    unsigned line;
    unsigned column;
} evc_cfg_pos;

/* Formats a position as "file:line:column", or just "file" when line is 0
 * (values that came from the command line: "<argument 1: listen_port>").
 * Returns buf. */
EVC_API char *evc_cfg_pos_format(evc_cfg_pos pos, char *buf, size_t cap);

/* ---- loading ---------------------------------------------------------- */

/* Parses a YAML file into a tree, substituting ${VAR} and ${VAR:-default} in
 * scalars from the environment (an unset VAR without a default is an error
 * naming file:line:column and the variable). Duplicate keys in a mapping are
 * errors. Anchors/aliases and multi-document streams are refused. On success
 * *out is owned by the caller (evc_cfg_free). On failure returns EVC_ECONFIG
 * (or EVC_EIO when the file cannot be read) with a message starting with
 * "file:line:column: ". */
EVC_API int evc_cfg_load_file(const char *path, evc_cfg **out, evc_error *err);

/* Same, from memory; `name` is used as the file name in positions. */
EVC_API int evc_cfg_load_string(const char *name, const char *yaml, size_t len, evc_cfg **out,
                                evc_error *err);

/* Creates an empty configuration whose root is an empty map (used when no
 * --config is given). Caller frees. */
EVC_API int evc_cfg_new_empty(evc_cfg **out, evc_error *err);

EVC_API void evc_cfg_free(evc_cfg *cfg);

/* Root node (a map, possibly empty). Borrowed. */
EVC_API const evc_cfg_node *evc_cfg_root(const evc_cfg *cfg);

/* ---- reading nodes ---------------------------------------------------- */

EVC_API evc_cfg_node_kind evc_cfg_kind(const evc_cfg_node *node);
EVC_API evc_cfg_pos evc_cfg_node_pos(const evc_cfg_node *node);
/* Scalar text (after substitution); NULL if not a scalar. */
EVC_API const char *evc_cfg_scalar(const evc_cfg_node *node);

/* Map lookup by key; NULL if node is not a map or has no such key. */
EVC_API const evc_cfg_node *evc_cfg_get(const evc_cfg_node *map, const char *key);
/* Dotted path lookup from a map: "transport.zmq.sndhwm". NULL if absent. */
EVC_API const evc_cfg_node *evc_cfg_path(const evc_cfg_node *map, const char *dotted);

/* Number of entries of a map or sequence (0 for scalars). */
EVC_API size_t evc_cfg_count(const evc_cfg_node *node);
/* i-th entry of a map (key string via *key_out, may be NULL) or sequence. */
EVC_API const evc_cfg_node *evc_cfg_at(const evc_cfg_node *node, size_t i, const char **key_out);

/* Typed getters with defaults: when the key is absent they return `dflt`;
 * when present but of the wrong type they return dflt too -- validation
 * against a schema (below) is what reports type errors, so call it first. */
EVC_API const char *evc_cfg_get_str(const evc_cfg_node *map, const char *key, const char *dflt);
EVC_API int64_t evc_cfg_get_int(const evc_cfg_node *map, const char *key, int64_t dflt);
EVC_API bool evc_cfg_get_bool(const evc_cfg_node *map, const char *key, bool dflt);
EVC_API double evc_cfg_get_double(const evc_cfg_node *map, const char *key, double dflt);

/* Strict scalar conversions used by validation and by plugins reading values
 * the schema cannot describe. Return EVC_OK or EVC_ECONFIG with a message
 * naming file:line:column. Booleans accept true/false/yes/no/on/off. */
EVC_API int evc_cfg_to_int(const evc_cfg_node *node, int64_t *out, evc_error *err);
EVC_API int evc_cfg_to_bool(const evc_cfg_node *node, bool *out, evc_error *err);
EVC_API int evc_cfg_to_double(const evc_cfg_node *node, double *out, evc_error *err);

/* ---- overriding (positional arguments) -------------------------------- */

/* Sets the scalar at a dotted path, creating intermediate maps as needed and
 * replacing whatever was there. Its position reads `origin` (for example
 * "<argv[1]>") line 0 column 0 so that errors about it say where it came
 * from. Copies both strings. */
EVC_API int evc_cfg_set(evc_cfg *cfg, const char *dotted, const char *value, const char *origin,
                        evc_error *err);

/* ---- schemas ---------------------------------------------------------- */

typedef enum evc_cfg_type {
    EVC_CFG_STRING = 1,
    EVC_CFG_INT,       /* 64-bit signed, decimal; min/max checked when min < max */
    EVC_CFG_BOOL,
    EVC_CFG_DOUBLE,    /* min/max checked when dmin < dmax */
    EVC_CFG_ENUM,      /* string, one of enum_values */
    EVC_CFG_MAP,       /* nested map validated against `children` */
    EVC_CFG_STRMAP,    /* free-form map of scalar values (e.g. librdkafka properties) */
    EVC_CFG_STRLIST,   /* sequence of scalars */
    EVC_CFG_ANY,       /* anything; validated elsewhere (e.g. a plugin's section) */
} evc_cfg_type;

/* One key of a schema. Arrays of fields end with an entry whose key is NULL.
 * Schemas are static data: plugins and roles declare them as const arrays. */
typedef struct evc_cfg_field {
    const char *key;
    evc_cfg_type type;
    bool required;
    /* The default when the key is absent ("5000", "true", "NORMAL"): read by
     * evc_cfg_schema_* below, so code and documentation share it. A text
     * with '<' in it ("secret-<cp_id>", "<dir of the program>/web")
     * documents a default the code computes: evc_cfg_schema_* ignore it.
     * May be NULL. */
    const char *default_text;
    const char *help;                    /* one line for --help-config and docs */
    const char *const *enum_values;      /* EVC_CFG_ENUM: NULL-terminated list */
    const struct evc_cfg_field *children; /* EVC_CFG_MAP */
    int64_t min, max;                    /* EVC_CFG_INT bounds when min < max */
    double dmin, dmax;                   /* EVC_CFG_DOUBLE bounds when dmin < dmax */
} evc_cfg_field;

/* Callback the validator uses to collect every problem rather than stopping
 * at the first. `msg` is a complete line "file:line:column: ..." and is
 * borrowed for the call. */
typedef void (*evc_cfg_problem_fn)(void *arg, const char *msg);

/* Validates `map` against `schema`: unknown keys (message lists the valid
 * keys), wrong types, out-of-range numbers, bad enum values (lists the valid
 * ones) and missing required keys (positioned at the map). `where` names the
 * map for messages about missing keys ("transport.zmq"); may be "" for root.
 * A NULL map is treated as an empty map. Reports each problem to `problem`
 * (may be NULL) and returns the number of problems (0 = valid). */
EVC_API size_t evc_cfg_validate(const evc_cfg_node *map, const evc_cfg_field *schema,
                                const char *where, evc_cfg_problem_fn problem, void *arg);

/* The field of `schema` named `key` (top level only), or NULL. */
EVC_API const evc_cfg_field *evc_cfg_field_find(const evc_cfg_field *schema, const char *key);

/* The value of `key` in `map` (NULL = empty map), or else the default the
 * schema declares for it (default_text parsed as the type: an int in
 * decimal, a bool "true"/"false"); 0/false/NULL when the schema has no
 * literal default (none, or a computed one written with '<'). The one way to read a key so that its default is written
 * once, in the schema. Strings are borrowed from the tree or the schema. */
EVC_API const char *evc_cfg_schema_str(const evc_cfg_node *map, const evc_cfg_field *schema,
                                       const char *key);
EVC_API int64_t evc_cfg_schema_int(const evc_cfg_node *map, const evc_cfg_field *schema,
                                   const char *key);
EVC_API bool evc_cfg_schema_bool(const evc_cfg_node *map, const evc_cfg_field *schema,
                                 const char *key);
EVC_API double evc_cfg_schema_double(const evc_cfg_node *map, const evc_cfg_field *schema,
                                     const char *key);

/* Validates a plugin's section like evc_cfg_validate and folds the result
 * into one error: EVC_OK when valid, else EVC_ECONFIG with err's message the
 * first problem ("file:line:column: ...") followed by " (and N more
 * problems)" when there are others. The core calls it with the descriptor's
 * config_schema and "<kind>.<name>" on every path that creates a plugin
 * instance (the programs, evc_bus_open, evc_store_open), before `create`; a
 * plugin may call it too when it wants to check a section itself. */
EVC_API int evc_cfg_check(const evc_cfg_node *map, const evc_cfg_field *schema, const char *where,
                          evc_error *err);

#ifdef __cplusplus
}
#endif
#endif
