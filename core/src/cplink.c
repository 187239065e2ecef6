/* cplink.c: a CP's session with Central over the monitor link (M1). See
 * evc/cplink.h for the contract. The link part (framing, resends,
 * reconnection) is link_client.c's; this file is the protocol. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/cplink.h"
#include "evc/ids.h"
#include "evc/link.h"
#include "evc/log.h"
#include "link_internal.h"

#define LOGC(c, lvl, ...) evc_log((lvl), "cplink", &(evc_log_ids){.cp = (c)->id}, __VA_ARGS__)
#define PARAMS_MAX 128

typedef struct cplink_job cplink_job;

struct evc_cplink {
    evc_loop *loop;
    evc_cplink_handlers h;
    void *arg;
    evc_link_client *client;
    evc_link *link; /* open (on_open seen, on_close not yet), else NULL */
    char id[EVC_CPLINK_ID_MAX + 1];
    char *location, *addr;   /* owned */
    char *secret;            /* owned, wiped; NULL when a proof key was given */
    int64_t price;
    bool given_key, allow_register, closing;
    int depth;               /* callbacks of the caller running now */
    uint64_t hb_ms, deny_min, deny_max, deny_backoff;
    evc_timer *hb, *reauth;  /* reauth: one-shot re-AUTH after a denial */
    evc_cplink_state state;
    unsigned gen;            /* +1 per AUTH: a late derivation of an old one is dropped */
    cplink_job *job;         /* derivation in flight, or NULL */
    uint8_t nonce_m[EVC_PROOF_NONCE_BYTES], nonce_c[EVC_PROOF_NONCE_BYTES];
    uint8_t key[EVC_PROOF_KEY_BYTES]; /* K of this AUTH, valid when have_key */
    bool have_key;
    uint8_t cached_key[EVC_PROOF_KEY_BYTES]; /* given, or derived for key_params */
    char key_params[PARAMS_MAX];
    uint64_t connections, denials, derivations;
};

struct cplink_job {
    evc_cplink *c; /* NULL once the session closed: done only frees */
    unsigned gen;
    bool reg;
    evc_password_cost cost;
    evc_proof_params params;
    char params_text[PARAMS_MAX];
    char secret[256];
    uint8_t key[EVC_PROOF_KEY_BYTES];
    char hash[EVC_PASSWORD_HASH_MAX];
    int rc;
    char err[EVC_ERROR_MSG_MAX];
};

static void wipe(void *p, size_t n)
{
    for (volatile uint8_t *b = p; n--; b++)
        *b = 0;
}

static void job_free(cplink_job *j)
{
    wipe(j, sizeof *j);
    free(j);
}

static const char *peer_of(const evc_cplink *c)
{
    return c->link ? evc_link_peer(c->link) : c->addr;
}

static void maybe_free(evc_cplink *c)
{
    if (!c->closing || c->depth || c->link)
        return;
    if (c->secret) {
        wipe(c->secret, strlen(c->secret));
        free(c->secret);
    }
    free(c->location);
    free(c->addr);
    wipe(c, sizeof *c);
    free(c);
}

/* The caller's callbacks go through these: false when the session was
 * closed inside (it may be gone then: touch nothing). */
static void enter(evc_cplink *c)
{
    c->depth++;
}

static bool leave(evc_cplink *c)
{
    c->depth--;
    if (!c->closing)
        return true;
    maybe_free(c);
    return false;
}

static bool emit(evc_cplink *c, evc_cplink_event event, const char *code, const char *text,
                 bool by_central, bool stopped, uint64_t retry)
{
    evc_cplink_info in = {.event = event, .cp_id = c->id, .peer = peer_of(c),
                          .code = code ? code : "", .text = text ? text : "",
                          .by_central = by_central, .admin_stopped = stopped,
                          .retry_in_ms = retry};
    enter(c);
    c->h.on_event(c, &in, c->arg);
    return leave(c);
}

static void send_auth(evc_cplink *c)
{
    if (!c->link)
        return;
    char price[24], nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    snprintf(price, sizeof price, "%" PRId64, c->price);
    /* A fresh nonce per AUTH: Central's AUTH_OK MAC is bound to it, so a
     * recorded AUTH_OK cannot be replayed to us. */
    evc_proof_random(c->nonce_m, sizeof c->nonce_m);
    evc_hex_encode(c->nonce_m, sizeof c->nonce_m, nonce);
    c->gen++;
    c->have_key = false;
    evc_frame_field f[] = {EVC_FRAME_STR(c->id), EVC_FRAME_STR(c->location), EVC_FRAME_STR(price),
                           EVC_FRAME_STR(nonce)};
    evc_error err = {0};
    if (evc_link_send(c->link, "AUTH", f, 4, &err) != EVC_OK) {
        /* A fresh link cannot be full: out of memory. A new link retries. */
        LOGC(c, EVC_LOG_WARN, "AUTH to %s: %s", peer_of(c), err.msg);
        evc_link_close(c->link, "cannot send AUTH");
        return;
    }
    c->state = EVC_CPLINK_AUTHENTICATING;
}

static void on_reauth(evc_timer *t, void *arg)
{
    evc_cplink *c = arg;
    evc_timer_close(t);
    c->reauth = NULL;
    if (c->link)
        send_auth(c);
    else
        c->state = EVC_CPLINK_DOWN; /* no longer waiting out a denial: on_open sends AUTH */
}

/* A denial, Central's or ours: reported, AUTH again after the backoff.
 * False when the caller closed the session in the callback. */
static bool refuse(evc_cplink *c, const char *code, const char *text, bool by_central)
{
    c->state = EVC_CPLINK_REFUSED;
    c->have_key = false;
    c->denials++;
    c->deny_backoff = c->deny_backoff ? c->deny_backoff * 2 : c->deny_min;
    if (c->deny_backoff > c->deny_max)
        c->deny_backoff = c->deny_max;
    evc_timer_close(c->reauth);
    c->reauth = NULL;
    evc_error err = {0};
    if (evc_loop_timer(c->loop, c->deny_backoff, 0, on_reauth, c, &c->reauth, &err) != EVC_OK)
        LOGC(c, EVC_LOG_ERROR, "re-AUTH timer: %s", err.msg); /* a new link re-AUTHs */
    char clean[256];
    size_t n = 0;
    /* Central's text comes from the network: no control bytes to a terminal. */
    for (; text[n] && n < sizeof clean - 1; n++)
        clean[n] = (unsigned char)text[n] < 0x20 || text[n] == 0x7f ? '?' : text[n];
    clean[n] = '\0';
    LOGC(c, EVC_LOG_WARN, "denied (%s) %s %s: %s; AUTH again in %" PRIu64 " ms",
         by_central ? "by Central" : "here", peer_of(c), code, clean, c->deny_backoff);
    return emit(c, EVC_CPLINK_EV_DENIED, code, clean, by_central, false, c->deny_backoff);
}

/* Sends PROOF, or REGISTER with reg_hash, for the current AUTH with c->key. */
static void answer(evc_cplink *c, const char *reg_hash)
{
    if (!c->link)
        return;
    evc_error err = {0};
    int rc;
    if (reg_hash) {
        evc_frame_field f[] = {EVC_FRAME_STR(c->id), EVC_FRAME_STR(reg_hash)};
        rc = evc_link_send(c->link, "REGISTER", f, 2, &err);
    } else {
        char mac[EVC_PROOF_HEX_SIZE];
        evc_proof_nonce_mac(c->key, EVC_CPLINK_AUTH_LABEL, c->id, c->nonce_m, c->nonce_c, mac);
        evc_frame_field f[] = {EVC_FRAME_STR(c->id), EVC_FRAME_STR(mac)};
        rc = evc_link_send(c->link, "PROOF", f, 2, &err);
    }
    if (rc != EVC_OK)
        LOGC(c, EVC_LOG_WARN, "%s to %s: %s", reg_hash ? "REGISTER" : "PROOF", peer_of(c),
             err.msg);
}

/* Pool thread (or inline for one HMAC): only the job's own copies. */
static void job_work(void *arg)
{
    cplink_job *j = arg;
    evc_error err = {0};
    if (j->reg) {
        j->rc = evc_proof_cp_hash(j->secret, j->cost, j->hash, &err);
        if (j->rc == EVC_OK)
            j->rc = evc_proof_split(j->hash, &j->params, j->key, &err);
    } else {
        j->rc = evc_proof_derive(j->secret, &j->params, j->key, &err);
    }
    if (j->rc != EVC_OK)
        snprintf(j->err, sizeof j->err, "%s", err.msg);
}

static void job_done(void *arg, bool ran)
{
    cplink_job *j = arg;
    evc_cplink *c = j->c;
    if (!c) {
        job_free(j);
        return;
    }
    c->job = NULL;
    if (!ran) {
        LOGC(c, EVC_LOG_WARN, "proof key not derived: the loop is stopping");
    } else if (j->gen != c->gen || c->state != EVC_CPLINK_PROVING) {
        LOGC(c, EVC_LOG_DEBUG, "proof key of an old AUTH: dropped");
    } else if (j->rc != EVC_OK) {
        char why[EVC_ERROR_MSG_MAX + 40];
        snprintf(why, sizeof why, "cannot answer Central's CHALLENGE: %s", j->err);
        job_free(j);
        refuse(c, "BAD_CHALLENGE", why, false);
        return;
    } else {
        c->derivations++;
        memcpy(c->key, j->key, sizeof c->key);
        c->have_key = true;
        if (!j->reg) { /* the next CHALLENGE with these params costs one HMAC */
            memcpy(c->cached_key, j->key, sizeof c->cached_key);
            snprintf(c->key_params, sizeof c->key_params, "%s", j->params_text);
        }
        answer(c, j->reg ? j->hash : NULL);
    }
    job_free(j);
}

static void on_challenge(evc_cplink *c, const evc_frame_event *ev)
{
    const char *id = ev->nfields >= 4 ? ev->fields[0].data : "";
    const char *mode = ev->nfields >= 4 ? ev->fields[1].data : "";
    const char *text = ev->nfields >= 4 ? ev->fields[2].data : "";
    if (c->state != EVC_CPLINK_AUTHENTICATING || strcmp(id, c->id) != 0 ||
        !evc_hex_decode(ev->fields[3].data, c->nonce_c, sizeof c->nonce_c)) {
        LOGC(c, EVC_LOG_WARN, "CHALLENGE from %s ignored: not for this AUTH", peer_of(c));
        return;
    }
    evc_error err = {0};
    cplink_job *j = calloc(1, sizeof *j);
    int rc = j ? EVC_OK : evc_error_set(&err, EVC_ENOMEM, "out of memory");
    if (j && strcmp(mode, "REGISTER") == 0) {
        j->reg = true;
        if (!c->allow_register || !c->secret)
            rc = evc_error_set(&err, EVC_EINVAL, "open registration is not done by this CP "
                                                 "(it must be known to Central)");
        else
            rc = evc_password_cost_parse(text, &j->cost, &err);
    } else if (j && strcmp(mode, "PROVE") == 0) {
        rc = evc_proof_params_parse(text, &j->params, &err);
    } else if (j) {
        rc = evc_error_set(&err, EVC_EINVAL, "unknown CHALLENGE mode '%.32s'", mode);
    }
    if (rc != EVC_OK || strlen(text) >= PARAMS_MAX) {
        if (j)
            job_free(j);
        char why[EVC_ERROR_MSG_MAX + 40];
        snprintf(why, sizeof why, "cannot answer Central's CHALLENGE: %s",
                 rc != EVC_OK ? err.msg : "params too long");
        refuse(c, "BAD_CHALLENGE", why, false);
        return;
    }
    c->state = EVC_CPLINK_PROVING;
    c->have_key = false;
    if (!j->reg && (c->given_key || (c->key_params[0] && strcmp(c->key_params, text) == 0))) {
        job_free(j);
        memcpy(c->key, c->cached_key, sizeof c->key);
        c->have_key = true;
        answer(c, NULL);
        return;
    }
    if (c->job) /* an older derivation: its result is dropped */
        c->job->c = NULL;
    c->job = NULL;
    j->c = c;
    j->gen = c->gen;
    snprintf(j->params_text, sizeof j->params_text, "%s", text);
    snprintf(j->secret, sizeof j->secret, "%s", c->secret);
    bool cheap = j->reg ? evc_proof_secret_strong(j->secret) : evc_proof_params_fast(&j->params);
    c->job = j;
    if (cheap) { /* one HMAC: no pool round trip (thousands of CPs at once) */
        job_work(j);
        job_done(j, true);
        return;
    }
    if (evc_loop_work(c->loop, job_work, job_done, j, &err) != EVC_OK) {
        c->job = NULL;
        job_free(j);
        char why[EVC_ERROR_MSG_MAX + 40];
        snprintf(why, sizeof why, "cannot answer Central's CHALLENGE now: %s", err.msg);
        refuse(c, "BAD_CHALLENGE", why, false);
    }
}

static int send_hb(evc_cplink *c, evc_error *err)
{
    if (c->state != EVC_CPLINK_ACCEPTED || !c->link)
        return evc_error_set(err, EVC_ESTATE, "cplink %s -> %s: no HB, not accepted", c->id,
                             peer_of(c));
    if (evc_link_unacked(c->link) >= EVC_LINK_MAX_UNACKED)
        return evc_error_set(err, EVC_EAGAIN, "cplink %s -> %s: %d frames wait for their ACK",
                             c->id, peer_of(c), EVC_LINK_MAX_UNACKED);
    char health[32] = "OK";
    if (c->h.health) {
        enter(c);
        const char *h = c->h.health(c, c->arg);
        if (h)
            snprintf(health, sizeof health, "%s", h);
        if (!leave(c) || !h)
            return EVC_OK;
        if (!c->link) /* cannot happen: links close from the loop */
            return EVC_OK;
    }
    evc_frame_field f[] = {EVC_FRAME_STR(c->id), EVC_FRAME_STR(health)};
    int rc = evc_link_send(c->link, "HB", f, 2, err);
    if (rc != EVC_OK)
        evc_error_prefix(err, "cplink %s: HB: ", c->id);
    return rc;
}

static void on_accepted(evc_cplink *c, const evc_frame_event *ev)
{
    const char *admin = ev->nfields >= 2 ? ev->fields[1].data : "";
    const char *mac = ev->nfields >= 3 ? ev->fields[2].data : "";
    /* Only a Central holding this CP's K can MAC our nonce: anyone else (a
     * spoofed address) is refused. */
    char want[EVC_PROOF_HEX_SIZE];
    uint8_t a[EVC_PROOF_KEY_BYTES], b[EVC_PROOF_KEY_BYTES];
    bool ok = c->state == EVC_CPLINK_PROVING && c->have_key;
    if (ok) {
        evc_proof_nonce_mac(c->key, EVC_CPLINK_AUTH_OK_LABEL, c->id, c->nonce_m, c->nonce_c,
                            want);
        ok = evc_hex_decode(mac, a, sizeof a) && evc_hex_decode(want, b, sizeof b) &&
             evc_proof_equal(a, b);
    }
    if (!ok) {
        if (refuse(c, "BAD_PROOF",
                   "the peer did not prove it is CENTRAL (AUTH_OK without a valid MAC)", false) &&
            c->link)
            evc_link_close(c->link, "AUTH_OK without a valid MAC");
        return;
    }
    c->state = EVC_CPLINK_ACCEPTED;
    c->deny_backoff = 0;
    LOGC(c, EVC_LOG_INFO, "accepted by Central at %s (admin state %s)", peer_of(c), admin);
    if (!emit(c, EVC_CPLINK_EV_ACCEPTED, NULL, NULL, false, strcmp(admin, "STOPPED") == 0, 0))
        return;
    /* At once: Central derives ACTIVATED from the first HB. */
    evc_error err = {0};
    if (c->state == EVC_CPLINK_ACCEPTED && send_hb(c, &err) != EVC_OK)
        LOGC(c, EVC_LOG_WARN, "%s", err.msg);
}

static void on_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    evc_cplink *c = arg;
    if (l != c->link || c->closing)
        return;
    if (strcmp(ev->opcode, "CHALLENGE") == 0) {
        on_challenge(c, ev);
    } else if (strcmp(ev->opcode, "AUTH_OK") == 0) {
        on_accepted(c, ev);
    } else if (strcmp(ev->opcode, "AUTH_DENIED") == 0) {
        if (c->state != EVC_CPLINK_AUTHENTICATING && c->state != EVC_CPLINK_PROVING &&
            c->state != EVC_CPLINK_ACCEPTED)
            return; /* one denial per AUTH */
        const char *code = ev->nfields >= 2 ? ev->fields[1].data : "";
        const char *text = ev->nfields >= 3 && ev->fields[2].len ? ev->fields[2].data : code;
        refuse(c, code, text, true);
    } else if (c->h.on_frame) {
        enter(c);
        c->h.on_frame(c, ev, c->arg);
        leave(c);
    }
}

static void on_open(evc_link *l, void *arg)
{
    evc_cplink *c = arg;
    c->link = l;
    c->connections++;
    c->state = c->reauth ? EVC_CPLINK_REFUSED : EVC_CPLINK_DOWN;
    if (!emit(c, EVC_CPLINK_EV_CONNECTED, NULL, NULL, false, false, 0))
        return;
    if (!c->reauth && c->link == l) /* else AUTH goes when the denial backoff ends */
        send_auth(c);
}

static void on_close(evc_link *l, const char *reason, void *arg)
{
    evc_cplink *c = arg;
    if (l != c->link)
        return;
    c->link = NULL;
    c->have_key = false;
    c->gen++; /* a derivation in flight is for a link that is gone */
    if (c->closing) {
        maybe_free(c);
        return;
    }
    c->state = c->reauth ? EVC_CPLINK_REFUSED : EVC_CPLINK_DOWN;
    LOGC(c, EVC_LOG_INFO, "link to Central at %s lost: %s", evc_link_peer(l), reason);
    emit(c, EVC_CPLINK_EV_LOST, NULL, reason, false, false, 0);
}

static void on_connect_failed(const char *reason, uint64_t retry_in_ms, void *arg)
{
    evc_cplink *c = arg;
    if (c->closing)
        return;
    emit(c, EVC_CPLINK_EV_CONNECT_FAILED, NULL, reason, false, false, retry_in_ms);
}

static void on_ack_hook(evc_link *l, const char *bytes, size_t len, bool nack, void *arg)
{
    evc_cplink *c = arg;
    if (l != c->link || c->closing || !c->h.on_ack)
        return;
    char op[32];
    size_t n = 0;
    /* The frame as sent: STX, then the opcode up to '#' or ETX. */
    for (size_t i = 1; i < len && n < sizeof op - 1; i++) {
        if (bytes[i] == '#' || bytes[i] == EVC_FRAME_ETX)
            break;
        op[n++] = bytes[i];
    }
    op[n] = '\0';
    enter(c);
    c->h.on_ack(c, op, nack, c->arg);
    leave(c);
}

static void on_hb_timer(evc_timer *t, void *arg)
{
    (void)t;
    evc_cplink *c = arg;
    evc_error err = {0};
    if (c->state == EVC_CPLINK_ACCEPTED && send_hb(c, &err) != EVC_OK)
        EVC_LOG_LIMITED(EVC_LOG_WARN, "cplink", &(evc_log_ids){.cp = c->id}, "%s", err.msg);
}

int evc_cplink_start(evc_loop *loop, const char *host, uint16_t port, const evc_cplink_opts *opts,
                     const evc_cplink_handlers *handlers, void *arg, evc_cplink **out,
                     evc_error *err)
{
    *out = NULL;
    evc_cplink_opts o = {0};
    if (opts) {
        size_t n = opts->struct_size && opts->struct_size < sizeof o ? opts->struct_size : sizeof o;
        memcpy(&o, opts, n);
    }
    const char *id = o.cp_id ? o.cp_id : "";
    const char *h = host ? host : "";
    if (!evc_id_valid(id) || strlen(id) > EVC_CPLINK_ID_MAX)
        return evc_error_set(err, EVC_EINVAL, "cplink '%.80s' -> %.200s:%u: bad CP id", id, h,
                             port);
    if (!handlers || !handlers->on_event)
        return evc_error_set(err, EVC_EINVAL, "cplink %s -> %.200s:%u: no on_event handler", id,
                             h, port);
    if (!o.proof_key && (!o.secret || !o.secret[0]))
        return evc_error_set(err, EVC_EINVAL, "cplink %s -> %.200s:%u: neither a secret nor a "
                                              "proof key", id, h, port);
    if (o.secret && strlen(o.secret) >= sizeof((cplink_job *)0)->secret)
        return evc_error_set(err, EVC_EINVAL, "cplink %s -> %.200s:%u: secret too long", id, h,
                             port);
    if (o.allow_register && (!o.secret || !o.secret[0]))
        return evc_error_set(err, EVC_EINVAL, "cplink %s -> %.200s:%u: allow_register needs the "
                                              "secret", id, h, port);
    if (o.jitter_pct != EVC_CPLINK_NO_JITTER && (o.jitter_pct < 0 || o.jitter_pct > 100))
        return evc_error_set(err, EVC_EINVAL, "cplink %s -> %.200s:%u: jitter_pct %d not in "
                                              "0..100", id, h, port, o.jitter_pct);
    evc_cplink *c = calloc(1, sizeof *c);
    size_t alen = strlen(h) + 8;
    if (c) {
        c->location = strdup(o.location ? o.location : "");
        c->addr = malloc(alen);
        c->secret = o.secret ? strdup(o.secret) : NULL;
    }
    if (!c || !c->location || !c->addr || (o.secret && !c->secret)) {
        if (c) {
            c->closing = true;
            maybe_free(c);
        }
        return evc_error_set(err, EVC_ENOMEM, "cplink %s -> %.200s:%u: out of memory", id, h,
                             port);
    }
    snprintf(c->addr, alen, "%s:%u", h, port);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->loop = loop;
    c->h = *handlers;
    c->arg = arg;
    c->price = o.price_cents_per_kwh;
    c->allow_register = o.allow_register;
    if (o.proof_key) {
        c->given_key = true;
        memcpy(c->cached_key, o.proof_key, sizeof c->cached_key);
    }
    c->hb_ms = o.heartbeat_ms;
    c->deny_min = o.deny_retry_min_ms ? o.deny_retry_min_ms : EVC_CPLINK_DEFAULT_DENY_RETRY_MIN_MS;
    c->deny_max = o.deny_retry_max_ms ? o.deny_retry_max_ms : EVC_CPLINK_DEFAULT_DENY_RETRY_MAX_MS;
    if (c->deny_max < c->deny_min)
        c->deny_max = c->deny_min;
    int rc = EVC_OK;
    if (c->hb_ms)
        rc = evc_loop_timer(loop, c->hb_ms, c->hb_ms, on_hb_timer, c, &c->hb, err);
    evc_link_handlers lh = {.on_open = on_open, .on_frame = on_frame, .on_close = on_close,
                            .on_connect_failed = on_connect_failed};
    evc_link_client_opts lo = {.backoff_min_ms = o.backoff_min_ms,
                               .backoff_max_ms = o.backoff_max_ms};
    if (rc == EVC_OK)
        rc = evc_link_connect(loop, h, port, &lo, &lh, c, &c->client, err);
    if (rc != EVC_OK) {
        evc_error_prefix(err, "cplink %s: ", id);
        evc_timer_close(c->hb);
        c->closing = true;
        maybe_free(c);
        return rc;
    }
    /* Set before the first attempt, which runs from the loop, not in here. */
    c->client->jitter_pct = o.jitter_pct == EVC_CPLINK_NO_JITTER ? 0
                            : o.jitter_pct                      ? (unsigned)o.jitter_pct
                                                                : EVC_CPLINK_DEFAULT_JITTER_PCT;
    c->client->ack_hook = on_ack_hook;
    *out = c;
    return EVC_OK;
}

int evc_cplink_heartbeat(evc_cplink *c, evc_error *err)
{
    return send_hb(c, err);
}

int evc_cplink_send(evc_cplink *c, const char *opcode, const evc_frame_field *fields,
                    size_t nfields, evc_error *err)
{
    if (!c->link)
        return evc_error_set(err, EVC_ESTATE, "cplink %s -> %s: no link up", c->id, peer_of(c));
    int rc = evc_link_send(c->link, opcode, fields, nfields, err);
    if (rc != EVC_OK)
        evc_error_prefix(err, "cplink %s: ", c->id);
    return rc;
}

evc_cplink_state evc_cplink_get_state(const evc_cplink *c) { return c->state; }

bool evc_cplink_proof_key(const evc_cplink *c, uint8_t out[EVC_PROOF_KEY_BYTES])
{
    bool ok = c->state == EVC_CPLINK_ACCEPTED && c->have_key;
    if (ok)
        memcpy(out, c->key, EVC_PROOF_KEY_BYTES);
    else
        memset(out, 0, EVC_PROOF_KEY_BYTES);
    return ok;
}

const char *evc_cplink_peer(const evc_cplink *c) { return peer_of(c); }
uint64_t evc_cplink_connections(const evc_cplink *c) { return c->connections; }
uint64_t evc_cplink_denials(const evc_cplink *c) { return c->denials; }
uint64_t evc_cplink_derivations(const evc_cplink *c) { return c->derivations; }

void evc_cplink_close(evc_cplink *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    evc_timer_close(c->hb);
    c->hb = NULL;
    evc_timer_close(c->reauth);
    c->reauth = NULL;
    if (c->job)
        c->job->c = NULL;
    c->job = NULL;
    /* The open link's on_close follows from the loop (then c is freed);
     * a link still connecting is dropped without one. */
    evc_link_client_close(c->client);
    c->client = NULL;
    maybe_free(c);
}
