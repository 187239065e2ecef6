/* config_internal.h: the tree behind evc/config.h, shared by config_tree.c
 * (nodes, getters, overrides), config_load.c (libyaml parsing),
 * config_subst.c (${VAR} substitution) and config_validate.c (schemas).
 * Nothing here is part of the SDK: the symbols are hidden from the .so. */
#ifndef EVC_CONFIG_INTERNAL_H
#define EVC_CONFIG_INTERNAL_H

#include <stddef.h>

#include "evc/config.h"

#define EVC_CFG_HIDDEN __attribute__((visibility("hidden")))

/* Deepest nesting accepted from a file or an override path: bounds the
 * recursion of the parser and of evc_cfg_free on hostile input. */
#define EVC_CFG_MAX_DEPTH 64

/* Largest configuration text accepted (file or string), in bytes. A real
 * configuration is a few KB; the bound keeps a hostile or mistaken file (a
 * log, a database, /dev/zero) from costing seconds of parsing or gigabytes
 * of memory before its first error. docs/CONFIG.md "File format". */
#define EVC_CFG_MAX_BYTES (4u * 1024u * 1024u)

/* Room for "file:line:column" of any position (file names are truncated). */
#define EVC_CFG_POS_MAX 320

/* One entry of a map: the key keeps its own position so that messages about
 * the key itself (unknown, duplicate) point at it rather than at the value. */
typedef struct evc_cfg_entry {
    char *key;           /* owned */
    evc_cfg_pos key_pos; /* file borrowed from the owning evc_cfg */
    evc_cfg_node *value; /* owned */
} evc_cfg_entry;

struct evc_cfg_node {
    evc_cfg_node_kind kind;
    evc_cfg_pos pos; /* file borrowed from the owning evc_cfg */
    char *scalar;    /* SCALAR: owned, NUL-terminated; NULL otherwise */
    size_t count, cap;
    evc_cfg_entry *entries; /* MAP: owned array of `count` entries */
    evc_cfg_node **items;   /* SEQ: owned array of `count` nodes */
};

struct evc_cfg {
    evc_cfg_node *root; /* always a map */
    char **names;       /* owned file names / origins that positions point into */
    size_t nnames;
};

/* Allocates a node of `kind` at `pos` (NULL on allocation failure). */
EVC_CFG_HIDDEN evc_cfg_node *evc_cfg__node_new(evc_cfg_node_kind kind, evc_cfg_pos pos);
/* Frees a node and everything below it; NULL is a no-op. */
EVC_CFG_HIDDEN void evc_cfg__node_free(evc_cfg_node *node);
/* Appends to a map; takes ownership of `key` and `value` on success only. */
EVC_CFG_HIDDEN int evc_cfg__map_add(evc_cfg_node *map, char *key, evc_cfg_pos key_pos,
                                    evc_cfg_node *value);
/* Appends to a sequence; takes ownership of `item` on success only. */
EVC_CFG_HIDDEN int evc_cfg__seq_add(evc_cfg_node *seq, evc_cfg_node *item);
/* Finds a map entry by key; NULL when absent or when `map` is not a map. */
EVC_CFG_HIDDEN evc_cfg_entry *evc_cfg__map_find(const evc_cfg_node *map, const char *key);
/* Returns a copy of `name` owned by cfg (shared between equal names), or NULL
 * on allocation failure. */
EVC_CFG_HIDDEN const char *evc_cfg__intern(evc_cfg *cfg, const char *name);
/* Allocates an evc_cfg with an empty root map at `pos` (file interned). */
EVC_CFG_HIDDEN evc_cfg *evc_cfg__alloc(const char *file, unsigned line, unsigned column);
/* Replaces every ${VAR} / ${VAR:-default} / $$ in `text`. On success *out is
 * a new malloc'd string (caller frees); on failure returns EVC_ECONFIG or
 * EVC_ENOMEM with a message positioned at `pos`. */
EVC_CFG_HIDDEN int evc_cfg__substitute(const char *text, evc_cfg_pos pos, char **out,
                                       evc_error *err);

#endif
