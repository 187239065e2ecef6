/* msg.c: envelopes on the bus, payload readers, duplicate detection. */
#include "evc/msg.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int evc_msg_publish(evc_bus *bus, const char *topic, const char *key, const char *type,
                    const char *source, const char *correlation_id, const char *payload,
                    evc_bus_outcome_cb cb, void *cb_arg, char id_out[EVC_UUID_STR_SIZE],
                    evc_error *err)
{
    return evc_msg_publish_with(bus, NULL, topic, key, type, source, correlation_id, payload,
                                cb, cb_arg, id_out, err);
}

int evc_msg_publish_with(evc_bus *bus, evc_sealer *sealer, const char *topic, const char *key,
                         const char *type, const char *source, const char *correlation_id,
                         const char *payload, evc_bus_outcome_cb cb, void *cb_arg,
                         char id_out[EVC_UUID_STR_SIZE], evc_error *err)
{
    char id[EVC_UUID_STR_SIZE];
    evc_envelope env = {.type = type, .correlation_id = correlation_id, .source = source,
                        .payload = payload};
    int rc = evc_envelope_stamp(&env, id, err);
    if (rc != EVC_OK)
        return rc;
    char *text = NULL;
    size_t len = 0;
    rc = evc_envelope_encode(&env, &text, &len, err);
    if (rc != EVC_OK) {
        evc_error_prefix(err, "message %s on %s", type, topic);
        return rc;
    }
    rc = evc_bus_publish_with(bus, sealer, topic, key, text, len, cb, cb_arg, err);
    free(text);
    if (rc == EVC_OK && id_out)
        memcpy(id_out, id, EVC_UUID_STR_SIZE);
    return rc;
}

static json_t *field(const evc_envelope *env, const char *key)
{
    json_t *obj = env ? evc_envelope_payload_json(env) : NULL;
    return obj ? json_object_get(obj, key) : NULL;
}

const char *evc_msg_str(const evc_envelope *env, const char *key)
{
    return json_string_value(field(env, key));
}

int evc_msg_int(const evc_envelope *env, const char *key, int64_t *out)
{
    json_t *v = field(env, key);
    if (!json_is_integer(v))
        return -1;
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int evc_msg_bool(const evc_envelope *env, const char *key, bool *out)
{
    json_t *v = field(env, key);
    if (!json_is_boolean(v))
        return -1;
    *out = json_is_true(v);
    return 0;
}

char *evc_msg_json(const evc_envelope *env, const char *key)
{
    json_t *v = field(env, key);
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* A ring of the last ids plus an open-addressing index into it. */
struct evc_msg_dedup {
    size_t capacity, next, count;
    char (*ring)[EVC_UUID_STR_SIZE];
    size_t *slots;  /* 1 + ring index, 0 = empty */
    size_t nslots;
};

static size_t hash_id(const char *s)
{
    size_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

evc_msg_dedup *evc_msg_dedup_new(size_t capacity)
{
    if (capacity == 0)
        capacity = 1;
    evc_msg_dedup *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->capacity = capacity;
    d->nslots = 1;
    while (d->nslots < capacity * 2)
        d->nslots <<= 1;
    d->ring = calloc(capacity, sizeof *d->ring);
    d->slots = calloc(d->nslots, sizeof *d->slots);
    if (!d->ring || !d->slots) {
        evc_msg_dedup_free(d);
        return NULL;
    }
    return d;
}

void evc_msg_dedup_free(evc_msg_dedup *d)
{
    if (!d)
        return;
    free(d->ring);
    free(d->slots);
    free(d);
}

static size_t *find_slot(evc_msg_dedup *d, const char *id, bool *found)
{
    size_t mask = d->nslots - 1;
    for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
        if (d->slots[i] == 0) {
            *found = false;
            return &d->slots[i];
        }
        if (strcmp(d->ring[d->slots[i] - 1], id) == 0) {
            *found = true;
            return &d->slots[i];
        }
    }
}

/* Removes `id` from the index with backward-shift deletion, so that linear
 * probing keeps finding every remaining id without tombstones. */
static void forget(evc_msg_dedup *d, const char *id)
{
    bool found;
    size_t *slot = find_slot(d, id, &found);
    if (!found)
        return;
    size_t mask = d->nslots - 1;
    size_t i = (size_t)(slot - d->slots);
    d->slots[i] = 0;
    for (size_t j = (i + 1) & mask; d->slots[j] != 0; j = (j + 1) & mask) {
        size_t home = hash_id(d->ring[d->slots[j] - 1]) & mask;
        /* Move j back into the hole when its home is not in (i, j]. */
        bool in_between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!in_between) {
            d->slots[i] = d->slots[j];
            d->slots[j] = 0;
            i = j;
        }
    }
}

bool evc_msg_dedup_first(evc_msg_dedup *d, const char *id)
{
    if (!id || strlen(id) >= EVC_UUID_STR_SIZE)
        return true; /* not an id we can remember: let it through */
    bool found;
    size_t *slot = find_slot(d, id, &found);
    if (found)
        return false;
    size_t at = d->next;
    if (d->count == d->capacity) {
        forget(d, d->ring[at]); /* the oldest id leaves the window */
        slot = find_slot(d, id, &found);
    } else {
        d->count++;
    }
    memcpy(d->ring[at], id, strlen(id) + 1);
    *slot = at + 1;
    d->next = (d->next + 1) % d->capacity;
    return true;
}
