/* link_internal.h: the link layer's structures, shared by link.c (links,
 * reading, writing, the server) and link_client.c (reconnecting clients).
 * Internal to the core. */
#ifndef EVC_LINK_INTERNAL_H
#define EVC_LINK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "evc/link.h"

#define LINK_READ_CHUNK 16384

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
    evc_frame_decoder *dec;
    char peer[64];
    void *data;
    sent_frame *unacked;     /* ring buffer of EVC_LINK_MAX_UNACKED */
    size_t head, count;
    bool open;               /* on_open was called: on_close is owed */
    bool closing;
    size_t queued, out_max;  /* user-space write bytes (see evc_link_limits) */
    bool paused;             /* reading stopped: the peer does not read */
    uint64_t over_since_ms;  /* when `paused` began */
    uint64_t opened_ms;      /* server links: when accepted */
    uint64_t last_rx_ms;     /* last valid frame, ACK or NACK; 0 = none yet */
    char acks[64];           /* ACK/NACK bytes not written yet (one write per batch) */
    size_t nacks;
    size_t rpending;         /* bytes of rbuf read but not decoded (paused) */
    char reason[400];
    char rbuf[LINK_READ_CHUNK];
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
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    bool resolving;
    bool timer_closed;
    bool closing;
    evc_link *link; /* connecting or connected */
};

typedef struct write_req {
    uv_write_t req;
    evc_link *link;
    size_t cost; /* counted in link->queued until the write completes */
    char *owned; /* freed after the write, NULL for borrowed bytes */
} write_req;

/* link.c: a new link (not yet reading; NULL on out of memory), owned by the
 * loop until closed; link_go starts reading and calls on_open. */
evc_link *link_new(evc_loop *loop, const evc_link_handlers *h, void *arg);
void link_go(evc_link *l);

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
