/* host.c: the host-API table handed to one plugin instance.
 *
 * The table is the first member of struct evc_host, so evc_host_free can get
 * back from the api pointer it is given, and api->host points at the same
 * object for the calls that take an evc_host *.
 */
#include "evc/host.h"

#include <stdlib.h>
#include <string.h>

struct evc_host {
    evc_host_api api;    /* must stay first */
    evc_loop *loop;      /* borrowed; outlives the host */
    char *component;     /* owned */
    evc_host_sink sink;  /* copied */
};

static void host_log(evc_host *h, evc_log_level level, const evc_log_ids *ids, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
static void host_log(evc_host *h, evc_log_level level, const evc_log_ids *ids, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    evc_logv(level, h->component, ids, fmt, ap);
    va_end(ap);
}

static int host_watch_fd(evc_host *h, int fd, unsigned events, evc_watch_cb cb, void *arg,
                         evc_watch **out, evc_error *err)
{
    return evc_loop_watch_fd(h->loop, fd, events, cb, arg, out, err);
}

static int host_timer_start(evc_host *h, uint64_t first_ms, uint64_t repeat_ms, evc_timer_cb cb,
                            void *arg, evc_timer **out, evc_error *err)
{
    return evc_loop_timer(h->loop, first_ms, repeat_ms, cb, arg, out, err);
}

static int host_post(evc_host *h, evc_post_cb cb, void *arg)
{
    return evc_loop_post(h->loop, cb, arg);
}

static int host_run_until(evc_host *h, evc_cond_fn cond, void *arg, uint64_t timeout_ms)
{
    return evc_loop_run_until(h->loop, cond, arg, timeout_ms);
}

static void host_deliver_outcome(evc_host *h, uint64_t token, evc_outcome_status status,
                                 const char *detail)
{
    if (h->sink.outcome) {
        h->sink.outcome(h->sink.arg, token, status, detail);
        return;
    }
    evc_log(EVC_LOG_DEBUG, h->component, NULL, "outcome of token %llu dropped: no sink",
            (unsigned long long)token);
}

static int host_dispatch(evc_host *h, const evc_message *msg)
{
    if (h->sink.dispatch)
        return h->sink.dispatch(h->sink.arg, msg);
    evc_log(EVC_LOG_DEBUG, h->component, NULL, "message on topic '%s' dropped: no sink",
            msg && msg->topic ? msg->topic : "?");
    return EVC_OK;
}

static uint64_t host_now_ms(evc_host *h) { return evc_loop_now_ms(h->loop); }
static uint64_t host_wall_ms(evc_host *h) { return evc_wall_ms(); }

int evc_host_new(evc_loop *loop, const char *component, const evc_host_sink *sink,
                 evc_host_api **out, evc_error *err)
{
    *out = NULL;
    if (!loop || !component || !*component)
        return evc_error_set(err, EVC_EINVAL, "host: a loop and a component name are required");
    evc_host *h = calloc(1, sizeof *h);
    char *comp = strdup(component);
    if (!h || !comp) {
        free(h);
        free(comp);
        return evc_error_set(err, EVC_ENOMEM, "host for '%s': out of memory", component);
    }
    h->loop = loop;
    h->component = comp;
    if (sink)
        h->sink = *sink;
    h->api = (evc_host_api){
        .struct_size = sizeof(evc_host_api),
        .host = h,
        .log = host_log,
        .watch_fd = host_watch_fd,
        .watch_set_events = evc_watch_set_events,
        .unwatch_fd = evc_watch_close,
        .timer_start = host_timer_start,
        .timer_stop = evc_timer_close,
        .post = host_post,
        .run_until = host_run_until,
        .deliver_outcome = host_deliver_outcome,
        .dispatch = host_dispatch,
        .now_ms = host_now_ms,
        .wall_ms = host_wall_ms,
    };
    *out = &h->api;
    return EVC_OK;
}

void evc_host_free(evc_host_api *api)
{
    if (!api)
        return;
    evc_host *h = api->host;
    free(h->component);
    free(h);
}
