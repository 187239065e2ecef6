/* link_internal.h: the link layer's structures, shared by link.c (links,
 * reading, writing, the server) and link_client.c (reconnecting clients).
 * Internal to the core. */
#ifndef EVC_LINK_INTERNAL_H
#define EVC_LINK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "evc/link.h"

/* One read buffer per loop thread, shared by every link of the thread: a
 * read is decoded before the next one starts (libuv calls alloc, read,
 * read callback in turn), and bytes a paused link could not decode are
 * copied out (evc_link.pend). Per link it was 16 KB, most of a link's
 * memory at 10,000 links (issue 14). */
#define LINK_READ_CHUNK 65536
/* Replies (ACK/NACK bytes, frames sent from on_frame) produced while one
 * read is handled go out in one write at its end; a stage this full is
 * written at once. Kept small: it counts against out_queue_max late. */
#define LINK_STAGE_MAX 16384
/* First size of the FIFO of unACKed frames; it doubles up to
 * EVC_LINK_MAX_UNACKED and is freed when empty. */
#define LINK_UNACKED_MIN 4

/* Told when the peer ACKs (nack false) or NACKs the oldest unACKed frame,
 * before the link pops or re-sends it: `bytes` is that frame as sent
 * (STX ... LRC), borrowed. For evc/cplink.h's on_ack (a load generator times
 * its HBs); not in link.h, whose users never needed it. */
typedef void (*link_ack_hook)(evc_link *l, const char *bytes, size_t len, bool nack, void *arg);

typedef struct sent_frame {
    char *bytes;
    size_t len;
    int resends;
} sent_frame;

struct evc_link {
    uv_tcp_t tcp;
    evc_link_handlers h;
    void *arg;
    evc_link_server *server; /* owner, or NULL */
    evc_link_client *client; /* owner, or NULL */
    evc_link *prev, *next;   /* in the server's list */
    evc_frame_decoder *dec;  /* its buffers trimmed after each read */
    void *data;
    sent_frame *unacked;     /* ring of ucap slots; NULL when nothing waits */
    uint16_t head, count, ucap;
    bool open;               /* on_open was called: on_close is owed */
    bool closing;
    bool paused;             /* reading stopped: the peer does not read */
    size_t queued, out_max;  /* user-space write bytes (see evc_link_limits) */
    uint64_t over_since_ms;  /* when `paused` began */
    uint64_t opened_ms;      /* server links: when accepted */
    uint64_t last_rx_ms;     /* last valid frame, ACK or NACK; 0 = none yet */
    char *pend;              /* owned: bytes read but not decoded (paused), or NULL */
    size_t npend;
    char *reason;            /* owned: set by evc_link_close; NULL = "closed" */
    link_ack_hook ack_hook;  /* core-internal users (cplink.c); NULL = none */
    char peer[64];
};

struct evc_link_server {
    uv_tcp_t tcp;
    evc_loop *loop;
    evc_link_handlers h;
    void *arg;
    evc_link *links;
    size_t nlinks;
    uint16_t port;
    evc_link_limits lim;     /* defaults filled in */
    uv_timer_t sweep;        /* closes slow readers and silent links */
    int handles_open;        /* tcp + sweep + resume: freed when all closed */
    uint64_t refused, refused_unlogged, refused_logged_ms;
    uint64_t timed_out;
    uint64_t accept_errors, accept_errors_unlogged, accept_errors_logged_ms;
    /* Accepting paused (descriptors ran out): the listener is closed and
     * `resume` binds it again to `bound` later. */
    enum { LISTENING, PAUSE_CLOSING, PAUSED } listen_state;
    bool closing;            /* evc_link_server_close was called */
    struct sockaddr_storage bound;
    uv_timer_t resume;
    uint64_t pauses;
};

struct evc_link_client {
    evc_loop *loop;
    evc_link_handlers h;
    void *arg;
    char host[256];
    uint16_t port;
    uint64_t backoff_min, backoff_max, backoff;
    unsigned jitter_pct;     /* random delay added, percent of the backoff (50) */
    link_ack_hook ack_hook;  /* given to each link it makes (cplink.c) */
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    bool resolving;
    bool timer_closed;
    bool closing;
    evc_link *link; /* connecting or connected */
};

/* link.c: a new link (not yet reading; NULL on out of memory), owned by the
 * loop until closed; link_go starts reading and calls on_open. */
evc_link *link_new(evc_loop *loop, const evc_link_handlers *h, void *arg);
void link_go(evc_link *l);
/* Called by the write path when a paused link's queue drained to half. */
void link_resume_reading(evc_link *l);

/* link_write.c: the per-thread state (read buffer, stage) and writing.
 * Loop thread only. link_thread_hold is called per link created (false on
 * out of memory), link_thread_release per link freed; the state goes with
 * the last link of the thread. */
bool link_thread_hold(void);
void link_thread_release(void);
/* A read buffer of LINK_READ_CHUNK bytes for libuv's alloc callback: the
 * thread's shared one, or a private one when the shared one is in use (a
 * loop run nested in a link callback reads other links meanwhile); len 0
 * when out of memory (libuv then reports UV_ENOBUFS). Every buffer taken is
 * given back once its read is handled. */
uv_buf_t link_read_buffer_take(void);
void link_read_buffer_give(const uv_buf_t *buf);
/* Stages the replies of `l` until link_stage_end (one write for them all);
 * returns the link staged before, to give back to link_stage_end. */
evc_link *link_stage_begin(evc_link *l);
void link_stage_end(evc_link *l, evc_link *outer);
/* Writes bytes (copied when they cannot go out at once): staged when `l` is
 * the link being read, else written now. EVC_ENOMEM/EVC_EIO. */
int link_write(evc_link *l, const char *bytes, size_t len);
/* Writes the staged bytes of `l` now (before it closes). */
void link_flush(evc_link *l);
/* Bytes staged for `l` and not yet written. */
size_t link_staged(const evc_link *l);

/* link_server.c: what the server does when libuv reports a failed accept
 * (counted, logged once per 10 s, accepting paused on EMFILE/ENFILE/
 * ENOBUFS/ENOMEM). Not static so that unit tests can report the failure
 * libuv reports only when its spare descriptor is gone. */
void link_server_accept_failed(evc_link_server *s, int status);

/* link_client.c: the next connection attempt after the backoff; frees a
 * closing client once nothing refers to it. */
void link_client_schedule(evc_link_client *c);
void link_client_maybe_free(evc_link_client *c);

#endif
