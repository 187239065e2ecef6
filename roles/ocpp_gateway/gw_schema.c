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
    return EVC_OK;
}

/* RFC 3339 date-time, as the format keyword means it: a full date, 'T', a
 * time with optional fraction, and 'Z' or an offset. */
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

static bool type_ok(const char *t, const json_t *v)
{
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v));
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
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
    const json_t *root;
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

static const char *check(vctx *c, const json_t *s, const json_t *v, const vpath *path)
{
    const char *ref = json_string_value(json_object_get(s, "$ref"));
    if (ref) {
        if (strncmp(ref, "#/definitions/", 14) != 0)
            return fail(c, "InternalError", path, "schema $ref outside definitions");
        s = json_object_get(json_object_get(c->root, "definitions"), ref + 14);
        if (!s)
            return fail(c, "InternalError", path, "schema $ref to nothing");
    }
    const char *type = json_string_value(json_object_get(s, "type"));
    char msg[160];
    if (type && !type_ok(type, v)) {
        snprintf(msg, sizeof msg, "must be of type %s", type);
        return fail(c, TYPE_V, path, msg);
    }
    const json_t *en = json_object_get(s, "enum");
    if (en) {
        bool hit = false;
        size_t i;
        json_t *e;
        json_array_foreach(en, i, e) hit = hit || json_equal(e, (json_t *)v);
        if (!hit)
            return fail(c, PROP_V, path, "is not one of the values the schema allows");
    }
    if (json_is_string(v)) {
        const json_t *ml = json_object_get(s, "maxLength");
        if (ml && utf8_chars(json_string_value(v)) > (size_t)json_integer_value(ml)) {
            snprintf(msg, sizeof msg, "longer than %lld characters",
                     (long long)json_integer_value(ml));
            return fail(c, PROP_V, path, msg);
        }
        const char *fmt = json_string_value(json_object_get(s, "format"));
        if (fmt && strcmp(fmt, "date-time") == 0 && !date_time_ok(json_string_value(v)))
            return fail(c, PROP_V, path, "is not an RFC 3339 date-time");
    }
    const json_t *mult = json_object_get(s, "multipleOf");
    if (mult && json_is_number(v)) {
        double q = json_number_value(v) / json_number_value(mult);
        if (fabs(q - round(q)) > 1e-9)
            return fail(c, PROP_V, path, "is not a multiple the schema allows");
    }
    if (json_is_array(v)) {
        const json_t *mi = json_object_get(s, "minItems");
        if (mi && json_array_size(v) < (size_t)json_integer_value(mi))
            return fail(c, OCC_V, path, "has too few items");
        const json_t *items = json_object_get(s, "items");
        size_t i;
        json_t *e;
        if (items)
            json_array_foreach(v, i, e) {
                const vpath sub = {.up = path, .idx = i};
                const char *code = check(c, items, e, &sub);
                if (code)
                    return code;
            }
    }
    if (json_is_object(v)) {
        const json_t *props = json_object_get(s, "properties");
        const json_t *req = json_object_get(s, "required");
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r) {
            if (!json_object_get(v, json_string_value(r))) {
                snprintf(msg, sizeof msg, "required field %s is missing", json_string_value(r));
                return fail(c, OCC_V, path, msg);
            }
        }
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)v, k, e) {
            const json_t *ps = json_object_get(props, k);
            const vpath sub = {.up = path, .key = k};
            if (!ps) {
                if (json_is_false(json_object_get(s, "additionalProperties")))
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
    char key[80];
    snprintf(key, sizeof key, "%s.%s", action, is_req ? "req" : "conf");
    const json_t *s = json_object_get(g->schemas, key);
    if (!s) {
        snprintf(why, cap, "%s is not an OCPP 1.6 action", action);
        return "NotImplemented";
    }
    vctx c = {.root = s, .why = why, .cap = cap};
    const vpath top = {0};
    return check(&c, s, payload, &top);
}
