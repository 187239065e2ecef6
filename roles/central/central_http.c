/* central_http.c: Central's HTTP port (central.http_port, central.http_host,
 * optional TLS) through the core's web bridge (evc/web.h): JSON for the
 * admin dashboard and operators, and the operator's stop/resume (F13).
 *
 *   GET  /api/health                      (open: liveness for monitoring)
 *   POST /api/login, /api/logout; GET /api/session   (central_login.c)
 *   GET  /api/cps, /api/sessions          (admin session)
 *   POST /api/cps                         (admin: register a CP, central_register.c)
 *   WS   /ws/admin                        (admin: the dashboard feed, central_dash.c)
 *   GET  /, /app.js, ...                  (the dashboard's files, web.static_dir)
 *   POST /api/cps/<CP_ID>/stop, /api/cps/<CP_ID>/resume,
 *        /api/cps/stop-all, /api/cps/resume-all   (admin session + CSRF)
 *
 * c->web points at a central_web (below), owned by this file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void get_cps(const evc_web_request *req, evc_web_response *res, void *arg)
{
    reply(res, central_json_cps(arg));
}

static void get_sessions(const evc_web_request *req, evc_web_response *res, void *arg)
{
    reply(res, central_json_sessions(arg));
}

static void get_health(const evc_web_request *req, evc_web_response *res, void *arg)
{
    reply(res, central_json_health(arg));
}

/* POST /api/cps/<id>/stop|resume and /api/cps/stop-all|resume-all. */
static void post_admin(const evc_web_request *req, evc_web_response *res, void *arg)
{
    central *c = arg;
    const char *p = req->path + strlen("/api/cps/");
    bool all = strcmp(p, "stop-all") == 0 || strcmp(p, "resume-all") == 0;
    size_t plen = strlen(p);
    bool stop = all ? strcmp(p, "stop-all") == 0
                    : plen > 5 && strcmp(p + plen - 5, "/stop") == 0;
    char id[EVC_STORE_ID_MAX] = "";
    if (!all) {
        const char *slash = strrchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : 0;
        if (n == 0 || n >= sizeof id) {
            evc_web_respond_error(res, 404, "no such CP");
            return;
        }
        memcpy(id, p, n);
        id[n] = '\0';
    }
    int n = central_cp_admin(c, all ? NULL : id, stop);
    if (n < 0) {
        evc_web_respond_error(res, 404, "no such CP");
        return;
    }
    central_say(c, "HTTP %s %s: %d CP(s) changed", stop ? "stop" : "resume", all ? "all" : id, n);
    char body[64];
    snprintf(body, sizeof body, "{\"changed\":%d}", n);
    evc_web_respond_json(res, 200, body);
}

static int route_cp(central *c, const char *id, evc_error *err)
{
    char path[128];
    snprintf(path, sizeof path, "/api/cps/%s/stop", id);
    evc_web *web = ((central_web *)c->web)->web;
    int rc = evc_web_route(web, "POST", path, post_admin, c, err);
    snprintf(path, sizeof path, "/api/cps/%s/resume", id);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "POST", path, post_admin, c, err);
    return rc == EVC_EEXIST ? EVC_OK : rc;
}

void central_http_cp_added(central *c, const char *id)
{
    evc_error err = {0};
    if (c->web && route_cp(c, id, &err) != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL, "HTTP routes of %s: %s", id, err.msg);
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
                      .tls_cert = evc_cfg_get_str(sec, "http_tls_cert", ""),
                      .tls_key = evc_cfg_get_str(sec, "http_tls_key", "")};
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
    for (size_t i = 0; rc == EVC_OK && i < c->ncps; i++)
        rc = route_cp(c, c->cps[i].id, err);
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
