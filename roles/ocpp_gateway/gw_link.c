/* gw_link.c: a charger's monitor link to Central (docs/PROTOCOL.md M1), on
 * raw libuv TCP with the core's frame codec, as tools/evc_loadgen's lg_cp.c:
 * AUTH, CHALLENGE PROVE (the proof key K derived from the charger's Basic
 * password and the params of Central's stored string: argon2id on libuv's
 * pool, one HMAC for fast params), PROOF, AUTH_OK (Central's MAC checked),
 * then HB every second with health OK, or KO while the charger reports
 * Faulted. Closing the link when the charger's WebSocket closes stops the
 * HBs: Central shows the CP DISCONNECTED after its heartbeat timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "gw.h"

#define CPAUTH_LABEL "evc-cp-auth-v1"
#define CPAUTH_OK_LABEL "evc-cp-auth-ok-v1"
#define GW_MAX_DATA 512
#define LOGC(cp, lvl, ...) evc_log((lvl), GW_LOG, &(evc_log_ids){.cp = (cp)->id}, __VA_ARGS__)

struct gw_job {
    gw_cp *cp; /* NULL once the CP went: done only frees */
    char secret[256];
    evc_proof_params params;
    uint8_t key[EVC_PROOF_KEY_BYTES];
    int rc;
    char err[EVC_ERROR_MSG_MAX];
};

typedef struct gw_write {
    uv_write_t req;
    char data[];
} gw_write;

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows as a read error */
    free(req);
}

static void raw_send(gw_cp *cp, const char *data, size_t len)
{
    if (!cp->tcp_open || cp->closing)
        return;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&cp->tcp, &b, 1);
    if (n == (int)len)
        return;
    size_t done = n > 0 ? (size_t)n : 0;
    gw_write *w = malloc(sizeof *w + len - done);
    if (!w)
        return;
    memcpy(w->data, data + done, len - done);
    uv_buf_t rb = uv_buf_init(w->data, (unsigned)(len - done));
    if (uv_write(&w->req, (uv_stream_t *)&cp->tcp, &rb, 1, on_written) != 0)
        free(w);
}

static void send_frame(gw_cp *cp, const char *op, const evc_frame_field *f, size_t n)
{
    char buf[GW_MAX_DATA + 8];
    size_t len = 0;
    if (evc_frame_encode(op, f, n, buf, sizeof buf, &len, NULL) == EVC_OK)
        raw_send(cp, buf, len);
}

static void send_auth(gw_cp *cp)
{
    char nonce[2 * EVC_PROOF_NONCE_BYTES + 1], price[24];
    evc_proof_random(cp->nonce_m, sizeof cp->nonce_m);
    evc_hex_encode(cp->nonce_m, sizeof cp->nonce_m, nonce);
    snprintf(price, sizeof price, "%lld", (long long)cp->g->price_cents);
    evc_frame_field f[] = {EVC_FRAME_STR(cp->id), EVC_FRAME_STR("OCPP charger"),
                           EVC_FRAME_STR(price), EVC_FRAME_STR(nonce)};
    cp->mon = GW_MON_AUTH;
    send_frame(cp, "AUTH", f, 4);
}

void gw_link_heartbeat(gw_cp *cp)
{
    if (cp->mon != GW_MON_OK)
        return;
    evc_frame_field f[] = {EVC_FRAME_STR(cp->id), EVC_FRAME_STR(cp->faulted ? "KO" : "OK")};
    send_frame(cp, "HB", f, 2);
}

static void send_proof(gw_cp *cp)
{
    char mac[EVC_PROOF_HEX_SIZE];
    evc_proof_nonce_mac(cp->key, CPAUTH_LABEL, cp->id, cp->nonce_m, cp->nonce_c, mac);
    evc_frame_field f[] = {EVC_FRAME_STR(cp->id), EVC_FRAME_STR(mac)};
    cp->mon = GW_MON_PROVING;
    send_frame(cp, "PROOF", f, 2);
}

static void derive_work(void *arg)
{
    struct gw_job *j = arg;
    evc_error err = {0};
    j->rc = evc_proof_derive(j->secret, &j->params, j->key, &err);
    if (j->rc != EVC_OK)
        snprintf(j->err, sizeof j->err, "%s", err.msg);
}

static void job_free(struct gw_job *j)
{
    explicit_bzero(j, sizeof *j);
    free(j);
}

static void derive_done(void *arg, bool ran)
{
    struct gw_job *j = arg;
    gw_cp *cp = j->cp;
    if (cp)
        cp->job = NULL;
    if (!cp || !ran || cp->closing) {
        job_free(j);
        return;
    }
    if (j->rc != EVC_OK) {
        LOGC(cp, EVC_LOG_WARN, "proof key not derived: %s", j->err);
        cp->mon = GW_MON_DENIED;
    } else {
        memcpy(cp->key, j->key, sizeof cp->key);
        send_proof(cp);
    }
    job_free(j);
}

static void on_challenge(gw_cp *cp, const evc_frame_event *ev)
{
    if (strcmp(ev->fields[1].data, "PROVE") != 0 ||
        !evc_hex_decode(ev->fields[3].data, cp->nonce_c, sizeof cp->nonce_c)) {
        /* REGISTER (open registration) is EV_CP_M's: a charger must be
         * known to Central (docs/OCPP.md). */
        LOGC(cp, EVC_LOG_WARN, "CHALLENGE %s: not supported, the CP must be registered",
             ev->fields[1].data);
        cp->mon = GW_MON_DENIED;
        return;
    }
    struct gw_job *j = calloc(1, sizeof *j);
    evc_error err = {0};
    if (!j || evc_proof_params_parse(ev->fields[2].data, &j->params, &err) != EVC_OK) {
        LOGC(cp, EVC_LOG_WARN, "CHALLENGE params unusable: %s", err.msg);
        free(j);
        cp->mon = GW_MON_DENIED;
        return;
    }
    j->cp = cp;
    snprintf(j->secret, sizeof j->secret, "%s", cp->secret);
    if (evc_proof_params_fast(&j->params)) {
        cp->job = j;
        derive_work(j);
        derive_done(j, true);
        return;
    }
    if (evc_loop_work(cp->g->loop, derive_work, derive_done, j, &err) != EVC_OK) {
        LOGC(cp, EVC_LOG_WARN, "proof key not derived: %s", err.msg);
        job_free(j);
        cp->mon = GW_MON_DENIED;
        return;
    }
    cp->job = j;
}

static void on_central_frame(gw_cp *cp, const evc_frame_event *ev)
{
    const char *op = ev->opcode;
    if (strcmp(op, "CHALLENGE") == 0 && ev->nfields >= 4 && cp->mon == GW_MON_AUTH) {
        on_challenge(cp, ev);
    } else if (strcmp(op, "AUTH_OK") == 0 && ev->nfields >= 3 && cp->mon == GW_MON_PROVING) {
        char want[EVC_PROOF_HEX_SIZE];
        evc_proof_nonce_mac(cp->key, CPAUTH_OK_LABEL, cp->id, cp->nonce_m, cp->nonce_c, want);
        if (strcmp(want, ev->fields[2].data) != 0) {
            LOGC(cp, EVC_LOG_WARN, "AUTH_OK without Central's proof: link closed");
            cp->mon = GW_MON_DENIED;
            return;
        }
        cp->mon = GW_MON_OK;
        evc_web_throttle_ok(cp->g->denied, cp->id);
        cp->inoperative = strcmp(ev->fields[1].data, "STOPPED") == 0;
        LOGC(cp, EVC_LOG_INFO, "accepted by Central");
        gw_link_heartbeat(cp); /* at once: Central derives ACTIVATED from it */
        gw_bus_on_accepted(cp);
    } else if (strcmp(op, "AUTH_DENIED") == 0) {
        LOGC(cp, EVC_LOG_WARN, "denied by Central: %s",
             ev->nfields >= 3 ? ev->fields[2].data : "?");
        cp->mon = GW_MON_DENIED;
        evc_web_throttle_fail(cp->g->denied, cp->id, evc_loop_now_ms(cp->g->loop));
        /* A wrong password: the charger is told (BootNotification Rejected)
         * and disconnected, as a refused Basic auth would be. */
        if (cp->ws)
            evc_web_ws_close(cp->ws, 1008, "CP not accepted by Central");
    }
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    gw_cp *cp = h->data;
    *buf = uv_buf_init(cp->g->rbuf, sizeof cp->g->rbuf);
}

static void on_closed(uv_handle_t *h)
{
    gw_cp *cp = h->data;
    cp->tcp_open = false;
    if (cp->closing)
        gw_cp_free(cp);
    else
        cp->mon = GW_MON_IDLE; /* the tick reconnects */
}

static void link_lost(gw_cp *cp)
{
    if (!uv_is_closing((uv_handle_t *)&cp->tcp))
        uv_close((uv_handle_t *)&cp->tcp, on_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    gw_cp *cp = s->data;
    if (n < 0) {
        LOGC(cp, EVC_LOG_WARN, "link to Central lost: %s", uv_strerror((int)n));
        link_lost(cp);
        return;
    }
    const char *p = buf->base;
    size_t left = (size_t)n;
    while (left && !cp->closing) {
        evc_frame_event ev;
        size_t used = evc_frame_decode(cp->dec, p, left, &ev);
        p += used;
        left -= used;
        if (ev.kind == EVC_FRAME_EV_NONE)
            break;
        if (ev.kind == EVC_FRAME_EV_FRAME) {
            char ack = EVC_FRAME_ACK;
            raw_send(cp, &ack, 1);
            on_central_frame(cp, &ev);
        } else if (ev.kind == EVC_FRAME_EV_ERROR) {
            char nack = EVC_FRAME_NACK;
            raw_send(cp, &nack, 1);
        }
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    gw_cp *cp = req->data;
    if (status != 0) {
        LOGC(cp, EVC_LOG_WARN, "Central %s:%u: %s", cp->g->central_host, cp->g->central_port,
             uv_strerror(status));
        link_lost(cp);
        return;
    }
    if (cp->closing)
        return;
    evc_frame_decoder_reset(cp->dec);
    uv_tcp_nodelay(&cp->tcp, 1);
    uv_read_start((uv_stream_t *)&cp->tcp, on_alloc, on_read);
    send_auth(cp);
}

void gw_link_start(gw_cp *cp)
{
    gw *g = cp->g;
    if (cp->tcp_open || cp->closing || cp->mon == GW_MON_DENIED)
        return;
    if (!cp->dec) {
        evc_frame_limits lim = {.max_data = GW_MAX_DATA, .max_fields = 8};
        cp->dec = evc_frame_decoder_new(&lim, NULL);
        if (!cp->dec)
            return;
    }
    struct sockaddr_in addr;
    if (uv_ip4_addr(g->central_host, g->central_port, &addr) != 0)
        return;
    uv_tcp_init(g->uv, &cp->tcp);
    cp->tcp.data = cp;
    cp->conn.data = cp;
    cp->tcp_open = true;
    cp->mon = GW_MON_CONNECTING;
    if (uv_tcp_connect(&cp->conn, &cp->tcp, (const struct sockaddr *)&addr, on_connect) != 0)
        link_lost(cp);
}

void gw_link_close(gw_cp *cp)
{
    cp->closing = true;
    if (cp->job) {
        cp->job->cp = NULL;
        cp->job = NULL;
    }
    if (!cp->tcp_open)
        gw_cp_free(cp);
    else if (!uv_is_closing((uv_handle_t *)&cp->tcp))
        uv_close((uv_handle_t *)&cp->tcp, on_closed);
}
