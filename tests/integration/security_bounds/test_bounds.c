/* test_bounds.c: issue 11 finding 8 and the schema-less database, against a
 * real EV_Central.
 *
 * Finding 8: 19,990 idle connections to the monitor port exhausted Central's
 * descriptors; new monitors got RST, HTTP timed out, the log grew by 108 MB
 * in 13 s. Here an attacker holds 5000 idle connections to the monitor port
 * of a Central started with a soft open-files limit of 1024 and a cap of
 * 2000 monitor links: Central raises its limit (it holds more than 1024
 * descriptors), HTTP /api/health answers during the attack, a real monitor
 * with the seed CP still gets its CP ACTIVATED, the idle connections are closed
 * by the handshake timeout, Central's log stays a few lines and its memory
 * bounded.
 *
 * Schema-less database: an empty file or another application's SQLite file
 * used to start Central "ok" with no users (the store added our tables to
 * it); now one line naming the path, and the file left as it was. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"
#include "proc.h"

#if defined(__SANITIZE_ADDRESS__)
#define EVC_IT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVC_IT_ASAN 1
#endif
#endif

#define ATTACK_CONNS 5000
#define CENTRAL_CAP 2000

static h_env *env;
static int attack_fds[ATTACK_CONNS];
static int nattack;

static void teardown(void)
{
    for (int i = 0; i < nattack; i++)
        close(attack_fds[i]);
    nattack = 0;
    h_env_free(env);
    env = NULL;
}

TestSuite(bounds, .fini = teardown, .timeout = 240);

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static long vm_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static int count_lines(const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    int n = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    return n;
}

static bool port_up(h_env *e, void *arg)
{
    (void)arg;
    return h_port_open(e->central_port) && h_http_status(e->http_port, "/api/health") == 200;
}

/* Closed by the server: EOF or reset; a connection still being set up (or
 * open) reads EAGAIN. */
static bool all_attack_closed(h_env *e, void *arg)
{
    (void)e;
    int *open_left = arg;
    *open_left = 0;
    for (int i = 0; i < nattack; i++) {
        char b[16];
        ssize_t n = recv(attack_fds[i], b, sizeof b, MSG_DONTWAIT);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
            (*open_left)++;
    }
    return *open_left == 0;
}

/* Blocking connects, as the attacker of finding 8 did: each returns once
 * Central's kernel queued the connection for accept (a burst of
 * non-blocking connects overflows the listen backlog, and the kernel drops
 * most of them before Central ever sees them). Then non-blocking, never
 * written to. Returns how many connects did not complete within 3 s. */
static int attack(int port, pid_t central, int *peak_fds)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {.tv_sec = 3};
    int failed = 0;
    for (int i = 0; i < ATTACK_CONNS; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert(fd >= 0, "socket %d: %s (raise the test's open-files limit)", i,
                  strerror(errno));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            failed++;
            close(fd);
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        attack_fds[nattack++] = fd;
        if (i % 50 == 0) {
            int n = count_fds(central);
            *peak_fds = n > *peak_fds ? n : *peak_fds;
        }
    }
    return failed;
}

/* Stops Central and starts it again on the same files with `append` added
 * to its config (h_start_central's <dir>/central.yaml ends with the central
 * section). */
static void restart_central_with(const char *append)
{
    h_stop(env->central, 5000);
    char path[PATH_MAX + 64], port[16];
    snprintf(path, sizeof path, "%s/central.yaml", env->dir);
    FILE *f = fopen(path, "a");
    cr_assert(f != NULL, "%s: %s", path, strerror(errno));
    fputs(append, f);
    fclose(f);
    snprintf(port, sizeof port, "%d", env->central_port);
    /* At info, as in production: the harness's debug level logs every
     * connection on purpose. */
    char *argv[] = {(char *)proc_bin("EV_Central"), "--config", path, "--log-level", "info",
                    port, env->bus, env->db, NULL};
    env->central = h_spawn(env, "central-2", argv, NULL);
}

Test(bounds, five_thousand_idle_connections_leave_central_serving)
{
    /* The test's own descriptors: 5000 sockets plus the harness. */
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= ATTACK_CONNS + 512,
              "hard open-files limit %llu is below what the test needs",
              (unsigned long long)rl.rlim_max);
    struct rlimit mine = {rl.rlim_max, rl.rlim_max};

    env = h_env_new_on(H_BUS, NULL);
    h_start_central(env);
    cr_assert(h_wait_until(port_up, env, NULL, 20000), "Central did not come up");
    /* Central again, inheriting the usual default soft limit of 1024 and
     * allowed CENTRAL_CAP monitor links: more than 1024 descriptors. */
    struct rlimit low = {1024, rl.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    char cap[96];
    snprintf(cap, sizeof cap, "  monitor_max_links: %d\n", CENTRAL_CAP);
    restart_central_with(cap);
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &mine), 0, "%s", strerror(errno));
    cr_assert(h_wait_until(port_up, env, NULL, 20000), "Central did not come back");
    pid_t central = env->central->pid;
    long rss_before = vm_rss_kb(central);
    int lines_before = count_lines(env->central->err) + count_lines(env->central->out);

    int64_t t0 = h_now_ms();
    int peak_fds = 0;
    int failed = attack(env->central_port, central, &peak_fds);
    int64_t attack_ms = h_now_ms() - t0;
    long rss_peak = vm_rss_kb(central);
    /* Links beyond 1024 descriptors: the soft limit was raised. */
    H_ASSERT(env, peak_fds >= CENTRAL_CAP - 100,
             "Central held at most %d descriptors (cap %d links, started with a soft limit of "
             "1024)", peak_fds, CENTRAL_CAP);

    /* During the attack: HTTP answers, a real CP authenticates. */
    int64_t h0 = h_now_ms();
    int status = h_http_status(env->http_port, "/api/health");
    int64_t health_ms = h_now_ms() - h0;
    H_ASSERT(env, status == 200, "/api/health answered %d during the attack", status);
    h_start_cp(env, "CP_001", NULL, NULL, NULL);
    h_expect_cp_state(env, "CP_001", "ACTIVATED", 40000);
    int64_t active_ms = h_now_ms() - t0;

    /* The idle connections are closed by Central (handshake timeout). */
    int open_left = 0;
    H_ASSERT(env, h_wait_until(all_attack_closed, env, &open_left, 30000),
             "%d of %d idle connections still open 30 s after the attack", open_left, nattack);
    int64_t closed_ms = h_now_ms() - t0;
    long rss_after = vm_rss_kb(central);
    if (rss_peak < rss_after)
        rss_peak = rss_after;
    int lines = count_lines(env->central->err) + count_lines(env->central->out) - lines_before;
    fprintf(stderr,
            "bounds: %d idle connections in %lld ms: Central held %d descriptors (cap %d), /api/health in "
            "%lld ms, CP_001 ACTIVATED %lld ms after the attack began, all closed after %lld ms; "
            "VmRSS %ld -> %ld kB (after %ld kB); %d log lines; %d connects timed out\n",
            nattack, (long long)attack_ms, peak_fds, CENTRAL_CAP, (long long)health_ms, (long long)active_ms,
            (long long)closed_ms, rss_before, rss_peak, rss_after, lines, failed);
    H_ASSERT(env, health_ms < 2000, "/api/health took %lld ms", (long long)health_ms);
    /* An idle link costs about 1.3 KB in Central (issue 14: the link, its
     * decoder and Central's context; the read buffer is shared per thread,
     * the decoder's buffers and the unACKed FIFO exist only while in use):
     * 2000 links grew Central by 2.4-2.5 MB. 4 KB per link is the bound,
     * allocator slack included; it was ~30 KB per link (~60 MB) before. */
#ifndef EVC_IT_ASAN
    H_ASSERT(env, rss_peak - rss_before < CENTRAL_CAP * 4, "Central grew by %ld kB",
             rss_peak - rss_before);
#else
    /* The same build's Central runs under AddressSanitizer, whose redzones
     * and quarantine of freed blocks are most of what it allocates: its RSS
     * says nothing of ours. The bound is checked by the normal build. */
    fprintf(stderr, "bounds: Central's memory bound not checked under AddressSanitizer "
                    "(grew by %ld kB)\n", rss_peak - rss_before);
#endif
    /* Finding 8 logged 1.59 M lines; the cap, timeouts and refusals log a
     * bounded number per 10 s. */
    H_ASSERT(env, lines < 100, "Central wrote %d log lines during the attack", lines);
    H_ASSERT(env, h_alive(env->central), "Central died");
    H_FINISH(env);
}

/* ---- schema-less databases ------------------------------------------------ */

static void run_central_on(const char *db, proc_result *r)
{
    char cfg[PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s/config/evcharging.yaml", EVC_TEST_SOURCE_DIR);
    /* Refused before anything listens: the store opens first. */
    char port[16];
    snprintf(port, sizeof port, "%d", h_free_port());
    char *argv[] = {(char *)proc_bin("EV_Central"), "--config", cfg, port, "127.0.0.1:1",
                    (char *)db, NULL};
    cr_assert_eq(proc_run(argv, NULL, 20000, r), 0, "%s", r->err);
}

/* One integer of a read-only query, or dflt. */
static long db_int(const char *path, const char *sql, long dflt)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long v = dflt;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int nlines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static long file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

Test(bounds, an_empty_file_as_database_is_refused_with_one_line_and_left_empty)
{
    char dir[] = "/tmp/evc-bounds-XXXXXX", db[128];
    cr_assert(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/empty.db", dir);
    int fd = open(db, O_WRONLY | O_CREAT | O_EXCL, 0640);
    cr_assert(fd >= 0);
    close(fd);
    for (int run = 0; run < 2; run++) { /* the second start is refused alike */
        proc_result r;
        run_central_on(db, &r);
        cr_expect_neq(r.exit_code, 0, "Central started on an empty database:\n%s", r.err);
        cr_expect_eq(nlines(r.err), 1, "not one line:\n%s", r.err);
        cr_expect(strstr(r.err, db) && strstr(r.err, "empty"), "%s", r.err);
        proc_result_free(&r);
        cr_expect_eq(file_size(db), 0, "the empty file was not left empty");
    }
    struct stat st;
    cr_assert_eq(stat(db, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0640, "mode %o", st.st_mode & 0777);
    /* --init-db is how it gets its tables. */
    char cfg[PATH_MAX];
    snprintf(cfg, sizeof cfg, "%s/config/evcharging.yaml", EVC_TEST_SOURCE_DIR);
    char *argv[] = {(char *)proc_bin("EV_Central"), "--config", cfg, "--init-db", "--db", db,
                    NULL};
    proc_result r;
    cr_assert_eq(proc_run(argv, NULL, 60000, &r), 0);
    cr_expect_eq(r.exit_code, 0, "--init-db on the empty file:\n%s", r.err);
    proc_result_free(&r);
    cr_expect_eq(db_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'users'", -1),
                 1);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(bounds, another_applications_database_is_refused_with_one_line_and_untouched)
{
    char dir[] = "/tmp/evc-bounds-XXXXXX", db[128];
    cr_assert(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/photos.db", dir);
    char cmd[400];
    snprintf(cmd, sizeof cmd,
             "sqlite3 %s \"CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT); INSERT INTO "
             "photos (path) VALUES ('cat.jpg');\"",
             db);
    cr_assert_eq(system(cmd), 0, "sqlite3 CLI");
    proc_result r;
    run_central_on(db, &r);
    cr_expect_neq(r.exit_code, 0, "Central started on another application's database");
    cr_expect_eq(nlines(r.err), 1, "not one line:\n%s", r.err);
    cr_expect(strstr(r.err, db) && strstr(r.err, "not an EVCharging database"), "%s", r.err);
    proc_result_free(&r);
    cr_expect_eq(db_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table'", -1),
                 1, "tables were added to another application's database");
    cr_expect_eq(db_int(db, "SELECT count(*) FROM photos", -1), 1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
