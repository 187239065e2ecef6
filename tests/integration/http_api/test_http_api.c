/* test_http_api.c: Central's HTTP API at city scale (issue 14) against a real
 * EV_Central: the per-CP stop/resume routes are one pattern each (the
 * guard still refuses them without a session; an unknown CP is a 404 naming
 * it; a CP registered after the start has them too), and GET /api/cps is
 * paged (limit, after; total, next) so that every CP of a database larger
 * than a page is reached by following `next`. The reset route (one pattern
 * too) answers 404/409/400 and reaches a connected CP's engine. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SEEDED 10   /* CP_001..CP_010 (EV_Central --seed) */
#define EXTRA 1500  /* more than a page of 1,000 */

static h_env *env;

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(http_api, .fini = teardown, .timeout = 150);

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
    h_start_central(env);
    H_ASSERT(env, h_wait_until(health_up, env, NULL, 30000),
             "Central's GET /api/health did not answer 200 within 30 s");
}

static void auth_headers(const h_http_session *s, char *out, size_t cap)
{
    snprintf(out, cap, "Cookie: %s\r\nContent-Type: application/json\r\nX-CSRF-Token: %s\r\n",
             s->cookie, s->csrf);
}

/* POST path with the session (NULL: none); status, body into *body (malloc'd). */
static int post(const h_http_session *s, const char *path, const char *json, char **body)
{
    char h[512];
    if (s)
        auth_headers(s, h, sizeof h);
    else
        snprintf(h, sizeof h, "Content-Type: application/json\r\n");
    h_http_resp r;
    if (h_http_request(env->http_port, "POST", path, h, json, &r) != 0)
        return -1;
    int st = r.status;
    if (body)
        *body = r.body ? strdup(r.body) : NULL;
    h_http_resp_free(&r);
    return st;
}

/* GET path as the session; the parsed body of a 200, else NULL with *status. */
static json_t *get_json(const h_http_session *s, const char *path, int *status)
{
    char h[512];
    auth_headers(s, h, sizeof h);
    h_http_resp r;
    *status = h_http_request(env->http_port, "GET", path, h, NULL, &r) == 0 ? r.status : -1;
    json_t *j = *status == 200 ? json_loads(r.body, 0, NULL) : NULL;
    h_http_resp_free(&r);
    return j;
}

/* admin_state of CP id in the first page of /api/cps ("?" when absent). */
static const char *admin_state_of(const h_http_session *s, const char *id)
{
    int st;
    json_t *j = get_json(s, "/api/cps", &st);
    static char out[32];
    snprintf(out, sizeof out, "?");
    size_t i;
    json_t *cp;
    json_array_foreach(json_object_get(j, "cps"), i, cp)
    {
        if (strcmp(h_jstr(cp, "id"), id) == 0)
            snprintf(out, sizeof out, "%s", h_jstr(cp, "admin_state"));
    }
    json_decref(j);
    return out;
}

Test(http_api, per_cp_routes_are_patterns_behind_the_guard)
{
    env = h_env_new(NULL);
    start();
    /* Without a session: refused before anything looks at the id. */
    H_ASSERT(env, post(NULL, "/api/cps/CP_001/stop", NULL, NULL) == 401,
             "POST /api/cps/CP_001/stop without a session is not 401");
    H_ASSERT(env, post(NULL, "/api/cps/NO_SUCH/resume", NULL, NULL) == 401,
             "an unknown CP without a session is not 401 (it would tell which ids exist)");
    h_http_session s;
    H_ASSERT(env, h_http_login(env->http_port, "admin", "admin123", &s) == 200, "admin login");
    char *body = NULL;
    int st = post(&s, "/api/cps/NO_SUCH/stop", NULL, &body);
    H_ASSERT(env, st == 404 && body && strstr(body, "\"error\":\"no such CP: NO_SUCH\""),
             "unknown CP: %d %s", st, body ? body : "");
    free(body);
    st = post(&s, "/api/cps/CP_002/stop", NULL, &body);
    H_ASSERT(env, st == 200 && body && strcmp(body, "{\"changed\":1}") == 0, "stop CP_002: %d %s",
             st, body ? body : "");
    free(body);
    H_ASSERT(env, strcmp(admin_state_of(&s, "CP_002"), "STOPPED") == 0, "CP_002 not STOPPED");
    H_ASSERT(env, post(&s, "/api/cps/CP_002/resume", NULL, NULL) == 200, "resume CP_002");
    H_ASSERT(env, strcmp(admin_state_of(&s, "CP_002"), "IN_SERVICE") == 0,
             "CP_002 not IN_SERVICE after resume");
    /* The exact routes beside the patterns still answer. */
    st = post(&s, "/api/cps/stop-all", NULL, &body);
    H_ASSERT(env, st == 200 && body && strcmp(body, "{\"changed\":10}") == 0, "stop-all: %d %s", st,
             body ? body : "");
    free(body);
    /* A CP registered now is served by the same pattern. */
    st = post(&s, "/api/cps", "{\"id\":\"CP_NEW\",\"location\":\"Elda\",\"price_cents_per_kwh\":30}",
              &body);
    H_ASSERT(env, st == 201, "register CP_NEW: %d %s", st, body ? body : "");
    free(body);
    st = post(&s, "/api/cps/CP_NEW/stop", NULL, &body);
    H_ASSERT(env, st == 200 && body && strcmp(body, "{\"changed\":1}") == 0, "stop CP_NEW: %d %s",
             st, body ? body : "");
    free(body);
}

/* The CP is ACTIVATED and its engine heard on the bus (a reset can reach it). */
static bool engine_ready(h_env *e, void *arg)
{
    json_t *root = NULL;
    json_t *cp = h_api_cp(e, arg, &root);
    bool ok = cp && json_is_true(json_object_get(cp, "engine_on_bus")) &&
              strcmp(h_jstr(cp, "state"), "ACTIVATED") == 0;
    json_decref(root);
    return ok;
}

static bool three_resets_logged(h_env *e, void *arg)
{
    (void)arg;
    return h_db_int(e, "SELECT count(*) FROM event_log WHERE type = 'cp.reset'", -1) == 3;
}

Test(http_api, reset_is_a_pattern_route_behind_the_guard_for_connected_cps)
{
    env = h_env_new(NULL);
    start();
    H_ASSERT(env, post(NULL, "/api/cps/CP_001/reset", NULL, NULL) == 401,
             "POST /api/cps/CP_001/reset without a session is not 401");
    H_ASSERT(env, post(NULL, "/api/cps/NO_SUCH/reset", NULL, NULL) == 401,
             "an unknown CP's reset without a session is not 401");
    h_http_session s;
    H_ASSERT(env, h_http_login(env->http_port, "admin", "admin123", &s) == 200, "admin login");
    char *body = NULL;
    int st = post(&s, "/api/cps/NO_SUCH/reset", NULL, &body);
    H_ASSERT(env, st == 404 && body && strstr(body, "\"error\":\"no such CP: NO_SUCH\""),
             "unknown CP: %d %s", st, body ? body : "");
    free(body);
    /* Known but not connected (no CP runs yet): nothing would act on it. */
    st = post(&s, "/api/cps/CP_001/reset", NULL, &body);
    H_ASSERT(env, st == 409 && body && strstr(body, "CP CP_001 is not connected"),
             "reset of a disconnected CP: %d %s", st, body ? body : "");
    free(body);
    static const char *const bad[] = {"{\"type\":\"Warm\"}", "{\"typ\":\"Soft\"}", "[1]",
                                      "{\"type\":1}", "not json"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        st = post(&s, "/api/cps/CP_001/reset", bad[i], &body);
        H_ASSERT(env, st == 400, "body %s: %d %s", bad[i], st, body ? body : "");
        free(body);
    }
    h_proc *eng = NULL;
    h_start_cp(env, "CP_001", &eng, NULL, NULL);
    H_ASSERT(env, h_wait_until(engine_ready, env, "CP_001", 30000),
             "CP_001 not ACTIVATED with its engine on the bus");
    st = post(&s, "/api/cps/CP_001/reset", NULL, &body);
    H_ASSERT(env, st == 202 && body && strstr(body, "\"type\":\"Soft\"") &&
                      strstr(body, "\"sent\":true"),
             "reset CP_001: %d %s", st, body ? body : "");
    free(body);
    H_ASSERT(env, h_wait_output(eng, "Soft reset by CENTRAL", 1, 10000),
             "the engine did not hear the Soft reset");
    st = post(&s, "/api/cps/CP_001/reset", " {\"type\":\"Hard\"} ", &body);
    H_ASSERT(env, st == 202 && body && strstr(body, "\"type\":\"Hard\""), "Hard reset: %d %s",
             st, body ? body : "");
    free(body);
    H_ASSERT(env, h_wait_output(eng, "Hard reset by CENTRAL", 1, 10000),
             "the engine did not hear the Hard reset");
    /* The terminal's verb sends the same command. */
    int hard = h_count(eng, "cp=CP_001: Hard reset by CENTRAL");
    h_send_line(env->central, "reset CP_001 hard");
    H_ASSERT(env, h_wait_output(eng, "cp=CP_001: Hard reset by CENTRAL", hard + 1, 10000),
             "the engine did not hear the terminal's reset");
    H_ASSERT(env, strcmp(admin_state_of(&s, "CP_001"), "IN_SERVICE") == 0,
             "a reset changed the admin state");
    /* The event log is written in batches: waited for. */
    H_ASSERT(env, h_wait_until(three_resets_logged, env, NULL, 10000),
             "the three resets are not in the event log");
}

/* EXTRA CPs straight into the database before Central starts (registering
 * them over HTTP would hash a secret each). */
static void add_cps(int n)
{
    sqlite3 *db = NULL;
    H_ASSERT(env, sqlite3_open(env->db, &db) == SQLITE_OK, "open %s", env->db);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    H_ASSERT(env, sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK &&
                      sqlite3_prepare_v2(db,
                                         "INSERT INTO charging_points (id, location, "
                                         "price_cents_per_kwh, registered_ms, updated_ms) "
                                         "VALUES (?, 'bulk', 30, 0, 0)",
                                         -1, &st, NULL) == SQLITE_OK,
             "insert CPs: %s", sqlite3_errmsg(db));
    for (int i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "CPX_%05d", (i * 7919) % n); /* not in id order */
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        H_ASSERT(env, sqlite3_step(st) == SQLITE_DONE, "insert %s: %s", id, sqlite3_errmsg(db));
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    H_ASSERT(env, sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK, "commit");
    sqlite3_close(db);
}

Test(http_api, cps_paged_every_cp_reached_by_following_next)
{
    env = h_env_new(NULL);
    add_cps(EXTRA);
    start();
    h_http_session s;
    H_ASSERT(env, h_http_login(env->http_port, "admin", "admin123", &s) == 200, "admin login");
    const int total = SEEDED + EXTRA;
    int st;
    /* No parameters: the first page of the default (and largest) size. */
    json_t *j = get_json(&s, "/api/cps", &st);
    H_ASSERT(env, j, "GET /api/cps: %d", st);
    H_ASSERT(env, json_array_size(json_object_get(j, "cps")) == 1000 &&
                      json_integer_value(json_object_get(j, "total")) == total &&
                      json_is_string(json_object_get(j, "next")),
             "first page: %zu CPs, total %lld, next %s",
             json_array_size(json_object_get(j, "cps")),
             (long long)json_integer_value(json_object_get(j, "total")),
             json_is_string(json_object_get(j, "next")) ? "a cursor" : "not a cursor");
    json_decref(j);
    /* Follow next with pages of 400: every CP once, in id order. */
    char after[80] = "", prev[80] = "", path[160];
    int seen = 0, pages = 0;
    for (;;) {
        snprintf(path, sizeof path, "/api/cps?limit=400%s%s", after[0] ? "&after=" : "", after);
        j = get_json(&s, path, &st);
        H_ASSERT(env, j, "GET %s: %d", path, st);
        json_t *cps = json_object_get(j, "cps");
        H_ASSERT(env, json_array_size(cps) <= 400, "page of %zu > limit", json_array_size(cps));
        size_t i;
        json_t *cp;
        json_array_foreach(cps, i, cp)
        {
            const char *id = h_jstr(cp, "id");
            H_ASSERT(env, strcmp(id, prev) > 0, "%s after %s: not in id order", id, prev);
            snprintf(prev, sizeof prev, "%s", id);
            seen++;
        }
        pages++;
        json_t *next = json_object_get(j, "next");
        H_ASSERT(env, json_is_null(next) || strcmp(json_string_value(next), prev) == 0,
                 "next is not the page's last id (%s)", prev);
        bool last = json_is_null(next);
        json_decref(j);
        if (last)
            break;
        snprintf(after, sizeof after, "%s", prev);
        H_ASSERT(env, pages < 10, "more pages than CPs allow");
    }
    H_ASSERT(env, seen == total && pages == (total + 399) / 400, "%d CPs over %d pages, want %d",
             seen, pages, total);
    /* Bad parameters are 400 naming the problem; a limit over 1,000 is 1,000. */
    const char *bad[] = {"/api/cps?limit=0", "/api/cps?limit=abc", "/api/cps?limit=",
                         "/api/cps?limt=5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char h[512];
        auth_headers(&s, h, sizeof h);
        h_http_resp r;
        H_ASSERT(env, h_http_request(env->http_port, "GET", bad[i], h, NULL, &r) == 0 &&
                          r.status == 400 && strstr(r.body, "\"error\""),
                 "%s: %d %s", bad[i], r.status, r.body ? r.body : "");
        h_http_resp_free(&r);
    }
    j = get_json(&s, "/api/cps?limit=5000", &st);
    H_ASSERT(env, j && json_array_size(json_object_get(j, "cps")) == 1000, "limit=5000: %d", st);
    json_decref(j);
    /* Past the last id: an empty last page. */
    j = get_json(&s, "/api/cps?after=ZZZ", &st);
    H_ASSERT(env, j && json_array_size(json_object_get(j, "cps")) == 0 &&
                      json_is_null(json_object_get(j, "next")) &&
                      json_integer_value(json_object_get(j, "total")) == total,
             "after=ZZZ: %d", st);
    json_decref(j);
}
