/* Unit tests of the login pieces of evc/web.h (web_auth.c) and of the
 * bridge's guard, deferred responses and response headers, on a real server
 * (port 0 of the test's loop) driven by rawclient.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/loop.h"
#include "evc/web.h"
#include "rawclient.h"

/* ---- pure helpers -------------------------------------------------------- */

Test(web_auth, cookie_parsing)
{
    char v[80];
    cr_expect(evc_web_cookie_get("evc_session=abc", "evc_session", v, sizeof v));
    cr_expect_str_eq(v, "abc");
    cr_expect(evc_web_cookie_get("a=1; evc_session=tok ; b=2", "evc_session", v, sizeof v));
    cr_expect_str_eq(v, "tok");
    cr_expect(evc_web_cookie_get("x_evc_session=no;evc_session=yes", "evc_session", v, sizeof v));
    cr_expect_str_eq(v, "yes");
    cr_expect_not(evc_web_cookie_get("xevc_session=no", "evc_session", v, sizeof v));
    cr_expect_not(evc_web_cookie_get("evc_session=", "evc_session", v, sizeof v));
    cr_expect_not(evc_web_cookie_get("", "evc_session", v, sizeof v));
    cr_expect_not(evc_web_cookie_get("evc_session", "evc_session", v, sizeof v));
    cr_expect_not(evc_web_cookie_get("evc_session=0123456789", "evc_session", v, 5),
                  "a value too long for the buffer is absent, not cut");
}

Test(web_auth, same_origin_csrf_check)
{
    cr_expect(evc_web_same_origin("http://127.0.0.1:8002", "127.0.0.1:8002"));
    cr_expect(evc_web_same_origin("https://Central.example:443", "central.example:443"));
    cr_expect_not(evc_web_same_origin("http://evil", "127.0.0.1:8002"));
    cr_expect_not(evc_web_same_origin("evil", "evil"));
    cr_expect_not(evc_web_same_origin("null", "127.0.0.1:8002"));
    cr_expect_not(evc_web_same_origin("http://127.0.0.1:8003", "127.0.0.1:8002"));
    cr_expect_not(evc_web_same_origin("http://127.0.0.1:8002/x", "127.0.0.1:8002"));
    cr_expect_not(evc_web_same_origin("http://127.0.0.1:8002", ""));
    cr_expect(evc_web_is_json("application/json"));
    cr_expect(evc_web_is_json("application/json; charset=utf-8"));
    cr_expect_not(evc_web_is_json("text/plain"));
    cr_expect_not(evc_web_is_json("application/jsonp"));
    cr_expect_not(evc_web_is_json(""));
    cr_expect(evc_web_secret_eq("abc", "abc"));
    cr_expect_not(evc_web_secret_eq("abc", "abd"));
    cr_expect_not(evc_web_secret_eq("abc", "ab"));
    cr_expect_not(evc_web_secret_eq("abc", ""));
}

Test(web_auth, path_refusal)
{
    const char *good[] = {"/", "/api/cps", "/api/cps/CP_001/stop", "/a/.hidden", "/a/...b",
                          "/index.html"};
    const char *bad[] = {"/api/x/../cps", "/api/./cps", "/api//cps", "/api/cps/..", "/..",
                         "/api/cps/.", "api/cps", "/a\\b", "/a\x01", ""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        cr_expect(evc_web_path_ok(good[i]), "%s refused", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_not(evc_web_path_ok(bad[i]), "%s accepted", bad[i]);
}

Test(web_auth, json_string_member)
{
    char v[16];
    const char *j = "{\"user\":\"admin\",\"n\":5}";
    cr_expect(evc_web_json_str(j, strlen(j), "user", v, sizeof v));
    cr_expect_str_eq(v, "admin");
    cr_expect_not(evc_web_json_str(j, strlen(j), "n", v, sizeof v));
    cr_expect_not(evc_web_json_str(j, strlen(j), "password", v, sizeof v));
    cr_expect_not(evc_web_json_str("user=admin", 10, "user", v, sizeof v));
    const char *nul = "{\"user\":\"ad\\u0000min\"}";
    cr_expect_not(evc_web_json_str(nul, strlen(nul), "user", v, sizeof v));
    const char *dup = "{\"user\":\"a\",\"user\":\"b\"}";
    cr_expect_not(evc_web_json_str(dup, strlen(dup), "user", v, sizeof v));
    const char *lng = "{\"user\":\"0123456789abcdefXYZ\"}";
    cr_expect_not(evc_web_json_str(lng, strlen(lng), "user", v, sizeof v));
}

Test(web_auth, throttle_after_limit_growing_delay)
{
    evc_web_throttle *t = evc_web_throttle_new(4, 3, 1000, 8000);
    cr_assert_not_null(t);
    uint64_t now = 100000;
    for (int i = 0; i < 2; i++) {
        evc_web_throttle_fail(t, "admin", now);
        cr_expect_eq(evc_web_throttle_wait(t, "admin", now), 0, "refused before the limit");
    }
    evc_web_throttle_fail(t, "admin", now);
    cr_expect_eq(evc_web_throttle_wait(t, "admin", now), 1000);
    cr_expect_eq(evc_web_throttle_wait(t, "admin", now + 400), 600);
    cr_expect_eq(evc_web_throttle_wait(t, "other", now), 0, "keys are separate");
    evc_web_throttle_fail(t, "admin", now + 1000);
    cr_expect_eq(evc_web_throttle_wait(t, "admin", now + 1000), 2000, "delay doubles");
    for (int i = 0; i < 10; i++)
        evc_web_throttle_fail(t, "admin", now + 2000);
    cr_expect_eq(evc_web_throttle_wait(t, "admin", now + 2000), 8000, "capped at max");
    evc_web_throttle_ok(t, "admin");
    cr_expect_eq(evc_web_throttle_wait(t, "admin", now + 2000), 0, "success clears");
    /* Bounded: more keys than slots replace the least recently failed. */
    for (int i = 0; i < 3; i++)
        evc_web_throttle_fail(t, "old", now);
    for (int k = 0; k < 6; k++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", k);
        evc_web_throttle_fail(t, key, now + 10 + (uint64_t)k);
    }
    cr_expect_eq(evc_web_throttle_wait(t, "old", now + 20), 0, "oldest entry not replaced");
    /* Quiet for max_delay: forgotten. */
    for (int i = 0; i < 3; i++)
        evc_web_throttle_fail(t, "late", now);
    cr_expect_eq(evc_web_throttle_wait(t, "late", now + 9000), 0);
    evc_web_throttle_free(t);
}

Test(web_auth, sessions_tokens_expiry_and_bounds)
{
    evc_web_sessions *s = evc_web_sessions_new(3, 2, 60000);
    cr_assert_not_null(s);
    const evc_web_session *a = evc_web_session_create(s, "admin", 2, 1000);
    cr_assert_not_null(a);
    char tok[EVC_WEB_TOKEN_LEN + 1], csrf[EVC_WEB_TOKEN_LEN + 1];
    strcpy(tok, a->token);
    strcpy(csrf, a->csrf);
    cr_expect_eq(strlen(tok), 64);
    cr_expect_eq(strspn(tok, "0123456789abcdef"), 64);
    cr_expect_str_neq(tok, csrf);
    const evc_web_session *f = evc_web_session_find(s, tok, 2000);
    cr_assert_not_null(f);
    cr_expect_str_eq(f->user, "admin");
    cr_expect_str_eq(f->csrf, csrf);
    cr_expect_eq(f->role, 2);
    /* Absolute expiry: a find does not extend it. */
    cr_expect_not_null(evc_web_session_find(s, tok, 60999));
    cr_expect_null(evc_web_session_find(s, tok, 61000));
    cr_expect_eq(evc_web_sessions_count(s), 0);
    /* A wrong token of the right length, a short one. */
    a = evc_web_session_create(s, "admin", 2, 100000);
    strcpy(tok, a->token);
    char wrong[EVC_WEB_TOKEN_LEN + 1];
    strcpy(wrong, tok);
    wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
    cr_expect_null(evc_web_session_find(s, wrong, 100000));
    cr_expect_null(evc_web_session_find(s, "abc", 100000));
    /* Per user: the third login of admin replaces its first. */
    evc_web_session_create(s, "admin", 2, 100001);
    evc_web_session_create(s, "admin", 2, 100002);
    cr_expect_null(evc_web_session_find(s, tok, 100003));
    cr_expect_eq(evc_web_sessions_count(s), 2);
    /* In all: a fourth session replaces the oldest. */
    const evc_web_session *d = evc_web_session_create(s, "d1", 1, 100004);
    char dt[EVC_WEB_TOKEN_LEN + 1];
    strcpy(dt, d->token);
    evc_web_session_create(s, "d2", 1, 100005);
    cr_expect_eq(evc_web_sessions_count(s), 3);
    cr_expect_not_null(evc_web_session_find(s, dt, 100006));
    cr_expect(evc_web_session_end(s, dt));
    cr_expect_null(evc_web_session_find(s, dt, 100006));
    cr_expect_not(evc_web_session_end(s, dt));
    evc_web_sessions_free(s);
}

/* ---- the bridge: guard, deferred answers, headers ----------------------- */

static evc_loop *loop;

static void setup(void)
{
    evc_error err;
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
}

static void teardown(void) { evc_loop_free(loop); }

TestSuite(web_guard, .init = setup, .fini = teardown, .timeout = 30);

typedef struct gstate {
    int guard_calls, handler_calls;
    char cookie[64], csrf[80], origin[64], peer[64];
    bool allow_ws;
    evc_web_pending *pending;
} gstate;

static bool guard(const evc_web_request *req, evc_web_response *res, void *arg)
{
    gstate *g = arg;
    g->guard_calls++;
    snprintf(g->cookie, sizeof g->cookie, "%s", req->cookie);
    snprintf(g->csrf, sizeof g->csrf, "%s", req->csrf);
    snprintf(g->origin, sizeof g->origin, "%s", req->origin);
    snprintf(g->peer, sizeof g->peer, "%s", req->peer);
    if (strncmp(req->path, "/ws/", 4) == 0)
        return g->allow_ws;
    char v[16];
    if (evc_web_cookie_get(req->cookie, "s", v, sizeof v) && strcmp(v, "ok") == 0)
        return true;
    evc_web_respond_header(res, "retry-after", "7");
    evc_web_respond_error(res, 401, "login required");
    return false;
}

static void handler(const evc_web_request *req, evc_web_response *res, void *arg)
{
    gstate *g = arg;
    g->handler_calls++;
    evc_web_respond_header(res, "set-cookie", "s=ok; HttpOnly");
    evc_web_respond_json(res, 200, "{\"ok\":true}");
}

static void deferring(const evc_web_request *req, evc_web_response *res, void *arg)
{
    gstate *g = arg;
    g->handler_calls++;
    g->pending = evc_web_defer(res);
    cr_assert_not_null(g->pending);
}

static evc_web *start_web(gstate *g)
{
    evc_web_opts o = {.struct_size = sizeof o, .host = "127.0.0.1"};
    evc_web *web = NULL;
    evc_error err;
    cr_assert_eq(evc_web_start(loop, &o, &web, &err), EVC_OK, "%s", err.msg);
    evc_web_set_guard(web, guard, g);
    cr_assert_eq(evc_web_route(web, "GET", "/api/x", handler, g, &err), EVC_OK);
    cr_assert_eq(evc_web_route(web, "POST", "/api/slow", deferring, g, &err), EVC_OK);
    cr_assert_eq(evc_web_ws_channel(web, "/ws/events", NULL, NULL, g, &err), EVC_OK);
    return web;
}

static int http(evc_web *web, const char *req, rc_http_resp *r)
{
    rc_conn c;
    if (rc_connect(&c, evc_web_port(web), 0) != 0)
        return -1;
    int rc = rc_http(loop, &c, req, strlen(req), r);
    rc_close(&c);
    return rc;
}

Test(web_guard, guard_refuses_before_the_handler_and_sees_headers)
{
    gstate g = {0};
    evc_web *web = start_web(&g);
    rc_http_resp r;
    cr_assert_eq(http(web, "GET /api/x HTTP/1.1\r\nHost: h\r\nCookie: s=no\r\n"
                           "X-CSRF-Token: t0k\r\nOrigin: http://evil\r\n\r\n", &r), 0);
    cr_expect_eq(r.status, 401);
    char v[32];
    cr_expect(rc_header(&r, "retry-after", v, sizeof v) && strcmp(v, "7") == 0, "%s", r.headers);
    free(r.body);
    cr_expect_eq(g.handler_calls, 0);
    cr_expect_str_eq(g.cookie, "s=no");
    cr_expect_str_eq(g.csrf, "t0k");
    cr_expect_str_eq(g.origin, "http://evil");
    cr_expect_str_eq(g.peer, "127.0.0.1");
    cr_assert_eq(http(web, "GET /api/x HTTP/1.1\r\nHost: h\r\nCookie: a=1; s=ok\r\n\r\n", &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect(rc_header(&r, "set-cookie", v, sizeof v) && strcmp(v, "s=ok; HttpOnly") == 0,
              "%s", r.headers);
    free(r.body);
    cr_expect_eq(g.handler_calls, 1);
    /* A refused POST with a body: answered, body never read. */
    cr_assert_eq(http(web, "POST /api/slow HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
                      &r), 0);
    cr_expect_eq(r.status, 401);
    free(r.body);
    cr_expect_eq(g.handler_calls, 1);
    evc_web_stop(web);
}

Test(web_guard, guard_refuses_websocket_upgrades)
{
    gstate g = {0};
    evc_web *web = start_web(&g);
    rc_conn c;
    cr_expect_neq(rc_ws_open(loop, &c, evc_web_port(web), "/ws/events", 0), 0,
                  "upgrade accepted although the guard refused it");
    rc_close(&c);
    cr_expect_eq(evc_web_ws_clients(web, "/ws/events"), 0);
    g.allow_ws = true;
    cr_expect_eq(rc_ws_open(loop, &c, evc_web_port(web), "/ws/events", 0), 0);
    rc_close(&c);
    evc_web_stop(web);
}

/* The next frame on a client connection (opcode, payload malloc'd). */
typedef struct frame_wait {
    rc_conn *c;
    int op;
    char *data;
    size_t len;
} frame_wait;

static bool frame_ready(void *arg)
{
    frame_wait *w = arg;
    rc_pump(w->c);
    return rc_ws_take(w->c, &w->op, &w->data, &w->len) == 1;
}

static evc_web *recheck_web;
static bool no_clients(void *arg)
{
    rc_pump(arg);
    return evc_web_ws_clients(recheck_web, "/ws/events") == 0;
}

/* A client let in at its upgrade is put through the guard again when asked
 * (its session ended): refused now, it is closed; allowed, it stays and
 * keeps receiving. */
Test(web_guard, recheck_closes_the_clients_the_guard_now_refuses)
{
    gstate g = {.allow_ws = true};
    evc_web *web = start_web(&g);
    recheck_web = web;
    rc_conn a;
    cr_assert_eq(rc_ws_open(loop, &a, evc_web_port(web), "/ws/events", 0), 0);
    cr_expect_eq(evc_web_ws_clients(web, "/ws/events"), 1);
    cr_expect_eq(evc_web_ws_recheck(web, "/ws/events"), 0, "still allowed");
    cr_expect_eq(evc_web_ws_recheck(web, "/ws/nope"), 0);
    cr_assert_eq(evc_web_broadcast(web, "/ws/events", "one", 3), EVC_OK);
    frame_wait w = {.c = &a};
    evc_loop_run_until(loop, frame_ready, &w, 3000);
    cr_assert_not_null(w.data, "the allowed client received nothing");
    cr_expect_eq(w.op, 1);
    cr_expect_str_eq(w.data, "one");
    free(w.data);
    g.allow_ws = false;
    cr_expect_eq(evc_web_ws_recheck(web, "/ws/events"), 1);
    cr_expect_eq(evc_web_ws_recheck(web, "/ws/events"), 0, "refused once only");
    /* Closed, and nothing more is written to it (lws 4.1 drops the close
     * frame when WRITEABLE returns -1: the browser sees 1006 and its
     * reconnect meets the guard). */
    cr_assert_eq(evc_web_broadcast(web, "/ws/events", "two", 3), EVC_OK);
    evc_loop_run_until(loop, no_clients, &a, 3000);
    cr_expect_eq(evc_web_ws_clients(web, "/ws/events"), 0);
    cr_expect(a.eof, "the connection is closed");
    w = (frame_wait){.c = &a};
    cr_expect_not(frame_ready(&w) && w.op == 1, "a refused client got a message: %s", w.data);
    free(w.data);
    rc_close(&a);
    evc_web_stop(web);
}

Test(web_guard, dot_paths_never_reach_the_guard_as_dot_paths)
{
    gstate g = {0};
    evc_web *web = start_web(&g);
    rc_http_resp r;
    /* lws normalises to /api/x: the guard (not a bypass) decides. */
    cr_assert_eq(http(web, "GET /api/y/../x HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    cr_expect_eq(r.status, 401);
    free(r.body);
    cr_expect_eq(g.guard_calls, 1);
    evc_web_stop(web);
}

static bool got_pending(void *arg) { return ((gstate *)arg)->pending != NULL; }

static bool never(void *arg) { return false; }

Test(web_guard, deferred_response_is_sent_later_and_survives_a_gone_client)
{
    gstate g = {0};
    evc_web *web = start_web(&g);
    rc_conn c;
    cr_assert_eq(rc_connect(&c, evc_web_port(web), 0), 0);
    const char req[] = "POST /api/slow HTTP/1.1\r\nHost: h\r\nCookie: s=ok\r\n"
                       "Content-Length: 2\r\n\r\nhi";
    cr_assert_eq(rc_send(&c, req, sizeof req - 1), 0);
    cr_assert_eq(evc_loop_run_until(loop, got_pending, &g, 5000), EVC_OK);
    /* Nothing is answered until pending_done. */
    rc_pump(&c);
    cr_expect_eq(c.len, 0);
    evc_web_response *res = evc_web_pending_res(g.pending);
    evc_web_respond_header(res, "retry-after", "3");
    evc_web_respond_json(res, 503, "{\"error\":\"busy\"}");
    evc_web_pending_done(g.pending);
    rc_http_resp r;
    cr_assert_eq(rc_http(loop, &c, "", 0, &r), 0);
    cr_expect_eq(r.status, 503);
    cr_expect_str_eq(r.body, "{\"error\":\"busy\"}");
    char v[8];
    cr_expect(rc_header(&r, "retry-after", v, sizeof v) && strcmp(v, "3") == 0);
    free(r.body);
    rc_close(&c);

    /* The client goes away before the answer: done only frees. */
    g.pending = NULL;
    cr_assert_eq(rc_connect(&c, evc_web_port(web), 0), 0);
    cr_assert_eq(rc_send(&c, req, sizeof req - 1), 0);
    cr_assert_eq(evc_loop_run_until(loop, got_pending, &g, 5000), EVC_OK);
    rc_close(&c);
    evc_loop_run_until(loop, never, NULL, 200); /* lws sees the close meanwhile */
    evc_web_respond_json(evc_web_pending_res(g.pending), 200, "{}");
    evc_web_pending_done(g.pending);
    /* Also after the server stopped (the pending of a stopped server). */
    g.pending = NULL;
    cr_assert_eq(rc_connect(&c, evc_web_port(web), 0), 0);
    cr_assert_eq(rc_send(&c, req, sizeof req - 1), 0);
    cr_assert_eq(evc_loop_run_until(loop, got_pending, &g, 5000), EVC_OK);
    evc_web_stop(web);
    rc_close(&c);
    evc_web_pending_done(g.pending);
}

Test(web_auth, json_integer_member)
{
    int64_t v = 0;
    const char *j = "{\"price\":35,\"neg\":-2,\"real\":3.5,\"text\":\"35\"}";
    cr_expect(evc_web_json_int(j, strlen(j), "price", &v));
    cr_expect_eq(v, 35);
    cr_expect(evc_web_json_int(j, strlen(j), "neg", &v));
    cr_expect_eq(v, -2);
    cr_expect_not(evc_web_json_int(j, strlen(j), "real", &v));
    cr_expect_not(evc_web_json_int(j, strlen(j), "text", &v));
    cr_expect_not(evc_web_json_int(j, strlen(j), "absent", &v));
    cr_expect_not(evc_web_json_int("[1]", 3, "price", &v));
    cr_expect_not(evc_web_json_int("{\"a\":1,\"a\":2}", 13, "a", &v));
}

/* A restart puts saved sessions back: the same token and CSRF token work,
 * the expiry stays absolute (never beyond a fresh login's), and what is
 * expired or malformed is not taken. */
Test(web_auth, sessions_restored_after_a_restart)
{
    evc_web_sessions *before = evc_web_sessions_new(8, 2, 60000);
    const evc_web_session *a = evc_web_session_create(before, "admin", 2, 1000);
    cr_assert_not_null(a);
    evc_web_session saved = *a; /* expires at 61000 on the old clock */
    evc_web_sessions_free(before);

    /* The new process's clock starts elsewhere: 40 s of life left. */
    evc_web_sessions *s = evc_web_sessions_new(8, 2, 60000);
    evc_web_session moved = saved;
    moved.expires_ms = 500 + 40000;
    cr_assert(evc_web_session_restore(s, &moved, 500));
    const evc_web_session *f = evc_web_session_find(s, saved.token, 600);
    cr_assert_not_null(f);
    cr_expect_str_eq(f->csrf, saved.csrf);
    cr_expect_str_eq(f->user, "admin");
    cr_expect_eq(f->role, 2);
    cr_expect_not_null(evc_web_session_find(s, saved.token, 40499));
    cr_expect_null(evc_web_session_find(s, saved.token, 40500));

    /* A saved expiry longer than the ttl is cut to the ttl. */
    evc_web_session longer = saved;
    longer.expires_ms = 1000000;
    cr_assert(evc_web_session_restore(s, &longer, 50000));
    cr_expect_not_null(evc_web_session_find(s, saved.token, 109999));
    cr_expect_null(evc_web_session_find(s, saved.token, 110000));

    /* Expired, malformed token, upper-case hex, empty user: refused. */
    evc_web_session bad = saved;
    bad.expires_ms = 100;
    cr_expect_not(evc_web_session_restore(s, &bad, 200));
    bad = saved;
    bad.token[10] = 'g';
    cr_expect_not(evc_web_session_restore(s, &bad, 200));
    bad = saved;
    bad.csrf[0] = 'A';
    cr_expect_not(evc_web_session_restore(s, &bad, 200));
    bad = saved;
    bad.user[0] = '\0';
    cr_expect_not(evc_web_session_restore(s, &bad, 200));
    cr_expect_eq(evc_web_sessions_count(s), 0);

    /* The per-user bound holds for restored sessions too. */
    for (int i = 0; i < 3; i++) {
        evc_web_session x = saved;
        evc_web_token_new(x.token);
        x.expires_ms = 200000;
        cr_expect(evc_web_session_restore(s, &x, 150000));
    }
    cr_expect_eq(evc_web_sessions_count(s), 2);
    evc_web_sessions_free(s);
}
