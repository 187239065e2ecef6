/* gw_schema.c: every call and result, in both directions, is checked against
 * the official OCPP 1.6 JSON schemas (draft-07), embedded at build time from
 * the npm package ocpp-rpc (CMakeLists.txt). A compact validator for the
 * subset of JSON Schema those files use -- type, properties, required,
 * additionalProperties, enum, maxLength, minItems, items, multipleOf,
 * format date-time, $ref into definitions -- and nothing else: a keyword it
 * does not know makes gw_schema_load fail, so a newer schema file cannot be
 * half-checked in silence.
 *
 * Error codes as OCPP-J 1.6 section 4.2.3 names them (with its spelling
 * "OccurenceConstraintViolation"): a wrong JSON type is
 * TypeConstraintViolation, a missing or unknown field
 * OccurenceConstraintViolation, a bad value (enum, length, format, multiple)
 * PropertyConstraintViolation.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gw.h"

extern const unsigned char gw_schema_json[];
extern const size_t gw_schema_json_len;

#define TYPE_V "TypeConstraintViolation"
#define OCC_V "OccurenceConstraintViolation"
#define PROP_V "PropertyConstraintViolation"

static const char *const known_keywords[] = {
    "$id", "$schema", "$ref", "definitions", "type", "properties", "required",
    "additionalProperties", "enum", "maxLength", "minItems", "items", "multipleOf", "format",
    "title", "description", "comment", NULL};

static bool keywords_known(const json_t *s, char *bad, size_t cap)
{
    if (!json_is_object(s))
        return true;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        bool ok = false;
        for (size_t i = 0; known_keywords[i]; i++)
            ok = ok || strcmp(k, known_keywords[i]) == 0;
        if (!ok) {
            snprintf(bad, cap, "%s", k);
            return false;
        }
        if (strcmp(k, "properties") == 0 || strcmp(k, "definitions") == 0) {
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) if (!keywords_known(pv, bad, cap)) return false;
        } else if (strcmp(k, "items") == 0 && !keywords_known(v, bad, cap)) {
            return false;
        }
    }
    return true;
}

/* n decimal digits at s into *v; sscanf cost more than the rest of a
 * MeterValues check (bench_ocpp's profile). */
static bool digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

/* RFC 3339 date-time, as the format keyword means it: a full date, 'T', a
 * time with optional fraction, and 'Z' or an offset. */
static bool date_time_ok(const char *s)
{
    int y, mo, d, h, mi, sec;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return false;
    s += 10;
    if (*s != 'T' && *s != 't')
        return false;
    s++;
    if (!digits(s, 2, &h) || s[2] != ':' || !digits(s + 3, 2, &mi) || s[5] != ':' ||
        !digits(s + 6, 2, &sec))
        return false;
    s += 8;
    if (*s == '.') {
        s++;
        if (!isdigit((unsigned char)*s))
            return false;
        while (isdigit((unsigned char)*s))
            s++;
    }
    if (*s == 'Z' || *s == 'z')
        s++;
    else if ((*s == '+' || *s == '-') && isdigit((unsigned char)s[1]) &&
             isdigit((unsigned char)s[2]) && s[3] == ':' && isdigit((unsigned char)s[4]) &&
             isdigit((unsigned char)s[5]))
        s += 6;
    else
        return false;
    (void)y;
    return *s == '\0' && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 &&
           sec <= 60;
}

/* A schema node compiled at load: the keywords check() looks at, so that a
 * call costs no hash lookup per keyword (they were most of the validator's
 * cost in bench_ocpp's profile). Strings and the enum arrays are borrowed
 * from g->schemas, which lives as long as the nodes. */
typedef enum stype { ST_NONE = 0, ST_OBJECT, ST_ARRAY, ST_STRING, ST_BOOLEAN, ST_INTEGER,
                     ST_NUMBER, ST_NULL, ST_UNKNOWN } stype;

typedef struct snode snode;
struct snode {
    stype type;
    const char *type_name;
    const json_t *en; /* enum values, or NULL */
    bool has_max_len, date_time, has_mult, has_min_items, no_additional;
    json_int_t max_len, min_items;
    double mult;
    const snode *items;
    size_t nprops, nreq;
    const char **prop_names; /* nprops */
    const snode **props;     /* nprops */
    const char **req;        /* nreq */
};

/* Everything compiled, freed at once: the nodes and their arrays. */
typedef struct gw_schemas {
    void **blocks;
    size_t nblocks, cap;
    size_t nroots;
    char (*keys)[80];      /* "Action.req" / "Action.conf" */
    size_t *alen;          /* the length of each key's Action: compared first */
    bool *is_req;          /* each key ends in .req (else .conf) */
    const snode **roots;
} gw_schemas;

static void *arena_alloc(gw_schemas *a, size_t n)
{
    if (a->nblocks == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        void **b = realloc(a->blocks, cap * sizeof *b);
        if (!b)
            return NULL;
        a->blocks = b;
        a->cap = cap;
    }
    void *p = calloc(1, n ? n : 1);
    if (p)
        a->blocks[a->nblocks++] = p;
    return p;
}

static stype type_of(const char *t)
{
    static const char *const names[] = {"object", "array", "string", "boolean",
                                        "integer", "number", "null"};
    if (!t)
        return ST_NONE;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(t, names[i]) == 0)
            return (stype)(ST_OBJECT + i);
    return ST_UNKNOWN;
}

/* s compiled (its $ref followed into root's definitions); NULL and why set
 * on a schema this validator cannot follow or out of memory. */
static const snode *compile(gw_schemas *a, const json_t *root, const json_t *s, int depth,
                            const char **why)
{
    if (depth > 32) {
        *why = "nesting (or a $ref cycle) deeper than 32";
        return NULL;
    }
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (ref) {
        /* As before compilation: a node with $ref is its target, whole. */
        if (strncmp(ref, "#/definitions/", 14) != 0) {
            *why = "a $ref outside definitions";
            return NULL;
        }
        s = json_object_get(json_object_get(root, "definitions"), ref + 14);
        if (!s) {
            *why = "a $ref to nothing";
            return NULL;
        }
        return compile(a, root, s, depth + 1, why);
    }
    snode *n = arena_alloc(a, sizeof *n);
    if (!n) {
        *why = "out of memory";
        return NULL;
    }
    n->type_name = json_string_value(json_object_get(s, "type"));
    n->type = type_of(n->type_name);
    n->en = json_object_get(s, "enum");
    const json_t *x = json_object_get(s, "maxLength");
    n->has_max_len = x != NULL;
    n->max_len = json_integer_value(x);
    const char *fmt = json_string_value(json_object_get(s, "format"));
    n->date_time = fmt && strcmp(fmt, "date-time") == 0;
    x = json_object_get(s, "multipleOf");
    n->has_mult = x != NULL;
    n->mult = json_number_value(x);
    x = json_object_get(s, "minItems");
    n->has_min_items = x != NULL;
    n->min_items = json_integer_value(x);
    n->no_additional = json_is_false(json_object_get(s, "additionalProperties"));
    x = json_object_get(s, "items");
    if (x && !(n->items = compile(a, root, x, depth + 1, why)))
        return NULL;
    const json_t *props = json_object_get(s, "properties");
    n->nprops = json_object_size(props);
    n->prop_names = arena_alloc(a, n->nprops * sizeof *n->prop_names);
    n->props = arena_alloc(a, n->nprops * sizeof *n->props);
    if (!n->prop_names || !n->props) {
        *why = "out of memory";
        return NULL;
    }
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)props, k, v) {
        n->prop_names[i] = k;
        if (!(n->props[i++] = compile(a, root, v, depth + 1, why)))
            return NULL;
    }
    const json_t *req = json_object_get(s, "required");
    n->nreq = json_array_size(req);
    n->req = arena_alloc(a, n->nreq * sizeof *n->req);
    if (!n->req) {
        *why = "out of memory";
        return NULL;
    }
    for (i = 0; i < n->nreq; i++)
        if (!(n->req[i] = json_string_value(json_array_get(req, i)))) {
            *why = "a required entry that is not a string";
            return NULL;
        }
    return n;
}

void gw_schema_free(gw *g)
{
    gw_schemas *a = g->compiled;
    if (a) {
        for (size_t i = 0; i < a->nblocks; i++)
            free(a->blocks[i]);
        free(a->blocks);
        free(a);
        g->compiled = NULL;
    }
    json_decref(g->schemas);
    g->schemas = NULL;
}

int gw_schema_load(gw *g, evc_error *err)
{
    json_error_t je;
    json_t *all = json_loadb((const char *)gw_schema_json, gw_schema_json_len, 0, &je);
    if (!json_is_array(all)) {
        json_decref(all);
        return evc_error_set(err, EVC_ECORRUPT, "ocpp schemas: not a JSON array (%s)", je.text);
    }
    g->schemas = json_object();
    size_t i;
    json_t *s;
    json_array_foreach(all, i, s) {
        const char *id = json_string_value(json_object_get(s, "$id"));
        char bad[64];
        if (!id || strncmp(id, "urn:", 4) != 0) {
            json_decref(all);
            return evc_error_set(err, EVC_ECORRUPT, "ocpp schemas: entry %zu has no urn: $id", i);
        }
        if (!keywords_known(s, bad, sizeof bad)) {
            json_decref(all);
            return evc_error_set(err, EVC_ECORRUPT,
                                 "ocpp schemas: %s uses keyword \"%s\" this validator does not "
                                 "check",
                                 id, bad);
        }
        json_object_set(g->schemas, id + 4, s);
    }
    json_decref(all);
    gw_schemas *a = calloc(1, sizeof *a);
    if (!a)
        return evc_error_set(err, EVC_ENOMEM, "ocpp schemas: out of memory");
    g->compiled = a; /* gw_schema_free frees it, also after a failure below */
    size_t n = json_object_size(g->schemas);
    if (!(a->keys = arena_alloc(a, n * sizeof *a->keys)) ||
        !(a->alen = arena_alloc(a, n * sizeof *a->alen)) ||
        !(a->is_req = arena_alloc(a, n * sizeof *a->is_req)) ||
        !(a->roots = arena_alloc(a, n * sizeof *a->roots)))
        return evc_error_set(err, EVC_ENOMEM, "ocpp schemas: out of memory");
    const char *key;
    json_object_foreach(g->schemas, key, s) {
        const char *why = NULL;
        const snode *root = compile(a, s, s, 0, &why);
        if (!root)
            return evc_error_set(err, EVC_ECORRUPT, "ocpp schemas: %s: %s", key, why);
        if (strlen(key) >= sizeof a->keys[0])
            return evc_error_set(err, EVC_ECORRUPT, "ocpp schemas: id %s too long", key);
        const char *dot = strrchr(key, '.');
        if (!dot || (strcmp(dot, ".req") != 0 && strcmp(dot, ".conf") != 0))
            return evc_error_set(err, EVC_ECORRUPT, "ocpp schemas: id %s is not Action.req or "
                                 "Action.conf", key);
        snprintf(a->keys[a->nroots], sizeof a->keys[0], "%s", key);
        a->alen[a->nroots] = (size_t)(dot - key);
        a->is_req[a->nroots] = strcmp(dot, ".req") == 0;
        a->roots[a->nroots++] = root;
    }
    return EVC_OK;
}

static bool type_ok(stype t, const json_t *v)
{
    switch (t) {
    case ST_OBJECT:
        return json_is_object(v);
    case ST_ARRAY:
        return json_is_array(v);
    case ST_STRING:
        return json_is_string(v);
    case ST_BOOLEAN:
        return json_is_boolean(v);
    case ST_INTEGER:
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    case ST_NUMBER:
        return json_is_number(v);
    case ST_NULL:
        return json_is_null(v);
    case ST_NONE:
        return true;
    case ST_UNKNOWN:
        break;
    }
    return false;
}

/* UTF-8 characters, as maxLength counts them. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

typedef struct vctx {
    char *why;
    size_t cap;
} vctx;

/* Where in the payload check() is: a chain up to the payload itself (up ==
 * NULL), written out only when something fails -- formatting it for every
 * field was most of the validator's cost (bench_ocpp's profile). */
typedef struct vpath {
    const struct vpath *up;
    const char *key; /* an object's field; NULL: an array's item idx */
    size_t idx;
} vpath;

static void path_text(const vpath *p, char *out, size_t cap)
{
    if (!p || !p->up) {
        out[0] = '\0';
        return;
    }
    path_text(p->up, out, cap);
    size_t n = strlen(out);
    if (p->key)
        snprintf(out + n, cap - n, "%s%s", n ? "." : "", p->key);
    else
        snprintf(out + n, cap - n, "[%zu]", p->idx);
}

static const char *fail(vctx *c, const char *code, const vpath *at, const char *what)
{
    char path[200];
    path_text(at, path, sizeof path);
    snprintf(c->why, c->cap, "%s%s%s", path[0] ? path : "payload", path[0] ? ": " : ": ", what);
    return code;
}

static const char *check(vctx *c, const snode *s, const json_t *v, const vpath *path)
{
    char msg[160];
    if (!type_ok(s->type, v)) {
        snprintf(msg, sizeof msg, "must be of type %s", s->type_name);
        return fail(c, TYPE_V, path, msg);
    }
    if (s->en) {
        bool hit = false;
        size_t i;
        json_t *e;
        json_array_foreach(s->en, i, e) hit = hit || json_equal(e, (json_t *)v);
        if (!hit)
            return fail(c, PROP_V, path, "is not one of the values the schema allows");
    }
    if (json_is_string(v)) {
        if (s->has_max_len && utf8_chars(json_string_value(v)) > (size_t)s->max_len) {
            snprintf(msg, sizeof msg, "longer than %lld characters", (long long)s->max_len);
            return fail(c, PROP_V, path, msg);
        }
        if (s->date_time && !date_time_ok(json_string_value(v)))
            return fail(c, PROP_V, path, "is not an RFC 3339 date-time");
    }
    if (s->has_mult && json_is_number(v)) {
        double q = json_number_value(v) / s->mult;
        if (fabs(q - round(q)) > 1e-9)
            return fail(c, PROP_V, path, "is not a multiple the schema allows");
    }
    if (json_is_array(v)) {
        if (s->has_min_items && json_array_size(v) < (size_t)s->min_items)
            return fail(c, OCC_V, path, "has too few items");
        size_t i;
        json_t *e;
        if (s->items)
            json_array_foreach(v, i, e) {
                const vpath sub = {.up = path, .idx = i};
                const char *code = check(c, s->items, e, &sub);
                if (code)
                    return code;
            }
    }
    if (json_is_object(v)) {
        for (size_t i = 0; i < s->nreq; i++) {
            if (!json_object_get(v, s->req[i])) {
                snprintf(msg, sizeof msg, "required field %s is missing", s->req[i]);
                return fail(c, OCC_V, path, msg);
            }
        }
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            const snode *ps = NULL;
            for (size_t i = 0; i < s->nprops && !ps; i++)
                if (strcmp(s->prop_names[i], k) == 0)
                    ps = s->props[i];
            const vpath sub = {.up = path, .key = k};
            if (!ps) {
                if (s->no_additional)
                    return fail(c, OCC_V, &sub, "is not a field of this message");
                continue;
            }
            const char *code = check(c, ps, e, &sub);
            if (code)
                return code;
        }
    }
    return NULL;
}

const char *gw_schema_check(const gw *g, const char *action, bool is_req, const json_t *payload,
                            char *why, size_t cap)
{
    const gw_schemas *a = g->compiled;
    size_t alen = strlen(action);
    const snode *s = NULL;
    for (size_t i = 0; a && i < a->nroots && !s; i++)
        if (a->alen[i] == alen && a->is_req[i] == is_req && memcmp(a->keys[i], action, alen) == 0)
            s = a->roots[i];
    if (!s) {
        snprintf(why, cap, "%s is not an OCPP 1.6 action", action);
        return "NotImplemented";
    }
    vctx c = {.why = why, .cap = cap};
    const vpath top = {0};
    return check(&c, s, payload, &top);
}
