/* Unit tests of evc_web_route's table: pattern routes ('*' segments and the
 * handler's req->params), precedence, the guard on pattern routes, and many
 * exact routes (the table that Central once filled with two routes per CP). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/loop.h"
#include "evc/web.h"
#include "rawclient.h"

static evc_loop *loop;

static void setup(void)
{
    evc_error err;
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
}

static void teardown(void) { evc_loop_free(loop); }

TestSuite(web_routes, .init = setup, .fini = teardown, .timeout = 60);

static evc_web *start(void)
{
    evc_web_opts o = {.struct_size = sizeof o, .host = "127.0.0.1"};
    evc_web *web = NULL;
    evc_error err;
    cr_assert_eq(evc_web_start(loop, &o, &web, &err), EVC_OK, "start: %s", err.msg);
    return web;
}

/* What a handler (or the guard) was given. */
typedef struct seen {
    int calls;
    const char *tag; /* which registration answered */
    char path[128];
    size_t nparams;
    char params[EVC_WEB_MAX_PARAMS][64];
} seen;

static void note(seen *s, const evc_web_request *req)
{
    s->calls++;
    snprintf(s->path, sizeof s->path, "%s", req->path);
    s->nparams = req->nparams;
    for (size_t i = 0; i < req->nparams && i < EVC_WEB_MAX_PARAMS; i++)
        snprintf(s->params[i], sizeof s->params[i], "%s", req->params[i]);
}

typedef struct tagged {
    seen *s;
    const char *tag;
} tagged;

static void h_note(const evc_web_request *req, evc_web_response *res, void *arg)
{
    tagged *t = arg;
    note(t->s, req);
    t->s->tag = t->tag;
    evc_web_respond_json(res, 200, "{\"ok\":true}");
}

static int call(evc_web *web, const char *method, const char *target, const char *extra,
                rc_http_resp *r)
{
    rc_conn c;
    if (rc_connect(&c, evc_web_port(web), 0) != 0)
        return -1;
    char req[1024];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\n%s\r\n", method, target,
                     extra ? extra : "");
    int rc = rc_http(loop, &c, req, (size_t)n, r);
    rc_close(&c);
    return rc;
}

/* Status of one request (the body is dropped). */
static int status_of(evc_web *web, const char *method, const char *target)
{
    rc_http_resp r;
    if (call(web, method, target, NULL, &r) != 0)
        return -1;
    free(r.body);
    return r.status;
}

Test(web_routes, pattern_gives_the_handler_the_matched_segment)
{
    evc_web *web = start();
    seen s = {0};
    tagged t = {&s, "stop"};
    evc_error err;
    cr_assert_eq(evc_web_route(web, "POST", "/api/cps/*/stop", h_note, &t, &err), EVC_OK, "%s",
                 err.msg);
    cr_expect_eq(status_of(web, "POST", "/api/cps/CP_0042/stop"), 200);
    cr_expect_eq(s.calls, 1);
    cr_expect_str_eq(s.path, "/api/cps/CP_0042/stop");
    cr_expect_eq(s.nparams, 1);
    cr_expect_str_eq(s.params[0], "CP_0042");
    /* The segment arrives percent-decoded, like the path. */
    cr_expect_eq(status_of(web, "POST", "/api/cps/CP%2D7/stop"), 200);
    cr_expect_str_eq(s.params[0], "CP-7");
    evc_web_stop(web);
}

Test(web_routes, star_matches_exactly_one_non_empty_segment)
{
    evc_web *web = start();
    seen s = {0};
    tagged t = {&s, "stop"};
    evc_web_route(web, "POST", "/api/cps/*/stop", h_note, &t, NULL);
    const char *misses[] = {"/api/cps/stop", "/api/cps/a/b/stop", "/api/cps/a/stopx",
                            "/api/cps/a/stop/more", "/api/cpsx/a/stop", "/api/cps/a"};
    for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++)
        cr_expect_eq(status_of(web, "POST", misses[i]), 404, "%s", misses[i]);
    cr_expect_eq(s.calls, 0);
    evc_web_stop(web);
}

Test(web_routes, several_stars_in_order)
{
    evc_web *web = start();
    seen s = {0};
    tagged t = {&s, "two"};
    evc_web_route(web, "GET", "/api/*/sessions/*", h_note, &t, NULL);
    cr_expect_eq(status_of(web, "GET", "/api/driver7/sessions/S-1?x=1"), 200);
    cr_expect_eq(s.nparams, 2);
    cr_expect_str_eq(s.params[0], "driver7");
    cr_expect_str_eq(s.params[1], "S-1");
    evc_web_stop(web);
}

Test(web_routes, exact_route_wins_then_patterns_in_registration_order)
{
    evc_web *web = start();
    seen s = {0};
    tagged exact = {&s, "exact"}, first = {&s, "first"}, second = {&s, "second"};
    evc_web_route(web, "POST", "/api/cps/*/stop", h_note, &first, NULL);
    evc_web_route(web, "POST", "/api/*/all/stop", h_note, &second, NULL);
    evc_web_route(web, "POST", "/api/cps/all/stop", h_note, &exact, NULL);
    cr_expect_eq(status_of(web, "POST", "/api/cps/all/stop"), 200);
    cr_expect_str_eq(s.tag, "exact");
    cr_expect_eq(s.nparams, 0);
    cr_expect_eq(status_of(web, "POST", "/api/cps/CP1/stop"), 200);
    cr_expect_str_eq(s.tag, "first");
    cr_expect_eq(status_of(web, "POST", "/api/drivers/all/stop"), 200);
    cr_expect_str_eq(s.tag, "second");
    cr_expect_str_eq(s.params[0], "drivers");
    evc_web_stop(web);
}

Test(web_routes, other_method_on_a_pattern_is_405_with_allow)
{
    evc_web *web = start();
    seen s = {0};
    tagged t = {&s, "p"};
    evc_web_route(web, "POST", "/api/cps/*/stop", h_note, &t, NULL);
    rc_http_resp r;
    cr_assert_eq(call(web, "GET", "/api/cps/CP1/stop", NULL, &r), 0);
    cr_expect_eq(r.status, 405);
    char allow[32];
    cr_assert(rc_header(&r, "allow", allow, sizeof allow), "%s", r.headers);
    cr_expect_str_eq(allow, "POST");
    cr_expect(strstr(r.body, "\"error\""), "%s", r.body);
    free(r.body);
    /* The same pattern with GET too: both methods served, each its own. */
    tagged g = {&s, "get"};
    cr_expect_eq(evc_web_route(web, "GET", "/api/cps/*/stop", h_note, &g, NULL), EVC_OK);
    cr_expect_eq(status_of(web, "GET", "/api/cps/CP1/stop"), 200);
    cr_expect_str_eq(s.tag, "get");
    cr_expect_eq(s.calls, 1);
    evc_web_stop(web);
}

Test(web_routes, registration_errors)
{
    evc_web *web = start();
    seen s = {0};
    tagged t = {&s, "x"};
    evc_error err;
    cr_expect_eq(evc_web_route(web, "POST", "/api/cps/*/stop", h_note, &t, &err), EVC_OK);
    cr_expect_eq(evc_web_route(web, "POST", "/api/cps/*/stop", h_note, &t, &err), EVC_EEXIST);
    cr_expect(strstr(err.msg, "/api/cps/*/stop"), "%s", err.msg);
    const char *bad[] = {"/api/cps/a*/stop", "/api/cps/*a/stop", "/api/cps/**/stop",
                         "/api/*/*/*/*/*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect_eq(evc_web_route(web, "GET", bad[i], h_note, &t, &err), EVC_EINVAL, "%s",
                     bad[i]);
        cr_expect(strstr(err.msg, bad[i]), "error names the path: %s", err.msg);
    }
    /* Patterns are tried per request: their number is bounded. */
    char p[64];
    for (int i = 1; i < EVC_WEB_MAX_PATTERNS; i++) {
        snprintf(p, sizeof p, "/api/p%d/*", i);
        cr_assert_eq(evc_web_route(web, "GET", p, h_note, &t, &err), EVC_OK, "%s", err.msg);
    }
    cr_expect_eq(evc_web_route(web, "GET", "/api/one/too/many/*", h_note, &t, &err),
                 EVC_ETOOBIG);
    /* An existing pattern with another method is no new pattern. */
    cr_expect_eq(evc_web_route(web, "GET", "/api/cps/*/stop", h_note, &t, &err), EVC_OK, "%s",
                 err.msg);
    /* Exact routes are not bounded by it. */
    cr_expect_eq(evc_web_route(web, "GET", "/api/exact", h_note, &t, &err), EVC_OK, "%s",
                 err.msg);
    evc_web_stop(web);
}

/* ---- the guard sees pattern routes -------------------------------------- */

typedef struct gate {
    seen g;       /* what the guard saw */
    seen h;       /* what the handler saw */
} gate;

static bool guard_cookie(const evc_web_request *req, evc_web_response *res, void *arg)
{
    gate *gt = arg;
    note(&gt->g, req);
    if (strcmp(req->cookie, "s=admin") != 0) {
        evc_web_respond_error(res, 401, "login required");
        return false;
    }
    return true;
}

Test(web_routes, guard_refuses_a_pattern_route_before_its_handler)
{
    evc_web *web = start();
    gate gt = {0};
    tagged t = {&gt.h, "stop"};
    evc_web_route(web, "POST", "/api/cps/*/stop", h_note, &t, NULL);
    evc_web_set_guard(web, guard_cookie, &gt);
    rc_http_resp r;
    cr_assert_eq(call(web, "POST", "/api/cps/CP1/stop", NULL, &r), 0);
    cr_expect_eq(r.status, 401, "%s", r.body);
    free(r.body);
    cr_expect_eq(gt.h.calls, 0, "the handler ran for a refused request");
    cr_expect_eq(gt.g.calls, 1);
    cr_expect_eq(gt.g.nparams, 1, "the guard sees the matched segment too");
    cr_expect_str_eq(gt.g.params[0], "CP1");
    cr_assert_eq(call(web, "POST", "/api/cps/CP1/stop", "Cookie: s=admin\r\n", &r), 0);
    cr_expect_eq(r.status, 200, "%s", r.body);
    free(r.body);
    cr_expect_eq(gt.h.calls, 1);
    cr_expect_str_eq(gt.h.params[0], "CP1");
    /* No route, no guard: 404 first (docs: the guard sees routed requests). */
    cr_expect_eq(status_of(web, "POST", "/api/cps/CP1/explode"), 404);
    cr_expect_eq(gt.g.calls, 2);
    evc_web_stop(web);
}

/* ---- many exact routes -------------------------------------------------- */

/* Two routes for each of 20,000 CPs, the way Central registered them before
 * pattern routes: every one is found (the hash table grows many times on
 * the way), duplicates are still refused, a near miss is still 404. */
Test(web_routes, forty_thousand_exact_routes_all_found_duplicates_refused)
{
    evc_web *web = start();
    seen s = {0};
    tagged t = {&s, "cp"};
    evc_error err;
    char p[64];
    enum { NCP = 20000 };
    for (int i = 0; i < NCP; i++) {
        snprintf(p, sizeof p, "/api/cps/CP%05d/stop", i);
        cr_assert_eq(evc_web_route(web, "POST", p, h_note, &t, &err), EVC_OK, "%s", err.msg);
        snprintf(p, sizeof p, "/api/cps/CP%05d/resume", i);
        cr_assert_eq(evc_web_route(web, "POST", p, h_note, &t, &err), EVC_OK, "%s", err.msg);
    }
    for (int i = 0; i < NCP; i += 997) {
        snprintf(p, sizeof p, "/api/cps/CP%05d/resume", i);
        cr_assert_eq(evc_web_route(web, "POST", p, h_note, &t, &err), EVC_EEXIST, "%s", p);
    }
    const int probe[] = {0, 1, 9999, NCP - 1};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        snprintf(p, sizeof p, "/api/cps/CP%05d/stop", probe[i]);
        cr_expect_eq(status_of(web, "POST", p), 200, "%s", p);
        cr_expect_str_eq(s.path, p);
        cr_expect_eq(s.nparams, 0);
    }
    snprintf(p, sizeof p, "/api/cps/CP%05d/stop", NCP);
    cr_expect_eq(status_of(web, "POST", p), 404, "%s", p);
    cr_expect_eq(status_of(web, "GET", "/api/cps/CP00000/stop"), 405);
    evc_web_stop(web);
}

/* ---- the query as handlers get it --------------------------------------- */

static void h_query(const evc_web_request *req, evc_web_response *res, void *arg)
{
    snprintf(arg, 128, "%s", req->query);
    evc_web_respond_json(res, 200, "{}");
}

/* Paged routes read several arguments: they arrive joined by '&' (lws 4.1's
 * own copy would join them with ','), each percent-decoded. */
Test(web_routes, query_arguments_arrive_joined_by_ampersand)
{
    evc_web *web = start();
    char q[128] = "";
    evc_web_route(web, "GET", "/api/q", h_query, q, NULL);
    cr_expect_eq(status_of(web, "GET", "/api/q?limit=400&after=CP_0399&x=a%2Cb"), 200);
    cr_expect_str_eq(q, "limit=400&after=CP_0399&x=a,b");
    cr_expect_eq(status_of(web, "GET", "/api/q?one=1"), 200);
    cr_expect_str_eq(q, "one=1");
    cr_expect_eq(status_of(web, "GET", "/api/q"), 200);
    cr_expect_str_eq(q, "");
    evc_web_stop(web);
}
