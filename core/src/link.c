/* link.c: framed TCP links over libuv. See evc/link.h for the contract. */
#include "evc/link.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

/* ---- server ------------------------------------------------------------ */

/* Over the cap: accept (else libuv reports the same connection again and
 * again) and close at once. One line per 10 s at most: a flood of
 * connections must not become a flood of log lines. */
static void refuse_connection(evc_link_server *s, uv_stream_t *listener)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t || uv_tcp_init(listener->loop, t) != 0) {
        free(t);
        return;
    }
    char peer[64] = "?";
    if (uv_accept(listener, (uv_stream_t *)t) == 0) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET)
            uv_ip4_name((struct sockaddr_in *)&ss, peer, sizeof peer);
        else if (len > 0 && ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, peer, sizeof peer);
    }
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
    s->refused++;
    s->refused_unlogged++;
    uint64_t now = uv_now(listener->loop);
    if (s->refused_logged_ms == 0 || now - s->refused_logged_ms >= 10000) {
        evc_log(EVC_LOG_WARN, "link", NULL,
                "port %u: %zu connections open (the cap); closed %llu more, the last from %s",
                s->port, s->nlinks, (unsigned long long)s->refused_unlogged, peer);
        s->refused_logged_ms = now ? now : 1;
        s->refused_unlogged = 0;
    }
}

/* True when the link said nothing valid for too long: before its first
 * frame the handshake timeout applies, after it the idle timeout. */
static bool link_silent_too_long(const evc_link_server *s, const evc_link *l, uint64_t now,
                                 const char **what, uint64_t *for_ms)
{
    if (l->paused) /* the slow-reader rule applies */
        return false;
    if (l->last_rx_ms == 0) {
        *what = "sent no frame";
        *for_ms = now - l->opened_ms;
        return s->lim.handshake_timeout_ms != EVC_LINK_NO_TIMEOUT &&
               *for_ms >= s->lim.handshake_timeout_ms;
    }
    *what = "sent nothing";
    *for_ms = now - l->last_rx_ms;
    return s->lim.idle_timeout_ms != EVC_LINK_NO_TIMEOUT && *for_ms >= s->lim.idle_timeout_ms;
}

/* Closes the links whose peer has not read for slow_reader_ms, and the
 * links silent past the handshake or idle timeout. One pass over the links
 * per period: cheap next to the traffic of that many links. */
static void on_sweep(uv_timer_t *t)
{
    static evc_log_rate slow_rate = EVC_LOG_RATE_INIT, idle_rate = EVC_LOG_RATE_INIT;
    evc_link_server *s = t->data;
    uint64_t now = uv_now(t->loop);
    for (evc_link *l = s->links; l; l = l->next) {
        if (l->closing)
            continue;
        const char *what = NULL;
        uint64_t silent_ms = 0;
        if (link_silent_too_long(s, l, now, &what, &silent_ms)) {
            s->timed_out++;
            evc_log_limited(&idle_rate, EVC_LOG_INFO, "link", NULL,
                            "port %u: %s %s for %llu ms: closed", s->port, l->peer, what,
                            (unsigned long long)silent_ms);
            evc_link_close(l, l->last_rx_ms ? "idle timeout" : "handshake timeout");
            continue;
        }
        if (!l->paused || now - l->over_since_ms < s->lim.slow_reader_ms)
            continue;
        evc_log_limited(&slow_rate, EVC_LOG_WARN, "link", NULL,
                        "%s does not read its replies (%zu bytes queued for %llu ms): closed",
                        l->peer, l->queued, (unsigned long long)(now - l->over_since_ms));
        evc_link_close(l, "peer does not read its replies");
    }
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

static void sweep_arm(evc_link_server *s)
{
    uint64_t shortest = min_u64(s->lim.slow_reader_ms,
                                min_u64(s->lim.idle_timeout_ms, s->lim.handshake_timeout_ms));
    uint64_t period = shortest / 4;
    period = period < 25 ? 25 : period > 1000 ? 1000 : period;
    uv_timer_start(&s->sweep, on_sweep, period, period);
}

/* A cap above the descriptors left would turn into EMFILE for everything
 * else of the process (HTTP, bus, database): keep EVC_LINK_FD_RESERVE. */
static size_t clamp_to_fd_limit(const evc_link_server *s, size_t want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return want;
    size_t room = rl.rlim_cur > EVC_LINK_FD_RESERVE + 16 ? (size_t)rl.rlim_cur - EVC_LINK_FD_RESERVE
                                                         : 16;
    if (want <= room)
        return want;
    evc_log(EVC_LOG_WARN, "link", NULL,
            "port %u: cap of %zu links lowered to %zu (open files limit %llu minus %d kept for "
            "the rest of the program)",
            s->port, want, room, (unsigned long long)rl.rlim_cur, EVC_LINK_FD_RESERVE);
    return room;
}

void evc_link_server_set_limits(evc_link_server *s, const evc_link_limits *lim)
{
    s->lim.max_links = clamp_to_fd_limit(
        s, lim && lim->max_links ? lim->max_links : EVC_LINK_DEFAULT_MAX_LINKS);
    s->lim.out_queue_max =
        lim && lim->out_queue_max ? lim->out_queue_max : EVC_LINK_DEFAULT_OUT_QUEUE_MAX;
    s->lim.slow_reader_ms =
        lim && lim->slow_reader_ms ? lim->slow_reader_ms : EVC_LINK_DEFAULT_SLOW_READER_MS;
    s->lim.idle_timeout_ms =
        lim && lim->idle_timeout_ms ? lim->idle_timeout_ms : EVC_LINK_DEFAULT_IDLE_TIMEOUT_MS;
    s->lim.handshake_timeout_ms = lim && lim->handshake_timeout_ms
                                      ? lim->handshake_timeout_ms
                                      : EVC_LINK_DEFAULT_HANDSHAKE_TIMEOUT_MS;
    sweep_arm(s);
}

uint64_t evc_link_server_refused(const evc_link_server *s) { return s->refused; }
uint64_t evc_link_server_timed_out(const evc_link_server *s) { return s->timed_out; }
uint64_t evc_link_server_accept_errors(const evc_link_server *s) { return s->accept_errors; }

/* EMFILE and the like come once per pending connection: one line per 10 s
 * with the count, never one per connection. */
static void accept_failed(evc_link_server *s, int status)
{
    s->accept_errors++;
    s->accept_errors_unlogged++;
    uint64_t now = uv_now(s->tcp.loop);
    if (s->accept_errors_logged_ms != 0 && now - s->accept_errors_logged_ms < 10000)
        return;
    evc_log(EVC_LOG_WARN, "link", NULL,
            "accept on port %u: %s (%llu failed accepts since the last line; %zu links open)",
            s->port, uv_strerror(status), (unsigned long long)s->accept_errors_unlogged,
            s->nlinks);
    s->accept_errors_logged_ms = now ? now : 1;
    s->accept_errors_unlogged = 0;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    evc_link_server *s = h->data;
    if (--s->handles_open == 0)
        free(s);
}

static void on_connection(uv_stream_t *listener, int status)
{
    evc_link_server *s = listener->data;
    if (status != 0) {
        accept_failed(s, status);
        return;
    }
    if (s->nlinks >= s->lim.max_links) {
        refuse_connection(s, listener);
        return;
    }
    evc_link *l = link_new(s->loop, &s->h, s->arg);
    if (!l) {
        /* Not accepting would stop libuv from reading the listener: take
         * the connection and drop it. */
        refuse_connection(s, listener);
        return;
    }
    if (uv_accept(listener, (uv_stream_t *)&l->tcp) != 0) {
        l->open = false;
        evc_link_close(l, "accept failed");
        return;
    }
    l->server = s;
    l->out_max = s->lim.out_queue_max;
    l->opened_ms = uv_now(listener->loop);
    l->next = s->links;
    if (s->links)
        s->links->prev = l;
    s->links = l;
    s->nlinks++;
    link_go(l);
}

int evc_link_listen(evc_loop *loop, const char *host, uint16_t port, const evc_link_handlers *h,
                    void *arg, evc_link_server **out, evc_error *err)
{
    *out = NULL;
    const char *bind_host = host && *host ? host : "0.0.0.0";
    struct sockaddr_storage ss;
    if (uv_ip4_addr(bind_host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(bind_host, port, (struct sockaddr_in6 *)&ss) != 0)
        return evc_error_set(err, EVC_EINVAL, "cannot listen on %s:%u: not an IP address",
                             bind_host, port);
    evc_link_server *s = calloc(1, sizeof *s);
    if (!s)
        return evc_error_set(err, EVC_ENOMEM, "out of memory");
    s->loop = loop;
    s->h = *h;
    s->arg = arg;
    uv_tcp_init(evc_loop_native(loop), &s->tcp);
    s->tcp.data = s;
    uv_timer_init(evc_loop_native(loop), &s->sweep);
    s->sweep.data = s;
    uv_unref((uv_handle_t *)&s->sweep); /* never keeps a loop alive by itself */
    s->handles_open = 2;
    int rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->tcp, 128, on_connection);
    if (rc != 0) {
        evc_error_set(err, EVC_EIO, "cannot listen on %s:%u: %s", bind_host, port,
                      uv_strerror(rc));
        uv_close((uv_handle_t *)&s->tcp, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
        return EVC_EIO;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                 : ((struct sockaddr_in *)&bound)->sin_port);
    evc_link_server_set_limits(s, NULL);
    *out = s;
    return EVC_OK;
}

uint16_t evc_link_server_port(const evc_link_server *s) { return s->port; }
size_t evc_link_server_count(const evc_link_server *s) { return s->nlinks; }

void evc_link_server_close(evc_link_server *s)
{
    if (!s)
        return;
    for (evc_link *l = s->links; l; l = l->next) {
        evc_link_close(l, "server shutting down");
        l->server = NULL; /* the server goes first; links finish on their own */
    }
    s->links = NULL;
    uv_close((uv_handle_t *)&s->tcp, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
}
