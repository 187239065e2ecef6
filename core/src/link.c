/* link.c: framed TCP links over libuv. See evc/link.h for the contract. */
#include "evc/link.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "evc/log.h"

#include "link_internal.h"

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void pause_reading(evc_link *l);

/* ---- closing ----------------------------------------------------------- */

static void link_free(evc_link *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->unacked[(l->head + i) % l->ucap].bytes);
    free(l->unacked);
    evc_frame_decoder_free(l->dec);
    free(l->pend);
    free(l->reason);
    free(l);
    link_thread_release();
}

static void on_link_closed(uv_handle_t *h)
{
    evc_link *l = h->data;
    evc_link_server *s = l->server;
    if (s) {
        if (l->prev)
            l->prev->next = l->next;
        else
            s->links = l->next;
        if (l->next)
            l->next->prev = l->prev;
        s->nlinks--;
    }
    if (l->open && l->h.on_close)
        l->h.on_close(l, l->reason ? l->reason : "closed", l->arg);
    evc_link_client *c = l->client;
    link_free(l);
    if (c) {
        c->link = NULL;
        if (c->closing)
            link_client_maybe_free(c);
        else
            link_client_schedule(c);
    }
}

void evc_link_close(evc_link *l, const char *reason)
{
    if (!l || l->closing)
        return;
    /* Replies staged before the close go first (AUTH_DENIED, then close). */
    link_flush(l);
    l->closing = true;
    l->reason = strdup(reason ? reason : "closed"); /* NULL (no memory): "closed" */
    uv_read_stop((uv_stream_t *)&l->tcp);
    uv_close((uv_handle_t *)&l->tcp, on_link_closed);
}

/* ---- reading ----------------------------------------------------------- */

static void resend_head(evc_link *l)
{
    sent_frame *f = &l->unacked[l->head];
    if (++f->resends > EVC_LINK_MAX_RESENDS) {
        evc_link_close(l, "peer refused the same frame too many times (NACK)");
        return;
    }
    link_write(l, f->bytes, f->len);
}

static void queue_ack(evc_link *l, char byte) { link_write(l, &byte, 1); }

/* The oldest unACKed frame is ACKed: the FIFO goes when it is empty, and
 * most links (a server's) send little, so most hold none. */
static void pop_unacked(evc_link *l)
{
    free(l->unacked[l->head].bytes);
    l->head = (uint16_t)((l->head + 1) % l->ucap);
    if (--l->count == 0) {
        free(l->unacked);
        l->unacked = NULL;
        l->head = l->ucap = 0;
    }
}

/* Room for one more unACKed frame: the ring doubles (in order from the
 * head) up to EVC_LINK_MAX_UNACKED. */
static bool unacked_room(evc_link *l)
{
    if (l->count < l->ucap)
        return true;
    size_t cap = l->ucap ? (size_t)l->ucap * 2 : LINK_UNACKED_MIN;
    if (cap > EVC_LINK_MAX_UNACKED)
        cap = EVC_LINK_MAX_UNACKED;
    sent_frame *r = malloc(cap * sizeof *r);
    if (!r)
        return false;
    for (size_t i = 0; i < l->count; i++)
        r[i] = l->unacked[(l->head + i) % l->ucap];
    free(l->unacked);
    l->unacked = r;
    l->ucap = (uint16_t)cap;
    l->head = 0;
    return true;
}

static int on_event(void *arg, const evc_frame_event *ev)
{
    evc_link *l = arg;
    /* Valid traffic only keeps a link alive: garbage bytes never do. */
    if (ev->kind != EVC_FRAME_EV_ERROR)
        l->last_rx_ms = uv_now(l->tcp.loop);
    switch (ev->kind) {
    case EVC_FRAME_EV_FRAME:
        queue_ack(l, EVC_FRAME_ACK);
        if (l->h.on_frame)
            l->h.on_frame(l, ev, l->arg);
        break;
    case EVC_FRAME_EV_ERROR:
        queue_ack(l, EVC_FRAME_NACK);
        EVC_LOG_LIMITED(EVC_LOG_DEBUG, "link", NULL, "%s sent a bad frame: %s", l->peer,
                        evc_frame_error_str(ev->error));
        if (l->h.on_bad_frame)
            l->h.on_bad_frame(l, ev->error, l->arg);
        break;
    case EVC_FRAME_EV_ACK:
        if (l->count > 0) {
            if (l->ack_hook)
                l->ack_hook(l, l->unacked[l->head].bytes, l->unacked[l->head].len, false, l->arg);
            pop_unacked(l);
        }
        break;
    case EVC_FRAME_EV_NACK:
        if (l->count > 0) {
            if (l->ack_hook)
                l->ack_hook(l, l->unacked[l->head].bytes, l->unacked[l->head].len, true, l->arg);
            resend_head(l);
        }
        break;
    default:
        break;
    }
    /* Checked per event: one chunk of tiny frames can ask for megabytes.
     * Staged replies count: they are written at the end of the read. */
    if (!l->closing && !l->paused && l->queued + link_staged(l) > l->out_max)
        pause_reading(l);
    return l->closing || l->paused ? 1 : 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = link_read_buffer_take();
}

/* Stops decoding for a peer whose replies pile up: not reading is the
 * only way to stop its frames (and so our replies) without dropping any.
 * Reading itself stops at the end of feed, if the staged replies did not
 * go out at once. */
static void pause_reading(evc_link *l)
{
    l->paused = true;
    l->over_since_ms = uv_now(l->tcp.loop);
}

/* Decodes data; its replies go out in one write at the end. When the
 * queue passes the bound mid-way, the rest is copied out of the shared read
 * buffer (at most LINK_READ_CHUNK bytes, while paused) for
 * link_resume_reading. */
static void feed(evc_link *l, const char *data, size_t len)
{
    size_t used = 0;
    for (;;) {
        evc_link *outer = link_stage_begin(l);
        used += evc_frame_decoder_feed(l->dec, data + used, len - used, on_event, l);
        link_stage_end(l, outer);
        if (l->closing)
            return;
        /* Paused for staged replies that the kernel then took at once:
         * nothing is queued, no write completion will resume: go on. */
        if (!l->paused || l->queued > l->out_max / 2)
            break;
        l->paused = false;
    }
    if (l->paused) {
        uv_read_stop((uv_stream_t *)&l->tcp);
        EVC_LOG_LIMITED(EVC_LOG_DEBUG, "link", NULL, "%s: %zu bytes queued, reading paused",
                        l->peer, l->queued);
        if (used < len) {
            char *rest = malloc(len - used);
            if (!rest) {
                evc_link_close(l, "out of memory for a paused read");
                return;
            }
            memcpy(rest, data + used, len - used);
            l->pend = rest;
            l->npend = len - used;
        }
    }
    evc_frame_decoder_trim(l->dec); /* an idle link keeps no decoder buffer */
}

void link_resume_reading(evc_link *l)
{
    l->paused = false;
    if (l->pend) {
        char *p = l->pend;
        size_t n = l->npend;
        l->pend = NULL;
        l->npend = 0;
        feed(l, p, n); /* may pause again, with a copy of what is left */
        free(p);
    }
    if (!l->paused && !l->closing)
        uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    evc_link *l = s->data;
    if (nread < 0)
        evc_link_close(l, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
    else if (nread > 0)
        feed(l, buf->base, (size_t)nread);
    link_read_buffer_give(buf);
}

/* ---- links ------------------------------------------------------------- */

evc_link *link_new(evc_loop *loop, const evc_link_handlers *h, void *arg)
{
    if (!link_thread_hold())
        return NULL;
    evc_link *l = calloc(1, sizeof *l);
    if (l)
        l->dec = evc_frame_decoder_new(NULL, NULL);
    if (!l || !l->dec || uv_tcp_init(evc_loop_native(loop), &l->tcp) != 0) {
        if (l)
            evc_frame_decoder_free(l->dec);
        free(l);
        link_thread_release();
        return NULL;
    }
    l->tcp.data = l;
    l->h = *h;
    l->arg = arg;
    l->out_max = EVC_LINK_DEFAULT_OUT_QUEUE_MAX;
    snprintf(l->peer, sizeof l->peer, "?");
    return l;
}

static void link_set_peer(evc_link *l)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&l->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        uv_ip4_name(a, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(l->peer, sizeof l->peer, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        uv_ip6_name(a, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(l->peer, sizeof l->peer, "[%s]:%d", ip, port);
    }
}

void link_go(evc_link *l)
{
    uv_tcp_nodelay(&l->tcp, 1);
    link_set_peer(l);
    l->open = true;
    uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
    if (l->h.on_open)
        l->h.on_open(l, l->arg);
}

int evc_link_send(evc_link *l, const char *opcode, const evc_frame_field *fields, size_t nfields,
                  evc_error *err)
{
    if (!l || l->closing)
        return evc_error_set(err, EVC_ECLOSED, "link %s is closed", l ? l->peer : "?");
    if (l->count >= EVC_LINK_MAX_UNACKED)
        return evc_error_set(err, EVC_EAGAIN, "link %s: %d frames wait for their ACK", l->peer,
                             EVC_LINK_MAX_UNACKED);
    if (!unacked_room(l))
        return evc_error_set(err, EVC_ENOMEM, "link %s: out of memory", l->peer);
    char *bytes = NULL;
    size_t len = 0;
    int rc = evc_frame_encode_alloc(opcode, fields, nfields, &bytes, &len, err);
    if (rc != EVC_OK)
        return rc;
    /* What the kernel does not take at once is written from a copy: the
     * FIFO keeps `bytes` until the ACK, and an ACK may be read before libuv
     * reports the write done. */
    rc = link_write(l, bytes, len);
    if (rc != EVC_OK) {
        free(bytes);
        return evc_error_set(err, rc, "link %s: write failed", l->peer);
    }
    sent_frame *f = &l->unacked[(l->head + l->count) % l->ucap];
    *f = (sent_frame){.bytes = bytes, .len = len};
    l->count++;
    return EVC_OK;
}

size_t evc_link_unacked(const evc_link *l) { return l->count; }
size_t evc_link_queued_bytes(const evc_link *l) { return l->queued + link_staged(l); }
bool evc_link_read_paused(const evc_link *l) { return l->paused; }
const char *evc_link_peer(const evc_link *l) { return l->peer; }
void evc_link_set_data(evc_link *l, void *data) { l->data = data; }
void *evc_link_data(const evc_link *l) { return l->data; }
void evc_link_stats(const evc_link *l, evc_frame_stats *out) { evc_frame_decoder_stats(l->dec, out); }
