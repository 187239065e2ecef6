/* fake_host.c: see fake_host.h. */
#include "fake_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static fake_host *fake_of(evc_host *h) { return (fake_host *)(void *)h; }

static void fake_log(evc_host *h, evc_log_level level, const evc_log_ids *ids, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
static void fake_log(evc_host *h, evc_log_level level, const evc_log_ids *ids, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    evc_logv(level, "fake-host", ids, fmt, ap);
    va_end(ap);
}

static int fake_timer_start(evc_host *h, uint64_t first_ms, uint64_t repeat_ms, evc_timer_cb cb,
                            void *arg, evc_timer **out, evc_error *err)
{
    fake_host *fh = fake_of(h);
    for (size_t i = 0; i < FAKE_HOST_MAX_TIMERS; i++) {
        if (!fh->timers[i].in_use) {
            fh->timers[i] = (struct evc_timer){
                .fh = fh, .cb = cb, .arg = arg, .repeat_ms = repeat_ms, .in_use = true,
                .armed = true};
            *out = &fh->timers[i];
            return EVC_OK;
        }
    }
    return evc_error_set(err, EVC_ENOMEM, "fake host: more than %d timers",
                         FAKE_HOST_MAX_TIMERS);
}

static void fake_timer_stop(evc_timer *t)
{
    if (t)
        t->armed = t->in_use = false;
}

static int fake_run_until(evc_host *h, evc_cond_fn cond, void *arg, uint64_t timeout_ms)
{
    return fake_host_run(fake_of(h), cond, arg);
}

static void fake_outcome_cb(evc_host *h, uint64_t token, evc_outcome_status status,
                            const char *detail)
{
    fake_host *fh = fake_of(h);
    if (fh->n_outcomes < FAKE_HOST_MAX_RECORDS)
        fh->outcomes[fh->n_outcomes++] = (fake_outcome){.token = token, .status = status};
}

static int fake_dispatch(evc_host *h, const evc_message *msg)
{
    fake_host *fh = fake_of(h);
    if (fh->n_dispatched >= FAKE_HOST_MAX_RECORDS)
        return EVC_EFULL;
    fake_dispatched *d = &fh->dispatched[fh->n_dispatched++];
    snprintf(d->topic, sizeof d->topic, "%s", msg->topic);
    snprintf(d->key, sizeof d->key, "%s", msg->key);
    d->payload_len = msg->payload_len < sizeof d->payload ? msg->payload_len : sizeof d->payload;
    memcpy(d->payload, msg->payload, d->payload_len);
    return EVC_OK;
}

static uint64_t fake_now(evc_host *h) { return fake_of(h)->now; }

void fake_host_init(fake_host *fh)
{
    memset(fh, 0, sizeof *fh);
    fh->api.struct_size = sizeof fh->api;
    fh->api.host = (evc_host *)(void *)fh;
    fh->api.log = fake_log;
    fh->api.timer_start = fake_timer_start;
    fh->api.timer_stop = fake_timer_stop;
    fh->api.run_until = fake_run_until;
    fh->api.deliver_outcome = fake_outcome_cb;
    fh->api.dispatch = fake_dispatch;
    fh->api.now_ms = fake_now;
    fh->api.wall_ms = fake_now;
}

int fake_host_run(fake_host *fh, evc_cond_fn cond, void *arg)
{
    for (;;) {
        if (cond && cond(arg))
            return EVC_OK;
        bool fired = false;
        for (size_t i = 0; i < FAKE_HOST_MAX_TIMERS; i++) {
            struct evc_timer *t = &fh->timers[i];
            if (t->armed) {
                if (t->repeat_ms == 0)
                    t->armed = false; /* one-shot: fired, still owned until timer_stop */
                t->cb(t, t->arg);
                fired = true;
                break; /* restart the scan: the callback may arm or stop timers */
            }
        }
        if (!fired)
            return cond ? EVC_ETIMEDOUT : EVC_OK;
    }
}
