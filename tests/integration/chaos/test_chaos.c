/* test_chaos.c: issue 10's randomised crash test. Central, three unattended
 * CPs (engine + monitor) and two drivers with long services files run while,
 * every few seconds, one random program is SIGKILLed and started again a
 * moment later. Then the killing stops, every supply drains, everything
 * stops, and the ledger is checked against the database and against what the
 * engines themselves reported (chaos_checks.h): SPEC section 5, "no supply is
 * ever lost", under crashes of every program.
 *
 * The run is drawn from one seed (printed first, and again on failure):
 * which program dies, when, and for how long. EVC_CHAOS_SEED replays it
 * (the same kills at the same times; what the programs were doing at that
 * instant still depends on the machine). Built once per transport (H_BUS). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chaos_checks.h"
#include "harness.h"

#define UP_MS 30000 /* CPs registered, programs on the bus (Kafka: group joins) */
#define NCPS 3
#define NDRIVERS 2
#define SERVICES 1500 /* per driver: more than a run can use, denials included */
#define MAX_KILLS 1000

static h_env *env;

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(chaos, .fini = teardown);

/* ---- the run's parameters --------------------------------------------------- */

typedef struct chaos_cfg {
    unsigned long long seed;
    int kills;              /* EVC_CHAOS_KILLS */
    int gap_min, gap_max;   /* EVC_CHAOS_GAP_MIN_MS / _MAX_MS: between kills */
    int down_min, down_max; /* EVC_CHAOS_DOWN_MIN_MS / _MAX_MS: dead for */
    int supply_ms;          /* EVC_CHAOS_SUPPLY_MS: unattended supply length */
    int drain_ms;           /* EVC_CHAOS_DRAIN_MS: deadline for every supply to end */
} chaos_cfg;

static chaos_cfg cfg;

static int env_int(const char *name, int dflt, int min, int max)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return dflt;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    cr_assert(errno == 0 && *end == '\0' && v >= min && v <= max,
              "%s=%s: expected an integer in [%d, %d]", name, s, min, max);
    return (int)v;
}

static void read_cfg(void)
{
    const char *s = getenv("EVC_CHAOS_SEED");
    if (s && *s) {
        char *end = NULL;
        errno = 0;
        cfg.seed = strtoull(s, &end, 10);
        cr_assert(errno == 0 && *end == '\0', "EVC_CHAOS_SEED=%s: expected an integer", s);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        cfg.seed = ((unsigned long long)ts.tv_sec * 1000003ULL) ^ (unsigned long long)ts.tv_nsec ^
                   ((unsigned long long)getpid() << 16);
        cfg.seed %= 1000000000000ULL; /* short enough to copy from a log */
    }
    cfg.kills = env_int("EVC_CHAOS_KILLS", 7, 0, MAX_KILLS);
    cfg.gap_min = env_int("EVC_CHAOS_GAP_MIN_MS", 2000, 0, 600000);
    cfg.gap_max = env_int("EVC_CHAOS_GAP_MAX_MS", 6000, cfg.gap_min, 600000);
    cfg.down_min = env_int("EVC_CHAOS_DOWN_MIN_MS", 500, 0, 600000);
    cfg.down_max = env_int("EVC_CHAOS_DOWN_MAX_MS", 3000, cfg.down_min, 600000);
    cfg.supply_ms = env_int("EVC_CHAOS_SUPPLY_MS", 3000, 100, 600000);
    cfg.drain_ms = env_int("EVC_CHAOS_DRAIN_MS", 120000, 1000, 3600000);
}

static void print_replay(void)
{
    fprintf(stderr,
            "chaos: seed %llu; replay: EVC_CHAOS_SEED=%llu EVC_CHAOS_KILLS=%d "
            "EVC_CHAOS_GAP_MIN_MS=%d EVC_CHAOS_GAP_MAX_MS=%d EVC_CHAOS_DOWN_MIN_MS=%d "
            "EVC_CHAOS_DOWN_MAX_MS=%d EVC_CHAOS_SUPPLY_MS=%d ./tests/integ_chaos_%s --verbose\n",
            cfg.seed, cfg.seed, cfg.kills, cfg.gap_min, cfg.gap_max, cfg.down_min, cfg.down_max,
            cfg.supply_ms, H_BUS_NAME);
}

/* Every failure repeats the seed next to the logs H_ASSERT dumps. */
#define CH_ASSERT(cond, ...)                                                               \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            print_replay();                                                                \
            H_ASSERT(env, false, __VA_ARGS__);                                             \
        }                                                                                  \
    } while (0)

/* splitmix64: the whole schedule comes from the seed, drawn in a fixed order
 * (gap, victim, downtime) so that a replay makes the same kills. */
static unsigned long long rng_state;

static unsigned long long rng_next(void)
{
    unsigned long long z = (rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static int rng_between(int lo, int hi)
{
    return lo + (int)(rng_next() % (unsigned long long)(hi - lo + 1));
}

/* The random pauses are the test's design (when the next crash hits), not a
 * wait for the system: nothing is expected to be ready after them. */
static void chaos_pause(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the programs ------------------------------------------------------------ */

typedef enum victim_kind { V_CENTRAL, V_ENGINE, V_MONITOR, V_DRIVER } victim_kind;

typedef struct victim {
    victim_kind kind;
    char id[32];       /* CP or driver id */
    int port;          /* engine's port (engine and monitor) */
    const char *password;
    char services[PATH_MAX];
    h_proc *p;
    int runs;          /* generations retired so far */
} victim;

static victim vs[1 + 2 * NCPS + NDRIVERS];
static const int nvs = (int)(sizeof vs / sizeof vs[0]);

static h_proc *start(victim *v)
{
    char secret[64];
    switch (v->kind) {
    case V_CENTRAL:
        return h_start_central(env);
    case V_ENGINE:
        return h_start_engine(env, v->id, v->port);
    case V_MONITOR:
        snprintf(secret, sizeof secret, "secret-%s", v->id);
        return h_start_monitor(env, v->id, v->port, secret);
    case V_DRIVER:
        return h_start_driver(env, v->id, v->password, v->services);
    }
    return NULL;
}

/* The dead program's output is archived and its new generation takes its
 * slot: a long run does not run out of the harness's process slots. */
static void restart(victim *v)
{
    h_proc_retire(env, v->p, ++v->runs);
    v->p = h_proc_take_slot(env, v->p, start(v));
}

static const char *describe_exit(const h_proc *p, char *buf, size_t cap)
{
    if (WIFEXITED(p->status))
        snprintf(buf, cap, "exited %d", WEXITSTATUS(p->status));
    else
        snprintf(buf, cap, "died of signal %d", WTERMSIG(p->status));
    return buf;
}

/* A program the test did not kill must still be running; a driver may have
 * come to the end of its services (exit 0). */
static void expect_running(victim *v)
{
    if (h_alive(v->p))
        return;
    char how[64];
    describe_exit(v->p, how, sizeof how);
    if (v->kind == V_DRIVER && WIFEXITED(v->p->status) && WEXITSTATUS(v->p->status) == 0)
        return;
    CH_ASSERT(false, "%s %s by itself during the run (see %s)", v->p->name, how,
              v->p->err);
}

static void write_services(victim *v, const char *const order[NCPS])
{
    snprintf(v->services, sizeof v->services, "%s/services-%s.txt", env->dir, v->id);
    FILE *f = fopen(v->services, "w");
    cr_assert(f != NULL, "cannot write %s", v->services);
    fprintf(f, "# chaos: %d services in this driver's own CP order\n", SERVICES);
    for (int i = 0; i < SERVICES; i++)
        fprintf(f, "%s\n", order[i % NCPS]);
    fclose(f);
}

/* ---- draining ------------------------------------------------------------------ */

static const char *const cps[NCPS] = {"CP_001", "CP_002", "CP_003"};

static int64_t open_sessions(void)
{
    return h_db_int(env,
                    "select count(*) from sessions "
                    "where state in ('requested','authorised','supplying')",
                    -1);
}

static int64_t engine_pending(const char *cp)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s-engine.db", env->dir, cp);
    int64_t j = h_sqlite_int(
        path, "select count(*) from kv where namespace = 'cp_engine' and key = 'journal'", 1);
    int64_t o = h_sqlite_int(path, "select count(*) from outbox", 1);
    return j + o;
}

static const char *type_of(const json_t *m)
{
    const char *t = json_string_value(json_object_get(m, "type"));
    return t ? t : "";
}

static const char *corr_of(const json_t *m)
{
    const char *c = json_string_value(json_object_get(m, "correlation_id"));
    if (!c || !*c)
        c = json_string_value(json_object_get(json_object_get(m, "payload"), "session_id"));
    return c ? c : "";
}

/* A request Central has not answered this long after it was published was
 * lost by the bus, and no supply can come of it: ZeroMQ drops what is
 * published while Central is dead (no subscriber), and a Kafka group rejoin
 * takes about 10 s. */
#define REQUEST_LOST_MS 30000

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Central has handled every supply.request a driver published: each has a
 * supply.update ("received" comes first, denials included) under its
 * correlation id, or was lost (REQUEST_LOST_MS). Without this, a request
 * still waiting on the bus (Kafka: Central restarted and rejoining its group)
 * would start a supply after the test saw an empty database. *unanswered: the
 * first one left, for the report. */
static bool requests_answered(char *unanswered, size_t cap)
{
    json_t *req = h_bus_messages(env, "driver-events");
    json_t *upd = h_bus_messages(env, "central-events");
    json_t *seen = json_object();
    size_t i;
    json_t *m;
    json_array_foreach(upd, i, m)
    {
        if (strcmp(type_of(m), "supply.update") == 0)
            json_object_set_new(seen, corr_of(m), json_true());
    }
    bool ok = true;
    json_array_foreach(req, i, m)
    {
        if (strcmp(type_of(m), "supply.request") != 0 ||
            json_object_get(seen, corr_of(m)))
            continue;
        json_int_t ts = json_integer_value(json_object_get(m, "ts"));
        if (ts > 0 && wall_ms() - ts > REQUEST_LOST_MS)
            continue;
        snprintf(unanswered, cap, "%s", corr_of(m));
        ok = false;
        break;
    }
    json_decref(seen);
    json_decref(req);
    json_decref(upd);
    return ok;
}

/* Every supply over: Central holds no open session, has answered every
 * request, and no engine has a supply in its journal or a report waiting in
 * its outbox. The cheap checks come first; the bus is read only when they
 * pass. */
static bool drained(h_env *e, void *arg)
{
    (void)e;
    *(char *)arg = '\0'; /* only the newest poll's answer is reported */
    if (open_sessions() != 0)
        return false;
    for (int i = 0; i < NCPS; i++)
        if (engine_pending(cps[i]) != 0)
            return false;
    return requests_answered(arg, 80);
}

static void explain_not_drained(const char *unanswered)
{
    char buf[2048];
    if (*unanswered)
        fprintf(stderr, "chaos: not drained: Central never answered supply.request %s\n",
                unanswered);
    fprintf(stderr, "chaos: not drained: %lld open session(s) in Central's database: %s\n",
            (long long)open_sessions(),
            h_db_text(env,
                      "select group_concat(id || ' ' || cp_id || ' ' || driver_id || ' ' || "
                      "state, '; ') from sessions "
                      "where state in ('requested','authorised','supplying')",
                      buf, sizeof buf));
    for (int i = 0; i < NCPS; i++)
        fprintf(stderr, "chaos: %s: %lld (journal + outbox rows) in the engine's store\n", cps[i],
                (long long)engine_pending(cps[i]));
}

static bool api_sessions_idle(h_env *e, void *arg)
{
    (void)arg;
    json_t *root = NULL;
    h_api_sessions(e, &root);
    bool ok = root && json_array_size(json_object_get(root, "active")) == 0;
    json_decref(root);
    return ok;
}

/* ---- the run -------------------------------------------------------------------- */

Test(chaos, random_kills_then_every_supply_is_billed_once)
{
    read_cfg();
    rng_state = cfg.seed;
    print_replay();

    h_opts o = h_default_opts();
    o.unattended = true;
    o.plug_after_ms = 300;
    o.unplug_after_ms = cfg.supply_ms;
    /* Hundreds of Wh per supply, as in the run: a lost supply is
     * visible in cents, not only in Wh. */
    o.supply_w = 300000;
    o.wait_between_ms = 200;
    env = h_env_new(&o);
    cc_balance initial[8];
    int nbal = cc_read_balances(env, initial, 8);

    int nv = 0;
    vs[nv++] = (victim){.kind = V_CENTRAL, .id = "central"};
    vs[0].p = h_start_central(env);
    for (int i = 0; i < NCPS; i++) {
        victim *e = &vs[nv++], *m = &vs[nv++];
        *e = (victim){.kind = V_ENGINE};
        snprintf(e->id, sizeof e->id, "%s", cps[i]);
        h_start_cp(env, cps[i], &e->p, NULL, &e->port);
        *m = (victim){.kind = V_MONITOR, .port = e->port};
        snprintf(m->id, sizeof m->id, "%s", cps[i]);
        char name[64];
        snprintf(name, sizeof name, "%s-monitor", cps[i]);
        m->p = h_proc_find(env, name);
    }
    for (int i = 0; i < NCPS; i++) {
        char now[64];
        CH_ASSERT(h_wait_cp_state(env, cps[i], "ACTIVATED", UP_MS),
                  "%s: not ACTIVATED within %d ms (is '%s')", cps[i], UP_MS,
                  h_cp_state(env, cps[i], now, sizeof now));
    }
    static const char *const order1[NCPS] = {"CP_001", "CP_002", "CP_003"};
    static const char *const order2[NCPS] = {"CP_003", "CP_001", "CP_002"};
    victim *d1 = &vs[nv++], *d2 = &vs[nv++];
    *d1 = (victim){.kind = V_DRIVER, .id = "driver1", .password = "pass123"};
    *d2 = (victim){.kind = V_DRIVER, .id = "driver2", .password = "pass456"};
    write_services(d1, order1);
    write_services(d2, order2);
    d1->p = start(d1);
    d2->p = start(d2);
    cr_assert(nv == nvs);

    /* The crashes. */
    int64_t t0 = h_now_ms();
    for (int k = 0; k < cfg.kills; k++) {
        int gap = rng_between(cfg.gap_min, cfg.gap_max);
        chaos_pause(gap);
        victim *v = &vs[rng_between(0, nvs - 1)];
        int down = rng_between(cfg.down_min, cfg.down_max);
        expect_running(v);
        fprintf(stderr, "chaos: [+%6.1f s] kill %d/%d: %s (pid %d), back in %d ms\n",
                (double)(h_now_ms() - t0) / 1000.0, k + 1, cfg.kills, v->p->name, (int)v->p->pid,
                down);
        h_kill(v->p);
        chaos_pause(down);
        restart(v);
    }
    fprintf(stderr, "chaos: [+%6.1f s] no more kills: draining\n",
            (double)(h_now_ms() - t0) / 1000.0);

    /* No new request: the drivers go; what they asked for still runs to its
     * end (unattended engines unplug by themselves) and is billed. */
    h_stop(d1->p, 5000);
    h_stop(d2->p, 5000);
    for (int i = 0; i < nvs; i++)
        if (vs[i].kind != V_DRIVER)
            expect_running(&vs[i]);
    int64_t td = h_now_ms();
    char unanswered[80] = "";
    if (!h_wait_until(drained, env, unanswered, cfg.drain_ms)) {
        explain_not_drained(unanswered);
        CH_ASSERT(false, "the supplies did not drain within %d ms of the last kill",
                  cfg.drain_ms);
    }
    fprintf(stderr, "chaos: [+%6.1f s] drained in %.1f s\n", (double)(h_now_ms() - t0) / 1000.0,
            (double)(h_now_ms() - td) / 1000.0);
    CH_ASSERT(h_wait_until(api_sessions_idle, env, NULL, 5000),
              "/api/sessions still lists an active session after the database drained");

    /* The engines' reports, while the bus still runs (Kafka: kcat reads the
     * mock cluster). */
    json_t *cp_events = h_bus_messages(env, "cp-events");
    CH_ASSERT(json_array_size(cp_events) > 0, "nothing read from cp-events");

    /* Everything stops; a supply that started after the drain (a late
     * authorisation) ends now, by the engine's graceful stop, into its
     * outbox, where the store check below finds it. */
    h_env_stop_all(env);
    int fails = 0;
    for (int i = 0; i < NCPS; i++)
        fails += cc_check_engine_store(env, cps[i]);
    fails += cc_check_ledger(env, cp_events, initial, nbal);
    json_decref(cp_events);
    int crashes = h_env_crashes(env);
    CH_ASSERT(fails == 0, "%d ledger check(s) failed (chaos: FAIL lines above)", fails);
    CH_ASSERT(crashes == 0, "%d program(s) crashed or reported a sanitizer error", crashes);
    fprintf(stderr, "chaos: seed %llu passed: %d kills, ledger balanced\n", cfg.seed, cfg.kills);
}
