/* Unit tests of the web bridge's protocol channels (evc_web_ws_channel_ex):
 * a path pattern with its segment handed to the callbacks and the guard, a
 * required subprotocol, the Authorization header, client handles that stay
 * valid until on_close, evc_web_ws_close; and evc_web_basic_auth. What an
 * OCPP-J server (roles/ocpp_gateway) needs. */
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

TestSuite(web_proto, .init = setup, .fini = teardown, .timeout = 30);

static const char *const subprotocols[] = {"ocpp1.6", NULL};

static evc_web *start(void)
{
    evc_web_opts o = {.struct_size = sizeof o, .host = "127.0.0.1",
                      .ws_subprotocols = subprotocols};
    evc_web *web = NULL;
    evc_error err;
    cr_assert_eq(evc_web_start(loop, &o, &web, &err), EVC_OK, "start: %s", err.msg);
    return web;
}

typedef struct side {
    evc_web_client *client; /* kept from on_open to on_close */
    char param[64];
    int opened, closed, messages;
    char guard_param[64], guard_auth[128];
} side;

static void on_open(evc_web *web, evc_web_client *c, void *arg)
{
    side *s = arg;
    s->opened++;
    s->client = c;
    snprintf(s->param, sizeof s->param, "%s", evc_web_client_param(c, 0));
    evc_web_client_set_user(c, s);
}

static void on_msg(evc_web *web, evc_web_client *c, const char *data, size_t len, void *arg)
{
    side *s = arg;
    s->messages++;
}

static void on_close(evc_web *web, evc_web_client *c, void *arg)
{
    side *s = arg;
    cr_expect_eq(evc_web_client_user(c), s, "the user pointer survives until on_close");
    s->closed++;
    s->client = NULL;
}

static void declare(evc_web *web, side *s)
{
    evc_web_ws_channel_opts o = {.struct_size = sizeof o, .path = "/ocpp/*",
                                 .subprotocol = "ocpp1.6", .on_open = on_open,
                                 .on_message = on_msg, .on_close = on_close, .arg = s};
    evc_error err;
    cr_assert_eq(evc_web_ws_channel_ex(web, &o, &err), EVC_OK, "%s", err.msg);
}

static bool opened(void *arg) { return ((side *)arg)->opened > 0; }
static bool closed(void *arg) { return ((side *)arg)->closed > 0; }

typedef struct frame_wait {
    rc_conn *c;
    char *text;
    size_t len;
    int op;
} frame_wait;

static bool frame_ready(void *arg)
{
    frame_wait *w = arg;
    rc_pump(w->c);
    return rc_ws_take(w->c, &w->op, &w->text, &w->len) == 1;
}

Test(web_proto, declaration_errors)
{
    evc_web *web = start();
    evc_error err;
    evc_web_ws_channel_opts o = {.struct_size = sizeof o, .path = "/ocpp/*",
                                 .subprotocol = "ocpp2.0.1"};
    cr_expect_eq(evc_web_ws_channel_ex(web, &o, &err), EVC_EINVAL);
    cr_expect(strstr(err.msg, "ocpp2.0.1") != NULL, "%s", err.msg);
    o.subprotocol = "ocpp1.6";
    o.path = "/ocpp/x*";
    cr_expect_eq(evc_web_ws_channel_ex(web, &o, &err), EVC_EINVAL);
    o.path = "/ocpp/*";
    cr_expect_eq(evc_web_ws_channel_ex(web, &o, &err), EVC_OK);
    cr_expect_eq(evc_web_ws_channel_ex(web, &o, &err), EVC_EEXIST);
    cr_expect_eq(evc_web_ws_channel(web, "/ws/*", NULL, NULL, NULL, &err), EVC_EINVAL);
    evc_web_stop(web);

    /* the server's subprotocols: not the bridge's own, not too many */
    const char *const bad[] = {"evc", NULL};
    evc_web_opts so = {.struct_size = sizeof so, .host = "127.0.0.1", .ws_subprotocols = bad};
    cr_expect_eq(evc_web_start(loop, &so, &web, &err), EVC_EINVAL);
}

Test(web_proto, pattern_and_subprotocol_select_the_channel)
{
    evc_web *web = start();
    side s = {0};
    declare(web, &s);
    uint16_t port = evc_web_port(web);
    char proto[64];
    rc_conn c;
    /* no subprotocol, another one, a path the pattern does not match */
    cr_expect_neq(rc_ws_open_ex(loop, &c, port, "/ocpp/CP7", NULL, 0, proto, sizeof proto), 0);
    rc_close(&c);
    cr_expect_neq(rc_ws_open_ex(loop, &c, port, "/ocpp/CP7",
                                "Sec-WebSocket-Protocol: ocpp2.0.1\r\n", 0, proto, sizeof proto),
                  0);
    rc_close(&c);
    cr_expect_neq(rc_ws_open_ex(loop, &c, port, "/ocpp/a/b",
                                "Sec-WebSocket-Protocol: ocpp1.6\r\n", 0, proto, sizeof proto),
                  0);
    rc_close(&c);
    cr_expect_eq(s.opened, 0);
    /* the right one: answered with the subprotocol, the segment given */
    cr_assert_eq(rc_ws_open_ex(loop, &c, port, "/ocpp/CP%207",
                               "Sec-WebSocket-Protocol: ocpp2.0.1, ocpp1.6\r\n", 0, proto,
                               sizeof proto),
                 0);
    cr_expect_str_eq(proto, "ocpp1.6");
    cr_assert_eq(evc_loop_run_until(loop, opened, &s, 5000), EVC_OK);
    cr_expect_str_eq(s.param, "CP 7");
    cr_expect_eq(evc_web_ws_clients(web, "/ocpp/*"), 1);
    rc_close(&c);
    cr_assert_eq(evc_loop_run_until(loop, closed, &s, 5000), EVC_OK);
    cr_expect_eq(s.closed, 1);
    cr_expect_eq(evc_web_ws_clients(web, "/ocpp/*"), 0);
    /* A segment longer than the path before it: the bridge moves it to the
     * front of the path's own buffer, over itself (ASan caught a memcpy
     * there with a 7-character CP id). */
    s.opened = s.closed = 0;
    cr_assert_eq(rc_ws_open_ex(loop, &c, port, "/ocpp/CHARGE_POINT_WITH_A_LONG_ID",
                               "Sec-WebSocket-Protocol: ocpp1.6\r\n", 0, proto, sizeof proto),
                 0);
    cr_assert_eq(evc_loop_run_until(loop, opened, &s, 5000), EVC_OK);
    cr_expect_str_eq(s.param, "CHARGE_POINT_WITH_A_LONG_ID");
    rc_close(&c);
    cr_assert_eq(evc_loop_run_until(loop, closed, &s, 5000), EVC_OK);
    evc_web_stop(web);
}

static bool guard(const evc_web_request *req, evc_web_response *res, void *arg)
{
    side *s = arg;
    snprintf(s->guard_param, sizeof s->guard_param, "%s", req->nparams ? req->params[0] : "");
    snprintf(s->guard_auth, sizeof s->guard_auth, "%s", req->authorization);
    char user[64], pw[64];
    return evc_web_basic_auth(req->authorization, user, sizeof user, pw, sizeof pw) &&
           strcmp(user, req->params[0]) == 0 && evc_web_secret_eq("s3cret:x", pw);
}

Test(web_proto, guard_sees_segment_and_basic_auth)
{
    evc_web *web = start();
    side s = {0};
    declare(web, &s);
    evc_web_set_guard(web, guard, &s);
    uint16_t port = evc_web_port(web);
    rc_conn c;
    /* CP1:wrong */
    cr_expect_neq(rc_ws_open_ex(loop, &c, port, "/ocpp/CP1",
                                "Sec-WebSocket-Protocol: ocpp1.6\r\n"
                                "Authorization: Basic Q1AxOndyb25n\r\n",
                                0, NULL, 0),
                  0);
    rc_close(&c);
    cr_expect_str_eq(s.guard_param, "CP1");
    cr_expect_str_eq(s.guard_auth, "Basic Q1AxOndyb25n");
    cr_expect_eq(s.opened, 0);
    /* CP1:s3cret:x */
    cr_expect_eq(rc_ws_open_ex(loop, &c, port, "/ocpp/CP1",
                               "Sec-WebSocket-Protocol: ocpp1.6\r\n"
                               "Authorization: Basic Q1AxOnMzY3JldDp4\r\n",
                               0, NULL, 0),
                 0);
    cr_assert_eq(evc_loop_run_until(loop, opened, &s, 5000), EVC_OK);
    /* kept for the program: the password is the CP's secret */
    cr_expect_str_eq(evc_web_client_authorization(s.client), "Basic Q1AxOnMzY3JldDp4");
    /* and who it came from: throttles key on it */
    cr_expect_str_eq(evc_web_client_peer(s.client), "127.0.0.1");
    rc_close(&c);
    cr_assert_eq(evc_loop_run_until(loop, closed, &s, 5000), EVC_OK);
    evc_web_stop(web);
}

Test(web_proto, handle_sends_outside_callbacks_and_closes)
{
    evc_web *web = start();
    side s = {0};
    declare(web, &s);
    uint16_t port = evc_web_port(web);
    rc_conn c;
    cr_assert_eq(rc_ws_open_ex(loop, &c, port, "/ocpp/CP2", "Sec-WebSocket-Protocol: ocpp1.6\r\n",
                               0, NULL, 0),
                 0);
    cr_assert_eq(evc_loop_run_until(loop, opened, &s, 5000), EVC_OK);
    /* Outside any callback of this client: the handle is still good. */
    cr_assert_not_null(s.client);
    cr_assert_eq(evc_web_ws_send(s.client, "[2,\"1\",\"Reset\",{}]", 18), EVC_OK);
    frame_wait w = {.c = &c};
    cr_assert_eq(evc_loop_run_until(loop, frame_ready, &w, 5000), EVC_OK);
    cr_expect_str_eq(w.text, "[2,\"1\",\"Reset\",{}]");
    free(w.text);
    /* Queued before the close: written, then the close frame; nothing after. */
    evc_web_client *cl = s.client;
    cr_assert_eq(evc_web_ws_send(cl, "last", 4), EVC_OK);
    evc_web_ws_close(cl, 1008, "bye");
    cr_expect_eq(evc_web_ws_send(cl, "never", 5), EVC_ECLOSED);
    cr_assert_eq(evc_loop_run_until(loop, frame_ready, &w, 5000), EVC_OK);
    cr_expect_str_eq(w.text, "last");
    free(w.text);
    cr_assert_eq(evc_loop_run_until(loop, closed, &s, 5000), EVC_OK);
    cr_expect_eq(s.closed, 1);
    cr_expect_null(s.client);
    rc_close(&c);
    evc_web_stop(web);
}

Test(web_proto, stop_closes_clients_through_on_close)
{
    evc_web *web = start();
    side s = {0};
    declare(web, &s);
    rc_conn c;
    cr_assert_eq(rc_ws_open_ex(loop, &c, evc_web_port(web), "/ocpp/CP3",
                               "Sec-WebSocket-Protocol: ocpp1.6\r\n", 0, NULL, 0),
                 0);
    cr_assert_eq(evc_loop_run_until(loop, opened, &s, 5000), EVC_OK);
    evc_web_stop(web);
    cr_expect_eq(s.closed, 1);
    rc_close(&c);
}

Test(web_proto, basic_auth_decoding)
{
    char u[16], p[16];
    cr_expect(evc_web_basic_auth("Basic Q1AxOnMzY3JldDp4", u, sizeof u, p, sizeof p));
    cr_expect_str_eq(u, "CP1");
    cr_expect_str_eq(p, "s3cret:x");
    cr_expect(evc_web_basic_auth("basic  Q1AxOg==", u, sizeof u, p, sizeof p));
    cr_expect_str_eq(p, "");
    cr_expect_not(evc_web_basic_auth("", u, sizeof u, p, sizeof p));
    cr_expect_not(evc_web_basic_auth("Bearer Q1AxOnMzY3JldA==", u, sizeof u, p, sizeof p));
    cr_expect_not(evc_web_basic_auth("Basic !!!", u, sizeof u, p, sizeof p));
    cr_expect_not(evc_web_basic_auth("Basic Q1Ax", u, sizeof u, p, sizeof p)); /* "CP1" */
    /* "CP1:" + 20 x 'a' does not fit 16 bytes */
    cr_expect_not(evc_web_basic_auth("Basic Q1AxOmFhYWFhYWFhYWFhYWFhYWFhYWFh", u, sizeof u, p,
                                     sizeof p));
}
