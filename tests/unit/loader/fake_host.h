/* fake_host.h: a host table filled by hand, for driving a plugin's ops
 * without the core's loop (the pattern docs/PLUGINS.md recommends to plugin
 * authors). Timers are "due now": fake_host_run fires armed timers in order
 * until a condition holds or nothing is armed, so tests are deterministic and
 * never sleep. Outcomes and dispatched messages are recorded. */
#ifndef EVC_TEST_FAKE_HOST_H
#define EVC_TEST_FAKE_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/host.h"

#define FAKE_HOST_MAX_TIMERS 8
#define FAKE_HOST_MAX_RECORDS 64

struct evc_timer {
    struct fake_host *fh;
    evc_timer_cb cb;
    void *arg;
    uint64_t repeat_ms;
    bool in_use; /* between timer_start and timer_stop */
    bool armed;  /* due: fires on the next fake_host_run step */
};

typedef struct fake_outcome {
    uint64_t token;
    evc_outcome_status status;
} fake_outcome;

typedef struct fake_dispatched {
    char topic[64];
    char key[64];
    char payload[256];
    size_t payload_len;
} fake_dispatched;

typedef struct fake_host {
    evc_host_api api; /* hand &api to the plugin's create */
    struct evc_timer timers[FAKE_HOST_MAX_TIMERS];
    fake_outcome outcomes[FAKE_HOST_MAX_RECORDS];
    size_t n_outcomes;
    fake_dispatched dispatched[FAKE_HOST_MAX_RECORDS];
    size_t n_dispatched;
    uint64_t now;
} fake_host;

/* Fills fh (caller-owned, e.g. on the stack) with a working table. */
void fake_host_init(fake_host *fh);

/* Fires armed timers until cond(arg) holds (cond may be NULL: until no timer
 * is armed). EVC_OK, or EVC_ETIMEDOUT when nothing is left to fire. */
int fake_host_run(fake_host *fh, evc_cond_fn cond, void *arg);

#endif
