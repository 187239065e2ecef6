/* link_server.c: the listening side of framed TCP links -- accepting,
 * the connection cap, the sweep that closes slow readers and silent links,
 * and the pause of accepting when descriptors run out. See evc/link.h for
 * the contract; the structures are in link_internal.h. */
#include "evc/link.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <uv.h>

#include "evc/log.h"

#include "link_internal.h"

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

static void on_server_handle_closed(uv_handle_t *h)
{
    evc_link_server *s = h->data;
    if (--s->handles_open == 0)
        free(s);
}

static void on_connection(uv_stream_t *listener, int status);

/* The listener closed for a pause: counted as closed if the server is
 * being closed meanwhile, else kept for on_resume. */
static void on_listener_paused(uv_handle_t *h)
{
    evc_link_server *s = h->data;
    s->listen_state = PAUSED;
    if (s->closing)
        on_server_handle_closed(h);
}

static void on_resume(uv_timer_t *t)
{
    static evc_log_rate rate = EVC_LOG_RATE_INIT;
    evc_link_server *s = t->data;
    if (s->closing || s->listen_state != PAUSED)
        return;
    uv_tcp_init(t->loop, &s->tcp); /* libuv takes its spare descriptor back here */
    s->tcp.data = s;
    int rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&s->bound, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->tcp, EVC_LINK_LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        evc_log_limited(&rate, EVC_LOG_WARN, "link", NULL,
                        "port %u: cannot listen again yet: %s", s->port, uv_strerror(rc));
        s->listen_state = PAUSE_CLOSING;
        uv_close((uv_handle_t *)&s->tcp, on_listener_paused);
        uv_timer_start(&s->resume, on_resume, EVC_LINK_ACCEPT_PAUSE_MS, 0);
        return;
    }
    s->listen_state = LISTENING;
    evc_log_limited(&rate, EVC_LOG_INFO, "link", NULL, "port %u: accepting connections again",
                    s->port);
}

/* Out of descriptors, libuv first sheds the pending connections with a
 * descriptor it keeps in reserve. Without that reserve (taken by another
 * thread, or never obtained) it calls us again at once for the same pending
 * connection, in a loop that never returns to the event loop. Closing the
 * listener ends that loop; the pending connections are refused by the
 * kernel meanwhile, and the port listens again after
 * EVC_LINK_ACCEPT_PAUSE_MS. */
static void pause_accepting(evc_link_server *s)
{
    if (s->listen_state != LISTENING || s->closing)
        return;
    s->pauses++;
    s->listen_state = PAUSE_CLOSING;
    uv_close((uv_handle_t *)&s->tcp, on_listener_paused);
    uv_timer_start(&s->resume, on_resume, EVC_LINK_ACCEPT_PAUSE_MS, 0);
}

/* EMFILE and the like come once per pending connection: one line per 10 s
 * with the count, never one per connection. */
void link_server_accept_failed(evc_link_server *s, int status)
{
    s->accept_errors++;
    s->accept_errors_unlogged++;
    if (status == UV_EMFILE || status == UV_ENFILE || status == UV_ENOBUFS ||
        status == UV_ENOMEM)
        pause_accepting(s);
    uint64_t now = uv_now(s->sweep.loop);
    if (s->accept_errors_logged_ms != 0 && now - s->accept_errors_logged_ms < 10000)
        return;
    evc_log(EVC_LOG_WARN, "link", NULL,
            "accept on port %u: %s (%llu failed accepts since the last line; %zu links open; "
            "accepting paused %d ms)",
            s->port, uv_strerror(status), (unsigned long long)s->accept_errors_unlogged,
            s->nlinks, EVC_LINK_ACCEPT_PAUSE_MS);
    s->accept_errors_logged_ms = now ? now : 1;
    s->accept_errors_unlogged = 0;
}

static void on_connection(uv_stream_t *listener, int status)
{
    evc_link_server *s = listener->data;
    if (status != 0) {
        link_server_accept_failed(s, status);
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
    uv_timer_init(evc_loop_native(loop), &s->resume);
    s->resume.data = s;
    s->handles_open = 3;
    int rc = uv_tcp_bind(&s->tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->tcp, EVC_LINK_LISTEN_BACKLOG, on_connection);
    if (rc != 0) {
        evc_error_set(err, EVC_EIO, "cannot listen on %s:%u: %s", bind_host, port,
                      uv_strerror(rc));
        uv_close((uv_handle_t *)&s->tcp, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
        uv_close((uv_handle_t *)&s->resume, on_server_handle_closed);
        return EVC_EIO;
    }
    /* The bound address, port included (port 0 asked the OS for one): a
     * paused listener comes back on the same port. */
    int len = sizeof s->bound;
    uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&s->bound, &len);
    s->port = ntohs(s->bound.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&s->bound)->sin6_port
                        : ((struct sockaddr_in *)&s->bound)->sin_port);
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
    s->closing = true;
    if (s->listen_state == LISTENING)
        uv_close((uv_handle_t *)&s->tcp, on_server_handle_closed);
    else if (s->listen_state == PAUSED)
        s->handles_open--; /* closed already; PAUSE_CLOSING: on_listener_paused counts it */
    uv_close((uv_handle_t *)&s->sweep, on_server_handle_closed);
    uv_close((uv_handle_t *)&s->resume, on_server_handle_closed);
}

uint64_t evc_link_server_pauses(const evc_link_server *s) { return s->pauses; }
