/* monitor_track.c: see monitor_track.h. */
#include "monitor_track.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/error.h"

int monitor_track_init(monitor_track *t)
{
    memset(t, 0, sizeof *t);
    t->checks = calloc(MONITOR_TRACK_CHECKS, sizeof *t->checks);
    t->usage = calloc(MONITOR_TRACK_USAGE, sizeof *t->usage);
    if (!t->checks || !t->usage) {
        monitor_track_free(t);
        return EVC_ENOMEM;
    }
    return EVC_OK;
}

void monitor_track_free(monitor_track *t)
{
    free(t->checks);
    free(t->usage);
    t->checks = NULL;
    t->usage = NULL;
}

static void add_check(monitor_track *t, int64_t ts, monitor_check_result r, int64_t rtt_us)
{
    size_t i = (t->checks_head + t->checks_n) % MONITOR_TRACK_CHECKS;
    if (t->checks_n == MONITOR_TRACK_CHECKS)
        t->checks_head = (t->checks_head + 1) % MONITOR_TRACK_CHECKS;
    else
        t->checks_n++;
    t->checks[i] = (monitor_check){.ts = ts, .rtt_us = rtt_us, .result = r};
    t->checks_total++;
    if (r == MONITOR_CHECK_OK) {
        t->consecutive_failures = 0;
    } else {
        t->consecutive_failures++;
        t->failures_total++;
    }
}

/* The oldest n PINGs in flight got no answer. */
static void drop_inflight(monitor_track *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        add_check(t, t->inflight[i].ts, MONITOR_CHECK_NONE, -1);
    memmove(t->inflight, t->inflight + n, (t->inflight_n - n) * sizeof t->inflight[0]);
    t->inflight_n -= n;
}

void monitor_track_ping(monitor_track *t, uint64_t seq, int64_t wall_ms, uint64_t mono_us)
{
    if (t->inflight_n == MONITOR_TRACK_INFLIGHT)
        drop_inflight(t, 1);
    t->inflight[t->inflight_n].seq = seq;
    t->inflight[t->inflight_n].ts = wall_ms;
    t->inflight[t->inflight_n].sent_us = mono_us;
    t->inflight_n++;
}

bool monitor_track_pong(monitor_track *t, uint64_t seq, bool ok, uint64_t mono_us)
{
    size_t i = 0;
    while (i < t->inflight_n && t->inflight[i].seq != seq)
        i++;
    if (i == t->inflight_n)
        return false;
    drop_inflight(t, i);
    uint64_t sent = t->inflight[0].sent_us;
    int64_t rtt = mono_us >= sent ? (int64_t)(mono_us - sent) : 0;
    add_check(t, t->inflight[0].ts, ok ? MONITOR_CHECK_OK : MONITOR_CHECK_KO, rtt);
    memmove(t->inflight, t->inflight + 1, (t->inflight_n - 1) * sizeof t->inflight[0]);
    t->inflight_n--;
    return true;
}

size_t monitor_track_expire(monitor_track *t, uint64_t now_us, uint64_t timeout_us)
{
    size_t n = 0;
    while (n < t->inflight_n && now_us - t->inflight[n].sent_us >= timeout_us)
        n++;
    drop_inflight(t, n);
    return n;
}

void monitor_track_unreachable(monitor_track *t, int64_t wall_ms)
{
    drop_inflight(t, t->inflight_n);
    add_check(t, wall_ms, MONITOR_CHECK_NONE, -1);
}

void monitor_track_usage(monitor_track *t, int64_t wall_ms, int64_t w, int64_t wh)
{
    size_t i = (t->usage_head + t->usage_n) % MONITOR_TRACK_USAGE;
    if (t->usage_n == MONITOR_TRACK_USAGE)
        t->usage_head = (t->usage_head + 1) % MONITOR_TRACK_USAGE;
    else
        t->usage_n++;
    t->usage[i] = (monitor_usage){.ts = wall_ms, .w = w, .wh = wh};
    t->usage_total++;
}

static void copy_clean(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (; src && src[n] && n < cap - 1; n++)
        dst[n] = (unsigned char)src[n] < 0x20 || (unsigned char)src[n] >= 0x7f ? '?' : src[n];
    dst[n] = '\0';
}

void monitor_track_alert(monitor_track *t, int64_t wall_ms, const char *kind, const char *link,
                         const char *text)
{
    size_t i = (t->alerts_head + t->alerts_n) % MONITOR_TRACK_ALERTS;
    if (t->alerts_n == MONITOR_TRACK_ALERTS)
        t->alerts_head = (t->alerts_head + 1) % MONITOR_TRACK_ALERTS;
    else
        t->alerts_n++;
    t->alerts_total++;
    monitor_alert_rec *a = &t->alerts[i];
    a->ts = wall_ms;
    copy_clean(a->kind, sizeof a->kind, kind);
    copy_clean(a->link, sizeof a->link, link);
    copy_clean(a->text, sizeof a->text, text);
}

const monitor_check *monitor_track_check_at(const monitor_track *t, size_t i)
{
    return i < t->checks_n ? &t->checks[(t->checks_head + i) % MONITOR_TRACK_CHECKS] : NULL;
}

const monitor_usage *monitor_track_usage_at(const monitor_track *t, size_t i)
{
    return i < t->usage_n ? &t->usage[(t->usage_head + i) % MONITOR_TRACK_USAGE] : NULL;
}

const monitor_alert_rec *monitor_track_alert_at(const monitor_track *t, size_t i)
{
    if (i >= t->alerts_n)
        return NULL;
    return &t->alerts[(t->alerts_head + t->alerts_n - 1 - i) % MONITOR_TRACK_ALERTS];
}

const monitor_check *monitor_track_last_check(const monitor_track *t)
{
    return t->checks_n ? monitor_track_check_at(t, t->checks_n - 1) : NULL;
}

const char *monitor_check_result_wire(monitor_check_result r)
{
    switch (r) {
    case MONITOR_CHECK_OK:
        return "ok";
    case MONITOR_CHECK_KO:
        return "ko";
    default:
        return "none";
    }
}

monitor_cp_state monitor_cp_state_of(const monitor_cp_facts *f, const char **why)
{
    const char *w;
    monitor_cp_state s;
    if (!f->central_accepted) {
        s = MONITOR_CP_DISCONNECTED, w = "no accepted link to CENTRAL";
    } else if (f->health == MONITOR_KO) {
        s = MONITOR_CP_BROKEN, w = "the engine reports a fault (KO)";
    } else if (f->health == MONITOR_UNREACHABLE) {
        s = MONITOR_CP_BROKEN, w = "the engine does not answer";
    } else if (f->health == MONITOR_UNKNOWN) {
        s = MONITOR_CP_DISCONNECTED, w = "the engine is not checked yet";
    } else if (f->stopped) {
        s = MONITOR_CP_STOPPED, w = "stopped by CENTRAL's operator";
    } else if (f->supplying) {
        s = MONITOR_CP_SUPPLYING, w = "a supply is authorised or in progress";
    } else {
        s = MONITOR_CP_ACTIVATED, w = "ready for a supply";
    }
    if (why)
        *why = w;
    return s;
}

const char *monitor_cp_state_wire(monitor_cp_state s)
{
    static const char *const names[] = {"ACTIVATED", "SUPPLYING", "STOPPED", "BROKEN",
                                        "DISCONNECTED"};
    return (unsigned)s < 5 ? names[s] : "DISCONNECTED";
}
