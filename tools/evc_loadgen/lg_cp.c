/* lg_cp.c: a simulated CP's monitor link to Central, on raw libuv TCP with
 * the core's frame codec (docs/PROTOCOL.md M1). Not evc_link: the report needs
 * the time from each HB to its ACK byte, which evc_link consumes inside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/log.h"
#include "lg.h"

#define CPAUTH_LABEL "evc-cp-auth-v1"
#define CPAUTH_OK_LABEL "evc-cp-auth-ok-v1"
/* Central's replies are short frames: a small decoder keeps 20,000 links at
 * about 1 KB each. */
#define LG_MAX_DATA 512

uint64_t lg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

typedef struct lg_write {
    uv_write_t req;
    size_t len;
    char data[]; /* the bytes, owned by the request until its callback */
} lg_write;

static void on_written(uv_write_t *req, int status)
{
    free(req); /* lg_write starts with its uv_write_t */
}

/* Writes at once when the socket takes it (the usual case); queues the rest. */
static void raw_send(lg_cp *cp, const char *data, size_t len)
{
    if (!cp->tcp_open)
        return;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&cp->tcp, &b, 1);
    if (n == (int)len)
        return;
    size_t done = n > 0 ? (size_t)n : 0;
    lg_write *w = malloc(sizeof *w + len - done);
    if (!w)
        return;
    w->len = len - done;
    memcpy(w->data, data + done, w->len);
    uv_buf_t rb = uv_buf_init(w->data, (unsigned)w->len);
    if (uv_write(&w->req, (uv_stream_t *)&cp->tcp, &rb, 1, on_written) != 0)
        free(w);
}

static void send_frame(lg_cp *cp, const char *op, const evc_frame_field *f, size_t n, bool hb)
{
    char buf[LG_MAX_DATA + 8];
    size_t len = 0;
    evc_error err = {0};
    if (evc_frame_encode(op, f, n, buf, sizeof buf, &len, &err) != EVC_OK)
        return;
    if (cp->pend_n < 32) {
        unsigned slot = (cp->pend_head + cp->pend_n) % 32;
        cp->pend_us[slot] = lg_now_us();
        cp->pend_hb[slot] = hb;
        cp->pend_n++;
    }
    raw_send(cp, buf, len);
}

static void send_auth(lg_cp *cp)
{
    char nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_proof_random(cp->nonce_m, sizeof cp->nonce_m);
    evc_hex_encode(cp->nonce_m, sizeof cp->nonce_m, nonce);
    evc_frame_field f[] = {EVC_FRAME_STR(cp->id), EVC_FRAME_STR("loadgen"), EVC_FRAME_STR("35"),
                           EVC_FRAME_STR(nonce)};
    cp->mon = LG_MON_AUTH;
    send_frame(cp, "AUTH", f, 4, false);
}

static void on_central_frame(lg_cp *cp, const evc_frame_event *ev)
{
    lg *g = cp->lg;
    const char *op = ev->opcode;
    if (strcmp(op, "CHALLENGE") == 0 && ev->nfields >= 4 && cp->mon == LG_MON_AUTH) {
        /* PROVE with params: K is known from the stored string already
         * (lg_load_keys), as the real monitor's per-params cache would. */
        if (!evc_hex_decode(ev->fields[3].data, cp->nonce_c, sizeof cp->nonce_c))
            return;
        char mac[EVC_PROOF_HEX_SIZE];
        evc_proof_nonce_mac(cp->key, CPAUTH_LABEL, cp->id, cp->nonce_m, cp->nonce_c, mac);
        evc_frame_field f[] = {EVC_FRAME_STR(cp->id), EVC_FRAME_STR(mac)};
        cp->mon = LG_MON_PROVING;
        send_frame(cp, "PROOF", f, 2, false);
    } else if (strcmp(op, "AUTH_OK") == 0 && ev->nfields >= 3 && cp->mon == LG_MON_PROVING) {
        char want[EVC_PROOF_HEX_SIZE];
        evc_proof_nonce_mac(cp->key, CPAUTH_OK_LABEL, cp->id, cp->nonce_m, cp->nonce_c, want);
        if (strcmp(want, ev->fields[2].data) != 0) {
            g->c.auth_denied++;
            return;
        }
        bool first = cp->ok_ms == 0;
        cp->mon = LG_MON_OK;
        cp->ok_ms = evc_loop_now_ms(g->loop);
        g->c.auth_ok++;
        /* The first HB at once: Central derives ACTIVATED from it. */
        evc_frame_field f[] = {EVC_FRAME_STR(cp->id), EVC_FRAME_STR("OK")};
        g->c.hb_sent++;
        send_frame(cp, "HB", f, 2, true);
        if (first)
            lg_engine_on_accepted(cp);
    } else if (strcmp(op, "AUTH_DENIED") == 0) {
        g->c.auth_denied++;
        cp->mon = LG_MON_IDLE; /* the tick retries AUTH later */
    }
}

static void on_ack(lg_cp *cp, bool nack)
{
    lg *g = cp->lg;
    if (!cp->pend_n)
        return;
    unsigned slot = cp->pend_head;
    cp->pend_head = (cp->pend_head + 1) % 32;
    cp->pend_n--;
    if (!cp->pend_hb[slot])
        return;
    if (nack) {
        g->c.hb_nacked++;
        return;
    }
    g->c.hb_acked++;
    cp->hb_acked = true;
    lg_restart_on_hb_acked(cp);
    if (g->phase_no == 2)
        lg_samples_add(&g->hb_ack, lg_now_us() - cp->pend_us[slot]);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    lg_cp *cp = h->data;
    *buf = uv_buf_init(cp->lg->shared_buf, sizeof cp->lg->shared_buf);
}

static void on_closed(uv_handle_t *h)
{
    lg_cp *cp = h->data;
    cp->tcp_open = false;
    cp->mon = LG_MON_IDLE;
    lg_restart_on_closed(cp);
}

static void link_lost(lg_cp *cp)
{
    if (uv_is_closing((uv_handle_t *)&cp->tcp))
        return;
    cp->lg->c.links_lost++;
    cp->hb_acked = false;
    for (unsigned k = 0; k < cp->pend_n; k++) /* never to be ACKed */
        if (cp->pend_hb[(cp->pend_head + k) % 32])
            cp->lg->c.hb_unacked++;
    cp->pend_n = 0;
    uv_close((uv_handle_t *)&cp->tcp, on_closed);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    lg_cp *cp = s->data;
    if (n < 0) {
        link_lost(cp);
        return;
    }
    const char *p = buf->base;
    size_t left = (size_t)n;
    while (left) {
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
        } else {
            on_ack(cp, ev.kind == EVC_FRAME_EV_NACK);
        }
        if (!cp->tcp_open)
            break;
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    lg_cp *cp = req->data;
    if (status != 0) {
        cp->lg->c.connect_failed++;
        if (!uv_is_closing((uv_handle_t *)&cp->tcp))
            uv_close((uv_handle_t *)&cp->tcp, on_closed);
        return;
    }
    evc_frame_decoder_reset(cp->dec);
    lg_restart_on_connected(cp);
    uv_tcp_nodelay(&cp->tcp, 1);
    uv_read_start((uv_stream_t *)&cp->tcp, on_alloc, on_read);
    send_auth(cp);
}

int lg_cp_init(lg *g, lg_cp *cp, evc_error *err)
{
    cp->lg = g;
    evc_frame_limits lim = {.max_data = LG_MAX_DATA, .max_fields = 8};
    cp->dec = evc_frame_decoder_new(&lim, err);
    return cp->dec ? EVC_OK : EVC_ENOMEM;
}

void lg_cp_connect(lg_cp *cp)
{
    lg *g = cp->lg;
    if (cp->tcp_open)
        return;
    struct sockaddr_in addr;
    if (uv_ip4_addr(g->host, g->port, &addr) != 0)
        return;
    uv_tcp_init(g->uv, &cp->tcp);
    cp->tcp.data = cp;
    cp->conn.data = cp;
    cp->tcp_open = true;
    cp->pend_n = 0;
    cp->mon = LG_MON_CONNECTING;
    if (uv_tcp_connect(&cp->conn, &cp->tcp, (const struct sockaddr *)&addr, on_connect) != 0) {
        g->c.connect_failed++;
        uv_close((uv_handle_t *)&cp->tcp, on_closed);
    }
}

void lg_cp_tick(lg_cp *cp, uint64_t now_ms)
{
    lg *g = cp->lg;
    if (!cp->tcp_open) {
        if (!g->rs) /* with --restart, lg_restart.c's backoff reconnects */
            lg_cp_connect(cp);
        return;
    }
    if (cp->mon == LG_MON_IDLE) {
        send_auth(cp);
        return;
    }
    if (cp->mon == LG_MON_OK) {
        evc_frame_field f[] = {EVC_FRAME_STR(cp->id), EVC_FRAME_STR("OK")};
        g->c.hb_sent++;
        send_frame(cp, "HB", f, 2, true);
    }
    lg_engine_tick(cp, now_ms);
}

void lg_cp_close(lg_cp *cp)
{
    if (cp->tcp_open && !uv_is_closing((uv_handle_t *)&cp->tcp))
        uv_close((uv_handle_t *)&cp->tcp, on_closed);
}
