/* evc/link.h: framed TCP links (monitor<->engine, monitor<->Central) on the
 * process's loop.
 *
 * A link carries frames of evc/frame.h. It answers every frame it receives
 * with ACK (valid) or NACK (bad) by itself, and keeps the frames it sent in a
 * FIFO until the peer ACKs them: a NACK makes it re-send the oldest one (at
 * most EVC_LINK_MAX_RESENDS times, then it closes the link, since a peer that
 * refuses the same frame again and again is broken). Garbage between frames
 * is skipped and counted, never fatal. A server serves any number of links
 * concurrently on the one loop thread.
 *
 * Bounds (evc_link_limits): bytes queued in user space for a peer that does
 * not read (ACKs, NACKs, replies) are counted; past out_queue_max the link
 * stops reading from that peer -- no more frames, so no more replies -- and
 * reads again once the queue drained to half. A server link that stays over
 * the bound for slow_reader_ms is closed with one WARN line naming the peer.
 * A server holds at most max_links links: further connections are accepted
 * and closed at once (so the listen backlog never fills), logged at most
 * once per 10 s with the count refused. A server link closes (one
 * rate-limited INFO line naming the peer) when no valid frame came in
 * handshake_timeout_ms after it was accepted, or when nothing valid (frame,
 * ACK or NACK; garbage does not count) came in for idle_timeout_ms: an idle
 * or silent connection never holds a slot (and a file descriptor) for long.
 * A link whose reading is paused (slow reader) is left to slow_reader_ms.
 * Accept errors (EMFILE, ENFILE, ...) are logged at most once per 10 s with
 * the count. libuv first sheds pending connections with a descriptor it
 * keeps in reserve; when it reports the error to us (no reserve), the server
 * stops listening for EVC_LINK_ACCEPT_PAUSE_MS and then listens again on the
 * same port, so a process out of descriptors never spins in accept.
 *
 * Writes: what a link sends while it handles a read of its peer (the ACK
 * and NACK bytes, frames sent from its on_frame) goes out in one write at
 * the end of that read, in the order it was sent; anything else is written
 * at once. Closing a link writes what it staged first. The kernel takes
 * most writes whole; only what it does not take is copied and queued.
 *
 * Memory: an idle link holds under 1 KB. The read buffer is one per loop
 * thread, shared by its links; the decoder's buffers and the FIFO of
 * unACKed frames exist only while in use.
 *
 * Threads: loop thread only. Ownership: links belong to their server or
 * client; a role never frees a link, it only closes it.
 */
#ifndef EVC_LINK_H
#define EVC_LINK_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/error.h"
#include "evc/frame.h"
#include "evc/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_LINK_MAX_RESENDS 3
#define EVC_LINK_MAX_UNACKED 256 /* frames sent and not yet ACKed; more is back-pressure */
#define EVC_LINK_DEFAULT_MAX_LINKS 1024
#define EVC_LINK_DEFAULT_OUT_QUEUE_MAX (1024u * 1024u)
#define EVC_LINK_DEFAULT_SLOW_READER_MS 10000u
/* Peers send a heartbeat or PING every second: 15 missed ones is a dead or
 * hostile peer. A real peer's first frame (AUTH, PING) follows its connect
 * at once. */
#define EVC_LINK_DEFAULT_IDLE_TIMEOUT_MS 15000u
#define EVC_LINK_DEFAULT_HANDSHAKE_TIMEOUT_MS 5000u
/* Descriptors a server's cap leaves to the rest of the process (HTTP, bus,
 * database, logs): max_links is lowered to RLIMIT_NOFILE minus this, with one
 * WARN line, so that links can never starve them (docs/OPERATIONS.md). */
#define EVC_LINK_FD_RESERVE 256
/* Pending connections a server asks the kernel to hold: a Central restart
 * has thousands of monitors reconnecting at once, and a full queue drops
 * SYNs (the peer retries after 1 s, then 3 s, ...). Linux caps the request
 * at net.core.somaxconn (4096 by default since 5.4, 128 before): raise that
 * sysctl for large deployments (docs/OPERATIONS.md). */
#define EVC_LINK_LISTEN_BACKLOG 65535
/* How long a server stops listening after an accept failed for want of
 * descriptors or memory. */
#define EVC_LINK_ACCEPT_PAUSE_MS 1000
/* In a timeout field: never time out. */
#define EVC_LINK_NO_TIMEOUT UINT64_MAX

/* 0 in a field = its default above. */
typedef struct evc_link_limits {
    size_t max_links;        /* server: links open at once */
    size_t out_queue_max;    /* bytes queued to one peer before reading from it stops */
    uint64_t slow_reader_ms; /* server: over out_queue_max this long closes the link */
    uint64_t idle_timeout_ms;      /* server: nothing valid received this long closes it */
    uint64_t handshake_timeout_ms; /* server: no first frame this long after accept closes it */
} evc_link_limits;

typedef struct evc_link evc_link;
typedef struct evc_link_server evc_link_server;
typedef struct evc_link_client evc_link_client;

typedef struct evc_link_handlers {
    /* The link is up (accepted by a server, or connected by a client). */
    void (*on_open)(evc_link *link, void *arg);
    /* A valid frame arrived (ACK already queued). `ev` is borrowed until the
     * callback returns. The link may be closed inside. */
    void (*on_frame)(evc_link *link, const evc_frame_event *ev, void *arg);
    /* A bad frame arrived (NACK already queued). Optional. */
    void (*on_bad_frame)(evc_link *link, evc_frame_error_kind kind, void *arg);
    /* The link is gone; `reason` is borrowed for the call ("closed by peer",
     * "connection refused", ...). The link's memory is released after the
     * callback returns: forget the pointer. Not called for a client's failed
     * connection attempts (see on_connect_failed). */
    void (*on_close)(evc_link *link, const char *reason, void *arg);
    /* Client only: an attempt to connect failed; the next one follows after
     * `retry_in_ms`. Optional. `reason` borrowed for the call. */
    void (*on_connect_failed)(const char *reason, uint64_t retry_in_ms, void *arg);
} evc_link_handlers;

/* Listens on host:port (host "" or NULL = all interfaces; port 0 = chosen by
 * the OS, see evc_link_server_port). `handlers` is copied; `arg` is passed
 * back. *out owned by the caller: evc_link_server_close. EVC_EIO naming the
 * address when binding fails. */
EVC_API int evc_link_listen(evc_loop *loop, const char *host, uint16_t port,
                            const evc_link_handlers *handlers, void *arg, evc_link_server **out,
                            evc_error *err);
EVC_API uint16_t evc_link_server_port(const evc_link_server *srv);
/* Number of open links of the server. */
EVC_API size_t evc_link_server_count(const evc_link_server *srv);
/* Sets the server's limits (copied) for links accepted from now on; the cap
 * applies at once, lowered to the open-files limit minus EVC_LINK_FD_RESERVE
 * when above it (one WARN line). */
EVC_API void evc_link_server_set_limits(evc_link_server *srv, const evc_link_limits *lim);
/* Connections closed at once because max_links links were open. */
EVC_API uint64_t evc_link_server_refused(const evc_link_server *srv);
/* Links closed by the idle or handshake timeout. */
EVC_API uint64_t evc_link_server_timed_out(const evc_link_server *srv);
/* Failed accepts reported by the OS (EMFILE, ENFILE, ...). */
EVC_API uint64_t evc_link_server_accept_errors(const evc_link_server *srv);
/* Times accepting was paused for an accept error. */
EVC_API uint64_t evc_link_server_pauses(const evc_link_server *srv);
/* Closes the listener and every link of it (their on_close is called). */
EVC_API void evc_link_server_close(evc_link_server *srv);

typedef struct evc_link_client_opts {
    uint64_t backoff_min_ms; /* first retry delay; 0 = 250 ms */
    uint64_t backoff_max_ms; /* delay cap (doubles up to it); 0 = 5000 ms; each delay
                              * gets up to half of itself added at random, so the
                              * clients of a restarted server do not retry at once */
} evc_link_client_opts;

/* Connects to host:port and keeps reconnecting, with capped exponential
 * backoff, whenever the link is lost or an attempt fails. Name resolution
 * happens at each attempt. `handlers` and `opts` (may be NULL) are copied.
 * *out owned by the caller: evc_link_client_close. */
EVC_API int evc_link_connect(evc_loop *loop, const char *host, uint16_t port,
                             const evc_link_client_opts *opts, const evc_link_handlers *handlers,
                             void *arg, evc_link_client **out, evc_error *err);
/* The current link, or NULL while disconnected. Borrowed. */
EVC_API evc_link *evc_link_client_link(evc_link_client *c);
/* Stops reconnecting and closes the link (its on_close is called). */
EVC_API void evc_link_client_close(evc_link_client *c);

/* Sends one frame (copied). From the link's own on_frame it goes out with
 * the read's other replies at the end of the read (see "Writes" above).
 * EVC_EAGAIN when EVC_LINK_MAX_UNACKED frames wait for their ACK;
 * EVC_ECLOSED on a closing link; EVC_EINVAL bad opcode; EVC_ENOMEM. */
EVC_API int evc_link_send(evc_link *link, const char *opcode, const evc_frame_field *fields,
                          size_t nfields, evc_error *err);
/* Number of frames sent and not yet ACKed. */
EVC_API size_t evc_link_unacked(const evc_link *link);
/* Bytes queued in user space for the peer (writes not completed, with their
 * bookkeeping), and whether reading from the peer is paused for it. */
EVC_API size_t evc_link_queued_bytes(const evc_link *link);
EVC_API bool evc_link_read_paused(const evc_link *link);
/* "ip:port" of the peer; borrowed for the link's life. */
EVC_API const char *evc_link_peer(const evc_link *link);
/* Closes the link; on_close follows (from the loop, not from inside this
 * call). `reason` copied. Safe to call more than once. */
EVC_API void evc_link_close(evc_link *link, const char *reason);
/* A role's pointer attached to the link (not owned by the link). */
EVC_API void evc_link_set_data(evc_link *link, void *data);
EVC_API void *evc_link_data(const evc_link *link);
/* The decoder's counters for this link (garbage bytes, errors, frames). */
EVC_API void evc_link_stats(const evc_link *link, evc_frame_stats *out);

#ifdef __cplusplus
}
#endif
#endif
