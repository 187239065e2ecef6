/* monitor_health.c: see monitor_health.h. */
#include "monitor_health.h"

#include <string.h>

static bool set(monitor_health_sm *sm, monitor_health h)
{
    if (sm->health == h)
        return false;
    sm->health = h;
    return true;
}

void monitor_health_init(monitor_health_sm *sm, uint64_t timeout_ms)
{
    memset(sm, 0, sizeof *sm);
    sm->timeout_ms = timeout_ms;
}

void monitor_health_set_grace(monitor_health_sm *sm, uint64_t until) { sm->grace_until = until; }

void monitor_health_ping_sent(monitor_health_sm *sm, uint64_t now)
{
    if (!sm->waiting) {
        sm->waiting = true;
        sm->oldest_ping = now;
    }
}

bool monitor_health_pong(monitor_health_sm *sm, const char *health)
{
    sm->waiting = false;
    sm->down = false;
    return set(sm, health && strcmp(health, "OK") == 0 ? MONITOR_OK : MONITOR_KO);
}

bool monitor_health_tick(monitor_health_sm *sm, uint64_t now)
{
    if (sm->down && sm->health == MONITOR_UNKNOWN && now >= sm->grace_until)
        return set(sm, MONITOR_UNREACHABLE);
    if (!sm->waiting || now - sm->oldest_ping < sm->timeout_ms)
        return false;
    return set(sm, MONITOR_UNREACHABLE);
}

void monitor_health_link_up(monitor_health_sm *sm) { sm->down = false; }

bool monitor_health_link_down(monitor_health_sm *sm, uint64_t now)
{
    sm->waiting = false;
    sm->down = true;
    if (sm->health == MONITOR_UNKNOWN && now < sm->grace_until)
        return false;
    return set(sm, MONITOR_UNREACHABLE);
}

const char *monitor_health_wire(monitor_health h)
{
    switch (h) {
    case MONITOR_OK:
        return "OK";
    case MONITOR_KO:
        return "KO";
    default:
        return "UNREACHABLE";
    }
}
