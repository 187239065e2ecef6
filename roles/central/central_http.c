/* central_http.c: Central's HTTP port (central.http_port, central.http_host,
 * optional TLS) through the core's web bridge (evc/web.h): JSON for the
 * admin dashboard and operators, and the operator's stop/resume (F13).
 *
 *   GET  /api/health                      (open: liveness for monitoring)
 *   POST /api/login, /api/logout; GET /api/session   (central_login.c)
 *   GET  /api/cps?limit=N&after=ID        (admin session; paged, below)
 *   GET  /api/sessions                    (admin session)
 *   POST /api/cps                         (admin: register a CP, central_register.c)
 *   WS   /ws/admin                        (admin: the dashboard feed, central_dash.c)
 *   GET  /, /app.js, ...                  (the dashboard's files, web.static_dir)
 *   POST /api/cps/<CP_ID>/stop, /api/cps/<CP_ID>/resume,
 *        /api/cps/stop-all, /api/cps/resume-all   (admin session + CSRF)
 *   POST /api/cps/<CP_ID>/reset {"type":"Soft"|"Hard"} (admin session + CSRF)
 *
 * c->web points at a central_web (below), owned by this file.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "central_dash.h"
#include "central_int.h"
#include "central_login.h"
#include "central_register.h"
#include "evc/log.h"

#include "evc/web.h"

typedef struct central_web {
    evc_web *web;
    central_login *login;
    central_register *reg;
} central_web;

static void reply(evc_web_response *res, char *json)
{
    if (json)
        evc_web_respond_json(res, 200, json);
    else
        evc_web_respond_error(res, 500, "out of memory");
    free(json);
}

/* ---- GET /api/cps, paged ------------------------------------------------
 * ?limit=N&after=ID: the CPs whose id sorts (byte-wise) after ID, at most N
 * (default and largest CPS_PAGE_MAX), in id order; "total" counts every CP
 * and "next" is the cursor for the following page (null on the last). The
 * cursor is an id, not a position: a CP registered between two pages is
 * neither skipped nor repeated when it sorts after the cursor. */
#define CPS_PAGE_MAX 1000

static int cp_cmp(const central_cp *a, const central_cp *b) { return strcmp(a->id, b->id); }

/* Max-heap by id of the page's candidates: the root is the one to drop. */
static void heap_swap(const central_cp **h, size_t i, size_t j)
{
    const central_cp *t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void heap_up(const central_cp **h, size_t i)
{
    while (i > 0 && cp_cmp(h[(i - 1) / 2], h[i]) < 0) {
        heap_swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void heap_down(const central_cp **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && cp_cmp(h[l], h[m]) > 0)
            m = l;
        if (r < n && cp_cmp(h[r], h[m]) > 0)
            m = r;
        if (m == i)
            return;
        heap_swap(h, i, m);
        i = m;
    }
}

static int cp_ptr_cmp(const void *a, const void *b)
{
    return cp_cmp(*(const central_cp *const *)a, *(const central_cp *const *)b);
}

/* Reads limit and after from the query ("limit=10&after=CP_007", as lws
 * gives it: decoded, joined by '&'). False with msg for a bad one. */
static bool cps_query(const char *q, size_t *limit, char *after, size_t cap, char *msg,
                      size_t msgcap)
{
    *limit = CPS_PAGE_MAX;
    after[0] = '\0';
    while (*q) {
        const char *end = strchrnul(q, '&'), *eq = memchr(q, '=', (size_t)(end - q));
        size_t klen = eq ? (size_t)(eq - q) : (size_t)(end - q);
        const char *v = eq ? eq + 1 : end;
        size_t vlen = (size_t)(end - v);
        if (klen == 5 && memcmp(q, "limit", 5) == 0) {
            size_t n = 0, i = 0;
            for (; i < vlen && v[i] >= '0' && v[i] <= '9'; i++)
                n = n > CPS_PAGE_MAX ? n : n * 10 + (size_t)(v[i] - '0');
            if (vlen == 0 || i < vlen || n == 0) {
                snprintf(msg, msgcap, "limit must be a number from 1 to %d", CPS_PAGE_MAX);
                return false;
            }
            *limit = n > CPS_PAGE_MAX ? CPS_PAGE_MAX : n;
        } else if (klen == 5 && memcmp(q, "after", 5) == 0) {
            if (vlen >= cap) {
                snprintf(msg, msgcap, "after must be a CP id (under %zu bytes)", cap);
                return false;
            }
            memcpy(after, v, vlen);
            after[vlen] = '\0';
        } else if (klen > 0) {
            snprintf(msg, msgcap, "unknown parameter '%.*s' (GET /api/cps takes limit and after)",
                     (int)(klen > 32 ? 32 : klen), q);
            return false;
        }
        q = *end ? end + 1 : end;
    }
    return true;
}

/* One page as JSON (malloc'd; NULL when out of memory): one pass over the
 * CPs keeping the `limit` smallest ids after the cursor in a heap. */
static char *cps_page(central *c, size_t limit, const char *after)
{
    size_t cap = limit < c->ncps ? limit : c->ncps;
    const central_cp **h = malloc((cap ? cap : 1) * sizeof *h);
    if (!h)
        return NULL;
    size_t n = 0, candidates = 0;
    for (size_t i = 0; i < c->ncps; i++) {
        const central_cp *cp = &c->cps[i];
        if (after[0] && strcmp(cp->id, after) <= 0)
            continue;
        candidates++;
        if (n < cap) {
            h[n] = cp;
            heap_up(h, n++);
        } else if (n > 0 && cp_cmp(cp, h[0]) < 0) {
            h[0] = cp;
            heap_down(h, n, 0);
        }
    }
    qsort(h, n, sizeof *h, cp_ptr_cmp);
    central_jarr a = {0};
    for (size_t i = 0; i < n; i++)
        central_jarr_add(&a, central_json_cp(c, h[i]));
    char *arr = central_jarr_finish(&a);
    evc_payload *p = arr ? evc_payload_new() : NULL;
    char *out = NULL;
    if (p) {
        evc_payload_raw(p, "cps", arr);
        evc_payload_int(p, "total", (int64_t)c->ncps);
        evc_payload_str(p, "next", candidates > n && n > 0 ? h[n - 1]->id : NULL);
        out = evc_payload_finish(p, NULL);
    }
    free(arr);
    free(h);
    return out;
}

static void get_cps(const evc_web_request *req, evc_web_response *res, void *arg)
{
    size_t limit;
    char after[EVC_STORE_ID_MAX], msg[128];
    if (!cps_query(req->query, &limit, after, sizeof after, msg, sizeof msg)) {
        evc_web_respond_error(res, 400, msg);
        return;
    }
    reply(res, cps_page(arg, limit, after));
}

static void get_sessions(const evc_web_request *req, evc_web_response *res, void *arg)
{
    reply(res, central_json_sessions(arg));
}

static void get_health(const evc_web_request *req, evc_web_response *res, void *arg)
{
    reply(res, central_json_health(arg));
}

/* POST /api/cps/stop-all|resume-all (exact routes) and /api/cps/<id>/stop|
 * resume (one pattern each for every CP: req->params[0] is the id). */
static void post_admin(const evc_web_request *req, evc_web_response *res, void *arg)
{
    central *c = arg;
    const char *p = req->path + strlen("/api/cps/");
    bool all = req->nparams == 0;
    size_t plen = strlen(p);
    bool stop = all ? strcmp(p, "stop-all") == 0
                    : plen > 5 && strcmp(p + plen - 5, "/stop") == 0;
    const char *id = all ? NULL : req->params[0];
    int n = central_cp_admin(c, id, stop);
    if (n < 0) {
        char msg[EVC_STORE_ID_MAX + 32]; /* a longer id names no CP: shown cut */
        snprintf(msg, sizeof msg, "no such CP: %.*s", EVC_STORE_ID_MAX, id);
        evc_web_respond_error(res, 404, msg);
        return;
    }
    central_say(c, "HTTP %s %s: %d CP(s) changed", stop ? "stop" : "resume", all ? "all" : id, n);
    char body[64];
    snprintf(body, sizeof body, "{\"changed\":%d}", n);
    evc_web_respond_json(res, 200, body);
}

/* The reset type of the optional body into type ("Soft" without one);
 * false with msg for a body that is not {} or {"type":"Soft"|"Hard"}. */
static bool reset_type(const evc_web_request *req, char type[8], char *msg, size_t cap)
{
    snprintf(type, 8, "Soft");
    size_t i = 0;
    while (i < req->body_len && strchr(" \t\r\n", req->body[i]))
        i++;
    if (i == req->body_len)
        return true;
    json_t *j = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL);
    const char *key;
    json_t *v;
    bool ok = json_is_object(j);
    if (!ok)
        snprintf(msg, cap, "the body must be a JSON object: {\"type\":\"Soft\"|\"Hard\"}");
    json_object_foreach(ok ? j : NULL, key, v) {
        const char *t = json_string_value(v);
        if (strcmp(key, "type") != 0) {
            snprintf(msg, cap, "unknown member '%.32s' (the body takes type only)", key);
            ok = false;
        } else if (!t || (strcmp(t, "Soft") != 0 && strcmp(t, "Hard") != 0)) {
            snprintf(msg, cap, "type must be \"Soft\" or \"Hard\"");
            ok = false;
        } else {
            snprintf(type, 8, "%s", t);
        }
        if (!ok)
            break;
    }
    json_decref(j);
    return ok;
}

/* POST /api/cps/<id>/reset: cp.command reset to the CP (its engine, or the
 * OCPP gateway's Reset to the charger). 202: sent, not confirmed -- the
 * charger's answer does not come back to Central; what follows (a supply
 * ended and billed, the CP back) shows in the CP's state and tickets. */
static void post_reset(const evc_web_request *req, evc_web_response *res, void *arg)
{
    central *c = arg;
    const char *id = req->params[0];
    char type[8], msg[EVC_STORE_ID_MAX + 96];
    if (!reset_type(req, type, msg, sizeof msg)) {
        evc_web_respond_error(res, 400, msg);
        return;
    }
    switch (central_cp_reset(c, id, type)) {
    case CENTRAL_RESET_UNKNOWN:
        snprintf(msg, sizeof msg, "no such CP: %.*s", EVC_STORE_ID_MAX, id);
        evc_web_respond_error(res, 404, msg);
        return;
    case CENTRAL_RESET_OFFLINE:
        snprintf(msg, sizeof msg, "CP %.*s is not connected: nothing to reset", EVC_STORE_ID_MAX,
                 id);
        evc_web_respond_error(res, 409, msg);
        return;
    case CENTRAL_RESET_SENT:
        break;
    }
    central_say(c, "HTTP reset %s (%s): sent", id, type);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", id);
    evc_payload_str(p, "type", type);
    evc_payload_bool(p, "sent", true);
    char *body = evc_payload_finish(p, NULL);
    if (body)
        evc_web_respond_json(res, 202, body);
    else
        evc_web_respond_error(res, 500, "out of memory");
    free(body);
}

/* The admin dashboard's files (docs/WEB.md) into dir; "" when there are
 * none: a missing default only costs the page (the API still serves), a
 * wrong web.static_dir is the operator's error and stops the start. */
static int static_dir_of(central *c, char *dir, size_t cap, evc_error *err)
{
    dir[0] = '\0';
    if (!c->app)
        return EVC_OK;
    bool explicit_dir = false;
    evc_error why = {0};
    if (evc_app_web_dir(c->app, "central", dir, cap, &explicit_dir, &why) == EVC_OK)
        return EVC_OK;
    dir[0] = '\0';
    if (explicit_dir)
        return evc_error_set(err, EVC_ECONFIG, "%s", why.msg);
    evc_log(EVC_LOG_WARN, "central", NULL, "%s: the HTTP port serves the API only", why.msg);
    return EVC_OK;
}

int central_http_start(central *c, evc_error *err)
{
    const evc_cfg_node *sec = c->app ? evc_app_section(c->app) : NULL;
    char dir[4096];
    int rc = static_dir_of(c, dir, sizeof dir, err);
    if (rc != EVC_OK)
        return rc;
    evc_web_opts o = {.struct_size = sizeof o, .host = c->http_host, .static_dir = dir[0] ? dir : NULL,
                      .port = (uint16_t)c->http_port, .security_headers = true,
                      .tls_cert = evc_cfg_schema_str(sec, central_schema, "http_tls_cert"),
                      .tls_key = evc_cfg_schema_str(sec, central_schema, "http_tls_key")};
    central_web *cw = calloc(1, sizeof *cw);
    if (!cw)
        return evc_error_set(err, EVC_ENOMEM, "central: out of memory");
    rc = evc_web_start(c->loop, &o, &cw->web, err);
    if (rc != EVC_OK) {
        free(cw);
        return rc;
    }
    c->web = cw;
    evc_web *web = cw->web;
    rc = central_login_start(c, web, &cw->login, err);
    if (rc == EVC_OK)
        rc = central_dash_start(c, web, err);
    if (rc == EVC_OK)
        rc = central_register_start(c, web, &cw->reg, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "GET", "/api/cps", get_cps, c, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "GET", "/api/sessions", get_sessions, c, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "GET", "/api/health", get_health, c, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "POST", "/api/cps/stop-all", post_admin, c, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "POST", "/api/cps/resume-all", post_admin, c, err);
    /* One pattern per action for every CP (a route per CP made the start
     * quadratic); an unknown id gets 404 from post_admin. */
    if (rc == EVC_OK)
        rc = evc_web_route(web, "POST", "/api/cps/*/stop", post_admin, c, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "POST", "/api/cps/*/resume", post_admin, c, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "POST", "/api/cps/*/reset", post_reset, c, err);
    if (rc == EVC_OK)
        central_say(c, "%s on %s://%s:%u/ (operators log in there)",
                    dir[0] ? "Admin dashboard and HTTP API" : "HTTP API (no dashboard files)",
                    o.tls_cert[0] ? "https" : "http",
                    c->http_host[0] ? c->http_host : "127.0.0.1", (unsigned)evc_web_port(web));
    return rc;
}

void central_http_stop(central *c)
{
    central_web *cw = c->web;
    if (!cw)
        return;
    /* evc_web_stop runs the loop briefly: fine here, the role is stopping.
     * The login state goes after the server whose guard points at it; the
     * feed before it (its timers push to the server). */
    central_dash_stop(c);
    evc_web_stop(cw->web);
    central_login_free(cw->login);
    central_register_free(cw->reg);
    free(cw);
    c->web = NULL;
}
