/* seal.c: sealing envelopes and checking seals (evc/seal.h).
 *
 * The seal is appended as the envelope's last member so that a sealed
 * message stays one JSON object any tool can read (kcat, jq). The receiver
 * finds the last `,"seal":{` and rebuilds the envelope as everything before
 * it plus "}": a forger who moves that boundary changes the signed bytes.
 */
#include "evc/seal.h"

#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/envelope.h"
#include "evc/proof.h"
#include "seal_internal.h"

#define SEAL_LABEL "evc-seal-v1"
#define SEAL_MEMBER ",\"seal\":{"
#define SEAL_SIG_MAX 64 /* Ed25519 signature bytes; HMAC uses 32 */

struct evc_sealer {
    char kid[EVC_SEAL_KID_MAX];
    evc_seal_alg alg;
    uint8_t key[EVC_SEAL_ED25519_SECRET_BYTES];
    uint64_t ep, seq;
};

/* The rate of one claimed source of unsealed messages (its own table: a
 * flood of made-up sources must not evict the replay windows of real keys). */
typedef struct source_rate {
    char source[EVC_SEAL_KID_MAX]; /* "" = free */
    double tokens;
    int64_t last_ms;
} source_rate;

#define SOURCE_BUCKETS 1024
#define SOURCE_WAYS 4

struct evc_seal_verifier {
    evc_seal_lookup_fn lookup;
    void *arg;
    evc_seal_policy policy;
    double unsigned_tokens;
    int64_t unsigned_last_ms;
    uint64_t counts[EVC_SEAL_NVERDICTS];
    seal_senders senders;
    source_rate *sources; /* SOURCE_BUCKETS * SOURCE_WAYS */
};

static const char *const verdict_names[EVC_SEAL_NVERDICTS] = {
    "ok", "unsigned_ok", "unsigned", "malformed", "unknown_key", "bad_signature",
    "wrong_source", "stale", "replay", "rate"};

const char *evc_seal_verdict_name(evc_seal_verdict v)
{
    return (unsigned)v < EVC_SEAL_NVERDICTS ? verdict_names[v] : "?";
}

static bool kid_valid(const char *kid)
{
    size_t n = kid ? strlen(kid) : 0;
    if (n == 0 || n >= EVC_SEAL_KID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = kid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              strchr("_.:/-", c)))
            return false;
    }
    return true;
}

/* ---- the signed bytes ----------------------------------------------------- */

/* "evc-seal-v1\n<topic>\n<kid>\n<ep>\n<seq>\n<ts>\n<envelope>": the envelope
 * is last and every other field is free of '\n', so the split is unique. */
static uint8_t *signed_bytes(const char *topic, const char *kid, uint64_t ep, uint64_t seq,
                             int64_t ts, const char *env, size_t env_len, size_t *out_len)
{
    char head[EVC_SEAL_KID_MAX + 512];
    int n = snprintf(head, sizeof head, SEAL_LABEL "\n%.255s\n%s\n%" PRIu64 "\n%" PRIu64
                                                   "\n%" PRId64 "\n",
                     topic, kid, ep, seq, ts);
    if (n < 0 || (size_t)n >= sizeof head || strchr(topic, '\n'))
        return NULL;
    uint8_t *buf = malloc((size_t)n + env_len);
    if (!buf)
        return NULL;
    memcpy(buf, head, (size_t)n);
    memcpy(buf + n, env, env_len);
    *out_len = (size_t)n + env_len;
    return buf;
}

/* ---- sealer -------------------------------------------------------------- */

int evc_sealer_new(const char *kid, evc_seal_alg alg, const uint8_t *key, evc_sealer **out,
                   evc_error *err)
{
    *out = NULL;
    if (!kid_valid(kid))
        return evc_error_set(err, EVC_EINVAL, "seal key id '%.80s' is not 1..63 chars of "
                                              "[A-Za-z0-9_.:/-]",
                             kid ? kid : "(null)");
    if (!key || (alg != EVC_SEAL_HMAC_SHA256 && alg != EVC_SEAL_ED25519))
        return evc_error_set(err, EVC_EINVAL, "seal key '%s': no key or unknown algorithm", kid);
    if (sodium_init() < 0)
        return evc_error_set(err, EVC_EIO, "seal key '%s': libsodium failed to initialise", kid);
    evc_sealer *s = calloc(1, sizeof *s);
    if (!s)
        return evc_error_set(err, EVC_ENOMEM, "seal key '%s': out of memory", kid);
    snprintf(s->kid, sizeof s->kid, "%s", kid);
    s->alg = alg;
    memcpy(s->key, key, alg == EVC_SEAL_ED25519 ? 64 : 32);
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    s->ep = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    *out = s;
    return EVC_OK;
}

void evc_sealer_free(evc_sealer *s)
{
    if (!s)
        return;
    sodium_memzero(s->key, sizeof s->key);
    free(s);
}

const char *evc_sealer_kid(const evc_sealer *s) { return s ? s->kid : NULL; }

static size_t sign(const evc_sealer *s, const uint8_t *m, size_t mlen, uint8_t sig[SEAL_SIG_MAX])
{
    if (s->alg == EVC_SEAL_ED25519) {
        crypto_sign_detached(sig, NULL, m, mlen, s->key);
        return 64;
    }
    crypto_auth_hmacsha256(sig, m, mlen, s->key);
    return 32;
}

int evc_seal(evc_sealer *s, const char *topic, const void *env, size_t len, int64_t now_ms,
             char **out, size_t *out_len, evc_error *err)
{
    *out = NULL;
    const char *e = env;
    if (!s || !topic || !e || len < 2 || e[0] != '{' || e[len - 1] != '}')
        return evc_error_set(err, EVC_EINVAL, "seal on '%s': not a JSON object text",
                             topic ? topic : "(null)");
    uint64_t seq = ++s->seq;
    size_t mlen = 0;
    uint8_t *m = signed_bytes(topic, s->kid, s->ep, seq, now_ms, e, len, &mlen);
    if (!m)
        return evc_error_set(err, EVC_ENOMEM, "seal on '%s': out of memory or bad topic", topic);
    uint8_t sig[SEAL_SIG_MAX];
    size_t siglen = sign(s, m, mlen, sig);
    free(m);
    char hex[2 * SEAL_SIG_MAX + 1];
    evc_hex_encode(sig, siglen, hex);
    char tail[EVC_SEAL_KID_MAX + 2 * SEAL_SIG_MAX + 160];
    int tn = snprintf(tail, sizeof tail,
                      SEAL_MEMBER "\"kid\":\"%s\",\"ep\":%" PRIu64 ",\"seq\":%" PRIu64
                                  ",\"ts\":%" PRId64 ",\"sig\":\"%s\"}}",
                      s->kid, s->ep, seq, now_ms, hex);
    char *buf = malloc(len - 1 + (size_t)tn + 1);
    if (!buf)
        return evc_error_set(err, EVC_ENOMEM, "seal on '%s': out of memory", topic);
    memcpy(buf, e, len - 1);
    memcpy(buf + len - 1, tail, (size_t)tn + 1);
    *out = buf;
    *out_len = len - 1 + (size_t)tn;
    return EVC_OK;
}

/* ---- verifier ------------------------------------------------------------ */

int evc_seal_verifier_new(evc_seal_lookup_fn lookup, void *arg, const evc_seal_policy *policy,
                          evc_seal_verifier **out, evc_error *err)
{
    *out = NULL;
    if (!lookup)
        return evc_error_set(err, EVC_EINVAL, "seal verifier: a key lookup is required");
    if (sodium_init() < 0)
        return evc_error_set(err, EVC_EIO, "seal verifier: libsodium failed to initialise");
    evc_seal_verifier *v = calloc(1, sizeof *v);
    source_rate *sr = v ? calloc((size_t)SOURCE_BUCKETS * SOURCE_WAYS, sizeof *sr) : NULL;
    if (!sr) {
        free(v);
        return evc_error_set(err, EVC_ENOMEM, "seal verifier: out of memory");
    }
    v->sources = sr;
    v->lookup = lookup;
    v->arg = arg;
    if (policy)
        v->policy = *policy;
    if (v->policy.max_age_ms <= 0)
        v->policy.max_age_ms = 900000;
    if (v->policy.max_skew_ms <= 0)
        v->policy.max_skew_ms = 30000;
    if (v->policy.unsigned_rate_per_s <= 0)
        v->policy.unsigned_rate_per_s = 200;
    if (v->policy.unsigned_burst < 1)
        v->policy.unsigned_burst = 400;
    if (v->policy.unsigned_source_rate_per_s <= 0)
        v->policy.unsigned_source_rate_per_s = 2;
    if (v->policy.unsigned_source_burst < 1)
        v->policy.unsigned_source_burst = 10;
    v->unsigned_tokens = v->policy.unsigned_burst;
    v->unsigned_last_ms = -1;
    if (!seal_senders_init(&v->senders, v->policy.max_senders,
                           v->policy.max_age_ms + v->policy.max_skew_ms)) {
        free(sr);
        free(v);
        return evc_error_set(err, EVC_ENOMEM, "seal verifier: out of memory");
    }
    v->policy.max_senders = v->senders.max;
    *out = v;
    return EVC_OK;
}

void evc_seal_verifier_free(evc_seal_verifier *v)
{
    if (!v)
        return;
    seal_senders_free(&v->senders);
    free(v->sources);
    free(v);
}

void evc_seal_counts(const evc_seal_verifier *v, uint64_t out[EVC_SEAL_NVERDICTS])
{
    for (int i = 0; i < EVC_SEAL_NVERDICTS; i++)
        out[i] = v ? v->counts[i] : 0;
}

void evc_seal_memory_get(const evc_seal_verifier *v, evc_seal_memory *out)
{
    memset(out, 0, sizeof *out);
    if (!v)
        return;
    const seal_senders *t = &v->senders;
    out->senders = t->n;
    out->capacity = t->cap;
    out->max_senders = t->max;
    out->bytes = seal_senders_bytes(t);
    out->record_bytes = sizeof(seal_sender) + sizeof(uint32_t);
    out->expired = t->expired;
    out->evicted = t->evicted;
}

static uint64_t kid_hash(const char *kid)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *kid; kid++)
        h = (h ^ (uint8_t)*kid) * 1099511628211ull;
    return h;
}

static bool bucket_take(double *tokens, int64_t *last_ms, double rate, double burst, int64_t now)
{
    if (*last_ms >= 0 && now > *last_ms)
        *tokens += rate * (double)(now - *last_ms) / 1000.0;
    if (*tokens > burst)
        *tokens = burst;
    *last_ms = now;
    if (*tokens < 1.0)
        return false;
    *tokens -= 1.0;
    return true;
}

/* The seal member's fields, parsed strictly from its object text. */
typedef struct seal_fields {
    char kid[EVC_SEAL_KID_MAX];
    uint64_t ep, seq;
    int64_t ts;
    uint8_t sig[SEAL_SIG_MAX];
    size_t siglen;
} seal_fields;

static bool seal_parse(const char *text, size_t len, seal_fields *f)
{
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = false;
    const char *kid, *sig;
    json_int_t ep, seq, ts;
    if (o && json_object_size(o) == 5 &&
        json_unpack(o, "{s:s, s:I, s:I, s:I, s:s}", "kid", &kid, "ep", &ep, "seq", &seq, "ts",
                    &ts, "sig", &sig) == 0 &&
        kid_valid(kid) && ep >= 0 && seq > 0 && ts >= 0) {
        size_t hl = strlen(sig);
        f->siglen = hl / 2;
        ok = (f->siglen == 32 || f->siglen == 64) && evc_hex_decode(sig, f->sig, f->siglen);
        snprintf(f->kid, sizeof f->kid, "%s", kid);
        f->ep = (uint64_t)ep;
        f->seq = (uint64_t)seq;
        f->ts = (int64_t)ts;
    }
    json_decref(o);
    return ok;
}

/* Where the seal member starts, or len when there is none. */
static size_t seal_start(const char *d, size_t len)
{
    size_t ml = strlen(SEAL_MEMBER);
    if (len < ml + 2 || d[len - 1] != '}' || d[len - 2] != '}')
        return len;
    for (size_t i = len - 2 - ml + 1; i-- > 0;)
        if (memcmp(d + i, SEAL_MEMBER, ml) == 0)
            return i;
    return len;
}

bool seal_is_relay(const void *data, size_t len)
{
    const char *d = data;
    size_t at = d ? seal_start(d, len) : len;
    seal_fields f;
    size_t pl = strlen(EVC_SEAL_RELAY_PREFIX);
    if (at == len)
        return false;
    size_t obj = at + strlen(SEAL_MEMBER) - 1; /* its '{', as in evc_seal_open */
    return seal_parse(d + obj, len - 1 - obj, &f) &&
           strncmp(f.kid, EVC_SEAL_RELAY_PREFIX, pl) == 0;
}

static bool sig_valid(const evc_seal_key *k, const seal_fields *f, const uint8_t *m, size_t mlen)
{
    if (k->alg == EVC_SEAL_ED25519)
        return f->siglen == 64 && crypto_sign_verify_detached(f->sig, m, mlen, k->key) == 0;
    if (k->alg != EVC_SEAL_HMAC_SHA256 || f->siglen != 32)
        return false;
    uint8_t mac[32];
    crypto_auth_hmacsha256(mac, m, mlen, k->key);
    return evc_proof_equal(mac, f->sig);
}

/* The kid may speak as `source` when equal, or when the kid is
 * "<source>/<session>". */
/* The source is the kid up to its first '/' (a driver's session) or ':'
 * (Central's relay to one driver, EVC_SEAL_RELAY_PREFIX). */
static bool source_matches(const char *kid, const char *source)
{
    size_t n = strlen(source);
    return strncmp(kid, source, n) == 0 && (kid[n] == '\0' || kid[n] == '/' || kid[n] == ':');
}

bool evc_seal_relay_kid(const char *driver_id, char out[EVC_SEAL_KID_MAX])
{
    int n = snprintf(out, EVC_SEAL_KID_MAX, EVC_SEAL_RELAY_PREFIX "%s", driver_id ? driver_id : "");
    if (!driver_id || !*driver_id || n < 0 || n >= EVC_SEAL_KID_MAX || !kid_valid(out)) {
        out[0] = '\0';
        return false;
    }
    return true;
}

void evc_seal_relay_key(const uint8_t proof_key[32], const char *driver_id, uint8_t out[32])
{
    const char *parts[] = {driver_id ? driver_id : ""};
    evc_proof_mac(proof_key, "evc-relay-v1", parts, 1, out);
}

static bool type_unsigned_ok(const evc_seal_policy *p, const char *type)
{
    for (const char *const *t = p->unsigned_types; t && *t; t++)
        if (strcmp(*t, type) == 0)
            return true;
    return false;
}

static evc_seal_verdict finish(evc_seal_verifier *v, evc_seal_opened *o, evc_seal_verdict vd)
{
    v->counts[vd]++;
    o->verdict = vd;
    if (vd != EVC_SEAL_OK && vd != EVC_SEAL_UNSIGNED_OK) {
        free(o->envelope);
        o->envelope = NULL;
        o->envelope_len = 0;
        o->sender[0] = '\0';
    }
    return vd;
}

/* Decodes the envelope text into o (type, source); MALFORMED when it is
 * not an envelope. */
static evc_seal_verdict read_envelope(evc_seal_opened *o)
{
    evc_envelope *env = NULL;
    evc_error err;
    if (evc_envelope_decode(o->envelope, o->envelope_len, NULL, &env, &err) != EVC_OK)
        return EVC_SEAL_MALFORMED;
    snprintf(o->type, sizeof o->type, "%s", env->type);
    snprintf(o->source, sizeof o->source, "%s", env->source);
    evc_envelope_free(env);
    return EVC_SEAL_OK;
}

/* An unsealed message of an allowed type: within the shared rate. */
/* The rate entry of a claimed source: its own, else a free or the least
 * recently used way of its bucket. */
static source_rate *source_find(evc_seal_verifier *v, const char *source)
{
    source_rate *b = &v->sources[(size_t)(kid_hash(source) % SOURCE_BUCKETS) * SOURCE_WAYS];
    source_rate *victim = &b[0];
    for (int i = 0; i < SOURCE_WAYS; i++) {
        if (strcmp(b[i].source, source) == 0)
            return &b[i];
        if (b[i].source[0] == '\0' || b[i].last_ms < victim->last_ms)
            victim = &b[i];
    }
    memset(victim, 0, sizeof *victim);
    snprintf(victim->source, sizeof victim->source, "%s", source);
    victim->tokens = v->policy.unsigned_source_burst;
    victim->last_ms = -1;
    return victim;
}

/* An unsealed message of an allowed type: within its claimed source's rate
 * (a flood in one driver's name does not lock the others out), then the
 * shared one (a flood of made-up names is bounded too). */
static evc_seal_verdict unsealed(evc_seal_verifier *v, evc_seal_opened *o, int64_t now_ms)
{
    source_rate *sr = source_find(v, o->source);
    if (!bucket_take(&sr->tokens, &sr->last_ms, v->policy.unsigned_source_rate_per_s,
                     v->policy.unsigned_source_burst, now_ms))
        return finish(v, o, EVC_SEAL_RATE);
    if (!bucket_take(&v->unsigned_tokens, &v->unsigned_last_ms, v->policy.unsigned_rate_per_s,
                     v->policy.unsigned_burst, now_ms))
        return finish(v, o, EVC_SEAL_RATE);
    return finish(v, o, EVC_SEAL_UNSIGNED_OK);
}

evc_seal_verdict evc_seal_open(evc_seal_verifier *v, const char *topic, const void *data,
                               size_t len, int64_t now_ms, evc_seal_opened *o)
{
    memset(o, 0, sizeof *o);
    const char *d = data;
    if (!d || len == 0 || !topic)
        return finish(v, o, EVC_SEAL_MALFORMED);
    size_t at = seal_start(d, len);
    o->envelope_len = at == len ? len : at + 1;
    o->envelope = malloc(o->envelope_len + 1);
    if (!o->envelope)
        return finish(v, o, EVC_SEAL_MALFORMED);
    memcpy(o->envelope, d, at == len ? len : at);
    if (at != len)
        o->envelope[at] = '}';
    o->envelope[o->envelope_len] = '\0';

    if (at == len) { /* no seal */
        if (read_envelope(o) != EVC_SEAL_OK)
            return finish(v, o, EVC_SEAL_MALFORMED);
        if (!type_unsigned_ok(&v->policy, o->type))
            return finish(v, o, EVC_SEAL_UNSIGNED);
        return unsealed(v, o, now_ms);
    }
    seal_fields f;
    size_t obj = at + strlen(SEAL_MEMBER) - 1; /* its '{' */
    if (!seal_parse(d + obj, len - 1 - obj, &f) || read_envelope(o) != EVC_SEAL_OK)
        return finish(v, o, EVC_SEAL_MALFORMED);
    evc_seal_key key;
    memset(&key, 0, sizeof key);
    evc_seal_verdict vd = EVC_SEAL_OK;
    if (v->lookup(v->arg, f.kid, &key) != EVC_OK) {
        vd = EVC_SEAL_UNKNOWN_KEY;
    } else {
        size_t mlen = 0;
        uint8_t *m = signed_bytes(topic, f.kid, f.ep, f.seq, f.ts, o->envelope,
                                  o->envelope_len, &mlen);
        if (!m || !sig_valid(&key, &f, m, mlen))
            vd = EVC_SEAL_BAD_SIGNATURE;
        free(m);
        sodium_memzero(key.key, sizeof key.key);
    }
    /* A type that may come unsealed (a login) is taken as unsealed when its
     * seal does not hold: e.g. an app sealing with a session its Central
     * forgot. It proves nothing either way. */
    if (vd != EVC_SEAL_OK && type_unsigned_ok(&v->policy, o->type))
        return unsealed(v, o, now_ms);
    if (vd != EVC_SEAL_OK)
        return finish(v, o, vd);
    /* The envelope was decoded above (type, source): no second parse. */
    if (!source_matches(f.kid, o->source))
        return finish(v, o, EVC_SEAL_WRONG_SOURCE);
    if (f.ts < now_ms - v->policy.max_age_ms || f.ts > now_ms + v->policy.max_skew_ms)
        return finish(v, o, EVC_SEAL_STALE);
    if (f.ep == 0) /* no incarnation: no window could hold it (and no record for it) */
        return finish(v, o, EVC_SEAL_REPLAY);
    seal_sender *s = seal_senders_get(&v->senders, f.kid, false, now_ms);
    if (!s) {
        s = seal_senders_get(&v->senders, f.kid, true, now_ms);
        s->tokens = key.burst < 1 ? 1 : key.burst; /* a new kid starts with a full bucket */
    }
    if (!seal_sender_accept(&v->senders, s, f.ep, f.seq))
        return finish(v, o, EVC_SEAL_REPLAY);
    if (key.rate_per_s > 0 &&
        !bucket_take(&s->tokens, &s->last_ms, key.rate_per_s, key.burst < 1 ? 1 : key.burst,
                     now_ms)) {
        /* not handled: the same message may come again */
        seal_sender_unmark(&v->senders, s, f.ep, f.seq);
        return finish(v, o, EVC_SEAL_RATE);
    }
    s->last_ms = now_ms;
    seal_senders_touch(&v->senders, s);
    snprintf(o->sender, sizeof o->sender, "%s", f.kid);
    o->ep = f.ep;
    o->seq = f.seq;
    return finish(v, o, EVC_SEAL_OK);
}

void evc_seal_unmark(evc_seal_verifier *v, const evc_seal_opened *o)
{
    if (!v || !o || o->verdict != EVC_SEAL_OK)
        return;
    seal_sender *s = seal_senders_get(&v->senders, o->sender, false, 0);
    if (s)
        seal_sender_unmark(&v->senders, s, o->ep, o->seq);
}
