/* central_relay.c: the sealers of Central's relays to drivers (evc/seal.h,
 * "Relays to a driver"; docs/SECURITY.md).
 *
 * A supply's live telemetry goes to its driver once a second; signed with
 * Central's Ed25519 key it cost 14.6 us of the loop per message here (a fifth
 * of Central's loop at 10,000 supplies), sealed with HMAC under the driver's
 * relay key 1.5 us. One sealer per driver relayed to: made on first use from
 * the driver's stored proof key (one store read), or at the driver's login
 * from the key it just proved; kept until a login proves another key (the
 * password changed) or the table is full (then all are dropped and made
 * again: a new incarnation of each kid, which receivers accept).
 *
 * Threads: loop thread. */
#include <stdlib.h>
#include <string.h>

#include "central_int.h"
#include "central_trust.h"
#include "evc/log.h"
#include "evc/proof.h"

#define RELAY_BUCKETS 4096 /* a power of two; chains grow past it */
#define RELAYS_MAX 65536

typedef struct relay {
    struct relay *next;
    evc_sealer *sealer; /* owned */
    uint8_t key[32];    /* the relay key the sealer holds: compared at a login */
    char driver[];
} relay;

struct central_relays {
    relay *b[RELAY_BUCKETS];
    size_t n;
};

static unsigned bucket_of(const char *driver)
{
    uint32_t h = 2166136261u;
    for (; *driver; driver++)
        h = (h ^ (uint8_t)*driver) * 16777619u;
    return h & (RELAY_BUCKETS - 1);
}

static void relay_free(relay *r)
{
    evc_sealer_free(r->sealer);
    explicit_bzero(r->key, sizeof r->key);
    free(r);
}

static void relays_clear(struct central_relays *t)
{
    for (size_t i = 0; i < RELAY_BUCKETS; i++)
        while (t->b[i]) {
            relay *r = t->b[i];
            t->b[i] = r->next;
            relay_free(r);
        }
    t->n = 0;
}

static relay **relay_slot(struct central_relays *t, const char *driver)
{
    relay **p = &t->b[bucket_of(driver)];
    while (*p && strcmp((*p)->driver, driver) != 0)
        p = &(*p)->next;
    return p;
}

/* The relay for `driver` under proof key K, replacing one under another key. */
static relay *relay_make(central *c, const char *driver, const uint8_t proof_key[32])
{
    struct central_relays *t = c->relays;
    char kid[EVC_SEAL_KID_MAX];
    if (!t || !evc_seal_relay_kid(driver, kid))
        return NULL;
    uint8_t key[32];
    evc_seal_relay_key(proof_key, driver, key);
    relay **p = relay_slot(t, driver);
    if (*p && memcmp((*p)->key, key, sizeof key) == 0) {
        explicit_bzero(key, sizeof key);
        return *p;
    }
    if (*p) { /* another key: the driver's password changed */
        relay *old = *p;
        *p = old->next;
        relay_free(old);
        t->n--;
    }
    if (t->n >= RELAYS_MAX) {
        relays_clear(t);
        p = relay_slot(t, driver);
    }
    size_t len = strlen(driver) + 1;
    relay *r = calloc(1, sizeof *r + len);
    evc_error err = {0};
    if (!r || evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, key, &r->sealer, &err) != EVC_OK) {
        if (r)
            evc_log(EVC_LOG_WARN, "central", &(evc_log_ids){.driver = driver},
                    "relay sealer: %s", err.msg);
        free(r);
        explicit_bzero(key, sizeof key);
        return NULL;
    }
    memcpy(r->key, key, sizeof key);
    explicit_bzero(key, sizeof key);
    memcpy(r->driver, driver, len);
    r->next = NULL;
    *p = r;
    t->n++;
    return r;
}

int central_relay_start(central *c, evc_error *err)
{
    c->relays = calloc(1, sizeof *c->relays);
    return c->relays ? EVC_OK : evc_error_set(err, EVC_ENOMEM, "central: out of memory");
}

void central_relay_free(central *c)
{
    if (!c->relays)
        return;
    relays_clear(c->relays);
    free(c->relays);
    c->relays = NULL;
}

void central_relay_learn(central *c, const char *driver, const uint8_t proof_key[32])
{
    relay_make(c, driver, proof_key);
}

evc_sealer *central_relay_sealer(central *c, const char *driver)
{
    if (!c->relays || !driver || !*driver)
        return NULL;
    relay *r = *relay_slot(c->relays, driver);
    if (r)
        return r->sealer;
    evc_user u;
    uint8_t k[32];
    evc_error err = {0};
    if (evc_store_user_get(c->store, driver, &u, &err) != EVC_OK ||
        evc_proof_split(u.password_hash, NULL, k, &err) != EVC_OK)
        return NULL; /* no such driver, or no proof key: Central's signature */
    r = relay_make(c, driver, k);
    explicit_bzero(k, sizeof k);
    explicit_bzero(&u, sizeof u);
    return r ? r->sealer : NULL;
}
