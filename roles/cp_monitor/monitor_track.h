/* monitor_track.h: what the monitor dashboard shows, kept in bounded rings
 * (pure: no I/O, no clock of its own; unit-tested in tests/unit/cp_monitor).
 *
 *  - checks: one sample per health check -- a PING answered (OK or KO, with
 *    its round-trip time), a PING left unanswered past the timeout, or a
 *    check that could not be made because the link to the engine is down
 *    ("no answer"); the last MONITOR_TRACK_CHECKS (an hour at 1 s);
 *  - usage: the engine's power and energy from each extended PONG, the last
 *    MONITOR_TRACK_USAGE;
 *  - alerts: faults, recoveries, lost and regained links, the last
 *    MONITOR_TRACK_ALERTS.
 *
 * PINGs in flight are matched to their PONG by seq in a small FIFO (a
 * link is in order: a PONG for seq s means every earlier PING in flight got
 * no answer). Times are the caller's: wall ms for what is shown, monotonic
 * microseconds for round trips. Not thread-safe (the loop thread only). */
#ifndef MONITOR_TRACK_H
#define MONITOR_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "monitor_health.h"

#define MONITOR_TRACK_CHECKS 3600
#define MONITOR_TRACK_USAGE 3600
#define MONITOR_TRACK_ALERTS 100
#define MONITOR_TRACK_INFLIGHT 16
#define MONITOR_TRACK_TEXT 160

typedef enum monitor_check_result {
    MONITOR_CHECK_OK = 0,
    MONITOR_CHECK_KO = 1,
    MONITOR_CHECK_NONE = 2, /* no answer (timeout, or the link is down) */
} monitor_check_result;

typedef struct monitor_check {
    int64_t ts;      /* wall ms when the check was made (the PING left) */
    int64_t rtt_us;  /* round trip in microseconds; -1 without an answer */
    monitor_check_result result;
} monitor_check;

typedef struct monitor_usage {
    int64_t ts;      /* wall ms of the PONG */
    int64_t w, wh;
} monitor_usage;

typedef struct monitor_alert_rec {
    int64_t ts;      /* wall ms */
    char kind[16];   /* fault, recovery, link_lost, link_regained, refused */
    char link[8];    /* engine, central */
    char text[MONITOR_TRACK_TEXT];
} monitor_alert_rec;

typedef struct monitor_track {
    monitor_check *checks;   /* owned ring of MONITOR_TRACK_CHECKS */
    size_t checks_head, checks_n; /* head = index of the oldest */
    monitor_usage *usage;    /* owned ring of MONITOR_TRACK_USAGE */
    size_t usage_head, usage_n;
    monitor_alert_rec alerts[MONITOR_TRACK_ALERTS];
    size_t alerts_head, alerts_n;
    struct {
        uint64_t seq;
        int64_t ts;          /* wall ms it left */
        uint64_t sent_us;    /* monotonic us it left */
    } inflight[MONITOR_TRACK_INFLIGHT];
    size_t inflight_n;       /* oldest first */
    uint64_t usage_total, alerts_total; /* ever added (a reader's cursor) */
    uint64_t consecutive_failures; /* KO or no answer in a row */
    uint64_t checks_total, failures_total;
} monitor_track;

/* EVC_OK or EVC_ENOMEM (the rings are allocated once). */
int monitor_track_init(monitor_track *t);
void monitor_track_free(monitor_track *t);

/* A PING of `seq` left. A full FIFO counts its oldest PING as unanswered. */
void monitor_track_ping(monitor_track *t, uint64_t seq, int64_t wall_ms, uint64_t mono_us);
/* Its PONG came (health "OK", anything else counts as KO): earlier PINGs
 * still in flight become "no answer". False when seq is not in flight (a
 * late PONG already counted as no answer: nothing recorded). */
bool monitor_track_pong(monitor_track *t, uint64_t seq, bool ok, uint64_t mono_us);
/* PINGs in flight since before now_us - timeout_us become "no answer";
 * returns how many. */
size_t monitor_track_expire(monitor_track *t, uint64_t now_us, uint64_t timeout_us);
/* The link is down: every PING in flight is "no answer", and one more
 * sample says the check of `wall_ms` could not be made. */
void monitor_track_unreachable(monitor_track *t, int64_t wall_ms);

void monitor_track_usage(monitor_track *t, int64_t wall_ms, int64_t w, int64_t wh);
/* Adds an alert (text truncated to fit, control bytes replaced by '?'). */
void monitor_track_alert(monitor_track *t, int64_t wall_ms, const char *kind, const char *link,
                         const char *text);

/* i-th oldest (0 = oldest) sample; NULL past the end. */
const monitor_check *monitor_track_check_at(const monitor_track *t, size_t i);
const monitor_usage *monitor_track_usage_at(const monitor_track *t, size_t i);
/* i-th newest alert (0 = newest); NULL past the end. */
const monitor_alert_rec *monitor_track_alert_at(const monitor_track *t, size_t i);
/* The newest check, NULL when none yet. */
const monitor_check *monitor_track_last_check(const monitor_track *t);

const char *monitor_check_result_wire(monitor_check_result r); /* "ok", "ko", "none" */

/* The CP's state as the monitor can tell it, in Central's order of
 * precedence (PROTOCOL.md M4): DISCONNECTED without an accepted link to
 * Central (or while the engine was never checked: Central has no HB
 * either), BROKEN when the engine is KO or does not answer, STOPPED, then
 * SUPPLYING (authorised or supplying), else ACTIVATED. */
typedef enum monitor_cp_state {
    MONITOR_CP_ACTIVATED = 0,
    MONITOR_CP_SUPPLYING,
    MONITOR_CP_STOPPED,
    MONITOR_CP_BROKEN,
    MONITOR_CP_DISCONNECTED,
} monitor_cp_state;

typedef struct monitor_cp_facts {
    bool central_accepted;
    monitor_health health;
    bool stopped;    /* the engine's admin field, else AUTH_OK's admin_state */
    bool supplying;  /* the engine's state is authorised or supplying */
} monitor_cp_facts;

/* *why (may be NULL) gets a static phrase saying why. */
monitor_cp_state monitor_cp_state_of(const monitor_cp_facts *f, const char **why);
const char *monitor_cp_state_wire(monitor_cp_state s);

#endif
