/* engine_core.c: the engine's state life cycle and shared helpers, without
 * the program around it (main.c), so that tests can run a real engine on a
 * test bus and store. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine.h"
#include "evc/log.h"

#define HOUSEKEEPING_MS 200

void engine_say(engine *e, const char *colour, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (e->tty && colour)
        printf("%s%s\033[0m\n", colour, line);
    else
        printf("%s\n", line);
    fflush(stdout);
}

engine_gate engine_gate_now(const engine *e)
{
    return (engine_gate){
        .has_id = e->cp_id[0] != '\0',
        .monitor_present = e->monitor_present,
        .ko = e->ko,
        .stopped = e->stopped,
        .busy = e->phase != ENGINE_IDLE,
        .central_alive = e->central_alive,
    };
}

static const char *phase_name(engine_phase p)
{
    return p == ENGINE_AUTHORISED ? "authorised" : p == ENGINE_SUPPLYING ? "supplying" : "idle";
}

void engine_print_status(engine *e)
{
    int64_t pending = -1;
    engine_outbox_pending(e->store, &pending, NULL);
    engine_say(e, NULL,
               "STATUS cp=%s health=%s admin=%s monitor=%s central=%s phase=%s session=%s "
               "driver=%s wh=%lld outbox=%lld",
               e->cp_id[0] ? e->cp_id : "-", e->ko ? "KO" : "OK",
               e->stopped ? "STOPPED" : "IN_SERVICE", e->monitor_present ? "yes" : "no",
               e->central_alive ? "yes" : "no", phase_name(e->phase),
               e->phase != ENGINE_IDLE ? e->j.session_id : "-",
               e->phase != ENGINE_IDLE ? e->j.driver_id : "-",
               (long long)(e->phase == ENGINE_SUPPLYING ? e->energy.wh : 0), (long long)pending);
}

void engine_toggle_ko(engine *e)
{
    e->ko = !e->ko;
    evc_log(EVC_LOG_INFO, "cp_engine", &(evc_log_ids){.cp = e->cp_id}, "health now %s",
            e->ko ? "KO" : "OK");
    if (e->ko)
        engine_say(e, ENGINE_RED, "Engine KO (simulated fault)");
    else
        engine_say(e, ENGINE_GREEN, "Engine OK");
    engine_send_status(e);
    if (e->ko && e->phase != ENGINE_IDLE)
        engine_supply_end(e, "fault");
}

static void on_housekeeping(evc_timer *t, void *arg)
{
    (void)t;
    engine *e = arg;
    uint64_t now = evc_loop_now_ms(e->loop);
    engine_link_check(e, now);
    engine_bus_check(e, now);
    engine_supply_tick(e, now);
}

static void on_outbox_timer(evc_timer *t, void *arg)
{
    (void)t;
    engine_outbox_kick(arg, false);
}

int engine_core_start(engine *e, evc_error *err)
{
    e->started_ms = evc_loop_now_ms(e->loop);
    e->dedup = evc_msg_dedup_new(1024);
    if (!e->dedup)
        return evc_error_set(err, EVC_ENOMEM, "cp_engine: out of memory");
    engine_supply_recover(e);
    int rc = engine_link_start(e, err);
    if (rc == EVC_OK)
        rc = engine_bus_start(e, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(e->loop, HOUSEKEEPING_MS, HOUSEKEEPING_MS, on_housekeeping, e,
                            &e->tick, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(e->loop, (uint64_t)e->cfg.outbox_retry_ms,
                            (uint64_t)e->cfg.outbox_retry_ms, on_outbox_timer, e,
                            &e->outbox_timer, err);
    if (rc == EVC_OK)
        engine_keys_request(e); /* then the hello and the outbox */
    return rc;
}

void engine_core_stop(engine *e)
{
    engine_supply_shutdown(e);
    e->stopping = true;
    engine_keys_stop(e);
    evc_timer_close(e->tick);
    e->tick = NULL;
    evc_timer_close(e->outbox_timer);
    e->outbox_timer = NULL;
    engine_link_stop(e);
}

void engine_core_free(engine *e)
{
    if (!e)
        return;
    evc_msg_dedup_free(e->dedup);
    free(e);
}
