/* bus_topics.c: the bus's topics, handlers and per-key subscriptions (see
 * bus_topics.h). */
#include "bus_topics.h"

#include <stdlib.h>
#include <string.h>

#include "evc/plugin.h"

/* ---- key map: open addressing, linear probing, no deletion ------------- */

static uint64_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: short ids */
    for (const unsigned char *p = (const unsigned char *)k; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

static bus_keyent *key_slot(bus_keyent *slots, size_t cap, uint64_t h, const char *k)
{
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        bus_keyent *e = &slots[i];
        if (e->key == NULL || (e->hash == h && strcmp(e->key, k) == 0))
            return e;
    }
}

static bus_keyent *key_find(const bus_topic *tp, const char *k)
{
    if (tp->kcount == 0)
        return NULL;
    bus_keyent *e = key_slot(tp->keys, tp->kcap, key_hash(k), k);
    return e->key ? e : NULL;
}

/* Room for `more` new keys at a load of at most 1/2. */
static int key_reserve(bus_topic *tp, size_t more)
{
    if ((tp->kcount + more) * 2 <= tp->kcap)
        return EVC_OK;
    size_t ncap = tp->kcap ? tp->kcap : 8;
    while ((tp->kcount + more) * 2 > ncap)
        ncap *= 2;
    bus_keyent *n = calloc(ncap, sizeof *n);
    if (!n)
        return EVC_ENOMEM;
    for (size_t i = 0; i < tp->kcap; i++)
        if (tp->keys[i].key)
            *key_slot(n, ncap, tp->keys[i].hash, tp->keys[i].key) = tp->keys[i];
    free(tp->keys);
    tp->keys = n;
    tp->kcap = ncap;
    return EVC_OK;
}

/* Finds or creates the entry of `k` (room reserved by key_reserve) with
 * space for one more handler index. NULL when out of memory. */
static bus_keyent *key_get(bus_topic *tp, const char *k)
{
    uint64_t h = key_hash(k);
    bus_keyent *e = key_slot(tp->keys, tp->kcap, h, k);
    if (!e->key) {
        char *copy = strdup(k);
        if (!copy)
            return NULL;
        *e = (bus_keyent){.key = copy, .hash = h};
        tp->kcount++;
    }
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 2;
        size_t *n = realloc(e->hidx, ncap * sizeof *n);
        if (!n)
            return NULL;
        e->hidx = n;
        e->cap = ncap;
    }
    return e;
}

/* ---- topics ------------------------------------------------------------- */

size_t bus_topics_find(const bus_topics *ts, const char *name)
{
    for (size_t i = 0; i < ts->n; i++)
        if (strcmp(ts->v[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem, size_t first)
{
    if (need <= *cap)
        return EVC_OK;
    size_t ncap = *cap ? *cap * 2 : first;
    void *n = realloc(*arr, ncap * elem);
    if (!n)
        return EVC_ENOMEM;
    *arr = n;
    *cap = ncap;
    return EVC_OK;
}

static int topic_get(bus_topics *ts, const char *topic, bus_topic **out, evc_error *err)
{
    size_t ti = bus_topics_find(ts, topic);
    if (ti == SIZE_MAX) {
        char *name = strdup(topic);
        if (!name || grow((void **)&ts->v, &ts->cap, ts->n + 1, sizeof *ts->v, 8) != EVC_OK) {
            free(name);
            return evc_error_set(err, EVC_ENOMEM, "subscribe '%s': out of memory", topic);
        }
        /* Recorded before the transport is asked: a topic without handlers
         * delivers to no one, and a retry asks the transport again. */
        ts->v[ts->n] = (bus_topic){.name = name};
        ti = ts->n++;
    }
    *out = &ts->v[ti];
    return EVC_OK;
}

static int ask_transport(const evc_transport_ops *ops, evc_transport *t, bus_topic *tp,
                         const char *const *keys, size_t n, evc_error *err)
{
    evc_error_clear(err);
    int rc;
    if (n > 0 && EVC_HAS_FIELD(ops, subscribe_keys)) {
        rc = ops->subscribe_keys(t, tp->name, keys, n, err);
    } else {
        rc = ops->subscribe(t, tp->name, err);
        if (rc == EVC_OK)
            tp->wide = true;
    }
    if (rc != EVC_OK && err && err->msg[0] == '\0')
        evc_error_set(err, rc, "subscribe '%s': refused by the transport", tp->name);
    return rc;
}

static int add_keyed(bus_topic *tp, const char *const *keys, size_t n,
                     const evc_transport_ops *ops, evc_transport *t, evc_error *err)
{
    size_t h = tp->n; /* the new handler's index */
    if (key_reserve(tp, n) != EVC_OK)
        return evc_error_set(err, EVC_ENOMEM, "subscribe '%s': out of memory", tp->name);
    const char **fresh = malloc(n * sizeof *fresh);
    if (!fresh)
        return evc_error_set(err, EVC_ENOMEM, "subscribe '%s': out of memory", tp->name);
    size_t nfresh = 0;
    for (size_t i = 0; i < n; i++) {
        bus_keyent *e = key_get(tp, keys[i]);
        if (!e) {
            free(fresh);
            return evc_error_set(err, EVC_ENOMEM, "subscribe '%s': out of memory", tp->name);
        }
        if (!e->subscribed && !tp->wide) {
            e->subscribed = true; /* also dedupes keys given twice in this call */
            fresh[nfresh++] = e->key;
        }
    }
    int rc = nfresh > 0 ? ask_transport(ops, t, tp, fresh, nfresh, err) : EVC_OK;
    if (rc != EVC_OK) {
        for (size_t i = 0; i < nfresh; i++)
            key_find(tp, fresh[i])->subscribed = false;
        free(fresh);
        return rc;
    }
    free(fresh);
    for (size_t i = 0; i < n; i++) {
        bus_keyent *e = key_find(tp, keys[i]);
        if (e->n == 0 || e->hidx[e->n - 1] != h)
            e->hidx[e->n++] = h; /* room made by key_get */
    }
    return EVC_OK;
}

int bus_topics_add(bus_topics *ts, const char *topic, const char *const *keys, size_t n,
                   evc_bus_handler fn, void *arg, const evc_transport_ops *ops,
                   evc_transport *t, evc_error *err)
{
    bus_topic *tp = NULL;
    int rc = topic_get(ts, topic, &tp, err);
    if (rc != EVC_OK)
        return rc;
    if (grow((void **)&tp->handlers, &tp->cap, tp->n + 1, sizeof *tp->handlers, 2) != EVC_OK ||
        (n == 0 && grow((void **)&tp->all, &tp->all_cap, tp->nall + 1, sizeof *tp->all, 2) !=
                       EVC_OK))
        return evc_error_set(err, EVC_ENOMEM, "subscribe '%s': out of memory", topic);
    if (n > 0) {
        rc = add_keyed(tp, keys, n, ops, t, err);
    } else {
        rc = tp->wide ? EVC_OK : ask_transport(ops, t, tp, NULL, 0, err);
        if (rc == EVC_OK)
            tp->all[tp->nall++] = tp->n;
    }
    if (rc != EVC_OK)
        return rc;
    tp->handlers[tp->n++] = (bus_handler){fn, arg};
    ts->gen++;
    return EVC_OK;
}

bool bus_topics_wants(const bus_topics *ts, size_t ti, const char *key)
{
    const bus_topic *tp = &ts->v[ti];
    if (tp->nall > 0)
        return true;
    const bus_keyent *e = key_find(tp, key ? key : "");
    return e && e->n > 0;
}

int bus_topics_call(bus_topics *ts, size_t ti, const evc_message *msg)
{
    const char *key = msg->key ? msg->key : "";
    uint64_t gen = ts->gen;
    const bus_topic *tp = &ts->v[ti];
    const bus_keyent *e = key_find(tp, key);
    size_t ia = 0, ik = 0;
    for (;;) {
        if (gen != ts->gen) { /* a handler subscribed: arrays may have moved */
            gen = ts->gen;
            tp = &ts->v[ti];
            e = key_find(tp, key);
        }
        /* Merge the two ascending index lists: the order handlers were added. */
        size_t a = ia < tp->nall ? tp->all[ia] : SIZE_MAX;
        size_t k = e && ik < e->n ? e->hidx[ik] : SIZE_MAX;
        if (a == SIZE_MAX && k == SIZE_MAX)
            return EVC_OK;
        size_t h = a < k ? a : k;
        if (a < k)
            ia++;
        else
            ik++;
        bus_handler hd = tp->handlers[h];
        int rc = hd.fn(hd.arg, msg);
        if (rc != EVC_OK)
            return rc;
    }
}

void bus_topics_free(bus_topics *ts)
{
    for (size_t i = 0; i < ts->n; i++) {
        bus_topic *tp = &ts->v[i];
        for (size_t k = 0; k < tp->kcap; k++) {
            free(tp->keys[k].key);
            free(tp->keys[k].hidx);
        }
        free(tp->keys);
        free(tp->name);
        free(tp->handlers);
        free(tp->all);
    }
    free(ts->v);
    *ts = (bus_topics){0};
}
