/* engine_link.c: the monitor's link to this engine (docs/PROTOCOL.md
 * section 2). HELLO gives the CP id; every PING is answered with the health;
 * no PING for monitor_timeout_ms means the monitor is lost (R30). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine.h"
#include "evc/log.h"

static void send_or_log(evc_link *l, const char *op, const evc_frame_field *f, size_t n)
{
    evc_error err = {0};
    if (evc_link_send(l, op, f, n, &err) != EVC_OK)
        evc_log(EVC_LOG_WARN, "cp_engine", NULL, "%s to %s: %s", op, evc_link_peer(l), err.msg);
}

static void on_hello(engine *e, evc_link *l, const char *cp_id)
{
    const evc_log_ids ids = {.cp = cp_id};
    if (!evc_id_valid(cp_id)) {
        evc_log(EVC_LOG_WARN, "cp_engine", NULL, "HELLO from %s with a bad CP id: closing",
                evc_link_peer(l));
        evc_link_close(l, "bad CP id in HELLO");
        return;
    }
    if (e->cp_id[0] && strcmp(e->cp_id, cp_id) != 0 && e->phase != ENGINE_IDLE) {
        /* The protocol has no HELLO refusal: not answering and closing makes
         * the monitor report "Engine not answering" and retry. */
        evc_log(EVC_LOG_WARN, "cp_engine", &ids,
                "HELLO from %s for %s refused: supplying as %s", evc_link_peer(l), cp_id,
                e->cp_id);
        engine_say(e, ENGINE_YELLOW, "Refused monitor for %s: supplying as %s", cp_id, e->cp_id);
        evc_link_close(l, "CP id differs while supplying");
        return;
    }
    bool changed = strcmp(e->cp_id, cp_id) != 0;
    bool was_present = e->monitor_present;
    snprintf(e->cp_id, sizeof e->cp_id, "%s", cp_id);
    if (e->monitor && e->monitor != l)
        evc_link_close(e->monitor, "replaced by a new monitor link");
    e->monitor = l;
    e->monitor_present = true;
    e->last_ping_ms = evc_loop_now_ms(e->loop);
    evc_frame_field f[] = {EVC_FRAME_STR(e->cp_id)};
    send_or_log(l, "HELLO_OK", f, 1);
    evc_log(EVC_LOG_INFO, "cp_engine", &ids, "monitor %s says HELLO", evc_link_peer(l));
    if (changed)
        engine_say(e, ENGINE_GREEN, "CP id %s (from the monitor at %s)", e->cp_id,
                   evc_link_peer(l));
    if (!was_present)
        engine_say(e, ENGINE_GREEN, "Monitor connected");
    engine_send_hello(e);
}

static void on_ping(engine *e, evc_link *l, const evc_frame_event *ev)
{
    if (l == e->monitor) {
        e->last_ping_ms = evc_loop_now_ms(e->loop);
        if (!e->monitor_present) {
            e->monitor_present = true;
            engine_say(e, ENGINE_GREEN, "Monitor connected");
        }
    }
    /* Answer any PING, even before HELLO: the health is no secret, and a
     * monitor that lost its HELLO_OK still learns the engine is alive. */
    evc_frame_field f[] = {ev->nfields >= 1 ? ev->fields[0] : EVC_FRAME_STR("0"),
                           EVC_FRAME_STR(e->ko ? "KO" : "OK")};
    send_or_log(l, "PONG", f, 2);
}

static void on_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    engine *e = arg;
    if (strcmp(ev->opcode, "PING") == 0) {
        on_ping(e, l, ev);
    } else if (strcmp(ev->opcode, "HELLO") == 0 && ev->nfields >= 1) {
        on_hello(e, l, ev->fields[0].data);
    } else {
        evc_log(EVC_LOG_DEBUG, "cp_engine", NULL, "ignored frame %s (%zu fields) from %s",
                ev->opcode, ev->nfields, evc_link_peer(l));
    }
}

static void on_open(evc_link *l, void *arg)
{
    engine *e = arg;
    e->nlinks++;
    evc_log(EVC_LOG_DEBUG, "cp_engine", NULL, "link from %s", evc_link_peer(l));
}

static void on_close(evc_link *l, const char *reason, void *arg)
{
    engine *e = arg;
    e->nlinks--;
    if (l == e->monitor) {
        /* The monitor may come back within monitor_timeout_ms; only the
         * absence of PINGs declares it lost. */
        e->monitor = NULL;
        evc_log(EVC_LOG_INFO, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
                "monitor link closed: %s", reason);
    }
}

int engine_link_start(engine *e, evc_error *err)
{
    evc_link_handlers h = {.on_open = on_open, .on_frame = on_frame, .on_close = on_close};
    return evc_link_listen(e->loop, e->cfg.listen.host, e->cfg.listen.port, &h, e, &e->server,
                           err);
}

static bool links_closed(void *arg) { return ((engine *)arg)->nlinks == 0; }

void engine_link_stop(engine *e)
{
    if (e->server)
        evc_link_server_close(e->server);
    e->server = NULL;
    /* on_close comes from the loop, after this call: let every one come now,
     * while the engine still exists (destroy frees it). */
    evc_loop_run_until(e->loop, links_closed, e, 1000);
    e->monitor = NULL;
}

void engine_link_check(engine *e, uint64_t now)
{
    if (!e->monitor_present || now - e->last_ping_ms < (uint64_t)e->cfg.monitor_timeout_ms)
        return;
    e->monitor_present = false;
    evc_log(EVC_LOG_WARN, "cp_engine", &(evc_log_ids){.cp = e->cp_id},
            "no PING for %" PRId64 " ms: monitor lost", e->cfg.monitor_timeout_ms);
    engine_say(e, ENGINE_RED, "Monitor lost");
    if (e->phase != ENGINE_IDLE)
        engine_supply_end(e, "monitor_lost");
}
