/* config_tree.c: the configuration tree -- nodes, lookups, typed getters,
 * strict conversions and positional overrides (evc_cfg_set). */
#include "config_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- nodes ------------------------------------------------------------ */

evc_cfg_node *evc_cfg__node_new(evc_cfg_node_kind kind, evc_cfg_pos pos)
{
    evc_cfg_node *n = calloc(1, sizeof *n);
    if (n) {
        n->kind = kind;
        n->pos = pos;
    }
    return n;
}

void evc_cfg__node_free(evc_cfg_node *node)
{
    if (!node)
        return;
    if (node->kind == EVC_CFG_NODE_MAP) {
        for (size_t i = 0; i < node->count; i++) {
            free(node->entries[i].key);
            evc_cfg__node_free(node->entries[i].value);
        }
        free(node->entries);
    } else if (node->kind == EVC_CFG_NODE_SEQ) {
        for (size_t i = 0; i < node->count; i++)
            evc_cfg__node_free(node->items[i]);
        free(node->items);
    }
    free(node->scalar);
    free(node);
}

/* Makes room for one more entry/item; the array doubles so that appending
 * n entries costs O(n). */
static int grow(evc_cfg_node *node, size_t elem_size)
{
    if (node->count < node->cap)
        return EVC_OK;
    size_t cap = node->cap ? node->cap * 2 : 4;
    void *old = node->kind == EVC_CFG_NODE_MAP ? (void *)node->entries : (void *)node->items;
    void *p = realloc(old, cap * elem_size);
    if (!p)
        return EVC_ENOMEM;
    if (node->kind == EVC_CFG_NODE_MAP)
        node->entries = p;
    else
        node->items = p;
    node->cap = cap;
    return EVC_OK;
}

int evc_cfg__map_add(evc_cfg_node *map, char *key, evc_cfg_pos key_pos, evc_cfg_node *value)
{
    if (grow(map, sizeof *map->entries) != EVC_OK)
        return EVC_ENOMEM;
    map->entries[map->count++] = (evc_cfg_entry){key, key_pos, value};
    return EVC_OK;
}

int evc_cfg__seq_add(evc_cfg_node *seq, evc_cfg_node *item)
{
    if (grow(seq, sizeof *seq->items) != EVC_OK)
        return EVC_ENOMEM;
    seq->items[seq->count++] = item;
    return EVC_OK;
}

evc_cfg_entry *evc_cfg__map_find(const evc_cfg_node *map, const char *key)
{
    if (!map || !key || map->kind != EVC_CFG_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->count; i++)
        if (strcmp(map->entries[i].key, key) == 0)
            return &map->entries[i];
    return NULL;
}

/* ---- the cfg object --------------------------------------------------- */

const char *evc_cfg__intern(evc_cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nnames; i++)
        if (strcmp(cfg->names[i], name) == 0)
            return cfg->names[i];
    char **names = realloc(cfg->names, (cfg->nnames + 1) * sizeof *names);
    if (!names)
        return NULL;
    cfg->names = names;
    char *copy = strdup(name);
    if (!copy)
        return NULL;
    names[cfg->nnames++] = copy;
    return copy;
}

evc_cfg *evc_cfg__alloc(const char *file, unsigned line, unsigned column)
{
    evc_cfg *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    const char *f = evc_cfg__intern(cfg, file);
    if (f)
        cfg->root = evc_cfg__node_new(EVC_CFG_NODE_MAP, (evc_cfg_pos){f, line, column});
    if (!cfg->root) {
        evc_cfg_free(cfg);
        return NULL;
    }
    return cfg;
}

int evc_cfg_new_empty(evc_cfg **out, evc_error *err)
{
    /* No file at all: messages about missing keys then read
     * "<no config file>: missing required key ...". */
    *out = evc_cfg__alloc("<no config file>", 0, 0);
    if (!*out)
        return evc_error_set(err, EVC_ENOMEM, "out of memory creating an empty configuration");
    return EVC_OK;
}

void evc_cfg_free(evc_cfg *cfg)
{
    if (!cfg)
        return;
    evc_cfg__node_free(cfg->root);
    for (size_t i = 0; i < cfg->nnames; i++)
        free(cfg->names[i]);
    free(cfg->names);
    free(cfg);
}

const evc_cfg_node *evc_cfg_root(const evc_cfg *cfg) { return cfg ? cfg->root : NULL; }

/* ---- reading ---------------------------------------------------------- */

evc_cfg_node_kind evc_cfg_kind(const evc_cfg_node *node) { return node ? node->kind : 0; }

evc_cfg_pos evc_cfg_node_pos(const evc_cfg_node *node)
{
    return node ? node->pos : (evc_cfg_pos){NULL, 0, 0};
}

const char *evc_cfg_scalar(const evc_cfg_node *node)
{
    return node && node->kind == EVC_CFG_NODE_SCALAR ? node->scalar : NULL;
}

const evc_cfg_node *evc_cfg_get(const evc_cfg_node *map, const char *key)
{
    const evc_cfg_entry *e = evc_cfg__map_find(map, key);
    return e ? e->value : NULL;
}

const evc_cfg_node *evc_cfg_path(const evc_cfg_node *map, const char *dotted)
{
    if (!map || !dotted)
        return NULL;
    const evc_cfg_node *cur = map;
    const char *p = dotted;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (!cur || cur->kind != EVC_CFG_NODE_MAP)
            return NULL;
        const evc_cfg_node *next = NULL;
        for (size_t i = 0; i < cur->count; i++) {
            const char *k = cur->entries[i].key;
            if (strncmp(k, p, len) == 0 && k[len] == '\0') {
                next = cur->entries[i].value;
                break;
            }
        }
        cur = next;
        if (!dot)
            return cur;
        p = dot + 1;
    }
}

size_t evc_cfg_count(const evc_cfg_node *node)
{
    return node && node->kind != EVC_CFG_NODE_SCALAR ? node->count : 0;
}

const evc_cfg_node *evc_cfg_at(const evc_cfg_node *node, size_t i, const char **key_out)
{
    if (key_out)
        *key_out = NULL;
    if (!node || node->kind == EVC_CFG_NODE_SCALAR || i >= node->count)
        return NULL;
    if (node->kind == EVC_CFG_NODE_SEQ)
        return node->items[i];
    if (key_out)
        *key_out = node->entries[i].key;
    return node->entries[i].value;
}

/* ---- strict conversions ----------------------------------------------- */

static int not_scalar(const evc_cfg_node *node, const char *what, evc_error *err)
{
    char at[EVC_CFG_POS_MAX];
    if (!node)
        return evc_error_set(err, EVC_ECONFIG, "expected %s, got nothing", what);
    return evc_error_set(err, EVC_ECONFIG, "%s: expected %s, got a %s",
                         evc_cfg_pos_format(node->pos, at, sizeof at), what,
                         node->kind == EVC_CFG_NODE_MAP ? "map" : "list");
}

int evc_cfg_to_int(const evc_cfg_node *node, int64_t *out, evc_error *err)
{
    const char *s = evc_cfg_scalar(node);
    if (!s)
        return not_scalar(node, "an integer", err);
    char at[EVC_CFG_POS_MAX];
    const char *d = (*s == '+' || *s == '-') ? s + 1 : s;
    /* strtoll alone would accept leading blanks, "0x" prefixes and trailing
     * garbage; the config format is plain decimal. */
    if (*d < '0' || *d > '9')
        goto bad;
    for (const char *q = d; *q; q++)
        if (*q < '0' || *q > '9')
            goto bad;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno == ERANGE)
        return evc_error_set(err, EVC_ECONFIG, "%s: integer '%s' is out of the 64-bit range",
                             evc_cfg_pos_format(node->pos, at, sizeof at), s);
    *out = (int64_t)v;
    return EVC_OK;
bad:
    return evc_error_set(err, EVC_ECONFIG, "%s: expected an integer, got '%s'",
                         evc_cfg_pos_format(node->pos, at, sizeof at), s);
}

int evc_cfg_to_bool(const evc_cfg_node *node, bool *out, evc_error *err)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    const char *s = evc_cfg_scalar(node);
    if (!s)
        return not_scalar(node, "a boolean", err);
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return EVC_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return EVC_OK;
        }
    }
    char at[EVC_CFG_POS_MAX];
    return evc_error_set(err, EVC_ECONFIG,
                         "%s: expected a boolean (true/false/yes/no/on/off), got '%s'",
                         evc_cfg_pos_format(node->pos, at, sizeof at), s);
}

int evc_cfg_to_double(const evc_cfg_node *node, double *out, evc_error *err)
{
    const char *s = evc_cfg_scalar(node);
    if (!s)
        return not_scalar(node, "a number", err);
    char *end = NULL;
    double v = 0;
    /* Leading blanks, "nan" and "inf" are refused: strtod takes them, a
     * timeout or a rate never means them. */
    if (*s != '\0' && *s != ' ' && *s != '\t') {
        errno = 0;
        v = strtod(s, &end);
    }
    char at[EVC_CFG_POS_MAX];
    if (!end || end == s || *end != '\0' || !isfinite(v))
        return evc_error_set(err, EVC_ECONFIG, "%s: expected a number, got '%s'",
                             evc_cfg_pos_format(node->pos, at, sizeof at), s);
    *out = v;
    return EVC_OK;
}

/* ---- typed getters ---------------------------------------------------- */

const char *evc_cfg_get_str(const evc_cfg_node *map, const char *key, const char *dflt)
{
    const char *s = evc_cfg_scalar(evc_cfg_get(map, key));
    return s ? s : dflt;
}

int64_t evc_cfg_get_int(const evc_cfg_node *map, const char *key, int64_t dflt)
{
    int64_t v;
    const evc_cfg_node *n = evc_cfg_get(map, key);
    return n && evc_cfg_to_int(n, &v, NULL) == EVC_OK ? v : dflt;
}

bool evc_cfg_get_bool(const evc_cfg_node *map, const char *key, bool dflt)
{
    bool v;
    const evc_cfg_node *n = evc_cfg_get(map, key);
    return n && evc_cfg_to_bool(n, &v, NULL) == EVC_OK ? v : dflt;
}

double evc_cfg_get_double(const evc_cfg_node *map, const char *key, double dflt)
{
    double v;
    const evc_cfg_node *n = evc_cfg_get(map, key);
    return n && evc_cfg_to_double(n, &v, NULL) == EVC_OK ? v : dflt;
}

/* ---- overrides -------------------------------------------------------- */

/* Finds or creates the entry `key` (len bytes) in map. New entries get a
 * NULL value that the caller fills. */
static evc_cfg_entry *entry_for(evc_cfg_node *map, const char *key, size_t len,
                                evc_cfg_pos pos)
{
    for (size_t i = 0; i < map->count; i++) {
        const char *k = map->entries[i].key;
        if (strncmp(k, key, len) == 0 && k[len] == '\0')
            return &map->entries[i];
    }
    char *copy = strndup(key, len);
    if (!copy || evc_cfg__map_add(map, copy, pos, NULL) != EVC_OK) {
        free(copy);
        return NULL;
    }
    return &map->entries[map->count - 1];
}

/* A section on an override's path may be a map or empty (`central:` with
 * nothing, which the validator takes as an empty map); anything else is the
 * config's mistake. */
static bool section_may_become_map(const evc_cfg_node *n)
{
    return n->kind == EVC_CFG_NODE_MAP || (n->kind == EVC_CFG_NODE_SCALAR && n->scalar[0] == '\0');
}

/* "'5'", "a list": the validator's wording; control characters become '?'
 * so that the message stays one line, and long text is cut. */
static const char *got_text(const evc_cfg_node *n, char *buf, size_t cap)
{
    if (n->kind == EVC_CFG_NODE_SEQ)
        return "a list";
    size_t k = 0;
    buf[k++] = '\'';
    for (const char *s = n->scalar; *s && k + 5 < cap; s++)
        buf[k++] = ((unsigned char)*s < 0x20 || *s == 0x7F) ? '?' : *s;
    if (strlen(n->scalar) > k - 1)
        memcpy(buf + k, "...", 3), k += 3;
    buf[k++] = '\'';
    buf[k] = '\0';
    return buf;
}

int evc_cfg_set(evc_cfg *cfg, const char *dotted, const char *value, const char *origin,
                evc_error *err)
{
    if (!cfg || !dotted || !value)
        return evc_error_set(err, EVC_EINVAL, "evc_cfg_set: NULL argument");
    const char *o = origin ? origin : "<override>";
    /* Validate the whole path first so that a bad one changes nothing. */
    size_t depth = 1;
    for (const char *p = dotted;; p++) {
        if (*p == '.' || *p == '\0') {
            if (p == dotted || p[-1] == '.' || (*p == '.' && p[1] == '\0'))
                return evc_error_set(err, EVC_EINVAL, "%s: bad key path '%s' (empty component)",
                                     o, dotted);
            if (*p == '\0')
                break;
            depth++;
        }
    }
    if (depth > EVC_CFG_MAX_DEPTH)
        return evc_error_set(err, EVC_EINVAL, "%s: key path '%s' is deeper than %d levels", o,
                             dotted, EVC_CFG_MAX_DEPTH);
    const char *file = evc_cfg__intern(cfg, o);
    char *text = file ? strdup(value) : NULL;
    evc_cfg_node *leaf = text ? evc_cfg__node_new(EVC_CFG_NODE_SCALAR,
                                                  (evc_cfg_pos){file, 0, 0}) : NULL;
    if (!leaf) {
        free(text);
        return evc_error_set(err, EVC_ENOMEM, "%s: out of memory setting '%s'", o, dotted);
    }
    leaf->scalar = text;
    evc_cfg_pos pos = {file, 0, 0};
    evc_cfg_node *map = cfg->root;
    const char *p = dotted;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        evc_cfg_entry *e = entry_for(map, p, len, pos);
        if (!e)
            goto nomem;
        if (!dot) {
            evc_cfg__node_free(e->value);
            e->value = leaf;
            return EVC_OK;
        }
        if (e->value && !section_may_become_map(e->value)) {
            /* `central: 5` in the file and a positional argument for
             * central.listen_port: replacing the 5 by a map would hide the
             * file's mistake (the validator then sees only the override), so
             * it is refused in the validator's words, at the file's place. */
            char at[EVC_CFG_POS_MAX], g[64];
            evc_cfg__node_free(leaf);
            return evc_error_set(err, EVC_ECONFIG, "%s: key '%.*s' must be a map, got %s",
                                 evc_cfg_pos_format(e->value->pos, at, sizeof at), (int)len, p,
                                 got_text(e->value, g, sizeof g));
        }
        if (!e->value || e->value->kind != EVC_CFG_NODE_MAP) {
            evc_cfg_node *m = evc_cfg__node_new(EVC_CFG_NODE_MAP, pos);
            if (!m) {
                if (!e->value) {
                    /* Just created by entry_for, hence last: drop it so that
                     * no entry is left without a value. */
                    free(e->key);
                    map->count--;
                }
                goto nomem;
            }
            /* Whatever was there (a scalar, a list) is replaced, as the
             * override of a whole subtree would be. */
            evc_cfg__node_free(e->value);
            e->value = m;
        }
        map = e->value;
        p = dot + 1;
    }
nomem:
    evc_cfg__node_free(leaf);
    return evc_error_set(err, EVC_ENOMEM, "%s: out of memory setting '%s'", o, dotted);
}
