/* test_engine.c: a real engine (engine_core.c and the files it drives) on the
 * loopback test bus and a temporary SQLite store, with a fake monitor on its
 * TCP port and the test playing Central on the bus: authorise, plug,
 * telemetry, unplug, end report kept until acknowledged, and every way a
 * supply ends. */
#include <criterion/criterion.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "evc/plugin.h"

#define SID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define SID2 "7c9e6679-7425-40de-944b-e07fc1f90ae7"

typedef struct seen {
    char type[32], sid[64], reason[32], health[8], admin[16];
    int64_t wh, w, cents, started_at;
    bool accepted;
} seen;

static struct {
    evc_loop *loop;
    evc_plugin *store_plugin, *bus_plugin;
    evc_store *store;
    evc_bus *bus;
    engine *e;
    char dir[256];
    /* bus traffic from the engine */
    seen msgs[256];
    int n;
    /* fake monitor */
    evc_link_client *mon;
    evc_link *mon_link;
    evc_timer *pinger;
    bool pinging, hello_ok;
    char pong[8];
} T;

static int on_cp_event(void *arg, const evc_message *m)
{
    (void)arg;
    evc_envelope *env = NULL;
    cr_assert_eq(evc_envelope_decode(m->payload, m->payload_len, NULL, &env, NULL), EVC_OK);
    cr_assert_str_eq(m->key, "CP_001", "engines key their messages with the CP id");
    cr_assert_str_eq(env->source, "CP_001");
    if (T.n < 256) {
        seen *s = &T.msgs[T.n++];
        memset(s, 0, sizeof *s);
        const char *v;
        snprintf(s->type, sizeof s->type, "%s", env->type);
        snprintf(s->sid, sizeof s->sid, "%s", (v = evc_msg_str(env, "session_id")) ? v : "");
        snprintf(s->reason, sizeof s->reason, "%s", (v = evc_msg_str(env, "reason")) ? v : "");
        snprintf(s->health, sizeof s->health, "%s", (v = evc_msg_str(env, "health")) ? v : "");
        snprintf(s->admin, sizeof s->admin, "%s", (v = evc_msg_str(env, "admin_state")) ? v : "");
        evc_msg_int(env, "wh", &s->wh);
        evc_msg_int(env, "w", &s->w);
        evc_msg_int(env, "cents", &s->cents);
        evc_msg_int(env, "started_at", &s->started_at);
        evc_msg_bool(env, "accepted", &s->accepted);
        if (s->sid[0] && evc_uuid_valid(s->sid))
            cr_assert_str_eq(env->correlation_id, s->sid, "%s carries its supply's id", s->type);
    }
    evc_envelope_free(env);
    return EVC_OK;
}

static int count(const char *type)
{
    int k = 0;
    for (int i = 0; i < T.n; i++)
        k += strcmp(T.msgs[i].type, type) == 0;
    return k;
}

static const seen *last(const char *type)
{
    for (int i = T.n - 1; i >= 0; i--)
        if (strcmp(T.msgs[i].type, type) == 0)
            return &T.msgs[i];
    return NULL;
}

typedef struct want {
    const char *type;
    int n;
} want;

static bool have(void *arg)
{
    want *w = arg;
    return count(w->type) >= w->n;
}

static void wait_for(const char *type, int n)
{
    want w = {type, n};
    cr_assert_eq(evc_loop_run_until(T.loop, have, &w, 5000), EVC_OK,
                 "waited for %d x %s, got %d", n, type, count(type));
}

static void central(const char *type, const char *key, const char *corr, const char *payload)
{
    evc_error err = {0};
    cr_assert_eq(evc_msg_publish(T.bus, "central-events", key, type, "central", corr, payload,
                                 NULL, NULL, NULL, &err),
                 EVC_OK, "%s", err.msg);
}

static void heartbeat(void) { central("central.heartbeat", "central", NULL, "{\"seq\":1}"); }

/* A cp.authorise as Central sends it, expiring `ttl_ms` from now (Central's
 * clock is this machine's). */
static void authorise_ttl(const char *sid, int64_t ttl_ms)
{
    char p[320];
    snprintf(p, sizeof p,
             "{\"cp_id\":\"CP_001\",\"session_id\":\"%s\",\"driver_id\":\"driver1\","
             "\"price_cents_per_kwh\":35,\"expires_at\":%lld}",
             sid, (long long)((int64_t)evc_wall_ms() + ttl_ms));
    central("cp.authorise", "CP_001", sid, p);
}

static void authorise(const char *sid) { authorise_ttl(sid, 4000); }

/* ---- fake monitor ----------------------------------------------------------- */

static void mon_frame(evc_link *l, const evc_frame_event *ev, void *arg)
{
    (void)l;
    (void)arg;
    if (strcmp(ev->opcode, "HELLO_OK") == 0)
        T.hello_ok = true;
    else if (strcmp(ev->opcode, "PONG") == 0 && ev->nfields == 2)
        snprintf(T.pong, sizeof T.pong, "%s", ev->fields[1].data);
}

static void mon_open(evc_link *l, void *arg)
{
    (void)arg;
    T.mon_link = l;
    evc_frame_field f[] = {EVC_FRAME_STR("CP_001")};
    evc_link_send(l, "HELLO", f, 1, NULL);
}

static void mon_close(evc_link *l, const char *reason, void *arg)
{
    (void)l;
    (void)reason;
    (void)arg;
    T.mon_link = NULL;
}

static void mon_ping(evc_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    if (T.pinging && T.mon_link) {
        evc_frame_field f[] = {EVC_FRAME_STR("7")};
        evc_link_send(T.mon_link, "PING", f, 1, NULL);
    }
}

static bool monitor_ready(void *arg)
{
    (void)arg;
    return T.hello_ok && T.e->monitor_present && T.pong[0];
}

/* ---- fixture ------------------------------------------------------------- */

static void start_engine(void (*tune)(engine_cfg *))
{
    evc_error err = {0};
    engine *e = calloc(1, sizeof *e);
    engine_cfg_defaults(&e->cfg);
    snprintf(e->cfg.listen.host, sizeof e->cfg.listen.host, "127.0.0.1");
    e->cfg.listen.port = 0;
    e->cfg.telemetry_interval_ms = 100;
    e->cfg.power_seed = 1;
    if (tune)
        tune(&e->cfg);
    engine_power_init(&e->power, e->cfg.power_w, e->cfg.power_variation_pct, 1);
    e->loop = T.loop;
    e->bus = T.bus;
    e->store = T.store;
    e->topic_cp = "cp-events";
    e->topic_central = "central-events";
    T.e = e;
    cr_assert_eq(engine_core_start(e, &err), EVC_OK, "%s", err.msg);
    evc_link_handlers h = {.on_open = mon_open, .on_frame = mon_frame, .on_close = mon_close};
    cr_assert_eq(evc_link_connect(T.loop, "127.0.0.1", evc_link_server_port(e->server), NULL, &h,
                                  NULL, &T.mon, &err),
                 EVC_OK, "%s", err.msg);
    T.pinging = true;
    cr_assert_eq(evc_loop_timer(T.loop, 0, 100, mon_ping, NULL, &T.pinger, &err), EVC_OK);
    cr_assert_eq(evc_loop_run_until(T.loop, monitor_ready, NULL, 5000), EVC_OK,
                 "the monitor's HELLO and PING are answered");
    cr_assert_str_eq(e->cp_id, "CP_001");
    wait_for("cp.hello", 1);
}

static void setup(void)
{
    memset(&T, 0, sizeof T);
    signal(SIGPIPE, SIG_IGN); /* as evc_app_main does: a peer may close mid-write */
    evc_error err = {0};
    char pdir[600];
    snprintf(pdir, sizeof pdir, "%s/plugins", EVC_TEST_BINARY_DIR);
    evc_plugin_search search = {.cli_dir = pdir};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_STORE, "sqlite", &search, &T.store_plugin, NULL, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "loopback", &search, &T.bus_plugin, NULL,
                                 &err),
                 EVC_OK, "%s", err.msg);
    const char *tmp = getenv("TMPDIR");
    snprintf(T.dir, sizeof T.dir, "%s/evc-cpe-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(T.dir));
    char db[300];
    snprintf(db, sizeof db, "%s/engine.db", T.dir);
    cr_assert_eq(evc_loop_new(&T.loop, &err), EVC_OK);
    evc_store_params sp = {.struct_size = sizeof sp, .database = db};
    cr_assert_eq(evc_store_open(T.loop, T.store_plugin, &sp, &T.store, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_eq(evc_store_start(T.store, &err), EVC_OK, "%s", err.msg);
    evc_transport_params tp = {.struct_size = sizeof tp, .endpoint = "x", .client_id = "t",
                               .group_id = "t"};
    cr_assert_eq(evc_bus_open(T.loop, T.bus_plugin, &tp, &T.bus, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe(T.bus, "cp-events", on_cp_event, NULL, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(T.bus, &err), EVC_OK, "%s", err.msg);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    evc_timer_close(T.pinger);
    evc_link_client_close(T.mon);
    if (T.e)
        engine_core_stop(T.e);
    evc_bus_close(T.bus);
    engine_core_free(T.e);
    evc_store_close(T.store);
    evc_loop_free(T.loop);
    evc_plugin_unload(T.bus_plugin);
    evc_plugin_unload(T.store_plugin);
    nftw(T.dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(engine, .init = setup, .fini = teardown, .timeout = 30);

static int64_t outbox_pending(void)
{
    int64_t n = -1;
    cr_assert_eq(engine_outbox_pending(T.store, &n, NULL), EVC_OK);
    return n;
}

static bool outbox_empty(void *arg)
{
    (void)arg;
    return outbox_pending() == 0;
}

static void supply_until_telemetry(int ticks)
{
    authorise(SID);
    wait_for("cp.authorise_reply", 1);
    cr_assert(last("cp.authorise_reply")->accepted, "refused: %s",
              last("cp.authorise_reply")->reason);
    cr_assert_eq(T.e->phase, ENGINE_AUTHORISED);
    engine_supply_plug(T.e, true);
    wait_for("supply.started", 1);
    cr_assert_gt(last("supply.started")->started_at, 0);
    wait_for("supply.telemetry", ticks);
}

/* ---- tests ------------------------------------------------------------------ */

Test(engine, a_supply_from_authorisation_to_acknowledged_end)
{
    start_engine(NULL);
    heartbeat();
    supply_until_telemetry(5);
    const seen *t = last("supply.telemetry");
    cr_assert(t->w >= 7030 && t->w <= 7770, "%lld W", (long long)t->w);
    cr_assert_eq(t->cents, (t->wh * 35 + 500) / 1000);
    engine_supply_unplug(T.e, true);
    wait_for("supply.ended", 1);
    const seen *end = last("supply.ended");
    cr_assert_str_eq(end->reason, "unplugged");
    cr_assert_str_eq(end->sid, SID);
    cr_assert_eq(end->wh, last("supply.telemetry")->wh,
                 "the last telemetry shows what is billed");
    cr_assert_gt(end->wh, 0);
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    cr_assert_eq(outbox_pending(), 1, "kept until Central acknowledges");
    central("supply.end_ack", "CP_001", SID, "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\"}");
    cr_assert_eq(evc_loop_run_until(T.loop, outbox_empty, NULL, 5000), EVC_OK);
    /* A repeated authorisation of another session works again. */
    authorise(SID2);
    wait_for("cp.authorise_reply", 2);
    cr_assert(last("cp.authorise_reply")->accepted);
}

Test(engine, refusals_follow_the_decision_table)
{
    start_engine(NULL);
    engine_toggle_ko(T.e);
    wait_for("cp.status", 1);
    cr_assert_str_eq(last("cp.status")->health, "KO");
    authorise(SID);
    wait_for("cp.authorise_reply", 1);
    cr_assert_not(last("cp.authorise_reply")->accepted);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "engine_ko");
    engine_toggle_ko(T.e);
    central("cp.command", "CP_001", NULL, "{\"cp_id\":\"CP_001\",\"command\":\"stop\"}");
    wait_for("cp.status", 3);
    cr_assert_str_eq(last("cp.status")->admin, "STOPPED");
    authorise(SID);
    wait_for("cp.authorise_reply", 2);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "stopped");
    central("cp.command", "CP_001", NULL, "{\"cp_id\":\"CP_001\",\"command\":\"resume\"}");
    wait_for("cp.status", 4);
    cr_assert_str_eq(last("cp.status")->admin, "IN_SERVICE");
    authorise(SID);
    wait_for("cp.authorise_reply", 3);
    cr_assert(last("cp.authorise_reply")->accepted);
    authorise(SID2);
    wait_for("cp.authorise_reply", 4);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "busy");
    /* Someone else's and malformed messages change nothing. */
    central("cp.authorise", "CP_002", SID2,
            "{\"cp_id\":\"CP_002\",\"session_id\":\"" SID2 "\",\"driver_id\":\"d\","
            "\"price_cents_per_kwh\":1}");
    central("cp.authorise", "CP_001", NULL, "{\"cp_id\":\"CP_001\"}");
    evc_bus_publish(T.bus, "central-events", "CP_001", "not json", 8, NULL, NULL, NULL);
    authorise(SID2); /* in order behind them on the loopback bus */
    wait_for("cp.authorise_reply", 5);
    cr_assert_eq(count("cp.authorise_reply"), 5, "nothing answered the others");
    cr_assert_str_eq(last("cp.authorise_reply")->sid, SID2);
    cr_assert_str_eq(T.e->j.session_id, SID);
    cr_assert_geq(T.e->dropped, 2, "malformed messages are counted");
}

static bool pong_again(void *arg)
{
    (void)arg;
    return T.pong[0] != '\0';
}

Test(engine, garbage_on_the_monitor_port_leaves_the_monitor_served)
{
    start_engine(NULL);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(evc_link_server_port(T.e->server)),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char junk[8192];
    srand(11);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(rand() % 256);
    cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    T.pong[0] = '\0';
    cr_assert_eq(evc_loop_run_until(T.loop, pong_again, NULL, 5000), EVC_OK);
    cr_assert(T.e->monitor_present);
}

static bool pong_is_ko(void *arg)
{
    (void)arg;
    return strcmp(T.pong, "KO") == 0;
}

Test(engine, a_fault_during_a_supply_ends_it)
{
    start_engine(NULL);
    supply_until_telemetry(2);
    engine_toggle_ko(T.e);
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "fault");
    cr_assert_eq(evc_loop_run_until(T.loop, pong_is_ko, NULL, 5000), EVC_OK,
                 "the monitor hears KO at its next PING");
}

Test(engine, central_stop_during_a_supply_ends_it)
{
    start_engine(NULL);
    supply_until_telemetry(2);
    central("cp.command", "CP_001", NULL, "{\"cp_id\":\"CP_001\",\"command\":\"stop\"}");
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "stopped");
}

static void short_monitor_timeout(engine_cfg *c) { c->monitor_timeout_ms = 400; }

Test(engine, a_lost_monitor_ends_the_supply_and_blocks_new_ones)
{
    start_engine(short_monitor_timeout);
    supply_until_telemetry(1);
    T.pinging = false; /* the monitor hangs */
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "monitor_lost");
    cr_assert_not(T.e->monitor_present);
    authorise(SID2);
    wait_for("cp.authorise_reply", 2);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "no_monitor");
}

static void short_plug_timeout(engine_cfg *c) { c->plug_timeout_ms = 300; }

Test(engine, an_authorisation_expires_without_a_plug)
{
    start_engine(short_plug_timeout);
    authorise(SID);
    wait_for("supply.ended", 1);
    const seen *end = last("supply.ended");
    cr_assert_str_eq(end->reason, "not_plugged");
    cr_assert_eq(end->wh, 0);
    cr_assert_eq(end->started_at, 0, "never plugged: started_at 0");
}

static void unattended(engine_cfg *c)
{
    c->unattended = true;
    c->plug_after_ms = 100;
    c->unplug_after_ms = 0;
    c->target_wh = 2;
    c->power_w = 20000; /* 2 Wh in 360 ms */
}

Test(engine, unattended_mode_plugs_and_unplugs_at_the_target)
{
    start_engine(unattended);
    authorise(SID);
    wait_for("supply.ended", 1);
    cr_assert_eq(count("supply.started"), 1);
    cr_assert_str_eq(last("supply.ended")->reason, "unplugged");
    cr_assert_geq(last("supply.ended")->wh, 2);
}

static void fast_retry(engine_cfg *c)
{
    c->outbox_retry_ms = 200;
    c->central_timeout_ms = 300;
}

Test(engine, end_reports_are_resent_until_acknowledged)
{
    start_engine(fast_retry);
    supply_until_telemetry(1);
    engine_supply_unplug(T.e, true);
    wait_for("supply.ended", 3); /* Central is silent: re-sent on the timer */
    /* Central comes back: everything at once, then the ack stops it. */
    int before = count("supply.ended");
    heartbeat();
    wait_for("supply.ended", before + 1);
    wait_for("cp.hello", 2);
    central("supply.end_ack", "CP_001", SID, "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\"}");
    cr_assert_eq(evc_loop_run_until(T.loop, outbox_empty, NULL, 5000), EVC_OK);
}

Test(engine, a_quick_central_restart_gets_the_outbox_again)
{
    start_engine(NULL); /* outbox_retry_ms 5000: only the restart re-sends */
    central("central.heartbeat", "central", NULL, "{\"seq\":1,\"started_at\":1000}");
    supply_until_telemetry(1);
    engine_supply_unplug(T.e, true);
    wait_for("supply.ended", 1);
    central("central.heartbeat", "central", NULL, "{\"seq\":2,\"started_at\":1000}");
    central("central.heartbeat", "central", NULL, "{\"seq\":1,\"started_at\":2000}");
    wait_for("supply.ended", 2);
    cr_assert_eq(count("supply.ended"), 2, "the same Central's heartbeats re-send nothing");
    cr_assert_geq(count("cp.hello"), 2);
}

Test(engine, menu_requests_need_central)
{
    start_engine(fast_retry);
    engine_send_request(T.e, "driver1");
    cr_assert_eq(count("supply.request"), 0, "refused: Unable to connect to CENTRAL");
    heartbeat();
    wait_for("cp.hello", 2);
    engine_send_request(T.e, "driver1");
    wait_for("supply.request", 1);
}

Test(engine, a_graceful_stop_reports_the_supply_in_progress)
{
    start_engine(NULL);
    supply_until_telemetry(2);
    engine_core_stop(T.e);
    wait_for("supply.ended", 1);
    cr_assert_str_eq(last("supply.ended")->reason, "engine_restart");
    cr_assert_eq(outbox_pending(), 1, "re-sent at the next start until acknowledged");
    engine_core_free(T.e);
    T.e = NULL;
}

/* Issue 10, evidence 1: Kafka hands the engine a cp.authorise again after
 * the supply it started has ended (and been reported). The engine remembers
 * the session as ended and never supplies it twice. */
Test(engine, an_authorisation_delivered_again_after_its_end_is_refused)
{
    start_engine(NULL);
    supply_until_telemetry(1);
    engine_supply_unplug(T.e, true);
    wait_for("supply.ended", 1);
    authorise(SID); /* the same session, redelivered */
    wait_for("cp.authorise_reply", 2);
    const seen *r = last("cp.authorise_reply");
    cr_assert_str_eq(r->sid, SID);
    cr_assert_not(r->accepted, "a session that ended here was accepted again");
    cr_assert_str_eq(r->reason, "session_ended");
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    /* Even after Central acknowledged the report (the outbox no longer
     * knows the session). */
    central("supply.end_ack", "CP_001", SID, "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\"}");
    cr_assert_eq(evc_loop_run_until(T.loop, outbox_empty, NULL, 5000), EVC_OK);
    authorise(SID);
    wait_for("cp.authorise_reply", 3);
    cr_assert_not(last("cp.authorise_reply")->accepted);
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
}

/* Issue 10, evidence 2: an authorisation that reaches the engine after the
 * deadline Central set (a Kafka group rejoin took 9 s) is refused, so no
 * energy flows under a session Central has denied. */
Test(engine, an_authorisation_past_its_expiry_is_refused)
{
    start_engine(NULL);
    authorise_ttl(SID, -1); /* expired a millisecond ago on Central's clock */
    wait_for("cp.authorise_reply", 1);
    cr_assert_not(last("cp.authorise_reply")->accepted);
    cr_assert_str_eq(last("cp.authorise_reply")->reason, "expired");
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    /* One without any expiry is not Central's: dropped, unanswered. */
    central("cp.authorise", "CP_001", SID2,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID2 "\",\"driver_id\":\"driver1\","
            "\"price_cents_per_kwh\":35}");
    authorise(SID2);
    wait_for("cp.authorise_reply", 2);
    cr_assert_eq(count("cp.authorise_reply"), 2, "the one without expires_at is not answered");
    cr_assert(last("cp.authorise_reply")->accepted);
}

/* Central says it does not hold the session open: the supply ends at once
 * and its energy is reported (to be billed), like any other end. */
Test(engine, a_cancel_from_central_ends_the_supply_and_reports_it)
{
    start_engine(NULL);
    supply_until_telemetry(2);
    central("cp.cancel", "CP_001", SID2,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID2 "\",\"reason\":\"not_authorised\"}");
    central("cp.cancel", "CP_001", SID,
            "{\"cp_id\":\"CP_001\",\"session_id\":\"" SID "\",\"reason\":\"not_authorised\"}");
    wait_for("supply.ended", 1);
    const seen *end = last("supply.ended");
    cr_assert_str_eq(end->sid, SID, "only the session named is cancelled");
    cr_assert_str_eq(end->reason, "cancelled");
    cr_assert_eq(end->wh, last("supply.telemetry")->wh, "its energy so far is reported");
    cr_assert_eq(T.e->phase, ENGINE_IDLE);
    cr_assert_eq(outbox_pending(), 1, "reported until Central acknowledges");
}
