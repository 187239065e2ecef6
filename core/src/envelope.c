/* envelope.c: strict JSON envelope encode/decode over jansson. */
#include "evc/envelope.h"

#include "envelope_internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A decoded envelope: the public struct first, so evc_envelope * converts. */
typedef struct decoded {
    evc_envelope env;
    json_t *payload;  /* owned reference */
    char *strings;    /* type, id, correlation_id, source, payload text: one block */
} decoded;

static const char *const known_fields[] = {"type", "id", "correlation_id", "ts", "source", "payload"};

const char *evc_json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "an unknown JSON value";
}

typedef struct growbuf {
    char *p;
    size_t len, cap;
} growbuf;

static int grow_append(const char *buf, size_t size, void *data)
{
    growbuf *g = data;
    if (g->len + size + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 256;
        while (cap < g->len + size + 1)
            cap *= 2;
        char *np = realloc(g->p, cap);
        if (!np)
            return -1;
        g->p = np;
        g->cap = cap;
    }
    memcpy(g->p + g->len, buf, size);
    g->len += size;
    return 0;
}

char *evc_json_dump_compact(const json_t *j, size_t *out_len)
{
    growbuf g = {0};
    if (json_dump_callback(j, grow_append, &g, JSON_COMPACT | JSON_ENCODE_ANY) != 0 ||
        grow_append("", 0, &g) != 0) {
        free(g.p);
        return NULL;
    }
    g.p[g.len] = '\0';
    if (out_len)
        *out_len = g.len;
    return g.p;
}

int evc_envelope_stamp(evc_envelope *env, char id_buf[EVC_UUID_STR_SIZE], evc_error *err)
{
    int rc = evc_uuid_generate(id_buf, err);
    if (rc != EVC_OK)
        return rc;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    env->id = id_buf;
    env->ts_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    return EVC_OK;
}

/* ---- encode ----------------------------------------------------------- */

static int set_string(json_t *o, const char *key, const char *value, evc_error *err)
{
    json_t *s = json_string(value);
    if (!s)
        return evc_error_set(err, EVC_EINVAL, "envelope encode: field \"%s\" is not valid UTF-8", key);
    if (json_object_set_new(o, key, s) != 0)
        return evc_error_set(err, EVC_ENOMEM, "envelope encode: out of memory");
    return EVC_OK;
}

static int build(const evc_envelope *env, json_t *o, evc_error *err)
{
    if (!env->type || !env->type[0])
        return evc_error_set(err, EVC_EINVAL, "envelope encode: field \"type\" must not be empty");
    if (!evc_uuid_valid(env->id))
        return evc_error_set(err, EVC_EINVAL, "envelope encode: field \"id\" is not a UUID: \"%.40s\"",
                             env->id ? env->id : "(null)");
    if (env->correlation_id && !evc_uuid_valid(env->correlation_id))
        return evc_error_set(err, EVC_EINVAL,
                             "envelope encode: field \"correlation_id\" is not a UUID: \"%.40s\"",
                             env->correlation_id);
    if (env->ts_ms < 0)
        return evc_error_set(err, EVC_EINVAL, "envelope encode: field \"ts\" must be >= 0, got %" PRId64,
                             env->ts_ms);
    if (!env->source || !env->source[0])
        return evc_error_set(err, EVC_EINVAL, "envelope encode: field \"source\" must not be empty");
    json_t *payload;
    if (env->payload) {
        json_error_t je;
        payload = json_loads(env->payload, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
        if (!payload)
            return evc_error_set(err, EVC_EINVAL,
                                 "envelope encode: payload is not JSON at line %d column %d: %s",
                                 je.line, je.column, je.text);
        if (!json_is_object(payload)) {
            evc_error_set(err, EVC_EINVAL, "envelope encode: payload must be an object, got %s",
                          evc_json_type_name(payload));
            json_decref(payload);
            return EVC_EINVAL;
        }
    } else {
        payload = json_object();
    }
    int rc;
    if ((rc = set_string(o, "type", env->type, err)) != EVC_OK ||
        (rc = set_string(o, "id", env->id, err)) != EVC_OK) {
        json_decref(payload);
        return rc;
    }
    if (json_object_set_new(o, "correlation_id",
                            env->correlation_id ? json_string(env->correlation_id) : json_null()) ||
        json_object_set_new(o, "ts", json_integer(env->ts_ms))) {
        json_decref(payload);
        return evc_error_set(err, EVC_ENOMEM, "envelope encode: out of memory");
    }
    if ((rc = set_string(o, "source", env->source, err)) != EVC_OK) {
        json_decref(payload);
        return rc;
    }
    if (!payload || json_object_set_new(o, "payload", payload) != 0)
        return evc_error_set(err, EVC_ENOMEM, "envelope encode: out of memory");
    return EVC_OK;
}

int evc_envelope_encode(const evc_envelope *env, char **out, size_t *out_len, evc_error *err)
{
    if (!env || !out || !out_len)
        return evc_error_set(err, EVC_EINVAL, "envelope encode: NULL argument");
    *out = NULL;
    json_t *o = json_object();
    if (!o)
        return evc_error_set(err, EVC_ENOMEM, "envelope encode: out of memory");
    int rc = build(env, o, err);
    if (rc == EVC_OK) {
        *out = evc_json_dump_compact(o, out_len);
        if (!*out)
            rc = evc_error_set(err, EVC_ENOMEM, "envelope encode: out of memory");
    }
    json_decref(o);
    return rc;
}

/* ---- decode ----------------------------------------------------------- */

/* A required field; NULL (error set) when missing. */
static json_t *field(json_t *root, const char *name, evc_error *err)
{
    json_t *v = json_object_get(root, name);
    if (!v)
        evc_error_set(err, EVC_EPROTO, "envelope: missing field \"%s\"", name);
    return v;
}

static int string_field(json_t *root, const char *name, bool uuid, const char **out, evc_error *err)
{
    json_t *v = field(root, name, err);
    if (!v)
        return EVC_EPROTO;
    if (!json_is_string(v))
        return evc_error_set(err, EVC_EPROTO, "envelope: field \"%s\" must be a string, got %s", name,
                             evc_json_type_name(v));
    const char *s = json_string_value(v);
    if (!s[0])
        return evc_error_set(err, EVC_EPROTO, "envelope: field \"%s\" must not be empty", name);
    if (uuid && !evc_uuid_valid(s))
        return evc_error_set(err, EVC_EPROTO, "envelope: field \"%s\" is not a UUID: \"%.40s\"", name, s);
    *out = s;
    return EVC_OK;
}

static int check(json_t *root, evc_envelope *e, json_t **payload, evc_error *err)
{
    if (!json_is_object(root))
        return evc_error_set(err, EVC_EPROTO, "envelope: expected a JSON object, got %s",
                             evc_json_type_name(root));
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof known_fields / sizeof known_fields[0]; i++)
            known = known || strcmp(key, known_fields[i]) == 0;
        /* The bus's seal (evc/seal.h): checked and removed by a bus that
         * verifies; readers without one (tools, tests) just skip it. */
        if (!known && strcmp(key, "seal") == 0 && json_is_object(v))
            continue;
        if (!known)
            return evc_error_set(err, EVC_EPROTO, "envelope: unknown field \"%.64s\"", key);
    }
    int rc;
    if ((rc = string_field(root, "type", false, &e->type, err)) != EVC_OK ||
        (rc = string_field(root, "id", true, &e->id, err)) != EVC_OK)
        return rc;
    if (!(v = field(root, "correlation_id", err)))
        return EVC_EPROTO;
    if (json_is_null(v))
        e->correlation_id = NULL;
    else if ((rc = string_field(root, "correlation_id", true, &e->correlation_id, err)) != EVC_OK) {
        if (!json_is_string(v))
            evc_error_set(err, EVC_EPROTO, "envelope: field \"correlation_id\" must be a string or null, got %s",
                          evc_json_type_name(v));
        return rc;
    }
    if (!(v = field(root, "ts", err)))
        return EVC_EPROTO;
    if (!json_is_integer(v))
        return evc_error_set(err, EVC_EPROTO, "envelope: field \"ts\" must be an integer, got %s",
                             evc_json_type_name(v));
    e->ts_ms = (int64_t)json_integer_value(v);
    if (e->ts_ms < 0)
        return evc_error_set(err, EVC_EPROTO, "envelope: field \"ts\" must be >= 0, got %" PRId64, e->ts_ms);
    if ((rc = string_field(root, "source", false, &e->source, err)) != EVC_OK)
        return rc;
    if (!(v = field(root, "payload", err)))
        return EVC_EPROTO;
    if (!json_is_object(v))
        return evc_error_set(err, EVC_EPROTO, "envelope: field \"payload\" must be an object, got %s",
                             evc_json_type_name(v));
    *payload = v;
    return EVC_OK;
}

static char *put(char **cursor, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *at = *cursor;
    memcpy(at, s, n);
    *cursor += n;
    return at;
}

int evc_envelope_decode(const void *data, size_t len, const evc_envelope_limits *limits,
                        evc_envelope **out, evc_error *err)
{
    if (!out || (!data && len))
        return evc_error_set(err, EVC_EINVAL, "envelope: NULL argument");
    *out = NULL;
    size_t max = limits && limits->max_bytes ? limits->max_bytes : EVC_ENVELOPE_DEFAULT_MAX_BYTES;
    if (len > max)
        return evc_error_set(err, EVC_ETOOBIG, "envelope: %zu bytes exceeds the limit of %zu bytes", len,
                             max);
    json_error_t je;
    json_t *root = json_loadb(data ? data : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return evc_error_set(err, EVC_EPROTO, "envelope: not JSON at line %d column %d: %s", je.line,
                             je.column, je.text);
    evc_envelope e = {0};
    json_t *payload = NULL;
    int rc = check(root, &e, &payload, err);
    char *ptext = NULL;
    size_t plen = 0;
    if (rc == EVC_OK && !(ptext = evc_json_dump_compact(payload, &plen)))
        rc = evc_error_set(err, EVC_ENOMEM, "envelope: out of memory");
    decoded *d = NULL;
    if (rc == EVC_OK) {
        size_t need = strlen(e.type) + 1 + EVC_UUID_STR_SIZE * 2 + strlen(e.source) + 1 + plen + 1;
        d = malloc(sizeof *d);
        if (d && !(d->strings = malloc(need))) {
            free(d);
            d = NULL;
        }
        if (!d)
            rc = evc_error_set(err, EVC_ENOMEM, "envelope: out of memory");
    }
    if (rc == EVC_OK) {
        char *c = d->strings;
        d->env.type = put(&c, e.type);
        d->env.id = put(&c, e.id);
        d->env.correlation_id = put(&c, e.correlation_id);
        d->env.ts_ms = e.ts_ms;
        d->env.source = put(&c, e.source);
        d->env.payload = put(&c, ptext);
        d->payload = json_incref(payload);
        *out = &d->env;
    }
    free(ptext);
    json_decref(root);
    return rc;
}

void evc_envelope_free(evc_envelope *env)
{
    if (!env)
        return;
    decoded *d = (decoded *)env;
    json_decref(d->payload);
    free(d->strings);
    free(d);
}

struct json_t *evc_envelope_payload_json(const evc_envelope *env)
{
    return env ? ((const decoded *)env)->payload : NULL;
}
