/* loop_work.c: evc_loop_work, blocking work on libuv's thread pool with a
 * bounded number of pending calls. See evc/loop.h for the contract. */
#include <stdlib.h>

#include "loop_internal.h"

/* ---- thread-pool work --------------------------------------------------- */

static void on_work(uv_work_t *req)
{
    work_item *w = req->data;
    w->work(w->arg);
}

static void on_work_done(uv_work_t *req, int status)
{
    work_item *w = req->data;
    evc_loop *loop = w->loop;
    if (w->prev)
        w->prev->next = w->next;
    else
        loop->works = w->next;
    if (w->next)
        w->next->prev = w->prev;
    loop->nworks--;
    evc_work_done_fn done = w->done;
    void *arg = w->arg;
    free(w);
    done(arg, status != UV_ECANCELED);
}

int evc_loop_work(evc_loop *loop, evc_work_fn work, evc_work_done_fn done, void *arg,
                  evc_error *err)
{
    if (!loop || !work || !done)
        return evc_error_set(err, EVC_EINVAL, "evc_loop_work: work and done are required");
    if (loop->freeing)
        return evc_error_set(err, EVC_ESTATE, "evc_loop_work: the loop is being freed");
    if (loop->nworks >= loop->works_max)
        return evc_error_set(err, EVC_EAGAIN, "evc_loop_work: %zu calls pending (the bound)",
                             loop->nworks);
    work_item *w = calloc(1, sizeof *w);
    if (!w)
        return evc_error_set(err, EVC_ENOMEM, "evc_loop_work: out of memory");
    *w = (work_item){.loop = loop, .work = work, .done = done, .arg = arg};
    w->req.data = w;
    int rc = uv_queue_work(&loop->uv, &w->req, on_work, on_work_done);
    if (rc != 0) {
        free(w);
        return evc_error_set(err, EVC_EIO, "evc_loop_work: %s", uv_strerror(rc));
    }
    w->next = loop->works;
    if (w->next)
        w->next->prev = w;
    loop->works = w;
    loop->nworks++;
    return EVC_OK;
}

void evc_loop_set_work_max(evc_loop *loop, size_t max) { loop->works_max = max ? max : 1; }
size_t evc_loop_work_pending(const evc_loop *loop) { return loop->nworks; }
