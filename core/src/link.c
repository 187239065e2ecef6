/* link.c: framed TCP links over libuv. See evc/link.h for the contract. */
#include "evc/link.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "evc/log.h"

#include "link_internal.h"

/* ---- writing ----------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void resume_reading(evc_link *l);
static void pause_reading(evc_link *l);

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    evc_link *l = w->link;
    l->queued -= w->cost;
    free(w->owned);
    free(w);
    (void)status; /* a failed write shows up as a read error/EOF: handled there */
    /* Half the bound, not the bound: no flapping at every write. */
    if (l->paused && !l->closing && l->queued <= l->out_max / 2)
        resume_reading(l);
}

static int write_raw(evc_link *l, const char *bytes, size_t len, bool copy);

/* ACK/NACK bytes of one read chunk go out as one write: a write request per
 * byte cost ~200 bytes each, which a peer flooding tiny frames multiplied. */
static void flush_acks(evc_link *l)
{
    if (l->nacks == 0)
        return;
    size_t n = l->nacks;
    l->nacks = 0;
    write_raw(l, l->acks, n, true);
}

static void queue_ack(evc_link *l, char byte)
{
    if (l->nacks == sizeof l->acks)
        flush_acks(l);
    l->acks[l->nacks++] = byte;
}

/* Frames go after the ACKs queued before them: the stream keeps its order. */
static int write_bytes(evc_link *l, const char *bytes, size_t len, bool copy)
{
    flush_acks(l);
    return write_raw(l, bytes, len, copy);
}

static int write_raw(evc_link *l, const char *bytes, size_t len, bool copy)
{
    write_req *w = calloc(1, sizeof *w);
    if (!w)
        return EVC_ENOMEM;
    w->link = l;
    w->cost = sizeof *w + (copy ? len : 0);
    uv_buf_t b;
    if (copy) {
        w->owned = malloc(len);
        if (!w->owned) {
            free(w);
            return EVC_ENOMEM;
        }
        memcpy(w->owned, bytes, len);
        b = uv_buf_init(w->owned, (unsigned)len);
    } else {
        b = uv_buf_init((char *)bytes, (unsigned)len);
    }
    if (uv_write(&w->req, (uv_stream_t *)&l->tcp, &b, 1, on_written) != 0) {
        free(w->owned);
        free(w);
        return EVC_EIO;
    }
    l->queued += w->cost;
    return EVC_OK;
}

/* ---- closing ----------------------------------------------------------- */

static void link_free(evc_link *l)
{
    for (size_t i = 0; i < l->count; i++)
        free(l->unacked[(l->head + i) % EVC_LINK_MAX_UNACKED].bytes);
    free(l->unacked);
    evc_frame_decoder_free(l->dec);
    free(l);
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
        l->h.on_close(l, l->reason, l->arg);
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
    l->closing = true;
    snprintf(l->reason, sizeof l->reason, "%s", reason ? reason : "closed");
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
    write_bytes(l, f->bytes, f->len, true);
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
            free(l->unacked[l->head].bytes);
            l->head = (l->head + 1) % EVC_LINK_MAX_UNACKED;
            l->count--;
        }
        break;
    case EVC_FRAME_EV_NACK:
        if (l->count > 0)
            resend_head(l);
        break;
    default:
        break;
    }
    /* Checked per event: one chunk of tiny frames can ask for megabytes. */
    if (!l->closing && !l->paused && l->queued > l->out_max)
        pause_reading(l);
    return l->closing || l->paused ? 1 : 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    evc_link *l = h->data;
    *buf = uv_buf_init(l->rbuf, sizeof l->rbuf);
}

/* Stops reading from a peer whose replies pile up: not reading is the only
 * way to stop its frames (and so our replies) without dropping any. */
static void pause_reading(evc_link *l)
{
    l->paused = true;
    l->over_since_ms = uv_now(l->tcp.loop);
    uv_read_stop((uv_stream_t *)&l->tcp);
    EVC_LOG_LIMITED(EVC_LOG_DEBUG, "link", NULL, "%s: %zu bytes queued, reading paused", l->peer,
                    l->queued);
}

/* Decodes data; when the queue passes the bound mid-way, the rest waits in
 * rbuf (not in use while reading is paused) for resume_reading. */
static void feed(evc_link *l, const char *data, size_t len)
{
    size_t used = evc_frame_decoder_feed(l->dec, data, len, on_event, l);
    if (!l->closing)
        flush_acks(l);
    if (l->paused && !l->closing && used < len) {
        memmove(l->rbuf, data + used, len - used);
        l->rpending = len - used;
    }
}

static void resume_reading(evc_link *l)
{
    l->paused = false;
    if (l->rpending) {
        size_t n = l->rpending;
        l->rpending = 0;
        feed(l, l->rbuf, n); /* may pause again */
    }
    if (!l->paused && !l->closing)
        uv_read_start((uv_stream_t *)&l->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    evc_link *l = s->data;
    if (nread < 0) {
        evc_link_close(l, nread == UV_EOF ? "closed by peer" : uv_strerror((int)nread));
        return;
    }
    if (nread > 0)
        feed(l, buf->base, (size_t)nread);
}

/* ---- links ------------------------------------------------------------- */

evc_link *link_new(evc_loop *loop, const evc_link_handlers *h, void *arg)
{
    evc_link *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->unacked = calloc(EVC_LINK_MAX_UNACKED, sizeof *l->unacked);
    l->dec = evc_frame_decoder_new(NULL, NULL);
    if (!l->unacked || !l->dec || uv_tcp_init(evc_loop_native(loop), &l->tcp) != 0) {
        evc_frame_decoder_free(l->dec);
        free(l->unacked);
        free(l);
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
    char *bytes = NULL;
    size_t len = 0;
    int rc = evc_frame_encode_alloc(opcode, fields, nfields, &bytes, &len, err);
    if (rc != EVC_OK)
        return rc;
    /* The write gets its own copy: the FIFO keeps `bytes` until the ACK, and
     * an ACK may be read before libuv reports the write done. */
    rc = write_bytes(l, bytes, len, true);
    if (rc != EVC_OK) {
        free(bytes);
        return evc_error_set(err, rc, "link %s: write failed", l->peer);
    }
    sent_frame *f = &l->unacked[(l->head + l->count) % EVC_LINK_MAX_UNACKED];
    *f = (sent_frame){.bytes = bytes, .len = len};
    l->count++;
    return EVC_OK;
}

size_t evc_link_unacked(const evc_link *l) { return l->count; }
size_t evc_link_queued_bytes(const evc_link *l) { return l->queued; }
bool evc_link_read_paused(const evc_link *l) { return l->paused; }
const char *evc_link_peer(const evc_link *l) { return l->peer; }
void evc_link_set_data(evc_link *l, void *data) { l->data = data; }
void *evc_link_data(const evc_link *l) { return l->data; }
void evc_link_stats(const evc_link *l, evc_frame_stats *out) { evc_frame_decoder_stats(l->dec, out); }
