/* central_login.c: admin login, sessions and the access guard of Central's
 * HTTP API (central_login.h; docs/OPERATIONS.md "Admin login").
 *
 * Sessions live in memory and in the store (kv namespace
 * "central.web_session", key = the cookie's token), so that a restart of
 * Central does not log the operators out: the dashboard reconnects by itself.
 * The database file therefore holds live session tokens (docs/SECURITY.md).
 * Expiry is absolute (central.http_session_ttl_s after the login, never
 * extended by use), so a stolen cookie is worth at most that long.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "central_dash.h"
#include "central_login.h"
#include "evc/log.h"
#include "evc/password.h"

#define LOGIN_COOKIE "evc_session"
#define LOGIN_MAX_SESSIONS 256
#define LOGIN_SESSIONS_PER_USER 8
#define LOGIN_INFLIGHT_MAX 2        /* argon2 checks on the pool at once: of libuv's 4
                                     * threads, two stay free for CP and driver checks */
#define LOGIN_USER_FAILS 5          /* then 429, 1 s doubling up to 5 min */
#define LOGIN_PEER_FAILS 20         /* one address guessing many users */
#define LOGIN_DELAY_MS 1000
#define LOGIN_MAX_DELAY_MS 300000
#define LOGIN_THROTTLE_KEYS 1024
#define LOGIN_USER_MAX 64
#define LOGIN_PASSWORD_MAX 256
#define LOGIN_KV_NS "central.web_session"

typedef struct login_job login_job;

struct central_login {
    central *c;
    evc_web *web;               /* borrowed: the server the routes are on */
    evc_web_sessions *sessions;
    evc_web_throttle *by_user, *by_peer;
    uint64_t ttl_s;
    size_t inflight;
    login_job *jobs; /* on the pool; orphaned (l = NULL) by central_login_free */
    char dummy_hash[EVC_PASSWORD_HASH_MAX];
};

/* One password check. Owned by the pool call from evc_loop_work until its
 * done callback, which frees it. */
struct login_job {
    central_login *l;            /* NULL once the login state is gone */
    login_job *prev, *next;
    evc_web_pending *pending;    /* the HTTP answer; owned by this job */
    bool exists, match;
    int role;
    char user[LOGIN_USER_MAX];
    char peer[64];
    bool tls;
    char hash[EVC_PASSWORD_HASH_MAX];
    char password[LOGIN_PASSWORD_MAX];
};

/* memset that the compiler may not drop: passwords and hashes. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static uint64_t now_ms(const central_login *l) { return evc_loop_now_ms(l->c->loop); }

static void retry_after(evc_web_response *res, uint64_t wait_ms)
{
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)((wait_ms + 999) / 1000));
    evc_web_respond_header(res, "retry-after", v);
}

static const evc_web_session *session_of(central_login *l, const evc_web_request *req)
{
    char tok[EVC_WEB_TOKEN_LEN + 1];
    if (!evc_web_cookie_get(req->cookie, LOGIN_COOKIE, tok, sizeof tok))
        return NULL;
    return evc_web_session_find(l->sessions, tok, now_ms(l));
}

/* ---- guard -------------------------------------------------------------- */

static bool login_guard(const evc_web_request *req, evc_web_response *res, void *arg)
{
    central_login *l = arg;
    bool post = strcmp(req->method, "POST") == 0;
    if (!post && strcmp(req->path, "/api/health") == 0)
        return true;
    /* A page of another site must not post here, not even a login (login
     * CSRF). Browsers send Origin on every POST and on WebSocket upgrades. */
    if (req->origin[0] &&
        !evc_web_same_origin(req->origin, req->host)) {
        evc_web_respond_error(res, 403, "cross-origin request refused");
        return false;
    }
    if (post && req->content_type[0] && !evc_web_is_json(req->content_type)) {
        evc_web_respond_error(res, 415, "Content-Type must be application/json");
        return false;
    }
    if (post && strcmp(req->path, "/api/login") == 0)
        return true;
    const evc_web_session *s = session_of(l, req);
    if (!s) {
        evc_web_respond_error(res, 401, "login required (POST /api/login)");
        return false;
    }
    if (post && !evc_web_secret_eq(s->csrf, req->csrf)) {
        evc_web_respond_error(res, 403, "missing or wrong X-CSRF-Token");
        return false;
    }
    bool own = strcmp(req->path, "/api/session") == 0 || strcmp(req->path, "/api/logout") == 0;
    if (!own && s->role != EVC_ROLE_ADMIN) {
        evc_web_respond_error(res, 403, "administrators only");
        return false;
    }
    return true;
}

/* ---- persistence ---------------------------------------------------------- */

/* Value: "<user> <role> <csrf> <expiry, wall ms>". The expiry is on the wall
 * clock (the loop's clock restarts with the process). */
static void session_save(central_login *l, const evc_web_session *s, uint64_t now)
{
    if (!l->c->store)
        return;
    char v[256];
    int64_t wall = (int64_t)evc_wall_ms() + (int64_t)(s->expires_ms - now);
    int n = snprintf(v, sizeof v, "%s %d %s %lld", s->user, s->role, s->csrf, (long long)wall);
    evc_error err = {0};
    if (n > 0 && (size_t)n < sizeof v &&
        evc_store_kv_put(l->c->store, LOGIN_KV_NS, s->token, v, (size_t)n, &err) != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL,
                "HTTP session of %s not saved (a restart logs it out): %s", s->user, err.msg);
}

static void session_forget(central_login *l, const char *token)
{
    evc_error err = {0};
    if (l->c->store && evc_store_kv_delete(l->c->store, LOGIN_KV_NS, token, &err) != EVC_OK &&
        err.code != EVC_ENOTFOUND)
        evc_log(EVC_LOG_WARN, "central", NULL, "HTTP session not deleted: %s", err.msg);
}

typedef struct restore_ctx {
    central_login *l;
    char stale[16][EVC_WEB_TOKEN_LEN + 1]; /* expired or malformed: deleted after the list */
    size_t nstale, restored;
} restore_ctx;

static int restore_one(void *arg, const char *key, const void *value, size_t len)
{
    restore_ctx *r = arg;
    char v[256];
    evc_web_session s = {0};
    long long wall = 0;
    bool ok = len < sizeof v;
    if (ok) {
        memcpy(v, value, len);
        v[len] = '\0';
        ok = sscanf(v, "%63s %d %64s %lld", s.user, &s.role, s.csrf, &wall) == 4 &&
             snprintf(s.token, sizeof s.token, "%s", key) == EVC_WEB_TOKEN_LEN;
    }
    uint64_t now = now_ms(r->l);
    int64_t left = (int64_t)wall - (int64_t)evc_wall_ms();
    if (ok && left > 0) {
        s.expires_ms = now + (uint64_t)left;
        ok = evc_web_session_restore(r->l->sessions, &s, now);
        r->restored += ok;
    } else {
        ok = false;
    }
    if (!ok && r->nstale < 16 && strlen(key) <= EVC_WEB_TOKEN_LEN)
        snprintf(r->stale[r->nstale++], sizeof r->stale[0], "%s", key);
    return 0;
}

/* Puts back the sessions of before the restart and deletes the expired. */
static void sessions_restore(central_login *l)
{
    if (!l->c->store)
        return;
    restore_ctx *r = calloc(1, sizeof *r);
    if (!r)
        return;
    r->l = l;
    evc_error err = {0};
    if (evc_store_kv_list(l->c->store, LOGIN_KV_NS, restore_one, r, &err) != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL, "HTTP sessions not restored: %s", err.msg);
    for (size_t i = 0; i < r->nstale; i++)
        session_forget(l, r->stale[i]);
    if (r->restored)
        evc_log(EVC_LOG_INFO, "central", NULL, "%zu HTTP session(s) restored", r->restored);
    wipe(r, sizeof *r);
    free(r);
}

/* ---- login -------------------------------------------------------------- */

static void job_work(void *arg)
{
    login_job *j = arg;
    /* Unknown users are checked against a dummy hash: same time class. */
    j->match = evc_password_verify(j->hash, j->password);
    wipe(j->password, sizeof j->password);
}

static void session_json(const evc_web_session *s, uint64_t now, char *out, size_t cap)
{
    /* user ids are plain [A-Za-z0-9_-] (store), tokens hex: no escaping. */
    snprintf(out, cap,
             "{\"user\":\"%s\",\"role\":\"%s\",\"csrf_token\":\"%s\",\"expires_in_s\":%llu}",
             s->user, evc_user_role_name((evc_user_role)s->role), s->csrf,
             (unsigned long long)(s->expires_ms > now ? (s->expires_ms - now) / 1000 : 0));
}

static void job_done(void *arg, bool ran)
{
    login_job *j = arg;
    central_login *l = j->l;
    evc_web_response *res = evc_web_pending_res(j->pending);
    if (l) {
        l->inflight--;
        if (j->prev)
            j->prev->next = j->next;
        else
            l->jobs = j->next;
        if (j->next)
            j->next->prev = j->prev;
    }
    if (!l || !ran) {
        evc_web_respond_error(res, 503, "server stopping");
    } else if (j->exists && j->match) {
        evc_web_throttle_ok(l->by_user, j->user);
        uint64_t now = now_ms(l);
        const evc_web_session *s = evc_web_session_create(l->sessions, j->user, j->role, now);
        char cookie[160], body[320];
        if (!s) {
            evc_web_respond_error(res, 500, "out of memory");
        } else {
            snprintf(cookie, sizeof cookie,
                     LOGIN_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%llu%s",
                     s->token, (unsigned long long)l->ttl_s, j->tls ? "; Secure" : "");
            session_json(s, now, body, sizeof body);
            session_save(l, s, now);
            evc_web_respond_header(res, "set-cookie", cookie);
            evc_web_respond_json(res, 200, body);
            evc_log(EVC_LOG_INFO, "central", NULL, "HTTP login of %s (%s) from %s", j->user,
                    evc_user_role_name((evc_user_role)j->role), j->peer);
        }
    } else {
        uint64_t now = now_ms(l);
        evc_web_throttle_fail(l->by_user, j->user, now);
        evc_web_throttle_fail(l->by_peer, j->peer, now);
        /* Same answer for an unknown user and a wrong password. */
        evc_web_respond_error(res, 401, "wrong user or password");
    }
    evc_web_pending_done(j->pending);
    wipe(j, sizeof *j);
    free(j);
}

static void post_login(const evc_web_request *req, evc_web_response *res, void *arg)
{
    central_login *l = arg;
    if (!evc_web_is_json(req->content_type)) {
        evc_web_respond_error(res, 415, "Content-Type must be application/json");
        return;
    }
    login_job *j = calloc(1, sizeof *j);
    if (!j) {
        evc_web_respond_error(res, 500, "out of memory");
        return;
    }
    if (!evc_web_json_str(req->body, req->body_len, "user", j->user, sizeof j->user) ||
        !evc_web_json_str(req->body, req->body_len, "password", j->password,
                          sizeof j->password) ||
        !j->user[0]) {
        evc_web_respond_error(res, 400, "body must be {\"user\": \"...\", \"password\": \"...\"}");
        goto out;
    }
    uint64_t now = now_ms(l);
    uint64_t wu = evc_web_throttle_wait(l->by_user, j->user, now);
    uint64_t wp = evc_web_throttle_wait(l->by_peer, req->peer, now);
    if (wu || wp) {
        retry_after(res, wu > wp ? wu : wp);
        evc_web_respond_error(res, 429, "too many failed logins: try again later");
        goto out;
    }
    if (l->inflight >= LOGIN_INFLIGHT_MAX) {
        retry_after(res, 1000);
        evc_web_respond_error(res, 503, "busy: too many logins at once");
        goto out;
    }
    evc_user u;
    evc_error err = {0};
    int rc = evc_store_user_get(l->c->store, j->user, &u, &err);
    if (rc == EVC_OK) {
        j->exists = true;
        j->role = (int)u.role;
        snprintf(j->hash, sizeof j->hash, "%s", u.password_hash);
    } else {
        if (rc != EVC_ENOTFOUND)
            evc_log(EVC_LOG_WARN, "central", NULL, "HTTP login: user %s: %s", j->user, err.msg);
        snprintf(j->hash, sizeof j->hash, "%s", l->dummy_hash);
    }
    wipe(&u, sizeof u);
    snprintf(j->peer, sizeof j->peer, "%s", req->peer);
    j->tls = req->tls;
    j->pending = evc_web_defer(res);
    if (!j->pending) {
        evc_web_respond_error(res, 500, "out of memory");
        goto out;
    }
    j->l = l;
    if (evc_loop_work(l->c->loop, job_work, job_done, j, &err) != EVC_OK) {
        /* The shared pool is full (driver and CP checks too). */
        evc_web_response *pr = evc_web_pending_res(j->pending);
        retry_after(pr, 1000);
        evc_web_respond_error(pr, 503, "busy: too many password checks at once");
        evc_web_pending_done(j->pending);
        goto out;
    }
    l->inflight++;
    j->next = l->jobs;
    if (l->jobs)
        l->jobs->prev = j;
    l->jobs = j;
    return;
out:
    wipe(j, sizeof *j);
    free(j);
}

static void post_logout(const evc_web_request *req, evc_web_response *res, void *arg)
{
    central_login *l = arg;
    char tok[EVC_WEB_TOKEN_LEN + 1];
    if (evc_web_cookie_get(req->cookie, LOGIN_COOKIE, tok, sizeof tok)) {
        evc_web_session_end(l->sessions, tok);
        session_forget(l, tok);
        evc_web_ws_recheck(l->web, CENTRAL_DASH_CHANNEL); /* its live feed ends now */
    }
    evc_web_respond_header(res, "set-cookie",
                           LOGIN_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    evc_web_respond_json(res, 200, "{\"logged_out\":true}");
}

static void get_session(const evc_web_request *req, evc_web_response *res, void *arg)
{
    central_login *l = arg;
    const evc_web_session *s = session_of(l, req);
    if (!s) { /* the guard checked it; expired in between */
        evc_web_respond_error(res, 401, "login required (POST /api/login)");
        return;
    }
    char body[320];
    session_json(s, now_ms(l), body, sizeof body);
    evc_web_respond_json(res, 200, body);
}

/* ---- lifecycle ---------------------------------------------------------- */

int central_login_start(central *c, evc_web *web, central_login **out, evc_error *err)
{
    *out = NULL;
    central_login *l = calloc(1, sizeof *l);
    if (!l)
        return evc_error_set(err, EVC_ENOMEM, "central login: out of memory");
    l->c = c;
    l->web = web;
    const evc_cfg_node *sec = c->app ? evc_app_section(c->app) : NULL;
    l->ttl_s = (uint64_t)evc_cfg_schema_int(sec, central_schema, "http_session_ttl_s");
    l->sessions = evc_web_sessions_new(LOGIN_MAX_SESSIONS, LOGIN_SESSIONS_PER_USER,
                                       l->ttl_s * 1000);
    l->by_user = evc_web_throttle_new(LOGIN_THROTTLE_KEYS, LOGIN_USER_FAILS, LOGIN_DELAY_MS,
                                      LOGIN_MAX_DELAY_MS);
    l->by_peer = evc_web_throttle_new(LOGIN_THROTTLE_KEYS, LOGIN_PEER_FAILS, LOGIN_DELAY_MS,
                                      LOGIN_MAX_DELAY_MS);
    if (!l->sessions || !l->by_user || !l->by_peer) {
        central_login_free(l);
        return evc_error_set(err, EVC_ENOMEM, "central login: out of memory");
    }
    /* The dummy hash costs what a real one does (same password_cost). */
    char pw[EVC_WEB_TOKEN_LEN + 1];
    evc_web_token_new(pw);
    int rc = evc_password_hash(pw, c->password_cost, l->dummy_hash, err);
    wipe(pw, sizeof pw);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "POST", "/api/login", post_login, l, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "POST", "/api/logout", post_logout, l, err);
    if (rc == EVC_OK)
        rc = evc_web_route(web, "GET", "/api/session", get_session, l, err);
    if (rc != EVC_OK) {
        central_login_free(l);
        return rc;
    }
    sessions_restore(l);
    evc_web_set_guard(web, login_guard, l);
    *out = l;
    return EVC_OK;
}

void central_login_free(central_login *l)
{
    if (!l)
        return;
    for (login_job *j = l->jobs; j; j = j->next)
        j->l = NULL; /* their done answers 503 (or nobody) and frees */
    evc_web_sessions_free(l->sessions);
    evc_web_throttle_free(l->by_user);
    evc_web_throttle_free(l->by_peer);
    wipe(l, sizeof *l);
    free(l);
}
