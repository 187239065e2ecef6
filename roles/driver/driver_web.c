/* driver_web.c: EV_Driver's web page (driver.web_port, driver.web_host):
 * the server, the access guard, the page login and its cookies.
 *
 * Login: the page posts the driver's password; EV_Driver proves it to
 * CENTRAL on the bus exactly as at its start (driver.hello -> challenge ->
 * argon2id on the pool -> driver.login -> driver.auth_reply, driver_login.c)
 * under its own nonce and correlation id. Nothing is checked locally: only
 * CENTRAL's "ok" opens the page. On ok the app seals with that new login
 * session and keeps the proven proof key (not the password, which is wiped
 * once derived).
 *
 * Cookies are signed, not stored: "<expiry ms>.<32 hex random>.<64 hex MAC>"
 * with MAC = HMAC(proof key, "evc-driver-web-session-v1", driver, expiry,
 * random), the CSRF token HMAC(proof key, "evc-driver-web-csrf-v1", cookie).
 * So a page stays logged in across a restart of EV_Driver as soon as the app
 * has logged in to CENTRAL again with its own password (a page-only app asks
 * for the password again), and a changed password ends every page session.
 * Logout clears the cookie and remembers it as revoked until EV_Driver
 * restarts. Cookie name evc_drv_<driver id>: browsers share cookies across
 * the ports of one host (Central's page, another driver's page).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver_web.h"
#include "evc/log.h"
#include "evc/uuid.h"

#define LOGIN_FAILS 5 /* then 429, 1 s doubling up to 5 min */
#define LOGIN_DELAY_MS 1000
#define LOGIN_MAX_DELAY_MS 300000
#define IDS(a) (&(evc_log_ids){.driver = (a)->driver_id})

/* One page login. Owned by driver_web (w->login) until finished; while its
 * argon2 runs on the pool, by the pool call (w NULL once orphaned). */
typedef struct web_login {
    driver_web *w;
    bool working;
    evc_web_pending *pending; /* the HTTP answer, owned */
    char peer[64];
    bool tls;
    char password[256];
    char nonce[2 * EVC_PROOF_NONCE_BYTES + 1], server_nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    char corr[EVC_UUID_STR_SIZE];
    char params[DRIVER_PARAMS_MAX];
    evc_proof_params pp;
    uint8_t key[EVC_PROOF_KEY_BYTES], session[EVC_PROOF_KEY_BYTES];
    int rc;
    bool proof_sent;
    uint64_t deadline_ms;
} web_login;

static void login_free(web_login *l)
{
    explicit_bzero(l, sizeof *l);
    free(l);
}

/* ---- cookies -------------------------------------------------------------- */

typedef enum sess_state { SESS_NONE = 0, SESS_OK, SESS_PENDING } sess_state;

static void token_mac(const driver_app *a, const char *exp, const char *rnd,
                      char out[EVC_PROOF_HEX_SIZE])
{
    const char *parts[] = {a->driver_id, exp, rnd};
    uint8_t m[EVC_PROOF_KEY_BYTES];
    evc_proof_mac(a->proof_key, "evc-driver-web-session-v1", parts, 3, m);
    evc_hex_encode(m, sizeof m, out);
}

static void csrf_of(const driver_app *a, const char *token, char out[EVC_PROOF_HEX_SIZE])
{
    const char *parts[] = {token};
    uint8_t m[EVC_PROOF_KEY_BYTES];
    evc_proof_mac(a->proof_key, "evc-driver-web-csrf-v1", parts, 1, m);
    evc_hex_encode(m, sizeof m, out);
}

/* The cookie's session: OK (expiry in *exp, CSRF token in csrf), NONE, or
 * PENDING (well formed and unexpired, but the app has no proven key yet: it
 * is logging in to CENTRAL with its own password). */
static sess_state session_of(driver_web *w, const evc_web_request *req, int64_t *exp,
                             char csrf[EVC_PROOF_HEX_SIZE], char mac_out[EVC_PROOF_HEX_SIZE])
{
    char tok[160], e[24], rnd[40], mac[EVC_PROOF_HEX_SIZE];
    if (!evc_web_cookie_get(req->cookie, w->cookie_name, tok, sizeof tok))
        return SESS_NONE;
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (!d1 || !d2 || d1 - tok >= (long)sizeof e || d2 - d1 - 1 != 32 ||
        strlen(d2 + 1) != EVC_PROOF_HEX_SIZE - 1)
        return SESS_NONE;
    snprintf(e, sizeof e, "%.*s", (int)(d1 - tok), tok);
    snprintf(rnd, sizeof rnd, "%.32s", d1 + 1);
    snprintf(mac, sizeof mac, "%s", d2 + 1);
    char *end = NULL;
    long long x = strtoll(e, &end, 10);
    if (!end || *end || x <= (long long)evc_wall_ms())
        return SESS_NONE;
    for (size_t i = 0; i < DRIVER_WEB_REVOKED; i++)
        if (w->revoked[i][0] && evc_web_secret_eq(w->revoked[i], mac))
            return SESS_NONE;
    driver_app *a = w->a;
    if (!a->proof_key_ok)
        return a->password[0] ? SESS_PENDING : SESS_NONE;
    char want[EVC_PROOF_HEX_SIZE];
    token_mac(a, e, rnd, want);
    if (!evc_web_secret_eq(want, mac))
        return SESS_NONE;
    if (exp)
        *exp = x;
    if (csrf)
        csrf_of(a, tok, csrf);
    if (mac_out)
        snprintf(mac_out, EVC_PROOF_HEX_SIZE, "%s", mac);
    return SESS_OK;
}

static void session_body(driver_web *w, int64_t exp, const char *csrf, char *out, size_t cap)
{
    int64_t left = exp - (int64_t)evc_wall_ms();
    /* driver ids are [A-Za-z0-9_.-], tokens hex: no escaping needed. */
    snprintf(out, cap, "{\"driver_id\":\"%s\",\"csrf_token\":\"%s\",\"expires_in_s\":%lld}",
             w->a->driver_id, csrf, (long long)(left > 0 ? left / 1000 : 0));
}

/* ---- guard ---------------------------------------------------------------- */

static bool guard(const evc_web_request *req, evc_web_response *res, void *arg)
{
    driver_web *w = arg;
    bool post = strcmp(req->method, "POST") == 0;
    if (req->origin[0] && !evc_web_same_origin(req->origin, req->host)) {
        evc_web_respond_error(res, 403, "cross-origin request refused");
        return false;
    }
    if (post && req->content_type[0] && !evc_web_is_json(req->content_type)) {
        evc_web_respond_error(res, 415, "Content-Type must be application/json");
        return false;
    }
    if ((post && strcmp(req->path, "/api/login") == 0) ||
        (!post && strcmp(req->path, "/api/info") == 0))
        return true;
    char csrf[EVC_PROOF_HEX_SIZE];
    sess_state st = session_of(w, req, NULL, csrf, NULL);
    if (st == SESS_PENDING) {
        evc_web_respond_header(res, "retry-after", "1");
        evc_web_respond_error(res, 503, "EV_Driver is logging in to CENTRAL; try again in a "
                                        "moment");
        return false;
    }
    if (st != SESS_OK) {
        evc_web_respond_error(res, 401, "login required (POST /api/login)");
        return false;
    }
    if (post && strcmp(req->path, "/api/logout") != 0 && !evc_web_secret_eq(csrf, req->csrf)) {
        evc_web_respond_error(res, 403, "missing or wrong X-CSRF-Token");
        return false;
    }
    return true;
}

/* ---- the page login ------------------------------------------------------------ */

static void login_finish(driver_web *w)
{
    web_login *l = w->login;
    w->login = NULL;
    if (!l)
        return;
    if (l->working)
        l->w = NULL; /* the pool call frees it */
    else
        login_free(l);
}

static void login_answer(driver_web *w, int status, const char *error, const char *body,
                         const char *cookie)
{
    web_login *l = w->login;
    evc_web_response *res = evc_web_pending_res(l->pending);
    if (cookie)
        evc_web_respond_header(res, "set-cookie", cookie);
    if (status == 200)
        evc_web_respond_json(res, 200, body);
    else
        evc_web_respond_error(res, status, error);
    evc_web_pending_done(l->pending);
    l->pending = NULL;
    login_finish(w);
}

static void derive_work(void *arg)
{
    web_login *l = arg;
    evc_error err = {0};
    l->rc = evc_proof_derive(l->password, &l->pp, l->key, &err);
    explicit_bzero(l->password, sizeof l->password);
}

static void derive_done(void *arg, bool ran)
{
    web_login *l = arg;
    l->working = false;
    driver_web *w = l->w;
    if (!w) {
        if (l->pending)
            evc_web_pending_done(l->pending); /* nobody waits any more */
        login_free(l);
        return;
    }
    if (!ran || l->rc != EVC_OK) {
        login_answer(w, 500, "cannot compute the password proof (CENTRAL's key params refused)",
                     NULL, NULL);
        return;
    }
    if (driver_login_send_proof(w->a, l->key, l->nonce, l->server_nonce, l->corr, l->session) !=
        EVC_OK) {
        login_answer(w, 503, "Unable to connect to CENTRAL", NULL, NULL);
        return;
    }
    l->proof_sent = true;
}

bool driver_web_login_challenge(driver_app *a, const evc_envelope *env)
{
    driver_web *w = a->web;
    web_login *l = w ? w->login : NULL;
    if (!l || !env->correlation_id || strcmp(env->correlation_id, l->corr) != 0)
        return false;
    const char *nonce = evc_msg_str(env, "nonce"), *sn = evc_msg_str(env, "server_nonce");
    const char *params = evc_msg_str(env, "params");
    uint8_t snb[EVC_PROOF_NONCE_BYTES];
    evc_error err = {0};
    if (l->working || l->proof_sent || !nonce || strcmp(nonce, l->nonce) != 0)
        return true; /* a repeat */
    if (!sn || !evc_hex_decode(sn, snb, sizeof snb) || !params ||
        strlen(params) >= sizeof l->params ||
        evc_proof_params_parse(params, &l->pp, &err) != EVC_OK) {
        evc_log(EVC_LOG_WARN, "driver", IDS(a), "page login: driver.challenge unusable: %s",
                err.msg[0] ? err.msg : "bad server_nonce or params");
        login_answer(w, 502, "CENTRAL's challenge was unusable", NULL, NULL);
        return true;
    }
    snprintf(l->server_nonce, sizeof l->server_nonce, "%s", sn);
    snprintf(l->params, sizeof l->params, "%s", params);
    if (evc_loop_work(a->loop, derive_work, derive_done, l, &err) != EVC_OK) {
        login_answer(w, 503, "busy: try again in a moment", NULL, NULL);
        return true;
    }
    l->working = true;
    return true;
}

bool driver_web_login_reply(driver_app *a, const evc_envelope *env)
{
    driver_web *w = a->web;
    web_login *l = w ? w->login : NULL;
    if (!l || !env->correlation_id || strcmp(env->correlation_id, l->corr) != 0)
        return false;
    bool ok = false;
    if (!l->proof_sent || evc_msg_bool(env, "ok", &ok) != 0)
        return true; /* not the answer to our proof */
    const char *reason = evc_msg_str(env, "reason");
    uint64_t now = evc_loop_now_ms(a->loop);
    if (!ok) {
        if (reason && strcmp(reason, "busy") == 0) {
            login_answer(w, 503, "CENTRAL is busy checking logins: try again in a second", NULL,
                         NULL);
            return true;
        }
        evc_web_throttle_fail(w->throttle, l->peer, now);
        evc_web_throttle_fail(w->throttle, "*", now);
        evc_log(EVC_LOG_WARN, "driver", IDS(a), "page login from %s refused by CENTRAL: %s",
                l->peer, reason ? reason : "?");
        login_answer(w, 401, "wrong password", NULL, NULL);
        return true;
    }
    if (driver_login_install(a, l->nonce, l->session) != EVC_OK) {
        login_answer(w, 500, "cannot use the new login session", NULL, NULL);
        return true;
    }
    driver_login_keep_key(a, l->key, l->params);
    /* From now on the proven key logs the app in again; the clear password
     * (if the app had one) is no longer needed. */
    explicit_bzero(a->password, sizeof a->password);
    evc_web_throttle_ok(w->throttle, l->peer);
    evc_web_throttle_ok(w->throttle, "*");
    int64_t bal = 0;
    bool has_bal = evc_msg_int(env, "balance_cents", &bal) == 0;
    driver_fsm_login_ok(a->fsm, now, has_bal ? &bal : NULL);
    /* The signed cookie. */
    uint8_t r[16];
    char rnd[33], e[24], mac[EVC_PROOF_HEX_SIZE], tok[160], csrf[EVC_PROOF_HEX_SIZE];
    evc_proof_random(r, sizeof r);
    evc_hex_encode(r, sizeof r, rnd);
    int64_t exp = (int64_t)evc_wall_ms() + (int64_t)w->ttl_s * 1000;
    snprintf(e, sizeof e, "%lld", (long long)exp);
    token_mac(a, e, rnd, mac);
    snprintf(tok, sizeof tok, "%s.%s.%s", e, rnd, mac);
    csrf_of(a, tok, csrf);
    char cookie[320], body[320];
    snprintf(cookie, sizeof cookie, "%s=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%llu%s",
             w->cookie_name, tok, (unsigned long long)w->ttl_s, l->tls ? "; Secure" : "");
    session_body(w, exp, csrf, body, sizeof body);
    evc_log(EVC_LOG_INFO, "driver", IDS(a), "page login from %s accepted by CENTRAL", l->peer);
    login_answer(w, 200, NULL, body, cookie);
    driver_web_push(w, driver_web_status_json(w));
    return true;
}

static void post_login(const evc_web_request *req, evc_web_response *res, void *arg)
{
    driver_web *w = arg;
    driver_app *a = w->a;
    if (!evc_web_is_json(req->content_type)) {
        evc_web_respond_error(res, 415, "Content-Type must be application/json");
        return;
    }
    web_login *l = calloc(1, sizeof *l);
    if (!l) {
        evc_web_respond_error(res, 500, "out of memory");
        return;
    }
    uint64_t now = evc_loop_now_ms(a->loop);
    uint64_t wp = evc_web_throttle_wait(w->throttle, req->peer, now);
    uint64_t wa = evc_web_throttle_wait(w->throttle, "*", now);
    char ra[24];
    if (!evc_web_json_str(req->body, req->body_len, "password", l->password,
                          sizeof l->password)) {
        evc_web_respond_error(res, 400, "body must be {\"password\": \"...\"}");
    } else if (wp || wa) {
        snprintf(ra, sizeof ra, "%llu", (unsigned long long)(((wp > wa ? wp : wa) + 999) / 1000));
        evc_web_respond_header(res, "retry-after", ra);
        evc_web_respond_error(res, 429, "too many wrong passwords: try again later");
    } else if (w->login) {
        evc_web_respond_header(res, "retry-after", "1");
        evc_web_respond_error(res, 503, "busy: another login is being checked");
    } else if (!driver_fsm_central_alive(a->fsm)) {
        evc_web_respond_error(res, 503, "Unable to connect to CENTRAL");
    } else {
        uint8_t n[EVC_PROOF_NONCE_BYTES];
        evc_proof_random(n, sizeof n);
        evc_hex_encode(n, sizeof n, l->nonce);
        evc_error err = {0};
        evc_payload *p = evc_payload_new();
        evc_payload_str(p, "driver_id", a->driver_id);
        evc_payload_str(p, "nonce", l->nonce);
        char *text = evc_payload_finish(p, &err);
        int rc = text && evc_uuid_generate(l->corr, &err) == EVC_OK
                     ? evc_msg_publish(a->bus, a->topic_out, a->driver_id, "driver.hello",
                                       a->driver_id, l->corr, text, NULL, NULL, NULL, &err)
                     : EVC_ENOMEM;
        free(text);
        if (rc != EVC_OK) {
            evc_web_respond_error(res, 503, "Unable to connect to CENTRAL");
        } else if (!(l->pending = evc_web_defer(res))) {
            evc_web_respond_error(res, 500, "out of memory");
        } else {
            l->w = w;
            snprintf(l->peer, sizeof l->peer, "%s", req->peer);
            l->tls = req->tls;
            l->deadline_ms = now + a->request_timeout_ms;
            w->login = l;
            return;
        }
    }
    login_free(l);
}

static void post_logout(const evc_web_request *req, evc_web_response *res, void *arg)
{
    driver_web *w = arg;
    char mac[EVC_PROOF_HEX_SIZE];
    if (session_of(w, req, NULL, NULL, mac) == SESS_OK) {
        snprintf(w->revoked[w->revoked_next], sizeof w->revoked[0], "%s", mac);
        w->revoked_next = (w->revoked_next + 1) % DRIVER_WEB_REVOKED;
        driver_web_recheck(w); /* its live feed ends now */
    }
    char cookie[160];
    snprintf(cookie, sizeof cookie, "%s=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
             w->cookie_name);
    evc_web_respond_header(res, "set-cookie", cookie);
    evc_web_respond_json(res, 200, "{\"logged_out\":true}");
}

static void get_session(const evc_web_request *req, evc_web_response *res, void *arg)
{
    driver_web *w = arg;
    int64_t exp = 0;
    char csrf[EVC_PROOF_HEX_SIZE], body[320];
    if (session_of(w, req, &exp, csrf, NULL) != SESS_OK) {
        evc_web_respond_error(res, 401, "login required (POST /api/login)");
        return;
    }
    session_body(w, exp, csrf, body, sizeof body);
    evc_web_respond_json(res, 200, body);
}

/* Open: what the login form shows (the driver id is no secret). */
static void get_info(const evc_web_request *req, evc_web_response *res, void *arg)
{
    driver_web *w = arg;
    char body[200];
    snprintf(body, sizeof body, "{\"driver_id\":\"%s\",\"central_connected\":%s}",
             w->a->driver_id, driver_fsm_central_alive(w->a->fsm) ? "true" : "false");
    evc_web_respond_json(res, 200, body);
}

/* ---- life cycle ------------------------------------------------------------------ */

int driver_web_start(driver_app *a, evc_error *err)
{
    driver_web *w = calloc(1, sizeof *w);
    if (!w)
        return evc_error_set(err, EVC_ENOMEM, "driver web: out of memory");
    w->a = a;
    w->ttl_s = a->web_params.session_ttl_s ? a->web_params.session_ttl_s : 28800;
    snprintf(w->cookie_name, sizeof w->cookie_name, "evc_drv_%s", a->driver_id);
    w->throttle = evc_web_throttle_new(64, LOGIN_FAILS, LOGIN_DELAY_MS, LOGIN_MAX_DELAY_MS);
    evc_web_opts o = {.struct_size = sizeof o,
                      .host = a->web_host,
                      .port = (uint16_t)a->web_params.port,
                      .static_dir = a->web_dir[0] ? a->web_dir : NULL,
                      .security_headers = true};
    int rc = w->throttle ? evc_web_start(a->loop, &o, &w->web, err)
                         : evc_error_set(err, EVC_ENOMEM, "driver web: out of memory");
    if (rc != EVC_OK) {
        evc_web_throttle_free(w->throttle);
        free(w);
        return rc;
    }
    a->web = w;
    rc = evc_web_route(w->web, "POST", "/api/login", post_login, w, err);
    if (rc == EVC_OK)
        rc = evc_web_route(w->web, "POST", "/api/logout", post_logout, w, err);
    if (rc == EVC_OK)
        rc = evc_web_route(w->web, "GET", "/api/session", get_session, w, err);
    if (rc == EVC_OK)
        rc = evc_web_route(w->web, "GET", "/api/info", get_info, w, err);
    if (rc == EVC_OK)
        rc = driver_web_feed_start(w, err);
    if (rc != EVC_OK) {
        driver_web_stop(a);
        return rc;
    }
    evc_web_set_guard(w->web, guard, w);
    fprintf(a->out, "Driver page on http://%s:%u/ (log in with %s's password)\n",
            a->web_host[0] ? a->web_host : "127.0.0.1", (unsigned)evc_web_port(w->web),
            a->driver_id);
    fflush(a->out);
    return EVC_OK;
}

void driver_web_stop(driver_app *a)
{
    driver_web *w = a->web;
    if (!w)
        return;
    a->web = NULL;
    if (w->login && w->login->pending) {
        evc_web_respond_error(evc_web_pending_res(w->login->pending), 503, "EV_Driver stopping");
        evc_web_pending_done(w->login->pending);
        w->login->pending = NULL;
    }
    login_finish(w);
    evc_web_stop(w->web);
    driver_web_feed_free(w);
    evc_web_throttle_free(w->throttle);
    explicit_bzero(w->revoked, sizeof w->revoked);
    free(w);
}

/* Called from the app's tick (200 ms): the page login's deadline, then the
 * feed's second tick. */
void driver_web_login_tick(driver_web *w, uint64_t now)
{
    if (w->login && !w->login->working && w->login->pending && now >= w->login->deadline_ms)
        login_answer(w, 504, "no answer from CENTRAL", NULL, NULL);
}

/* Ends live feeds whose cookie no longer opens the page (logout, expiry). */
void driver_web_recheck(driver_web *w) { evc_web_ws_recheck(w->web, DRIVER_WEB_CHANNEL); }
