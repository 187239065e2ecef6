/* monitor_health.h: the engine's health as the monitor sees it -- a pure
 * state machine (unit-tested in tests/unit/cp_monitor).
 *
 * UNKNOWN at start (reported to Central as UNREACHABLE); OK or KO from each
 * PONG; UNREACHABLE when a PING waits longer than timeout_ms for its PONG or
 * when the link to the engine is down. A monitor usually starts with its
 * engine, which may not listen yet: until the grace period ends, an engine
 * never reached stays UNKNOWN (not a fault yet), and turns UNREACHABLE at the
 * end of the grace if still not reached. Every input returns whether the
 * health changed, which is when the monitor prints one line and sends an HB
 * at once (never a line per retry). */
#ifndef MONITOR_HEALTH_H
#define MONITOR_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

typedef enum monitor_health {
    MONITOR_UNKNOWN = 0,
    MONITOR_OK,
    MONITOR_KO,
    MONITOR_UNREACHABLE,
} monitor_health;

typedef struct monitor_health_sm {
    monitor_health health;
    uint64_t timeout_ms;
    bool waiting;          /* a PING is unanswered */
    uint64_t oldest_ping;  /* when the oldest unanswered PING left */
    uint64_t grace_until;  /* monotonic ms; 0 = no grace */
    bool down;             /* the link is down (a lost link within the grace) */
} monitor_health_sm;

void monitor_health_init(monitor_health_sm *sm, uint64_t timeout_ms);
/* Until `until` (monotonic ms), a link down while the health is still
 * UNKNOWN is not UNREACHABLE yet. */
void monitor_health_set_grace(monitor_health_sm *sm, uint64_t until);
/* A PING left at `now`. */
void monitor_health_ping_sent(monitor_health_sm *sm, uint64_t now);
/* A PONG arrived with the engine's health text ("OK"/"KO"; anything else is
 * treated as KO: an engine that cannot say it is OK is not). */
bool monitor_health_pong(monitor_health_sm *sm, const char *health);
/* Time passes: UNREACHABLE once the oldest unanswered PING is timeout_ms
 * old, or once the grace ends with the engine never reached. */
bool monitor_health_tick(monitor_health_sm *sm, uint64_t now);
/* The link to the engine is up (its HELLO or PINGs decide from now on). */
void monitor_health_link_up(monitor_health_sm *sm);
/* The link to the engine is down (closed, or a connection attempt failed). */
bool monitor_health_link_down(monitor_health_sm *sm, uint64_t now);

/* As sent in HB: "OK", "KO" or "UNREACHABLE" (UNKNOWN -> "UNREACHABLE"). */
const char *monitor_health_wire(monitor_health h);

#endif
