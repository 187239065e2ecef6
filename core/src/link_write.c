/* link_write.c: the write side of framed TCP links, and the state a loop
 * thread shares between its links (the read buffer and the reply stage).
 *
 * Why a stage: a server answers every frame with an ACK byte, so 15,000
 * heartbeating monitors were 15,000 one-byte writes a second, each with a
 * write request, a copy and a completion callback (30 % of Central's main
 * thread, issue 14). Replies produced while one read is handled are now
 * collected and written once at its end with uv_try_write: no request, no
 * copy, no callback when the kernel takes them, which it does unless the
 * peer stopped reading. What it does not take goes through uv_write as a
 * copy, counted in the link's queue (the out_queue_max bound).
 *
 * Order on the stream is kept: staged bytes and direct writes are written
 * in the order they were asked for, and uv_try_write refuses (UV_EAGAIN)
 * while an earlier uv_write is pending, so nothing overtakes the queue. */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "evc/log.h"

#include "link_internal.h"

typedef struct link_thread {
    size_t users;    /* links alive on this thread */
    bool rbuf_busy;  /* rbuf holds a read being handled */
    evc_link *cur;   /* link whose read is being handled: its replies are staged */
    size_t nstage;
    char stage[LINK_STAGE_MAX];
    char rbuf[LINK_READ_CHUNK];
} link_thread;

/* Links live on their loop's thread: one state per thread serves them
 * all, and two loops on one thread run one at a time. */
static _Thread_local link_thread *tls;

typedef struct write_req {
    uv_write_t req;
    evc_link *link;
    size_t cost; /* counted in link->queued until the write completes */
    char bytes[]; /* the copy being written */
} write_req;

bool link_thread_hold(void)
{
    if (!tls) {
        tls = malloc(sizeof *tls);
        if (!tls)
            return false;
        tls->users = 0;
        tls->rbuf_busy = false;
        tls->cur = NULL;
        tls->nstage = 0;
    }
    tls->users++;
    return true;
}

void link_thread_release(void)
{
    if (tls && --tls->users == 0) {
        free(tls);
        tls = NULL;
    }
}

uv_buf_t link_read_buffer_take(void)
{
    if (!tls->rbuf_busy) {
        tls->rbuf_busy = true;
        return uv_buf_init(tls->rbuf, sizeof tls->rbuf);
    }
    char *own = malloc(LINK_READ_CHUNK);
    return uv_buf_init(own, own ? LINK_READ_CHUNK : 0);
}

void link_read_buffer_give(const uv_buf_t *buf)
{
    if (buf->base == tls->rbuf)
        tls->rbuf_busy = false;
    else
        free(buf->base);
}

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    evc_link *l = w->link;
    l->queued -= w->cost;
    free(w);
    (void)status; /* a failed write shows up as a read error/EOF: handled there */
    /* Half the bound, not the bound: no flapping at every write. */
    if (l->paused && !l->closing && l->queued <= l->out_max / 2)
        link_resume_reading(l);
}

/* What the kernel did not take, as a copy queued behind earlier writes. */
static int queue_write(evc_link *l, const char *bytes, size_t len)
{
    write_req *w = malloc(sizeof *w + len);
    if (!w)
        return EVC_ENOMEM;
    w->link = l;
    w->cost = sizeof *w + len;
    memcpy(w->bytes, bytes, len);
    uv_buf_t b = uv_buf_init(w->bytes, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&l->tcp, &b, 1, on_written) != 0) {
        free(w);
        return EVC_EIO;
    }
    l->queued += w->cost;
    return EVC_OK;
}

/* Tries the kernel first: when it takes everything, there is nothing to
 * allocate and nothing to call back. A hard error (reset, broken pipe) is
 * left to uv_write to report to nobody: the read side closes the link. */
static int write_now(evc_link *l, const char *bytes, size_t len)
{
    uv_buf_t b = uv_buf_init((char *)bytes, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&l->tcp, &b, 1);
    size_t done = n > 0 ? (size_t)n : 0;
    if (done == len)
        return EVC_OK;
    return queue_write(l, bytes + done, len - done);
}

void link_flush(evc_link *l)
{
    if (!tls || tls->cur != l || tls->nstage == 0)
        return;
    size_t n = tls->nstage;
    tls->nstage = 0;
    /* Out of memory, or a socket libuv no longer writes to (the peer is
     * gone: the read side closes the link, worth a debug line only). The
     * peer misses ACKs and resends or times out. Not a close: this runs
     * inside evc_link_close too. */
    int rc = write_now(l, tls->stage, n);
    if (rc == EVC_ENOMEM)
        EVC_LOG_LIMITED(EVC_LOG_WARN, "link", NULL, "%s: %zu bytes of replies lost: out of memory",
                        l->peer, n);
    else if (rc != EVC_OK)
        EVC_LOG_LIMITED(EVC_LOG_DEBUG, "link", NULL, "%s: %zu bytes of replies not written",
                        l->peer, n);
}

size_t link_staged(const evc_link *l) { return tls && tls->cur == l ? tls->nstage : 0; }

int link_write(evc_link *l, const char *bytes, size_t len)
{
    if (tls->cur != l)
        return write_now(l, bytes, len);
    if (tls->nstage + len > sizeof tls->stage)
        link_flush(l);
    if (len > sizeof tls->stage)
        return write_now(l, bytes, len);
    memcpy(tls->stage + tls->nstage, bytes, len);
    tls->nstage += len;
    return EVC_OK;
}

evc_link *link_stage_begin(evc_link *l)
{
    evc_link *outer = tls->cur;
    if (outer)
        link_flush(outer); /* the stage holds one link's bytes at a time */
    tls->cur = l;
    return outer;
}

void link_stage_end(evc_link *l, evc_link *outer)
{
    if (l->closing)
        tls->nstage = 0; /* flushed by evc_link_close; the handle is going */
    else
        link_flush(l);
    tls->cur = outer;
}
