/* evc-loadgen: one process that simulates N CPs and M drivers against one
 * EV_Central over the configured transport, with a ramp, a warm-up, a steady
 * phase and a report (README.md). Runs as an evc role ("loadgen") so that
 * the transport, the store and the config are the product's own. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "evc/log.h"
#include "lg.h"

#define TICK_MS 10
#define WARMUP_CAP_MS 300000 /* not all keyed and supplying by then: measure anyway */
#define DRAIN_MS 3000
#define SAMPLES_CAP (4u * 1024u * 1024u)
/* Reported as they happen (stdout, with the wall clock): a tick this late,
 * a wheel turn this long (Central's heartbeat timeout is 3 s by default). */
#define LATE_TICK_US 250000u
#define LONG_TURN_US 1500000u

static const evc_role_option options[] = {
    {"cps", true, "N", NULL, "simulated CPs (monitor link + engine each); default 100", false},
    {"supplying", true, "S", NULL, "how many of them supply at 1 Hz telemetry; default all", false},
    {"drivers", true, "M", NULL, "looping drivers, each with its own extra CP; default 0", false},
    {"rate", true, "R", NULL, "CPs connected per second in the ramp; default 500", false},
    {"warmup", true, "SECONDS", NULL, "after the ramp, before measuring; default 5", false},
    {"duration", true, "SECONDS", NULL, "the steady phase measured; default 30", false},
    {"driver-pause-ms", true, "MS", NULL, "a looping driver's pause after a ticket; default 500 (Central's rate for a driver)",
     false},
    {"central", true, "HOST:PORT", NULL, "Central's monitor port; default 127.0.0.1:7001", false},
    {"central-pid", true, "PID", NULL, "EV_Central's pid for CPU/RSS; default: found in /proc",
     false},
    {"json", true, "FILE", NULL, "also write the report as JSON", false},
    {"label", true, "TEXT", NULL, "the report's name (a ladder rung)", false},
    {"provision", false, NULL, NULL,
     "write the CPs and drivers into store.database (Central stopped) and exit", true},
    {"restart", false, NULL, NULL,
     "Central will be restarted: monitors reconnect with EV_CP_M's backoff, engines re-hello; "
     "report the recovery", false},
    {"backoff-ms", true, "MIN:MAX", NULL, "with --restart: reconnection backoff; default 250:2000 "
     "(EV_CP_M's)", false},
    {"jitter", true, "PCT", NULL, "with --restart: add up to PCT % to each delay; default 50 "
     "(EV_CP_M's link client)", false},
    {"secret-cost", true, "COST", NULL, "store CP secrets as argon2id at this cost instead of the fast verifier (the path of typed secrets)",
     false},
    {NULL, false, NULL, NULL, NULL, false},
};


static size_t opt_size(evc_app *app, const char *name, size_t dflt)
{
    const char *v = evc_app_option(app, name);
    return v ? (size_t)strtoull(v, NULL, 10) : dflt;
}

static int parse_options(lg *g, evc_app *app, evc_error *err)
{
    g->ncps = opt_size(app, "cps", 100);
    g->nsupplying = opt_size(app, "supplying", g->ncps);
    if (g->nsupplying > g->ncps)
        g->nsupplying = g->ncps;
    g->ndrivers = opt_size(app, "drivers", 0);
    if (g->ndrivers > 999 || g->ncps > 999999)
        return evc_error_set(err, EVC_EINVAL, "at most 999999 CPs and 999 looping drivers");
    const char *r = evc_app_option(app, "rate");
    g->rate = r ? strtod(r, NULL) : 500.0;
    if (g->rate <= 0)
        g->rate = 500.0;
    g->warmup_ms = opt_size(app, "warmup", 5) * 1000u;
    g->duration_ms = opt_size(app, "duration", 30) * 1000u;
    g->driver_pause_ms = opt_size(app, "driver-pause-ms", 500);
    const char *c = evc_app_option(app, "central");
    snprintf(g->host, sizeof g->host, "%s", c ? c : "127.0.0.1:7001");
    char *colon = strrchr(g->host, ':');
    g->port = 7001;
    if (colon) {
        *colon = '\0';
        g->port = (uint16_t)atoi(colon + 1);
    }
    g->central_pid = (int)opt_size(app, "central-pid", 0);
    g->json_path = evc_app_option(app, "json");
    g->label = evc_app_option(app, "label");
    g->transport_name = evc_app_transport_name(app);
    return EVC_OK;
}

static int create(evc_app *app, void **state, evc_error *err)
{
    lg *g = calloc(1, sizeof *g);
    if (!g)
        return evc_error_set(err, EVC_ENOMEM, "loadgen: out of memory");
    g->app = app;
    g->loop = evc_app_loop(app);
    g->uv = evc_loop_native(g->loop);
    int rc = parse_options(g, app, err);
    if (rc != EVC_OK) {
        free(g);
        return rc;
    }
    *state = g;
    return EVC_OK;
}

static int command(evc_app *app)
{
    if (!evc_app_option(app, "provision"))
        return -1;
    evc_error err = {0};
    lg tmp; /* the command runs before create: its own options */
    memset(&tmp, 0, sizeof tmp);
    tmp.app = app;
    if (parse_options(&tmp, app, &err) != EVC_OK || lg_provision(&tmp, &err) != EVC_OK) {
        fprintf(stderr, "evc-loadgen: provision: %s\n", err.msg);
        return EVC_EXIT_FAILURE;
    }
    return EVC_EXIT_OK;
}

static void raise_fd_limit(size_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need + 64)
        fprintf(stderr, "evc-loadgen: open-files limit %llu is too low for %zu links\n",
                (unsigned long long)rl.rlim_cur, need);
}

static void wheel_add(lg *g, lg_cp *cp, size_t i)
{
    unsigned slot = (unsigned)(i % LG_WHEEL);
    cp->wheel_next = g->wheel[slot];
    g->wheel[slot] = cp;
}

static void start_steady(lg *g)
{
    g->phase_no = 2;
    g->steady_start_ms = evc_loop_now_ms(g->loop);
    g->c_steady0 = g->c;
    g->steady_event_seq = lg_last_event_seq(g);
    if (!g->central_pid)
        g->central_pid = lg_find_central_pid();
    if (g->central_pid)
        lg_proc_sample(g->central_pid, &g->cpu_ticks0, &g->rss_start_mb);
    bool ready = g->c.supplies_started >= g->nsupplying && g->c.auth_ok >= g->ntotal &&
                 g->c.keyed >= g->ntotal;
    printf("steady phase: %zu/%zu CPs accepted, %" PRIu64 " keyed, %" PRIu64
           "/%zu supplying, measuring %" PRIu64 " s%s\n",
           (size_t)g->c.auth_ok, g->ntotal, g->c.keyed, g->c.supplies_started, g->nsupplying,
           g->duration_ms / 1000, ready ? "" : " (warm-up cap reached: NOT all ready)");
    fflush(stdout);
}

static void end_steady(lg *g)
{
    g->phase_no = 3;
    g->steady_end_ms = evc_loop_now_ms(g->loop);
    g->c_steady1 = g->c;
    if (g->central_pid) {
        uint64_t ticks = 0;
        if (lg_proc_sample(g->central_pid, &ticks, &g->rss_mb) == 0) {
            double secs = (double)(g->steady_end_ms - g->steady_start_ms) / 1000.0;
            g->central_cpu_s = (double)(ticks - g->cpu_ticks0) / (double)sysconf(_SC_CLK_TCK);
            g->cpu_pct = secs > 0 ? 100.0 * g->central_cpu_s / secs : 0;
        }
    }
}

static void finish(lg *g)
{
    /* Telemetry sent in the steady phase and still unmatched after the
     * drain never came back: lost. */
    uint64_t now = lg_now_us();
    for (size_t i = 0; i < g->ntotal; i++) {
        lg_cp *cp = &g->cps[i];
        for (unsigned k = 0; k < LG_TELE_RING; k++)
            if (cp->tele_us[k] && now - cp->tele_us[k] > DRAIN_MS * 1000u)
                g->c.tele_lost++;
        /* Likewise an HB without its ACK for that long. */
        for (unsigned k = 0; k < cp->pend_n; k++)
            if (now - cp->pend_us[(cp->pend_head + k) % LG_PEND] > DRAIN_MS * 1000u)
                g->c.hb_unacked++;
    }
    lg_report(g);
    fflush(stdout);
    evc_app_quit(g->app, EVC_EXIT_OK);
}

/* Wall clock of a line, to set it beside Central's log. */
static void say_stall(lg *g, const char *what, uint64_t us)
{
    uint64_t w = evc_wall_ms();
    time_t secs = (time_t)(w / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    printf("%02d:%02d:%02d.%03u generator stall: %s %.0f ms late (phase %d)\n", tm.tm_hour,
           tm.tm_min, tm.tm_sec, (unsigned)(w % 1000), what, (double)us / 1000.0, g->phase_no);
    fflush(stdout);
}

static void wheel_turned(lg *g, uint64_t now_us)
{
    if (g->turn_start_us) {
        uint64_t turn = now_us - g->turn_start_us;
        int ph = g->phase_no & 3;
        if (turn > g->turn_max_us[ph]) {
            g->turn_max_us[ph] = turn;
            g->turn_max_at_ms[ph] = evc_wall_ms();
        }
        if (turn > LONG_TURN_US)
            say_stall(g, "wheel turn (each CP's HB period)", turn - 1000000u);
    }
    g->turn_start_us = now_us;
}

static void on_tick(evc_timer *t, void *arg)
{
    lg *g = arg;
    uint64_t now_us = lg_now_us(), now = evc_loop_now_ms(g->loop);
    if (g->lag_expect_us && g->phase_no == 2)
        lg_samples_add(&g->lag, now_us > g->lag_expect_us ? now_us - g->lag_expect_us : 0);
    if (g->lag_expect_us && now_us > g->lag_expect_us + LATE_TICK_US)
        say_stall(g, "tick", now_us - g->lag_expect_us);
    g->lag_expect_us = now_us + TICK_MS * 1000u;
    /* Ramp: rate/100 new CPs per tick, fractions carried. */
    if (g->phase_no == 0) {
        size_t due = (size_t)((double)(now - g->t0_ms) * g->rate / 1000.0) + 1;
        while (g->started < g->ntotal && g->started < due) {
            lg_cp *cp = &g->cps[g->started];
            lg_cp_connect(cp);
            wheel_add(g, cp, g->started);
            g->started++;
        }
        if (g->started == g->ntotal) {
            g->phase_no = 1;
            g->t0_ms = now;
            printf("ramp done: %zu CPs connecting\n", g->ntotal);
            fflush(stdout);
        }
    } else if (g->phase_no == 1) {
        bool ready = g->c.supplies_started >= g->nsupplying && g->c.auth_ok >= g->ntotal &&
                     g->c.keyed >= g->ntotal;
        if ((now - g->t0_ms >= g->warmup_ms && ready) || now - g->t0_ms >= WARMUP_CAP_MS)
            start_steady(g);
    } else if (g->phase_no == 2) {
        if (now - g->steady_start_ms >= g->duration_ms) {
            end_steady(g);
            g->t0_ms = now;
        }
    } else if (now - g->t0_ms >= DRAIN_MS) {
        evc_timer_close(t);
        g->tick = NULL;
        finish(g);
        return;
    }
    lg_restart_tick(g);
    /* One slot of the one-second wheel: each CP's HB and telemetry once a second. */
    for (lg_cp *cp = g->wheel[g->wheel_pos]; cp; cp = cp->wheel_next)
        lg_cp_tick(cp, now);
    g->wheel_pos = (g->wheel_pos + 1) % LG_WHEEL;
    if (g->wheel_pos == 0)
        wheel_turned(g, now_us);
    if (g->wheel_pos % 10 == 0)
        for (size_t i = 0; i < g->ndrivers; i++)
            lg_driver_tick(g, &g->drivers[i], now);
}

static int start(void *state, evc_error *err)
{
    lg *g = state;
    g->ntotal = g->ncps + g->ndrivers;
    raise_fd_limit(g->ntotal);
    g->cps = calloc(g->ntotal ? g->ntotal : 1, sizeof *g->cps);
    g->drivers = calloc(g->ndrivers ? g->ndrivers : 1, sizeof *g->drivers);
    if (!g->cps || !g->drivers)
        return evc_error_set(err, EVC_ENOMEM, "loadgen: out of memory for %zu CPs", g->ntotal);
    for (size_t i = 0; i < g->ntotal; i++) {
        lg_cp *cp = &g->cps[i];
        lg_cp_name(cp->id, sizeof cp->id, i, g->ncps);
        cp->is_loop_cp = i >= g->ncps;
        cp->wants_supply = i < g->nsupplying;
        if (cp->wants_supply)
            lg_driver_name(cp->driver, sizeof cp->driver, i, false);
        int rc = lg_cp_init(g, cp, err);
        if (rc != EVC_OK)
            return rc;
    }
    int rc = lg_load_keys(g, err);
    if (rc == EVC_OK)
        rc = lg_restart_init(g, err);
    if (rc == EVC_OK)
        rc = lg_bus_start(g, err);
    if (rc != EVC_OK)
        return rc;
    lg_samples_init(&g->hb_ack, SAMPLES_CAP);
    lg_samples_init(&g->tele_state, SAMPLES_CAP);
    lg_samples_init(&g->drv_auth, SAMPLES_CAP / 16);
    lg_samples_init(&g->menu_auth, SAMPLES_CAP / 16);
    lg_samples_init(&g->lag, SAMPLES_CAP / 16);
    lg_samples_init(&g->leg_to_engine, SAMPLES_CAP / 16);
    lg_samples_init(&g->leg_engine, SAMPLES_CAP / 16);
    lg_samples_init(&g->leg_to_driver, SAMPLES_CAP / 16);
    g->t0_ms = evc_loop_now_ms(g->loop);
    printf("evc-loadgen: %zu CPs (%zu supplying) + %zu looping drivers -> %s:%u over %s, "
           "ramp %.0f/s\n",
           g->ncps, g->nsupplying, g->ndrivers, g->host, g->port, g->transport_name, g->rate);
    fflush(stdout);
    return evc_loop_timer(g->loop, TICK_MS, TICK_MS, on_tick, g, &g->tick, err);
}

static void stop(void *state)
{
    lg *g = state;
    evc_timer_close(g->tick);
    g->tick = NULL;
    for (size_t i = 0; i < g->ntotal; i++)
        lg_cp_close(&g->cps[i]);
}

static void destroy(void *state)
{
    lg *g = state;
    /* The sessions closed in stop free themselves when their links' close
     * callbacks run: a few loop turns, since the app runs destroy after its
     * loop returned (one turn runs every close callback due). */
    for (int i = 0; i < 10; i++)
        uv_run(g->uv, UV_RUN_NOWAIT);
    for (size_t i = 0; i < g->ntotal; i++)
        evc_sealer_free(g->cps[i].sealer);
    for (size_t i = 0; i < g->ndrivers; i++)
        evc_sealer_free(g->drivers[i].sealer);
    lg_samples_free(&g->hb_ack);
    lg_samples_free(&g->tele_state);
    lg_samples_free(&g->drv_auth);
    lg_samples_free(&g->menu_auth);
    lg_samples_free(&g->leg_to_engine);
    lg_samples_free(&g->leg_engine);
    lg_samples_free(&g->leg_to_driver);
    lg_samples_free(&g->lag);
    lg_restart_free(g);
    free(g->cps);
    free(g->drivers);
    free(g);
}

int main(int argc, char **argv)
{
    static const evc_role role = {
        .program = "evc-loadgen",
        .name = "loadgen",
        .summary = "simulates N CPs and M drivers against one EV_Central and reports",
        .options = options,
        .needs_transport = true,
        .needs_store = true,
        .command = command,
        .create = create,
        .start = start,
        .stop = stop,
        .destroy = destroy,
    };
    return evc_app_main(&role, argc, argv);
}
