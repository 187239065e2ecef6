/* envelope_payload.c: evc_payload, a builder of JSON object text so that
 * roles never hand-escape strings into JSON. Errors are sticky: the first
 * one is kept and reported by evc_payload_finish, so call sites can chain
 * adders and check once. */
#include "evc/envelope.h"

#include "envelope_internal.h"

#include <math.h>
#include <stdlib.h>

struct evc_payload {
    json_t *obj;
    evc_error err;   /* code != EVC_OK once something failed */
};

evc_payload *evc_payload_new(void)
{
    evc_payload *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->obj = json_object();
    if (!p->obj) {
        free(p);
        return NULL;
    }
    return p;
}

void evc_payload_free(evc_payload *p)
{
    if (!p)
        return;
    json_decref(p->obj);
    free(p);
}

/* Takes ownership of v (may be NULL: then `why` explains it). */
static int add(evc_payload *p, const char *key, json_t *v, const char *why)
{
    if (!p) {
        json_decref(v);
        return EVC_EINVAL;
    }
    if (p->err.code != EVC_OK) {
        json_decref(v);
        return p->err.code;
    }
    if (!key || !v) {
        json_decref(v);
        return evc_error_set(&p->err, EVC_EINVAL, "payload: %s for key \"%.64s\"",
                             !key ? "NULL key" : why, key ? key : "(null)");
    }
    if (json_object_get(p->obj, key)) {
        json_decref(v);
        return evc_error_set(&p->err, EVC_EEXIST, "payload: duplicate key \"%.64s\"", key);
    }
    if (json_object_set_new(p->obj, key, v) != 0)
        return evc_error_set(&p->err, EVC_EINVAL, "payload: key \"%.64s\" is not valid UTF-8", key);
    return EVC_OK;
}

int evc_payload_str(evc_payload *p, const char *key, const char *value)
{
    return add(p, key, value ? json_string(value) : json_null(), "value is not valid UTF-8");
}

int evc_payload_int(evc_payload *p, const char *key, int64_t value)
{
    return add(p, key, json_integer((json_int_t)value), "out of memory");
}

int evc_payload_real(evc_payload *p, const char *key, double value)
{
    /* JSON has no NaN or infinity; json_real refuses them (returns NULL). */
    return add(p, key, isfinite(value) ? json_real(value) : NULL, "number is not finite");
}

int evc_payload_bool(evc_payload *p, const char *key, bool value)
{
    return add(p, key, json_boolean(value), "out of memory");
}

int evc_payload_null(evc_payload *p, const char *key)
{
    return add(p, key, json_null(), "out of memory");
}

int evc_payload_raw(evc_payload *p, const char *key, const char *json_text)
{
    json_error_t je;
    json_t *v = json_text ? json_loads(json_text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je) : NULL;
    if (!v && p && p->err.code == EVC_OK && key) {
        if (json_text)
            return evc_error_set(&p->err, EVC_EINVAL,
                                 "payload: value of key \"%.64s\" is not JSON at line %d column %d: %s",
                                 key, je.line, je.column, je.text);
        return evc_error_set(&p->err, EVC_EINVAL, "payload: NULL JSON text for key \"%.64s\"", key);
    }
    return add(p, key, v, "invalid JSON");
}

char *evc_payload_finish(evc_payload *p, evc_error *err)
{
    if (!p) {
        evc_error_set(err, EVC_EINVAL, "payload: NULL builder (evc_payload_new failed?)");
        return NULL;
    }
    char *text = NULL;
    if (p->err.code != EVC_OK) {
        if (err)
            *err = p->err;
    } else if (!(text = evc_json_dump_compact(p->obj, NULL))) {
        evc_error_set(err, EVC_ENOMEM, "payload: out of memory");
    }
    evc_payload_free(p);
    return text;
}
