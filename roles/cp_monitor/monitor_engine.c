/* monitor_engine.c: the monitor's link to its engine (docs/PROTOCOL.md
 * section 2): HELLO with the id Central confirmed, then a PING every
 * health_interval_ms; the health state machine turns PONGs, silence and a
 * lost link into OK / KO / UNREACHABLE, and each change is printed once and
 * sent to Central at once. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "evc/log.h"
#include "monitor.h"

#define LOGE(m, lvl, ...) evc_log((lvl), "cp_monitor", &(evc_log_ids){.cp = (m)->cfg.cp_id}, __VA_ARGS__)

static void health_changed(monitor *m)
{
    monitor_health h = m->health.health;
    LOGE(m, EVC_LOG_INFO, "engine health %s", monitor_health_wire(h));
    if (h == MONITOR_OK) {
        monitor_say(m, MONITOR_GREEN, "Engine OK");
        m->engine_shown_down = false;
    } else if (h == MONITOR_KO) {
        monitor_say(m, MONITOR_RED, "Engine KO");
        m->engine_shown_down = false;
    } else if (!m->engine_shown_down) {
        monitor_say(m, MONITOR_RED, "Engine not answering");
        m->engine_shown_down = true;
    }
    monitor_send_hb(m);
}

static void send_frame(monitor *m, const char *op, const evc_frame_field *f, size_t n)
{
    if (!m->engine_link)
        return;
    evc_error err = {0};
    if (evc_link_send(m->engine_link, op, f, n, &err) != EVC_OK)
        LOGE(m, EVC_LOG_DEBUG, "%s to the engine: %s", op, err.msg);
}

static void send_ping(monitor *m)
{
    char seq[24];
    snprintf(seq, sizeof seq, "%" PRIu64, ++m->ping_seq);
    evc_frame_field f[] = {EVC_FRAME_STR(seq)};
    send_frame(m, "PING", f, 1);
    monitor_health_ping_sent(&m->health, evc_loop_now_ms(m->loop));
}

void monitor_engine_hello(monitor *m)
{
    if (!m->engine_link || !m->ever_accepted)
        return;
    evc_frame_field f[] = {EVC_FRAME_STR(m->cfg.cp_id)};
    send_frame(m, "HELLO", f, 1);
    /* HELLO is the first probe: no HELLO_OK in time is "not answering". */
    monitor_health_ping_sent(&m->health, evc_loop_now_ms(m->loop));
}

static void on_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    monitor *m = arg;
    if (l != m->engine_link)
        return;
    if (strcmp(ev->opcode, "HELLO_OK") == 0) {
        if (!m->hello_ok)
            LOGE(m, EVC_LOG_INFO, "engine at %s adopted the id", evc_link_peer(l));
        m->hello_ok = true;
        send_ping(m); /* learn the health now, not in a second */
    } else if (strcmp(ev->opcode, "PONG") == 0 && ev->nfields >= 2) {
        if (monitor_health_pong(&m->health, ev->fields[1].data))
            health_changed(m);
    } else {
        LOGE(m, EVC_LOG_DEBUG, "ignored frame %s from the engine", ev->opcode);
    }
}

static void on_open(evc_link *l, void *arg)
{
    monitor *m = arg;
    m->engine_link = l;
    m->hello_ok = false;
    monitor_health_link_up(&m->health);
    LOGE(m, EVC_LOG_INFO, "connected to the engine at %s", evc_link_peer(l));
    monitor_engine_hello(m);
}

static void engine_down(monitor *m, const char *reason)
{
    m->engine_link = NULL;
    m->hello_ok = false;
    if (monitor_health_link_down(&m->health, evc_loop_now_ms(m->loop))) {
        LOGE(m, EVC_LOG_WARN, "engine at %s:%u: %s", m->cfg.engine.host,
             (unsigned)m->cfg.engine.port, reason);
        health_changed(m);
    }
}

static void on_close(evc_link *l, const char *reason, void *arg)
{
    monitor *m = arg;
    if (l != m->engine_link)
        return;
    m->engine_link = NULL;
    if (!m->stopping)
        engine_down(m, reason);
}

static void on_connect_failed(const char *reason, uint64_t retry_in_ms, void *arg)
{
    monitor *m = arg;
    LOGE(m, EVC_LOG_DEBUG, "connect to the engine failed (%s); next try in %" PRIu64 " ms",
         reason, retry_in_ms);
    engine_down(m, reason);
}

static void on_ping_timer(evc_timer *t, void *arg)
{
    (void)t;
    monitor *m = arg;
    if (m->engine_link && m->hello_ok)
        send_ping(m);
}

static void on_check_timer(evc_timer *t, void *arg)
{
    (void)t;
    monitor *m = arg;
    if (monitor_health_tick(&m->health, evc_loop_now_ms(m->loop)))
        health_changed(m);
}

int monitor_engine_start(monitor *m, evc_error *err)
{
    monitor_health_init(&m->health, (uint64_t)m->cfg.health_timeout_ms);
    monitor_health_set_grace(&m->health,
                             evc_loop_now_ms(m->loop) + (uint64_t)m->cfg.engine_grace_ms);
    evc_link_handlers h = {.on_open = on_open,
                           .on_frame = on_frame,
                           .on_close = on_close,
                           .on_connect_failed = on_connect_failed};
    evc_link_client_opts o = {.backoff_min_ms = (uint64_t)m->cfg.backoff_min_ms,
                              .backoff_max_ms = (uint64_t)m->cfg.backoff_max_ms};
    /* Check the timeout more often than we ping, so UNREACHABLE is seen
     * within ~100 ms of health_timeout_ms. */
    uint64_t every = (uint64_t)m->cfg.health_interval_ms;
    int rc = evc_loop_timer(m->loop, every, every, on_ping_timer, m, &m->ping, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(m->loop, 100, 100, on_check_timer, m, &m->check, err);
    if (rc == EVC_OK)
        rc = evc_link_connect(m->loop, m->cfg.engine.host, m->cfg.engine.port, &o, &h, m,
                              &m->engine, err);
    return rc;
}

void monitor_engine_stop(monitor *m)
{
    evc_timer_close(m->ping);
    m->ping = NULL;
    evc_timer_close(m->check);
    m->check = NULL;
    if (m->engine)
        evc_link_client_close(m->engine);
    m->engine = NULL;
}
