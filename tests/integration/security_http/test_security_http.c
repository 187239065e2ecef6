/* test_security_http.c: issue 11 finding 11 replayed against a real
 * EV_Central over real HTTP: `POST /api/cps/stop-all` with no credentials,
 * cross-origin with `Origin: evil` and `text/plain`, `/api/x/../cps/...`.
 * Now every /api route but GET /api/health needs an admin session (cookie
 * from POST /api/login), state changes the session's CSRF token, failed
 * logins are throttled, a flood of them leaves the API responsive, and the
 * port can speak HTTPS only. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static h_env *env;

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(security_http, .fini = teardown, .timeout = 120);

static bool health_up(h_env *e, void *arg)
{
    h_http_resp r;
    bool ok = h_http_request(e->http_port, "GET", "/api/health", NULL, NULL, &r) == 0 &&
              r.status == 200;
    h_http_resp_free(&r);
    return ok;
}

static void start(void)
{
    env = h_env_new(NULL);
    h_start_central(env);
    H_ASSERT(env, h_wait_until(health_up, env, NULL, 15000),
             "Central's GET /api/health did not answer 200 within 15 s");
}

/* Status of one request; the response body is dropped. */
static int req(const char *method, const char *path, const char *headers, const char *body)
{
    h_http_resp r;
    if (h_http_request(env->http_port, method, path, headers, body, &r) != 0)
        return -1;
    int st = r.status;
    h_http_resp_free(&r);
    return st;
}

/* Headers carrying a session: cookie, CSRF token, JSON content type. */
static void auth_headers(const h_http_session *s, bool csrf, char *out, size_t cap)
{
    snprintf(out, cap, "Cookie: %s\r\nContent-Type: application/json\r\n%s%s%s", s->cookie,
             csrf ? "X-CSRF-Token: " : "", csrf ? s->csrf : "", csrf ? "\r\n" : "");
}

static int64_t changed_of(const char *body)
{
    json_t *j = json_loads(body ? body : "", 0, NULL);
    int64_t n = json_integer_value(json_object_get(j, "changed"));
    json_decref(j);
    return n;
}

static int64_t admin_stop_all(const h_http_session *s)
{
    char h[512];
    auth_headers(s, true, h, sizeof h);
    h_http_resp r;
    H_ASSERT(env, h_http_request(env->http_port, "POST", "/api/cps/stop-all", h, NULL, &r) == 0,
             "no answer to stop-all");
    H_ASSERT(env, r.status == 200, "logged-in stop-all with CSRF got %d: %s", r.status, r.body);
    int64_t n = changed_of(r.body);
    h_http_resp_free(&r);
    return n;
}

Test(security_http, no_session_is_401_on_every_route_but_health)
{
    start();
    struct {
        const char *method, *path;
    } routes[] = {
        {"GET", "/api/cps"},           {"GET", "/api/sessions"},
        {"GET", "/api/session"},       {"POST", "/api/logout"},
        {"POST", "/api/cps/stop-all"}, {"POST", "/api/cps/resume-all"},
        {"POST", "/api/cps/CP_001/stop"}, {"POST", "/api/cps/CP_001/resume"},
        /* finding 11: a dot segment reaches the same route, and its guard */
        {"POST", "/api/x/../cps/stop-all"}, {"POST", "/api/x/%2e%2e/cps/CP_003/stop"},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int st = req(routes[i].method, routes[i].path, "Content-Type: application/json\r\n", NULL);
        H_ASSERT(env, st == 401, "%s %s without a session: %d, want 401", routes[i].method,
                 routes[i].path, st);
    }
    /* The finding's own request: cross-origin, text/plain, no credentials. */
    H_ASSERT(env, req("POST", "/api/cps/stop-all", "Origin: http://evil\r\nContent-Type: text/plain\r\n",
                      "x") == 403, "cross-origin text/plain stop-all not refused");
    H_ASSERT(env, req("GET", "/api/health", NULL, NULL) == 200, "GET /api/health is not open");
    /* A forged cookie is no session. */
    char fake[160];
    snprintf(fake, sizeof fake, "Cookie: evc_session=%064d\r\n", 0);
    H_ASSERT(env, req("GET", "/api/cps", fake, NULL) == 401, "a made-up cookie was accepted");
    /* WebSocket upgrade without a session: no 101. */
    int st = req("GET", "/ws/events",
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", NULL);
    H_ASSERT(env, st != 101, "WebSocket upgrade accepted without a session");
    /* None of the refused requests stopped anything: the admin now stops
     * every one of the seed's 10 CPs. */
    h_http_session s;
    H_ASSERT(env, h_http_login(env->http_port, "admin", "admin123", &s) == 200, "admin login");
    H_ASSERT(env, admin_stop_all(&s) == 10, "a refused request had stopped CPs");
}

Test(security_http, login_cookie_csrf_and_logout)
{
    start();
    h_http_resp r;
    H_ASSERT(env, h_http_request(env->http_port, "POST", "/api/login",
                                 "Content-Type: application/json\r\n",
                                 "{\"user\":\"admin\",\"password\":\"admin123\"}", &r) == 0 &&
                      r.status == 200,
             "admin login: %d", r.status);
    char sc[256];
    H_ASSERT(env, h_http_resp_header(&r, "set-cookie", sc, sizeof sc), "no Set-Cookie");
    H_ASSERT(env, strstr(sc, "HttpOnly") && strstr(sc, "SameSite=Strict") && strstr(sc, "Path=/") &&
                      strstr(sc, "Max-Age=3600") && !strstr(sc, "Secure"),
             "cookie attributes: %s", sc);
    H_ASSERT(env, strncmp(sc, "evc_session=", 12) == 0 && strspn(sc + 12, "0123456789abcdef") == 64 &&
                      sc[76] == ';',
             "session token is not 64 hex chars: %s", sc);
    json_t *j = json_loads(r.body, 0, NULL);
    H_ASSERT(env, strcmp(h_jstr(j, "user"), "admin") == 0 && strcmp(h_jstr(j, "role"), "admin") == 0 &&
                      strlen(h_jstr(j, "csrf_token")) == 64,
             "login body: %s", r.body);
    json_decref(j);
    h_http_resp_free(&r);

    h_http_session s;
    H_ASSERT(env, h_http_login(env->http_port, "admin", "admin123", &s) == 200, "admin login");
    char h[512];
    /* GET /api/session gives the CSRF token back (a page reload). */
    auth_headers(&s, false, h, sizeof h);
    H_ASSERT(env, h_http_request(env->http_port, "GET", "/api/session", h, NULL, &r) == 0 &&
                      r.status == 200 && strstr(r.body, s.csrf),
             "GET /api/session: %d %s", r.status, r.body);
    h_http_resp_free(&r);
    H_ASSERT(env, req("GET", "/api/cps", h, NULL) == 200, "logged-in GET /api/cps refused");
    /* State changes: without the CSRF token, from another origin, or with a
     * non-JSON body they are refused; then the real one works. */
    H_ASSERT(env, req("POST", "/api/cps/stop-all", h, NULL) == 403, "stop-all without CSRF token");
    char bad[640];
    snprintf(bad, sizeof bad, "Cookie: %s\r\nX-CSRF-Token: %s\r\nOrigin: http://evil\r\n",
             s.cookie, s.csrf);
    H_ASSERT(env, req("POST", "/api/cps/stop-all", bad, NULL) == 403, "stop-all from Origin evil");
    snprintf(bad, sizeof bad, "Cookie: %s\r\nX-CSRF-Token: %s\r\nContent-Type: text/plain\r\n",
             s.cookie, s.csrf);
    H_ASSERT(env, req("POST", "/api/cps/stop-all", bad, "{}") == 415, "stop-all as text/plain");
    snprintf(bad, sizeof bad, "Cookie: %s\r\nX-CSRF-Token: %s\r\n", s.cookie,
             "0000000000000000000000000000000000000000000000000000000000000000");
    H_ASSERT(env, req("POST", "/api/cps/stop-all", bad, NULL) == 403, "stop-all, wrong CSRF token");
    snprintf(bad, sizeof bad, "Cookie: %s\r\nX-CSRF-Token: %s\r\nOrigin: http://127.0.0.1:%d\r\n",
             s.cookie, s.csrf, env->http_port);
    H_ASSERT(env, req("POST", "/api/cps/stop-all", bad, NULL) == 200, "same-origin stop-all refused");
    /* Logout ends the session: the cookie is worth nothing afterwards. */
    auth_headers(&s, true, h, sizeof h);
    H_ASSERT(env, req("POST", "/api/logout", h, NULL) == 200, "logout");
    H_ASSERT(env, req("GET", "/api/cps", h, NULL) == 401, "GET after logout not 401");
    H_ASSERT(env, req("POST", "/api/cps/resume-all", h, NULL) == 401, "POST after logout not 401");
}

Test(security_http, driver_session_is_403_on_admin_routes)
{
    start();
    h_http_session s;
    H_ASSERT(env, h_http_login(env->http_port, "driver1", "pass123", &s) == 200, "driver login");
    char h[512];
    auth_headers(&s, true, h, sizeof h);
    H_ASSERT(env, req("GET", "/api/session", h, NULL) == 200, "driver's own /api/session");
    H_ASSERT(env, req("GET", "/api/cps", h, NULL) == 403, "driver GET /api/cps not 403");
    H_ASSERT(env, req("GET", "/api/sessions", h, NULL) == 403, "driver GET /api/sessions not 403");
    H_ASSERT(env, req("POST", "/api/cps/stop-all", h, NULL) == 403, "driver stop-all not 403");
    H_ASSERT(env, req("POST", "/api/cps/CP_001/stop", h, NULL) == 403, "driver stop CP_001 not 403");
}

Test(security_http, failed_logins_are_401_then_429)
{
    start();
    const char *json = "Content-Type: application/json\r\n";
    h_http_resp unknown, wrong;
    H_ASSERT(env, h_http_request(env->http_port, "POST", "/api/login", json,
                                 "{\"user\":\"nobody\",\"password\":\"x\"}", &unknown) == 0,
             "no answer");
    for (int i = 0; i < 5; i++) {
        H_ASSERT(env, h_http_request(env->http_port, "POST", "/api/login", json,
                                     "{\"user\":\"admin\",\"password\":\"wrong\"}", &wrong) == 0,
                 "no answer");
        H_ASSERT(env, wrong.status == 401, "wrong password #%d: %d", i + 1, wrong.status);
        /* Same answer as an unknown user: nothing tells whether it exists. */
        H_ASSERT(env, unknown.status == 401 && strcmp(unknown.body, wrong.body) == 0,
                 "unknown user (%d %s) and wrong password (%s) differ", unknown.status,
                 unknown.body, wrong.body);
        h_http_resp_free(&wrong);
    }
    /* Limit reached: even the right password waits now. */
    H_ASSERT(env, h_http_request(env->http_port, "POST", "/api/login", json,
                                 "{\"user\":\"admin\",\"password\":\"admin123\"}", &wrong) == 0,
             "no answer");
    char ra[32] = "";
    H_ASSERT(env, wrong.status == 429 && h_http_resp_header(&wrong, "retry-after", ra, sizeof ra) &&
                      atoi(ra) >= 1,
             "6th login: %d, Retry-After '%s'", wrong.status, ra);
    h_http_resp_free(&wrong);
    h_http_resp_free(&unknown);
    /* Other users are not locked out by admin's throttle. */
    h_http_session s;
    H_ASSERT(env, h_http_login(env->http_port, "driver1", "pass123", &s) == 200,
             "driver1 locked out by admin's failures");
}

/* ---- a flood of bad logins ------------------------------------------------ */

#include <pthread.h>
#include <stdatomic.h>

#define FLOOD_THREADS 8
static atomic_bool flood_stop;
static atomic_int flood_status[6]; /* 200, 401, 429, 503, other, none */

static void *flood(void *arg)
{
    int port = *(int *)arg;
    for (unsigned i = 0; !atomic_load(&flood_stop); i++) {
        char body[128];
        /* Unknown users: each check is a full argon2 of the dummy hash. */
        snprintf(body, sizeof body, "{\"user\":\"x%u_%lu\",\"password\":\"guess\"}", i,
                 (unsigned long)pthread_self() % 100000);
        h_http_resp r;
        int k = 5;
        if (h_http_request(port, "POST", "/api/login", "Content-Type: application/json\r\n",
                           body, &r) == 0)
            k = r.status == 200 ? 0 : r.status == 401 ? 1 : r.status == 429 ? 2
                : r.status == 503 ? 3 : 4;
        h_http_resp_free(&r);
        atomic_fetch_add(&flood_status[k], 1);
    }
    return NULL;
}

/* Argon2 runs on the thread pool with a bound on checks in flight: Central's
 * loop keeps answering while bad logins pour in (finding 6 for HTTP). */
Test(security_http, flood_of_bad_logins_keeps_the_api_answering, .timeout = 180)
{
    start();
    /* Real cost (64 MiB, about 120 ms per check), not the tests' minimum. */
    h_restart_central_with(env, "password_cost: min", "password_cost: interactive", NULL);
    H_ASSERT(env, h_wait_until(health_up, env, NULL, 15000), "Central did not come back");
    pthread_t th[FLOOD_THREADS];
    int port = env->http_port;
    for (int i = 0; i < FLOOD_THREADS; i++)
        pthread_create(&th[i], NULL, flood, &port);
    int64_t worst = 0, until = h_now_ms() + 4000;
    int probes = 0, failed = 0;
    while (h_now_ms() < until) {
        int64_t t0 = h_now_ms();
        if (req("GET", "/api/health", NULL, NULL) != 200)
            failed++;
        int64_t dt = h_now_ms() - t0;
        if (dt > worst)
            worst = dt;
        probes++;
        usleep(50 * 1000); /* probe pacing, not a wait for a condition */
    }
    atomic_store(&flood_stop, true);
    for (int i = 0; i < FLOOD_THREADS; i++)
        pthread_join(th[i], NULL);
    int n200 = atomic_load(&flood_status[0]), n401 = atomic_load(&flood_status[1]),
        n429 = atomic_load(&flood_status[2]), n503 = atomic_load(&flood_status[3]),
        nother = atomic_load(&flood_status[4]), nnone = atomic_load(&flood_status[5]);
    cr_log_info("flood: %d x 401, %d x 429, %d x 503, %d other, %d unanswered; /api/health "
                "worst %lld ms over %d probes",
                n401, n429, n503, nother, nnone, (long long)worst, probes);
    fprintf(stderr, "flood: %d x 401, %d x 429, %d x 503, %d other, %d unanswered; "
                    "/api/health worst %lld ms over %d probes\n",
            n401, n429, n503, nother, nnone, (long long)worst, probes);
    H_ASSERT(env, n200 == 0, "a made-up user logged in");
    H_ASSERT(env, n401 > 0, "no login was checked at all");
    H_ASSERT(env, nother == 0 && nnone == 0, "%d odd answers, %d unanswered logins", nother,
             nnone);
    H_ASSERT(env, failed == 0, "%d of %d health probes failed during the flood", failed, probes);
    H_ASSERT(env, worst < 200, "GET /api/health took %lld ms during the flood (bound 200 ms)",
             (long long)worst);
}

/* ---- TLS ------------------------------------------------------------------ */

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* curl's output of an HTTPS request (-k: the test's self-signed cert). */
#define CURL_ARGS_MAX 2048 /* the tests' command buffers */

static char *curl(const char *args)
{
    char cmd[CURL_ARGS_MAX + 64]; /* args and the fixed curl options */
    snprintf(cmd, sizeof cmd, "curl -s -k -i --max-time 5 %s 2>&1", args);
    FILE *p = popen(cmd, "r");
    static char out[16384];
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    if (p)
        pclose(p);
    out[n] = '\0';
    return out;
}

static bool https_up(h_env *e, void *arg)
{
    char a[128];
    snprintf(a, sizeof a, "https://127.0.0.1:%d/api/health", e->http_port);
    return strncmp(curl(a), "HTTP/1.1 200", 12) == 0;
}

Test(security_http, tls_serves_https_only_with_secure_cookies)
{
    start();
    char cmd[CURL_ARGS_MAX], extra[1200];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
             "-keyout %s/key.pem -out %s/cert.pem -days 1 -subj /CN=127.0.0.1 >/dev/null 2>&1",
             env->dir, env->dir);
    H_ASSERT(env, run(cmd) == 0, "openssl could not make a self-signed certificate");
    snprintf(extra, sizeof extra, "  http_tls_cert: \"%s/cert.pem\"\n  http_tls_key: \"%s/key.pem\"\n",
             env->dir, env->dir);
    h_restart_central_with(env, NULL, NULL, extra);
    H_ASSERT(env, h_wait_until(https_up, env, NULL, 15000), "no HTTPS answer from Central");
    snprintf(cmd, sizeof cmd,
             "-c %s/jar -X POST -H 'Content-Type: application/json' "
             "-d '{\"user\":\"admin\",\"password\":\"admin123\"}' https://127.0.0.1:%d/api/login",
             env->dir, env->http_port);
    const char *out = curl(cmd);
    H_ASSERT(env, strncmp(out, "HTTP/1.1 200", 12) == 0 && strcasestr(out, "set-cookie:") &&
                      strstr(out, "; Secure"),
             "HTTPS login without a Secure cookie: %.400s", out);
    const char *ct = strstr(out, "\"csrf_token\":\"");
    H_ASSERT(env, ct != NULL, "no csrf_token: %.400s", out);
    char csrf[65];
    snprintf(csrf, sizeof csrf, "%.64s", ct + 14);
    snprintf(cmd, sizeof cmd, "https://127.0.0.1:%d/api/cps", env->http_port);
    H_ASSERT(env, strncmp(curl(cmd), "HTTP/1.1 401", 12) == 0, "HTTPS /api/cps open");
    /* curl offers h2 first: the server keeps to HTTP/1.1, where lws hands
     * over X-CSRF-Token, and the state change works with it. */
    snprintf(cmd, sizeof cmd, "-b %s/jar -X POST -H 'X-CSRF-Token: %s' https://127.0.0.1:%d/api/cps/stop-all",
             env->dir, csrf, env->http_port);
    out = curl(cmd);
    H_ASSERT(env, strncmp(out, "HTTP/1.1 200", 12) == 0 && strstr(out, "{\"changed\":10}"),
             "HTTPS stop-all with session and CSRF token: %.400s", out);
    /* Plain HTTP on the TLS port gets no HTTP answer. */
    H_ASSERT(env, req("GET", "/api/health", NULL, NULL) != 200, "plain HTTP served on the TLS port");
}

Test(security_http, unreadable_tls_file_is_an_error_naming_it)
{
    start();
    h_proc *p = h_restart_central_with(env, NULL, NULL,
                                       "  http_tls_cert: /nonexistent/evc-cert.pem\n"
                                       "  http_tls_key: /nonexistent/evc-key.pem\n");
    H_ASSERT(env, h_wait_output(p, "/nonexistent/evc-cert.pem", 1, 10000),
             "Central's error does not name the certificate file");
    H_ASSERT(env, h_stop(p, 5000) != 0, "Central started with an unreadable certificate");
}
