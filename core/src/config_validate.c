/* config_validate.c: checks a map against a declarative schema and reports
 * every problem, one complete line each. The wording is a contract (tests
 * assert it, docs/CONFIG.md documents it): change both with it. */
#include "config_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LINE_MAX_LEN 4096
#define WHERE_MAX 512
#define IN_WHERE_MAX (WHERE_MAX + 3) /* "in " and a path of up to WHERE_MAX */
#define GOT_MAX 128 /* room for a quoted value in a message */
#define DIST_MAX_LEN 128

typedef struct vctx {
    evc_cfg_problem_fn fn;
    void *arg;
    size_t count;
} vctx;

static void report(vctx *v, evc_cfg_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(vctx *v, evc_cfg_pos pos, const char *fmt, ...)
{
    v->count++;
    if (!v->fn)
        return;
    char line[LINE_MAX_LEN];
    evc_cfg_pos_format(pos, line, sizeof line);
    size_t n = strlen(line);
    if (n + 2 < sizeof line) {
        memcpy(line + n, ": ", 3);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(line + n + 2, sizeof line - n - 2, fmt, ap);
        va_end(ap);
    }
    v->fn(v->arg, line);
}

/* Copies s into buf for a one-line message: control characters become
 * escapes (a block scalar's newlines would split the line) and long text is
 * cut with "...". */
static const char *printable(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s && n + 5 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n' || c == '\t' || c == '\r') {
            buf[n++] = '\\';
            buf[n++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
        } else if (c < 0x20 || c == 0x7F) {
            buf[n++] = '?';
        } else {
            buf[n++] = (char)c;
        }
    }
    if (*s)
        memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
    return buf;
}

/* "'text'" for a scalar, "a map", "a list". */
static const char *got(const evc_cfg_node *node, char *buf, size_t size)
{
    if (node->kind == EVC_CFG_NODE_MAP)
        return "a map";
    if (node->kind == EVC_CFG_NODE_SEQ)
        return "a list";
    char text[GOT_MAX];
    snprintf(buf, size, "'%s'", printable(node->scalar, text, sizeof text));
    return buf;
}

/* "in transport.zmq" or "at top level". */
static const char *in_where(const char *where, char *buf, size_t size)
{
    if (!where || !*where)
        return "at top level";
    snprintf(buf, size, "in %s", where);
    return buf;
}

/* Optimal string alignment distance (insert, delete, substitute, swap of
 * neighbours), enough to catch the usual typos; long strings get none. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > DIST_MAX_LEN || lb > DIST_MAX_LEN)
        return (size_t)-1;
    size_t rows[3][DIST_MAX_LEN + 1];
    size_t *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (prev[j - 1] + cost < d)
                d = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                pp[j - 2] + 1 < d)
                d = pp[j - 2] + 1;
            cur[j] = d;
        }
        size_t *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

static const evc_cfg_field *find_field(const evc_cfg_field *schema, const char *key)
{
    for (const evc_cfg_field *f = schema; f && f->key; f++)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static void unknown_key(vctx *v, const evc_cfg_entry *e, const evc_cfg_field *schema,
                        const char *where)
{
    char keys[LINE_MAX_LEN / 2] = "", w[IN_WHERE_MAX], kp[GOT_MAX];
    size_t n = 0;
    const char *best = NULL;
    size_t best_d = 3;
    for (const evc_cfg_field *f = schema; f && f->key; f++) {
        int k = snprintf(keys + n, sizeof keys - n, "%s%s", n ? ", " : "", f->key);
        if (k > 0)
            n = n + (size_t)k < sizeof keys ? n + (size_t)k : sizeof keys - 1;
        size_t d = edit_distance(e->key, f->key);
        if (d < best_d) {
            best_d = d;
            best = f->key;
        }
    }
    if (n == 0)
        snprintf(keys, sizeof keys, "(none)");
    if (best)
        report(v, e->key_pos, "unknown key '%s' %s; valid keys: %s (did you mean '%s'?)",
               printable(e->key, kp, sizeof kp), in_where(where, w, sizeof w), keys, best);
    else
        report(v, e->key_pos, "unknown key '%s' %s; valid keys: %s",
               printable(e->key, kp, sizeof kp), in_where(where, w, sizeof w), keys);
}

static void validate_map(vctx *v, const evc_cfg_node *map, const evc_cfg_field *schema,
                         const char *where);

/* `key:` with nothing after it: YAML's way of writing a section whose keys
 * are all commented out, so it passes for an empty map or list. */
static int is_empty(const evc_cfg_node *node)
{
    return node->kind == EVC_CFG_NODE_SCALAR && node->scalar[0] == '\0';
}

/* Reports the required keys of `schema` absent from `map` (NULL: all of
 * them), positioned at `pos`. */
static void missing_keys(vctx *v, const evc_cfg_node *map, const evc_cfg_field *schema,
                         const char *where, evc_cfg_pos pos)
{
    char w[IN_WHERE_MAX];
    for (const evc_cfg_field *f = schema; f && f->key; f++)
        if (f->required && !evc_cfg__map_find(map, f->key))
            report(v, pos, "missing required key '%s' %s", f->key, in_where(where, w, sizeof w));
}

static void must_be(vctx *v, const evc_cfg_field *f, const evc_cfg_node *node, const char *what)
{
    char g[GOT_MAX + 4];
    report(v, node->pos, "key '%s' must be %s, got %s", f->key, what, got(node, g, sizeof g));
}

static void validate_value(vctx *v, const evc_cfg_field *f, const evc_cfg_node *node,
                           const char *where)
{
    char g[GOT_MAX + 4];
    switch (f->type) {
    case EVC_CFG_STRING:
        if (node->kind != EVC_CFG_NODE_SCALAR)
            must_be(v, f, node, "a string");
        return;
    case EVC_CFG_INT: {
        int64_t x;
        if (evc_cfg_to_int(node, &x, NULL) != EVC_OK)
            must_be(v, f, node, "an integer");
        else if (f->min < f->max && (x < f->min || x > f->max))
            report(v, node->pos, "key '%s' must be between %lld and %lld, got %s", f->key,
                   (long long)f->min, (long long)f->max, node->scalar);
        return;
    }
    case EVC_CFG_BOOL: {
        bool b;
        if (evc_cfg_to_bool(node, &b, NULL) != EVC_OK)
            must_be(v, f, node, "a boolean");
        return;
    }
    case EVC_CFG_DOUBLE: {
        double d;
        if (evc_cfg_to_double(node, &d, NULL) != EVC_OK)
            must_be(v, f, node, "a number");
        else if (f->dmin < f->dmax && (d < f->dmin || d > f->dmax))
            report(v, node->pos, "key '%s' must be between %g and %g, got %s", f->key, f->dmin,
                   f->dmax, node->scalar);
        return;
    }
    case EVC_CFG_ENUM: {
        if (node->kind == EVC_CFG_NODE_SCALAR)
            for (const char *const *e = f->enum_values; e && *e; e++)
                if (strcmp(*e, node->scalar) == 0)
                    return;
        char list[LINE_MAX_LEN / 2] = "";
        size_t n = 0;
        for (const char *const *e = f->enum_values; e && *e; e++) {
            int k = snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", *e);
            if (k > 0)
                n = n + (size_t)k < sizeof list ? n + (size_t)k : sizeof list - 1;
        }
        report(v, node->pos, "key '%s' must be one of: %s; got %s", f->key, list,
               got(node, g, sizeof g));
        return;
    }
    case EVC_CFG_MAP:
        if (is_empty(node))
            missing_keys(v, NULL, f->children, where, node->pos);
        else if (node->kind != EVC_CFG_NODE_MAP)
            must_be(v, f, node, "a map");
        else if (f->children)
            validate_map(v, node, f->children, where);
        return;
    case EVC_CFG_STRMAP: {
        char k[GOT_MAX];
        if (is_empty(node))
            return;
        if (node->kind != EVC_CFG_NODE_MAP) {
            must_be(v, f, node, "a map of scalars");
            return;
        }
        for (size_t i = 0; i < node->count; i++) {
            const evc_cfg_entry *e = &node->entries[i];
            if (e->value->kind != EVC_CFG_NODE_SCALAR)
                report(v, e->value->pos, "key '%s' must be a map of scalars; '%s' is %s",
                       f->key, printable(e->key, k, sizeof k), got(e->value, g, sizeof g));
        }
        return;
    }
    case EVC_CFG_STRLIST:
        if (is_empty(node))
            return;
        if (node->kind != EVC_CFG_NODE_SEQ) {
            must_be(v, f, node, "a list of scalars");
            return;
        }
        for (size_t i = 0; i < node->count; i++)
            if (node->items[i]->kind != EVC_CFG_NODE_SCALAR)
                report(v, node->items[i]->pos,
                       "key '%s' must be a list of scalars; item %zu is %s", f->key, i + 1,
                       got(node->items[i], g, sizeof g));
        return;
    case EVC_CFG_ANY:
        return;
    }
    report(v, node->pos, "key '%s' has an unknown schema type %d (bug in the schema)", f->key,
           (int)f->type);
}

static void validate_map(vctx *v, const evc_cfg_node *map, const evc_cfg_field *schema,
                         const char *where)
{
    char sub[WHERE_MAX];
    for (size_t i = 0; i < map->count; i++) {
        const evc_cfg_entry *e = &map->entries[i];
        const evc_cfg_field *f = find_field(schema, e->key);
        if (!f) {
            unknown_key(v, e, schema, where);
            continue;
        }
        if (where && *where)
            snprintf(sub, sizeof sub, "%s.%s", where, e->key);
        else
            snprintf(sub, sizeof sub, "%s", e->key);
        validate_value(v, f, e->value, sub);
    }
    missing_keys(v, map, schema, where, map->pos);
}

size_t evc_cfg_validate(const evc_cfg_node *map, const evc_cfg_field *schema, const char *where,
                        evc_cfg_problem_fn problem, void *arg)
{
    vctx v = {problem, arg, 0};
    if (map && map->kind == EVC_CFG_NODE_MAP) {
        validate_map(&v, map, schema, where);
    } else if (map && is_empty(map)) {
        missing_keys(&v, NULL, schema, where, map->pos);
    } else if (map) {
        char g[GOT_MAX + 4];
        if (where && *where)
            report(&v, map->pos, "'%s' must be a map, got %s", where, got(map, g, sizeof g));
        else
            report(&v, map->pos, "the top level must be a map, got %s", got(map, g, sizeof g));
    } else {
        /* No map at all: there is no position to give but the map's name. */
        char name[WHERE_MAX];
        snprintf(name, sizeof name, "<%s>", where && *where ? where : "config");
        missing_keys(&v, NULL, schema, where, (evc_cfg_pos){name, 0, 0});
    }
    return v.count;
}

struct cfg_check_ctx {
    evc_error *err;
    size_t n;
};

static void cfg_check_problem(void *arg, const char *msg)
{
    struct cfg_check_ctx *c = arg;
    if (c->n++ == 0)
        evc_error_set(c->err, EVC_ECONFIG, "%s", msg);
}

int evc_cfg_check(const evc_cfg_node *map, const evc_cfg_field *schema, const char *where,
                  evc_error *err)
{
    if (!schema)
        return EVC_OK;
    struct cfg_check_ctx c = {err, 0};
    size_t n = evc_cfg_validate(map, schema, where ? where : "", cfg_check_problem, &c);
    if (n == 0)
        return EVC_OK;
    if (n > 1 && err) {
        /* A copy: err->msg cannot be both the format's argument and its target. */
        char first[EVC_ERROR_MSG_MAX];
        snprintf(first, sizeof first, "%s", err->msg);
        evc_error_set(err, EVC_ECONFIG, "%s (and %zu more problem%s)", first, n - 1,
                      n > 2 ? "s" : "");
    }
    return EVC_ECONFIG;
}
