/* cplink.c: a CP's session with Central over the monitor link (M1). See
 * evc/cplink.h for the contract. The link part (framing, resends,
 * reconnection) is link_client.c's, the CHALLENGE cplink_proof.c's; this
 * file is the rest of the protocol. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/cplink.h"
#include "evc/ids.h"
#include "evc/link.h"
#include "evc/log.h"
#include "cplink_internal.h"
#include "link_internal.h"

const char *cplink_peer(const evc_cplink *c)
{
    return c->link ? evc_link_peer(c->link) : c->addr;
}

static void maybe_free(evc_cplink *c)
{
    if (!c->closing || c->depth || c->link)
        return;
    if (c->secret) {
        cplink_wipe(c->secret, strlen(c->secret));
        free(c->secret);
    }
    free(c->location);
    free(c->addr);
    cplink_wipe(c, sizeof *c);
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
    evc_cplink_info in = {.event = event, .cp_id = c->id, .peer = cplink_peer(c),
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
        LOGC(c, EVC_LOG_WARN, "AUTH to %s: %s", cplink_peer(c), err.msg);
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

bool cplink_refuse(evc_cplink *c, const char *code, const char *text, bool by_central)
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
         by_central ? "by Central" : "here", cplink_peer(c), code, clean, c->deny_backoff);
    return emit(c, EVC_CPLINK_EV_DENIED, code, clean, by_central, false, c->deny_backoff);
}

static int send_hb(evc_cplink *c, evc_error *err)
{
    if (c->state != EVC_CPLINK_ACCEPTED || !c->link)
        return evc_error_set(err, EVC_ESTATE, "cplink %s -> %s: no HB, not accepted", c->id,
                             cplink_peer(c));
    if (evc_link_unacked(c->link) >= EVC_LINK_MAX_UNACKED)
        return evc_error_set(err, EVC_EAGAIN, "cplink %s -> %s: %d frames wait for their ACK",
                             c->id, cplink_peer(c), EVC_LINK_MAX_UNACKED);
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
        if (cplink_refuse(c, "BAD_PROOF",
                   "the peer did not prove it is CENTRAL (AUTH_OK without a valid MAC)", false) &&
            c->link)
            evc_link_close(c->link, "AUTH_OK without a valid MAC");
        return;
    }
    c->state = EVC_CPLINK_ACCEPTED;
    c->deny_backoff = 0;
    LOGC(c, EVC_LOG_INFO, "accepted by Central at %s (admin state %s)", cplink_peer(c), admin);
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
        cplink_on_challenge(c, ev);
    } else if (strcmp(ev->opcode, "AUTH_OK") == 0) {
        on_accepted(c, ev);
    } else if (strcmp(ev->opcode, "AUTH_DENIED") == 0) {
        if (c->state != EVC_CPLINK_AUTHENTICATING && c->state != EVC_CPLINK_PROVING &&
            c->state != EVC_CPLINK_ACCEPTED)
            return; /* one denial per AUTH */
        const char *code = ev->nfields >= 2 ? ev->fields[1].data : "";
        const char *text = ev->nfields >= 3 && ev->fields[2].len ? ev->fields[2].data : code;
        cplink_refuse(c, code, text, true);
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
    if (o.secret && strlen(o.secret) >= CPLINK_SECRET_MAX)
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
        return evc_error_set(err, EVC_ESTATE, "cplink %s -> %s: no link up", c->id, cplink_peer(c));
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

const char *evc_cplink_peer(const evc_cplink *c) { return cplink_peer(c); }
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
    cplink_job_drop(c);
    /* The open link's on_close follows from the loop (then c is freed);
     * a link still connecting is dropped without one. */
    evc_link_client_close(c->client);
    c->client = NULL;
    maybe_free(c);
}
