/* monitor_engine.c: the monitor's link to its engine (docs/PROTOCOL.md
 * section M2): HELLO with the id Central confirmed and a nonce, the engine's
 * HELLO_CHALLENGE proving it holds the CP's secret, our HELLO_PROOF, then
 * HELLO_OK and a PING every
 * health_interval_ms; the health state machine turns PONGs, silence and a
 * lost link into OK / KO / UNREACHABLE, and each change is printed once and
 * sent to Central at once. Every check (answered, unanswered, or impossible
 * with the link down) and the engine's supply figures of the extended PONG
 * go to the dashboard's rings (monitor_track.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/ids.h"

#include "evc/log.h"
#include "monitor.h"

#define LOGE(m, lvl, ...) evc_log((lvl), "cp_monitor", &(evc_log_ids){.cp = (m)->cfg.cp_id}, __VA_ARGS__)

/* Monotonic microseconds: round trips on a loopback are well under the
 * loop's millisecond clock. */
static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void health_changed(monitor *m, monitor_health was)
{
    monitor_health h = m->health.health;
    LOGE(m, EVC_LOG_INFO, "engine health %s", monitor_health_wire(h));
    m->engine_since = (int64_t)evc_wall_ms();
    if (h == MONITOR_OK) {
        monitor_say(m, MONITOR_GREEN, "Engine OK");
        if (was == MONITOR_KO)
            monitor_alert(m, "recovery", "engine", "Engine OK again: the fault is gone");
        else if (was == MONITOR_UNREACHABLE)
            monitor_alert(m, "link_regained", "engine", "Engine answering again, OK");
        m->engine_shown_down = false;
    } else if (h == MONITOR_KO) {
        monitor_say(m, MONITOR_RED, "Engine KO");
        monitor_alert(m, "fault", "engine",
                      was == MONITOR_UNREACHABLE ? "Engine answering again, but KO: fault"
                                                 : "Engine KO: the engine reports a fault");
        m->engine_shown_down = false;
    } else if (!m->engine_shown_down) {
        monitor_say(m, MONITOR_RED, "Engine not answering");
        monitor_alert(m, "link_lost", "engine", "Engine not answering (no PONG within %" PRId64
                      " ms, or no link to %s:%u)", m->cfg.health_timeout_ms, m->cfg.engine.host,
                      (unsigned)m->cfg.engine.port);
        m->engine_shown_down = true;
    }
    monitor_send_hb(m);
    monitor_web_changed(m);
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
    monitor_track_ping(&m->track, m->ping_seq, (int64_t)evc_wall_ms(), mono_us());
}

void monitor_engine_hello(monitor *m)
{
    if (!m->engine_link || !m->ever_accepted)
        return;
    char nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_proof_random(m->hello_nonce, sizeof m->hello_nonce);
    evc_hex_encode(m->hello_nonce, sizeof m->hello_nonce, nonce);
    evc_frame_field f[] = {EVC_FRAME_STR(m->cfg.cp_id), EVC_FRAME_STR(nonce)};
    send_frame(m, "HELLO", f, 2);
    /* HELLO is the first probe: no HELLO_OK in time is "not answering". */
    monitor_health_ping_sent(&m->health, evc_loop_now_ms(m->loop));
}

/* HELLO_CHALLENGE cp_id, nonce_e, mac_e: the engine proves it holds this
 * CP's secret (a fake engine on the port learns nothing and gets no PING
 * reports counted), then we prove it in turn with HELLO_PROOF. */
static void on_challenge(monitor *m, evc_link *l, const evc_frame_event *ev)
{
    uint8_t nonce_e[EVC_PROOF_NONCE_BYTES], got[EVC_PROOF_KEY_BYTES], exp[EVC_PROOF_KEY_BYTES];
    char want[EVC_PROOF_HEX_SIZE];
    bool ok = ev->nfields >= 3 && strcmp(ev->fields[0].data, m->cfg.cp_id) == 0 &&
              evc_hex_decode(ev->fields[1].data, nonce_e, sizeof nonce_e) &&
              evc_hex_decode(ev->fields[2].data, got, sizeof got);
    if (ok) {
        monitor_proof_mac(m->link_key, MONITOR_LINK_ENGINE_LABEL, m->cfg.cp_id, m->hello_nonce,
                          nonce_e, want);
        ok = evc_hex_decode(want, exp, sizeof exp) && evc_proof_equal(got, exp);
    }
    if (!ok) {
        /* Said once: the link client reconnects and meets it again. */
        LOGE(m, m->engine_shown_refused ? EVC_LOG_DEBUG : EVC_LOG_ERROR,
             "engine at %s did not prove it holds %s's secret: closing the link",
             evc_link_peer(l), m->cfg.cp_id);
        if (!m->engine_shown_refused) {
            monitor_say(m, MONITOR_RED,
                        "Engine at %s refused: it does not know this CP's secret",
                        evc_link_peer(l));
            monitor_alert(m, "refused", "engine",
                          "Engine at %s refused: it does not know this CP's secret",
                          evc_link_peer(l));
        }
        m->engine_shown_refused = true;
        evc_link_close(l, "engine without a valid proof");
        return;
    }
    monitor_proof_mac(m->link_key, MONITOR_LINK_MONITOR_LABEL, m->cfg.cp_id, m->hello_nonce,
                      nonce_e, want);
    evc_frame_field f[] = {EVC_FRAME_STR(m->cfg.cp_id), EVC_FRAME_STR(want)};
    send_frame(m, "HELLO_PROOF", f, 2);
}

static void on_hello_denied(monitor *m, evc_link *l, const evc_frame_event *ev)
{
    const char *code = ev->nfields >= 2 ? ev->fields[1].data : "?";
    char clean[160];
    size_t n = 0;
    const char *text = ev->nfields >= 3 ? ev->fields[2].data : "";
    /* From the network: no control bytes on the terminal. */
    for (; text[n] && n < sizeof clean - 1; n++)
        clean[n] = (unsigned char)text[n] < 0x20 || text[n] == 0x7f ? '?' : text[n];
    clean[n] = '\0';
    LOGE(m, m->engine_shown_refused ? EVC_LOG_DEBUG : EVC_LOG_ERROR,
         "engine at %s refused HELLO: %s %s", evc_link_peer(l), code, clean);
    if (!m->engine_shown_refused) {
        monitor_say(m, MONITOR_RED, "Engine refused this monitor: %s", clean);
        monitor_alert(m, "refused", "engine", "Engine refused this monitor: %s", clean);
    }
    m->engine_shown_refused = true;
    /* The link client reconnects with backoff; the health times out meanwhile. */
    evc_link_close(l, "HELLO refused by the engine");
}

static bool parse_count(const char *s, int64_t *out)
{
    char *end;
    if (!*s || *s < '0' || *s > '9')
        return false;
    long long v = strtoll(s, &end, 10);
    if (*end || v < 0)
        return false;
    *out = v;
    return true;
}

/* PONG seq, health [, state, w, wh, session_id, admin [, later fields]]:
 * an older engine sends the first two only; fields this monitor does not
 * know are ignored, a malformed supply part is dropped (health still
 * counts). */
static void on_pong(monitor *m, const evc_frame_event *ev)
{
    uint64_t now = mono_us();
    char *end;
    unsigned long long seq = strtoull(ev->fields[0].data, &end, 10);
    bool ok = strcmp(ev->fields[1].data, "OK") == 0;
    if (!*end && ev->fields[0].len)
        monitor_track_pong(&m->track, seq, ok, now);
    if (ev->nfields >= 7) {
        const char *st = ev->fields[2].data, *sid = ev->fields[5].data, *adm = ev->fields[6].data;
        int64_t w, wh;
        bool good = (strcmp(st, "idle") == 0 || strcmp(st, "authorised") == 0 ||
                     strcmp(st, "supplying") == 0) &&
                    parse_count(ev->fields[3].data, &w) && parse_count(ev->fields[4].data, &wh) &&
                    (!*sid || evc_id_valid(sid)) &&
                    (strcmp(adm, "in_service") == 0 || strcmp(adm, "stopped") == 0);
        if (good) {
            bool was_idle = !m->have_supply || strcmp(m->supply_state, "idle") == 0;
            m->have_supply = m->have_admin = true;
            snprintf(m->supply_state, sizeof m->supply_state, "%s", st);
            snprintf(m->session_id, sizeof m->session_id, "%s", sid);
            snprintf(m->engine_admin, sizeof m->engine_admin, "%s", adm);
            m->supply_w = w;
            m->supply_wh = wh;
            monitor_track_usage(&m->track, (int64_t)evc_wall_ms(), w, wh);
            if (was_idle != (strcmp(st, "idle") == 0))
                LOGE(m, EVC_LOG_INFO, "engine supply %s%s%s", st, *sid ? " session " : "", sid);
        } else {
            LOGE(m, EVC_LOG_DEBUG, "PONG with a malformed supply part: ignored");
        }
    }
    monitor_health was = m->health.health;
    if (monitor_health_pong(&m->health, ev->fields[1].data))
        health_changed(m, was);
    else
        monitor_web_changed(m);
}

static void on_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    monitor *m = arg;
    if (l != m->engine_link)
        return;
    if (strcmp(ev->opcode, "HELLO_CHALLENGE") == 0) {
        on_challenge(m, l, ev);
    } else if (strcmp(ev->opcode, "HELLO_DENIED") == 0) {
        on_hello_denied(m, l, ev);
    } else if (strcmp(ev->opcode, "HELLO_OK") == 0) {
        if (!m->hello_ok)
            LOGE(m, EVC_LOG_INFO, "engine at %s accepted us as %s", evc_link_peer(l),
                 m->cfg.cp_id);
        m->hello_ok = true;
        m->engine_shown_refused = false;
        send_ping(m); /* learn the health now, not in a second */
        monitor_web_changed(m);
    } else if (strcmp(ev->opcode, "PONG") == 0 && ev->nfields >= 2 && m->hello_ok) {
        /* Only an engine that proved the secret reports a health. */
        on_pong(m, ev);
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
    monitor_web_changed(m);
}

static void engine_down(monitor *m, const char *reason)
{
    m->engine_link = NULL;
    m->hello_ok = false;
    m->have_supply = false; /* unknown until the engine answers again */
    monitor_health was = m->health.health;
    if (monitor_health_link_down(&m->health, evc_loop_now_ms(m->loop))) {
        LOGE(m, EVC_LOG_WARN, "engine at %s:%u: %s", m->cfg.engine.host,
             (unsigned)m->cfg.engine.port, reason);
        health_changed(m, was);
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
    if (m->engine_link && m->hello_ok) {
        send_ping(m);
    } else if (!m->engine_link) {
        /* No link: this check could not be made, which the timeline shows
         * as "no answer" (not a hole). */
        monitor_track_unreachable(&m->track, (int64_t)evc_wall_ms());
        monitor_web_changed(m);
    }
}

static void on_check_timer(evc_timer *t, void *arg)
{
    (void)t;
    monitor *m = arg;
    size_t lost = monitor_track_expire(&m->track, mono_us(),
                                       (uint64_t)m->cfg.health_timeout_ms * 1000u);
    monitor_health was = m->health.health;
    if (monitor_health_tick(&m->health, evc_loop_now_ms(m->loop)))
        health_changed(m, was);
    else if (lost)
        monitor_web_changed(m);
}

int monitor_engine_start(monitor *m, evc_error *err)
{
    monitor_link_key(m->cfg.cp_id, m->cfg.secret, m->link_key);
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
