/* monitor_web.c: the monitor dashboard (docs/WEB.md "The monitor
 * dashboard") on cp_monitor.web_host:web_port through the core's web bridge:
 *
 *   GET /, /app.js, ...   the page's files (web.static_dir/monitor)
 *   GET /api/monitor      the snapshot below, as JSON (curl, scripts)
 *   WS  /ws/monitor       snapshot on connect, then `update` pushes: at once
 *                         on every check, usage point, alert or state change,
 *                         and at least every second (the page's watchdog)
 *
 * Read-only and without a login (docs/WEB.md says why): it shows this CP's
 * state, the engine's health and supply figures (a session id, no driver,
 * no money), bound to 127.0.0.1 by default. The guard refuses a request of
 * another site's page (Origin) and a Host a DNS-rebinding page would send.
 * Everything runs on the loop thread; the JSON of a push is built only when
 * a client watches. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evc/log.h"
#include "evc/version.h"
#include "evc/web.h"
#include "monitor.h"

#define MONITOR_WS "/ws/monitor"
#define LOGW(m, lvl, ...) evc_log((lvl), "cp_monitor", &(evc_log_ids){.cp = (m)->cfg.cp_id}, __VA_ARGS__)

typedef struct monitor_web {
    evc_web *web;
    evc_timer *tick;
    /* What the clients have: the track's totals at the last push. */
    uint64_t sent_checks, sent_usage, sent_alerts;
} monitor_web;

/* ---- JSON text ----------------------------------------------------------- */

typedef struct jbuf {
    char *p;
    size_t n, cap;
    bool oom;
} jbuf;

static void jb_raw(jbuf *b, const char *s, size_t len)
{
    if (b->oom)
        return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + len + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void jb_printf(jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_printf(jbuf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        jb_raw(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* A JSON string; bytes outside printable ASCII become '?' (texts from the
 * network are not trusted to be UTF-8, and a WebSocket text must be). */
static void jb_str(jbuf *b, const char *s)
{
    jb_raw(b, "\"", 1);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            jb_raw(b, e, 2);
        } else {
            char o = c < 0x20 || c >= 0x7f ? '?' : (char)c;
            jb_raw(b, &o, 1);
        }
    }
    jb_raw(b, "\"", 1);
}

static void jb_key(jbuf *b, const char *k)
{
    if (b->n && b->p[b->n - 1] != '{')
        jb_raw(b, ",", 1);
    jb_str(b, k);
    jb_raw(b, ":", 1);
}

static void jb_kstr(jbuf *b, const char *k, const char *v)
{
    jb_key(b, k);
    if (v)
        jb_str(b, v);
    else
        jb_raw(b, "null", 4);
}

static void jb_kint(jbuf *b, const char *k, int64_t v)
{
    jb_key(b, k);
    jb_printf(b, "%" PRId64, v);
}

/* ---- the parts ----------------------------------------------------------- */

static const char *central_word(const monitor *m)
{
    switch (m->cstate) {
    case MONITOR_C_ACCEPTED:
        return "accepted";
    case MONITOR_C_DENIED:
        return "denied";
    case MONITOR_C_DOWN:
        return "down";
    default:
        return "connecting";
    }
}

static const char *health_word(monitor_health h)
{
    return h == MONITOR_UNKNOWN ? "UNKNOWN" : monitor_health_wire(h);
}

static void status_json(jbuf *b, monitor *m)
{
    const monitor_track *t = &m->track;
    bool stopped = m->have_admin ? strcmp(m->engine_admin, "stopped") == 0
                                 : strcmp(m->central_admin, "stopped") == 0;
    monitor_cp_facts f = {
        .central_accepted = m->cstate == MONITOR_C_ACCEPTED,
        .health = m->health.health,
        .stopped = stopped,
        .supplying = m->have_supply && strcmp(m->supply_state, "idle") != 0,
    };
    const char *why = "";
    monitor_cp_state st = monitor_cp_state_of(&f, &why);
    jb_raw(b, "{", 1);
    jb_kstr(b, "state", monitor_cp_state_wire(st));
    jb_kstr(b, "reason", why);
    jb_key(b, "central");
    jb_raw(b, "{", 1);
    jb_kstr(b, "link", central_word(m));
    char addr[300];
    snprintf(addr, sizeof addr, "%s:%u", m->cfg.central.host, (unsigned)m->cfg.central.port);
    jb_kstr(b, "address", addr);
    jb_kstr(b, "text", m->cstate == MONITOR_C_DENIED ? m->denied_text : "");
    jb_kstr(b, "admin_state", m->central_admin[0] ? m->central_admin : NULL);
    jb_kint(b, "since", m->central_since);
    jb_raw(b, "}", 1);
    jb_key(b, "engine");
    jb_raw(b, "{", 1);
    jb_kstr(b, "link", m->engine_link ? (m->hello_ok ? "proved" : "connected") : "down");
    snprintf(addr, sizeof addr, "%s:%u", m->cfg.engine.host, (unsigned)m->cfg.engine.port);
    jb_kstr(b, "address", addr);
    jb_kstr(b, "health", health_word(m->health.health));
    jb_kint(b, "since", m->engine_since);
    jb_raw(b, "}", 1);
    jb_key(b, "supply");
    if (m->have_supply) {
        jb_raw(b, "{", 1);
        jb_kstr(b, "state", m->supply_state);
        jb_kint(b, "w", m->supply_w);
        jb_kint(b, "wh", m->supply_wh);
        jb_kstr(b, "session_id", m->session_id[0] ? m->session_id : NULL);
        jb_kstr(b, "admin", m->engine_admin);
        jb_raw(b, "}", 1);
    } else {
        jb_raw(b, "null", 4);
    }
    const monitor_check *last = monitor_track_last_check(t);
    jb_key(b, "checks");
    jb_raw(b, "{", 1);
    jb_kint(b, "interval_ms", m->cfg.health_interval_ms);
    jb_kint(b, "timeout_ms", m->cfg.health_timeout_ms);
    jb_kint(b, "consecutive_failures", (int64_t)t->consecutive_failures);
    jb_kint(b, "total", (int64_t)t->checks_total);
    jb_kint(b, "failures", (int64_t)t->failures_total);
    jb_kint(b, "last_ts", last ? last->ts : 0);
    jb_kstr(b, "last_result", last ? monitor_check_result_wire(last->result) : NULL);
    jb_kint(b, "last_rtt_us", last ? last->rtt_us : -1);
    jb_raw(b, "}", 1);
    jb_raw(b, "}", 1);
}

static void alert_json(jbuf *b, const monitor_alert_rec *a)
{
    jb_raw(b, "{", 1);
    jb_kint(b, "ts", a->ts);
    jb_kstr(b, "kind", a->kind);
    jb_kstr(b, "link", a->link);
    jb_kstr(b, "text", a->text);
    jb_raw(b, "}", 1);
}

/* checks as [ts, "ok"|"ko"|"none", rtt_us|null] from the i-th oldest on. */
static void checks_json(jbuf *b, const monitor_track *t, size_t from)
{
    jb_raw(b, "[", 1);
    for (size_t i = from; i < t->checks_n; i++) {
        const monitor_check *c = monitor_track_check_at(t, i);
        if (c->rtt_us >= 0)
            jb_printf(b, "%s[%" PRId64 ",\"%s\",%" PRId64 "]", i > from ? "," : "", c->ts,
                      monitor_check_result_wire(c->result), c->rtt_us);
        else
            jb_printf(b, "%s[%" PRId64 ",\"%s\",null]", i > from ? "," : "", c->ts,
                      monitor_check_result_wire(c->result));
    }
    jb_raw(b, "]", 1);
}

static void usage_json(jbuf *b, const monitor_track *t, size_t from)
{
    jb_raw(b, "[", 1);
    for (size_t i = from; i < t->usage_n; i++) {
        const monitor_usage *u = monitor_track_usage_at(t, i);
        jb_printf(b, "%s[%" PRId64 ",%" PRId64 ",%" PRId64 "]", i > from ? "," : "", u->ts, u->w,
                  u->wh);
    }
    jb_raw(b, "]", 1);
}

/* newest first, the newest n */
static void alerts_json(jbuf *b, const monitor_track *t, size_t n)
{
    jb_raw(b, "[", 1);
    for (size_t i = 0; i < n && i < t->alerts_n; i++) {
        if (i)
            jb_raw(b, ",", 1);
        alert_json(b, monitor_track_alert_at(t, i));
    }
    jb_raw(b, "]", 1);
}

/* The page's whole truth; malloc'd, NULL when out of memory. */
static char *snapshot_json(monitor *m)
{
    const monitor_track *t = &m->track;
    jbuf b = {0};
    jb_raw(&b, "{", 1);
    jb_kstr(&b, "type", "snapshot");
    jb_kstr(&b, "cp_id", m->cfg.cp_id);
    jb_kint(&b, "now", (int64_t)evc_wall_ms());
    jb_kint(&b, "started_at", m->started_at);
    jb_kstr(&b, "version", EVC_VERSION_STRING);
    jb_key(&b, "status");
    status_json(&b, m);
    jb_key(&b, "checks");
    checks_json(&b, t, 0);
    jb_key(&b, "usage");
    usage_json(&b, t, 0);
    jb_key(&b, "alerts");
    alerts_json(&b, t, MONITOR_TRACK_ALERTS);
    jb_kint(&b, "max_checks", MONITOR_TRACK_CHECKS);
    jb_kint(&b, "max_usage", MONITOR_TRACK_USAGE);
    jb_kint(&b, "max_alerts", MONITOR_TRACK_ALERTS);
    jb_raw(&b, "}", 1);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* What is new since the last push; the cursors move even without clients
 * (a client that connects later gets the snapshot). */
static char *update_json(monitor *m, monitor_web *w)
{
    const monitor_track *t = &m->track;
    uint64_t nc = t->checks_total - w->sent_checks, nu = t->usage_total - w->sent_usage,
             na = t->alerts_total - w->sent_alerts;
    w->sent_checks = t->checks_total;
    w->sent_usage = t->usage_total;
    w->sent_alerts = t->alerts_total;
    if (nc > t->checks_n)
        nc = t->checks_n;
    if (nu > t->usage_n)
        nu = t->usage_n;
    jbuf b = {0};
    jb_raw(&b, "{", 1);
    jb_kstr(&b, "type", "update");
    jb_kint(&b, "now", (int64_t)evc_wall_ms());
    jb_key(&b, "status");
    status_json(&b, m);
    jb_key(&b, "checks");
    checks_json(&b, t, t->checks_n - (size_t)nc);
    jb_key(&b, "usage");
    usage_json(&b, t, t->usage_n - (size_t)nu);
    jb_key(&b, "alerts");
    alerts_json(&b, t, (size_t)na);
    jb_raw(&b, "}", 1);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- pushes -------------------------------------------------------------- */

void monitor_web_changed(monitor *m)
{
    monitor_web *w = m->web;
    if (!w)
        return;
    if (evc_web_ws_clients(w->web, MONITOR_WS) == 0) {
        w->sent_checks = m->track.checks_total;
        w->sent_usage = m->track.usage_total;
        w->sent_alerts = m->track.alerts_total;
        return;
    }
    char *json = update_json(m, w);
    if (!json) {
        LOGW(m, EVC_LOG_WARN, "dashboard: out of memory, an update is lost");
        return;
    }
    int rc = evc_web_broadcast(w->web, MONITOR_WS, json, strlen(json));
    if (rc != EVC_OK)
        LOGW(m, EVC_LOG_WARN, "dashboard: update not queued (%s)", evc_status_name(rc));
    free(json);
}

void monitor_alert(monitor *m, const char *kind, const char *link, const char *fmt, ...)
{
    char text[MONITOR_TRACK_TEXT];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (!m->track_ok)
        return;
    monitor_track_alert(&m->track, (int64_t)evc_wall_ms(), kind, link, text);
    monitor_web_changed(m);
}

static void on_tick(evc_timer *t, void *arg)
{
    (void)t;
    monitor_web_changed(arg);
}

/* ---- access -------------------------------------------------------------- */

bool monitor_web_host_ok(const char *host, const char *web_host)
{
    if (!host || !*host)
        return true; /* HTTP/1.0 without Host: not a browser */
    if (host[0] == '[')
        return true; /* an IPv6 literal */
    char name[256];
    size_t n = strcspn(host, ":");
    if (n == 0 || n >= sizeof name)
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    if (strcasecmp(name, "localhost") == 0 || (web_host && strcasecmp(name, web_host) == 0))
        return true;
    /* A dotted IPv4 literal: a DNS name cannot be rebound to one. */
    bool digits = true;
    for (size_t i = 0; i < n; i++)
        digits = digits && ((name[i] >= '0' && name[i] <= '9') || name[i] == '.');
    return digits;
}

static bool guard(const evc_web_request *req, evc_web_response *res, void *arg)
{
    monitor *m = arg;
    if (req->origin[0] && !evc_web_same_origin(req->origin, req->host)) {
        evc_web_respond_error(res, 403, "cross-origin request refused");
        return false;
    }
    if (!monitor_web_host_ok(req->host, m->cfg.web_host)) {
        evc_web_respond_error(res, 403, "unexpected Host: open the page by the monitor's "
                                        "address, localhost or cp_monitor.web_host");
        return false;
    }
    return true;
}

static void get_monitor(const evc_web_request *req, evc_web_response *res, void *arg)
{
    (void)req;
    char *json = snapshot_json(arg);
    if (json)
        evc_web_respond_json(res, 200, json);
    else
        evc_web_respond_error(res, 500, "out of memory");
    free(json);
}

static void on_ws_open(evc_web *web, evc_web_client *client, void *arg)
{
    (void)web;
    monitor *m = arg;
    char *json = snapshot_json(m);
    int rc = json ? evc_web_ws_send(client, json, strlen(json)) : EVC_ENOMEM;
    if (rc != EVC_OK)
        LOGW(m, EVC_LOG_WARN, "dashboard: snapshot not sent (%s)", evc_status_name(rc));
    free(json);
}

/* ---- life cycle ---------------------------------------------------------- */

int monitor_web_start(monitor *m, evc_error *err)
{
    if (!m->cfg.web)
        return EVC_OK;
    char dir[4096] = "";
    bool explicit_dir = false;
    evc_error why = {0};
    if (m->app && evc_app_web_dir(m->app, "monitor", dir, sizeof dir, &explicit_dir, &why) !=
                      EVC_OK) {
        if (explicit_dir)
            return evc_error_set(err, EVC_ECONFIG, "%s", why.msg);
        LOGW(m, EVC_LOG_WARN, "%s: the monitor's page serves /api/monitor only", why.msg);
        dir[0] = '\0';
    } else if (!m->app) {
        dir[0] = '\0';
    }
    monitor_web *w = calloc(1, sizeof *w);
    if (!w)
        return evc_error_set(err, EVC_ENOMEM, "cp_monitor: out of memory");
    evc_web_opts o = {.struct_size = sizeof o,
                      .host = m->cfg.web_host,
                      .port = m->cfg.web_port,
                      .static_dir = dir[0] ? dir : NULL,
                      .security_headers = true};
    int rc = evc_web_start(m->loop, &o, &w->web, err);
    if (rc != EVC_OK) {
        free(w);
        return rc;
    }
    evc_web_set_guard(w->web, guard, m);
    rc = evc_web_route(w->web, "GET", "/api/monitor", get_monitor, m, err);
    if (rc == EVC_OK)
        rc = evc_web_ws_channel(w->web, MONITOR_WS, NULL, on_ws_open, m, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(m->loop, 1000, 1000, on_tick, m, &w->tick, err);
    if (rc != EVC_OK) {
        evc_timer_close(w->tick);
        evc_web_stop(w->web);
        free(w);
        return rc;
    }
    m->web = w;
    monitor_say(m, NULL, "Monitor dashboard%s on http://%s:%u/", dir[0] ? "" : " (no page files)",
                m->cfg.web_host[0] ? m->cfg.web_host : "0.0.0.0", (unsigned)evc_web_port(w->web));
    return EVC_OK;
}

void monitor_web_stop(monitor *m)
{
    monitor_web *w = m->web;
    if (!w)
        return;
    m->web = NULL;
    evc_timer_close(w->tick);
    evc_web_stop(w->web);
    free(w);
}

/* For tests: the port listened on, 0 when the page is off. */
uint16_t monitor_web_port(const monitor *m) { return m->web ? evc_web_port(m->web->web) : 0; }
