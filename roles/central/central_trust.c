/* central_trust.c: Central's seals, the keys it checks others with, driver
 * logins by proof and CP key params (central_trust.h). */
#include "central.h"
#include "central_trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "evc/proof.h"

/* CP bus keys: one per CP that sealed a message, so the table must hold
 * every CP at once (a miss is a store read and an HMAC on the loop; the old
 * fixed 8,192 thrashed past 8,192 CPs). It grows by doubling from
 * KEYS_INIT up to CP_KEYS_MAX entries, about 120 bytes each with its bucket:
 * 1.2 MB per 10,000 CPs, 126 MB at the bound (a million CPs, far past one
 * Central). Driver sessions stay bounded at SESSIONS_MAX. */
#define KEYS_INIT 1024
#define CP_KEYS_MAX (1u << 20)
#define SESSIONS_MAX 8192
#define CHALLENGES_CAP 1024
#define CHALLENGE_TTL_MS 30000
#define CP_RATE 20.0       /* messages/s a CP may send (telemetry is 1/s) */
#define CP_BURST 200.0     /* an outbox re-sent at once */
#define DRIVER_RATE 10.0
#define DRIVER_BURST 40.0

typedef struct key_entry {
    char kid[EVC_SEAL_KID_MAX]; /* "" = free */
    uint8_t key[32];
    int64_t created_ms;
    int next; /* chain in its bucket or in the free list, -1 = end */
} key_entry;

/* A hash table of kid -> key with as many buckets as slots (a power of
 * two); at its bound the oldest entry makes room. */
typedef struct key_table {
    key_entry *e; /* owned, cap entries */
    int *head;    /* owned, cap buckets */
    int free_head;
    size_t cap, max, n;
} key_table;

typedef struct challenge {
    char driver[EVC_STORE_ID_MAX];
    char nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    char server_nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    int64_t expires_ms; /* 0 = free */
} challenge;

struct central_trust {
    key_table cps, sessions;
    challenge ch[CHALLENGES_CAP];
    size_t ch_next;
    uint8_t fake_key[32]; /* params for unknown ids (evc_proof_params_fake) */
    const char *unsigned_types[4];
};

/* ---- key tables ---------------------------------------------------------- */

static unsigned bucket_of(const key_table *t, const char *kid)
{
    uint32_t h = 2166136261u;
    for (; *kid; kid++)
        h = (h ^ (uint8_t)*kid) * 16777619u;
    return h & (unsigned)(t->cap - 1);
}

/* Re-links every entry into cap buckets and the free slots into the free
 * list (after an allocation of cap slots). */
static void table_relink(key_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        t->head[i] = -1;
    t->free_head = -1;
    for (size_t i = t->cap; i-- > 0;) {
        key_entry *x = &t->e[i];
        if (x->kid[0]) {
            unsigned b = bucket_of(t, x->kid);
            x->next = t->head[b];
            t->head[b] = (int)i;
        } else {
            x->next = t->free_head;
            t->free_head = (int)i;
        }
    }
}

static int table_alloc(key_table *t, size_t cap)
{
    key_entry *e = calloc(cap, sizeof *e);
    int *head = malloc(cap * sizeof *head);
    if (!e || !head) {
        free(e);
        free(head);
        return EVC_ENOMEM;
    }
    if (t->e) {
        memcpy(e, t->e, t->cap * sizeof *e);
        explicit_bzero(t->e, t->cap * sizeof *t->e);
    }
    free(t->e);
    free(t->head);
    t->e = e;
    t->head = head;
    t->cap = cap;
    table_relink(t);
    return EVC_OK;
}

static int table_init(key_table *t, size_t max)
{
    memset(t, 0, sizeof *t);
    t->max = max;
    return table_alloc(t, KEYS_INIT < max ? KEYS_INIT : max);
}

static void table_free(key_table *t)
{
    if (t->e)
        explicit_bzero(t->e, t->cap * sizeof *t->e);
    free(t->e);
    free(t->head);
    memset(t, 0, sizeof *t);
}

static key_entry *table_find(key_table *t, const char *kid)
{
    if (!t->cap)
        return NULL;
    for (int i = t->head[bucket_of(t, kid)]; i >= 0; i = t->e[i].next)
        if (strcmp(t->e[i].kid, kid) == 0)
            return &t->e[i];
    return NULL;
}

static void table_remove(key_table *t, key_entry *x)
{
    int idx = (int)(x - t->e);
    for (int *p = &t->head[bucket_of(t, x->kid)]; *p >= 0; p = &t->e[*p].next) {
        if (*p == idx) {
            *p = x->next;
            break;
        }
    }
    explicit_bzero(x, sizeof *x);
    x->next = t->free_head;
    t->free_head = idx;
    t->n--;
}

/* NULL only when the table cannot grow (out of memory) and is empty. */
static key_entry *table_put(key_table *t, const char *kid, const uint8_t key[32], int64_t now)
{
    key_entry *x = table_find(t, kid);
    if (!x) {
        if (t->n == t->cap && t->cap < t->max)
            table_alloc(t, t->cap * 2 < t->max ? t->cap * 2 : t->max); /* else evict below */
        if (t->n == t->cap) {
            /* At the bound: a scan, once per insert past `max` keys only. */
            key_entry *oldest = &t->e[0];
            for (size_t i = 1; i < t->cap; i++)
                if (t->e[i].created_ms < oldest->created_ms)
                    oldest = &t->e[i];
            table_remove(t, oldest);
        }
        if (t->free_head < 0)
            return NULL;
        x = &t->e[t->free_head];
        t->free_head = x->next;
        snprintf(x->kid, sizeof x->kid, "%s", kid);
        unsigned b = bucket_of(t, kid);
        x->next = t->head[b];
        t->head[b] = (int)(x - t->e);
        t->n++;
    }
    memcpy(x->key, key, 32);
    x->created_ms = now;
    return x;
}

/* ---- the verifier's key lookup ------------------------------------------- */

static bool cp_bus_key(central *c, const char *cp_id, uint8_t out[32])
{
    if (!central_cp_find(c, cp_id))
        return false;
    evc_charging_point row;
    evc_error err = {0};
    uint8_t k[32];
    if (evc_store_cp_get(c->store, cp_id, &row, &err) != EVC_OK || !row.secret_hash[0] ||
        evc_proof_split(row.secret_hash, NULL, k, &err) != EVC_OK)
        return false;
    const char *parts[] = {cp_id};
    evc_proof_mac(k, "evc-bus-cp-v1", parts, 1, out);
    explicit_bzero(k, sizeof k);
    return true;
}

static int lookup(void *arg, const char *kid, evc_seal_key *out)
{
    central *c = arg;
    central_trust *t = c->trust;
    if (strchr(kid, '/')) {
        key_entry *s = table_find(&t->sessions, kid);
        if (!s)
            return EVC_ENOTFOUND;
        *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256, .rate_per_s = DRIVER_RATE,
                              .burst = DRIVER_BURST};
        memcpy(out->key, s->key, 32);
        return EVC_OK;
    }
    key_entry *x = table_find(&t->cps, kid);
    if (!x) {
        uint8_t k[32];
        if (!cp_bus_key(c, kid, k))
            return EVC_ENOTFOUND;
        x = table_put(&t->cps, kid, k, evc_wall_ms());
        *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256, .rate_per_s = CP_RATE,
                              .burst = CP_BURST};
        memcpy(out->key, x ? x->key : k, 32); /* uncached when memory is short */
        explicit_bzero(k, sizeof k);
        return EVC_OK;
    }
    *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256, .rate_per_s = CP_RATE, .burst = CP_BURST};
    memcpy(out->key, x->key, 32);
    return EVC_OK;
}

/* ---- sessions in the store ----------------------------------------------- */

typedef struct stored_session {
    uint8_t key[32];
    int64_t created_ms;
} stored_session;

static int load_session(void *arg, const char *kid, const void *value, size_t len)
{
    central_trust *t = arg;
    stored_session s;
    if (len == sizeof s && strchr(kid, '/')) {
        memcpy(&s, value, sizeof s);
        table_put(&t->sessions, kid, s.key, s.created_ms);
        explicit_bzero(&s, sizeof s);
    }
    return EVC_OK;
}

/* Keeps the driver's newest sessions only (an app that logs in again gets a
 * new one; the old ones would otherwise pile up). */
static void prune_sessions(central *c, const char *driver)
{
    central_trust *t = c->trust;
    size_t dl = strlen(driver);
    for (;;) {
        key_entry *oldest = NULL;
        size_t n = 0;
        for (size_t i = 0; i < t->sessions.cap; i++) {
            key_entry *x = &t->sessions.e[i];
            if (x->kid[0] && strncmp(x->kid, driver, dl) == 0 && x->kid[dl] == '/') {
                n++;
                if (!oldest || x->created_ms < oldest->created_ms)
                    oldest = x;
            }
        }
        if (n <= CENTRAL_SESSIONS_PER_DRIVER)
            return;
        evc_error err = {0};
        evc_store_kv_delete(c->store, CENTRAL_KV_SESSION, oldest->kid, &err);
        table_remove(&t->sessions, oldest);
    }
}

/* ---- start --------------------------------------------------------------- */

void central_trust_key_path(evc_app *app, char *buf, size_t cap)
{
    const char *set = evc_cfg_schema_str(evc_app_section(app), central_schema, "signing_key_file");
    if (set && *set) {
        snprintf(buf, cap, "%s", set);
        return;
    }
    char pub[4096];
    evc_app_central_key_path(app, pub, sizeof pub);
    size_t n = strlen(pub);
    if (n > 4 && strcmp(pub + n - 4, ".pub") == 0)
        pub[n - 4] = '\0';
    snprintf(buf, cap, "%s", pub);
}

int central_trust_start(central *c, evc_error *err)
{
    central_trust *t = calloc(1, sizeof *t);
    if (!t)
        return evc_error_set(err, EVC_ENOMEM, "central: out of memory");
    c->trust = t;
    if (table_init(&t->cps, CP_KEYS_MAX) != EVC_OK ||
        table_init(&t->sessions, SESSIONS_MAX) != EVC_OK)
        return evc_error_set(err, EVC_ENOMEM, "central: out of memory for the key tables");
    t->unsigned_types[0] = "driver.hello";
    t->unsigned_types[1] = "driver.login";
    t->unsigned_types[2] = "cp.key_request";

    char path[4096];
    if (c->signing_key_path)
        snprintf(path, sizeof path, "%s", c->signing_key_path);
    else
        central_trust_key_path(c->app, path, sizeof path);
    uint8_t sk[64];
    bool created = false;
    int rc = evc_app_signing_key(path, sk, &created, err);
    if (rc != EVC_OK)
        return rc;
    if (created)
        evc_log(EVC_LOG_INFO, "central", NULL,
                "new signing key %s (public half %s.pub: give it to every CP and driver host)",
                path, path);
    const char *parts[] = {"fake params"};
    evc_proof_mac(sk, "evc-fake-key-v1", parts, 1, t->fake_key);
    evc_sealer *s = NULL;
    rc = evc_sealer_new("central", EVC_SEAL_ED25519, sk, &s, err);
    explicit_bzero(sk, sizeof sk);
    if (rc == EVC_OK)
        rc = evc_bus_seal_with(c->bus, s, err);
    if (rc != EVC_OK)
        return rc;

    evc_error kerr = {0};
    if (evc_store_kv_list(c->store, CENTRAL_KV_SESSION, load_session, t, &kerr) != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL, "driver sessions not restored: %s", kerr.msg);
    evc_seal_policy p = {.unsigned_types = t->unsigned_types};
    if (c->app)
        evc_app_seal_windows(c->app, &p.max_age_ms, &p.max_skew_ms);
    evc_seal_verifier *v = NULL;
    rc = evc_seal_verifier_new(lookup, c, &p, &v, err);
    if (rc == EVC_OK)
        rc = evc_bus_verify_with(c->bus, v, err);
    return rc;
}

void central_trust_free(central *c)
{
    if (!c->trust)
        return;
    table_free(&c->trust->cps);
    table_free(&c->trust->sessions);
    explicit_bzero(c->trust, sizeof *c->trust);
    free(c->trust);
    c->trust = NULL;
}

void central_trust_counts(central *c, uint64_t out[EVC_SEAL_NVERDICTS])
{
    evc_seal_counts(evc_bus_verifier(c->bus), out);
}

bool central_trust_from_driver(central *c, const char *driver_id)
{
    const char *s = evc_bus_sender(c->bus);
    size_t n = driver_id ? strlen(driver_id) : 0;
    return s && n && strncmp(s, driver_id, n) == 0 && s[n] == '/';
}

bool central_trust_from_cp(central *c, const char *cp_id)
{
    const char *s = evc_bus_sender(c->bus);
    return s && cp_id && !strchr(s, '/') && strcmp(s, cp_id) == 0;
}

void central_trust_forget_cp(central *c, const char *cp_id)
{
    key_entry *x = c->trust ? table_find(&c->trust->cps, cp_id) : NULL;
    if (x)
        table_remove(&c->trust->cps, x);
}

/* ---- driver login -------------------------------------------------------- */

static bool nonce_valid(const char *n)
{
    uint8_t b[EVC_PROOF_NONCE_BYTES];
    return n && evc_hex_decode(n, b, sizeof b);
}

/* The stored hash's params and proof key, or fake params (key NULL) for an
 * unknown driver, so that a challenge tells nothing about who exists. */
static bool driver_secret(central *c, const char *driver, evc_proof_params *p, uint8_t key[32],
                          int64_t *balance)
{
    evc_user u;
    evc_error err = {0};
    if (evc_store_user_get(c->store, driver, &u, &err) == EVC_OK &&
        evc_proof_split(u.password_hash, p, key, &err) == EVC_OK) {
        *balance = u.balance_cents;
        return true;
    }
    evc_proof_params_fake(c->trust->fake_key, driver, c->password_cost, p);
    return false;
}

void central_trust_on_hello(central *c, const evc_envelope *env)
{
    const char *driver = evc_msg_str(env, "driver_id"), *nonce = evc_msg_str(env, "nonce");
    if (!evc_id_valid(driver) || !nonce_valid(nonce) || strcmp(env->source, driver) != 0) {
        c->dropped++;
        return;
    }
    central_trust *t = c->trust;
    challenge *ch = &t->ch[t->ch_next++ % CHALLENGES_CAP]; /* the oldest makes room */
    uint8_t sn[EVC_PROOF_NONCE_BYTES];
    evc_proof_random(sn, sizeof sn);
    snprintf(ch->driver, sizeof ch->driver, "%s", driver);
    snprintf(ch->nonce, sizeof ch->nonce, "%s", nonce);
    evc_hex_encode(sn, sizeof sn, ch->server_nonce);
    ch->expires_ms = evc_wall_ms() + CHALLENGE_TTL_MS;
    evc_proof_params p;
    uint8_t key[32];
    int64_t balance = 0;
    driver_secret(c, driver, &p, key, &balance);
    explicit_bzero(key, sizeof key);
    char params[128];
    evc_proof_params_format(&p, params, sizeof params);
    evc_payload *pl = evc_payload_new();
    evc_payload_str(pl, "driver_id", driver);
    evc_payload_str(pl, "nonce", nonce);
    evc_payload_str(pl, "server_nonce", ch->server_nonce);
    evc_payload_str(pl, "params", params);
    central_publish(c, driver, "driver.challenge",
                    evc_uuid_valid(env->correlation_id) ? env->correlation_id : NULL,
                    evc_payload_finish(pl, NULL));
}

static void auth_reply(central *c, const char *driver, const char *reason, int64_t balance,
                       const char *corr)
{
    central_event(c, "driver.auth", NULL, NULL, driver, "%s", reason ? reason : "authenticated");
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", driver);
    evc_payload_bool(p, "ok", reason == NULL);
    evc_payload_str(p, "reason", reason);
    evc_payload_int(p, "balance_cents", reason ? 0 : balance);
    central_publish(c, driver, "driver.auth_reply", corr, evc_payload_finish(p, NULL));
}

/* The challenge this login answers; single use: taken out of the table. */
static bool take_challenge(central *c, const char *driver, const char *nonce, const char *sn)
{
    int64_t now = evc_wall_ms();
    for (size_t i = 0; i < CHALLENGES_CAP; i++) {
        challenge *ch = &c->trust->ch[i];
        if (ch->expires_ms > now && strcmp(ch->driver, driver) == 0 &&
            strcmp(ch->nonce, nonce) == 0 && strcmp(ch->server_nonce, sn) == 0) {
            memset(ch, 0, sizeof *ch);
            return true;
        }
    }
    return false;
}

static int save_session(central *c, const char *kid, const uint8_t key[32])
{
    stored_session s = {.created_ms = evc_wall_ms()};
    memcpy(s.key, key, 32);
    evc_error err = {0};
    int rc = evc_store_kv_put(c->store, CENTRAL_KV_SESSION, kid, &s, sizeof s, &err);
    if (rc == EVC_OK)
        table_put(&c->trust->sessions, kid, key, s.created_ms);
    else
        evc_log(EVC_LOG_ERROR, "central", &(evc_log_ids){.driver = kid}, "session: %s", err.msg);
    explicit_bzero(&s, sizeof s);
    return rc;
}

void central_trust_on_login(central *c, const evc_envelope *env)
{
    const char *driver = evc_msg_str(env, "driver_id"), *nonce = evc_msg_str(env, "nonce");
    const char *sn = evc_msg_str(env, "server_nonce"), *proof = evc_msg_str(env, "proof");
    const char *corr = evc_uuid_valid(env->correlation_id) ? env->correlation_id : NULL;
    uint8_t given[32];
    if (!evc_id_valid(driver) || !nonce_valid(nonce) || !nonce_valid(sn) || !proof ||
        !evc_hex_decode(proof, given, sizeof given) || strcmp(env->source, driver) != 0) {
        c->dropped++;
        return;
    }
    evc_log_ids ids = {.driver = driver};
    if (strlen(driver) + 1 + 16 >= EVC_SEAL_KID_MAX) {
        evc_log(EVC_LOG_WARN, "central", &ids, "driver id too long for a session key id");
        auth_reply(c, driver, "not_authenticated", 0, corr);
        return;
    }
    if (!take_challenge(c, driver, nonce, sn)) {
        /* A replayed or expired login: the app asks for a new challenge. */
        EVC_LOG_LIMITED(EVC_LOG_WARN, "central", &ids,
                        "driver.login without a live challenge: refused");
        auth_reply(c, driver, "not_authenticated", 0, corr);
        return;
    }
    evc_proof_params p;
    uint8_t key[32], want[32];
    int64_t balance = 0;
    bool known = driver_secret(c, driver, &p, key, &balance);
    const char *parts[] = {driver, nonce, sn};
    bool ok = false;
    if (known) {
        evc_proof_mac(key, "evc-driver-login-v1", parts, 3, want);
        ok = evc_proof_equal(want, given);
    }
    if (!ok) {
        /* A failed login proves nothing about the driver's other sessions
         * (anyone on the bus can send one): they stay. Driver ids are not
         * secret (tickets, the CP menu): the reply says which failed. */
        const char *why = known ? "not_authenticated" : "unknown_driver";
        explicit_bzero(key, sizeof key);
        EVC_LOG_LIMITED(EVC_LOG_WARN, "central", &ids, "driver authentication failed: %s", why);
        auth_reply(c, driver, why, 0, corr);
        return;
    }
    uint8_t session[32];
    evc_proof_mac(key, "evc-driver-session-v1", parts, 3, session);
    central_relay_learn(c, driver, key);
    explicit_bzero(key, sizeof key);
    char kid[EVC_SEAL_KID_MAX + 96]; /* driver ids were checked short enough */
    snprintf(kid, sizeof kid, "%s/%.16s", driver, nonce);
    int rc = save_session(c, kid, session);
    explicit_bzero(session, sizeof session);
    if (rc != EVC_OK) {
        auth_reply(c, driver, "not_authenticated", 0, corr);
        return;
    }
    prune_sessions(c, driver);
    auth_reply(c, driver, NULL, balance, corr);
}

/* ---- engines' key params ------------------------------------------------- */

void central_trust_on_key_request(central *c, const evc_envelope *env)
{
    const char *cp_id = evc_msg_str(env, "cp_id");
    if (!evc_id_valid(cp_id) || strcmp(env->source, cp_id) != 0) {
        c->dropped++;
        return;
    }
    evc_proof_params p;
    evc_charging_point row;
    evc_error err = {0};
    if (!central_cp_find(c, cp_id) || evc_store_cp_get(c->store, cp_id, &row, &err) != EVC_OK ||
        evc_proof_split(row.secret_hash, &p, NULL, &err) != EVC_OK)
        evc_proof_params_fake(c->trust->fake_key, cp_id, c->password_cost, &p);
    char params[128];
    evc_proof_params_format(&p, params, sizeof params);
    evc_payload *pl = evc_payload_new();
    evc_payload_str(pl, "cp_id", cp_id);
    evc_payload_str(pl, "params", params);
    central_publish(c, cp_id, "cp.key_params", NULL, evc_payload_finish(pl, NULL));
}
