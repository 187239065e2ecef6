/* test_journal.c: the engine's journal and outbox against a real SQLite store
 * in a temporary directory: recovery after a crash (R31), reports kept until
 * acknowledged and re-sent (R33). */
#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_journal.h"
#include "evc/msg.h"
#include "evc/plugin.h"

#define SID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define SID2 "7c9e6679-7425-40de-944b-e07fc1f90ae7"
#define TOPIC "cp-events"

static evc_plugin *plugin;
static evc_loop *loop;
static evc_store *store;
static char dir[256], db[300];

static void open_store(void)
{
    evc_error err = {0};
    evc_store_params p = {.struct_size = sizeof p, .database = db, .config = NULL};
    cr_assert_eq(evc_store_open(loop, plugin, &p, &store, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_store_start(store, &err), EVC_OK, "%s", err.msg);
}

/* A restart: everything written so far must survive it. */
static void reopen_store(void)
{
    evc_store_close(store);
    store = NULL;
    open_store();
}

static void setup(void)
{
    char pdir[600];
    snprintf(pdir, sizeof pdir, "%s/plugins", EVC_TEST_BINARY_DIR);
    evc_plugin_search search = {.cli_dir = pdir};
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_STORE, "sqlite", &search, &plugin, NULL, &err), EVC_OK,
                 "%s", err.msg);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/evc-cpe-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/engine.db", dir);
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
    open_store();
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
    evc_store_close(store);
    evc_loop_free(loop);
    evc_plugin_unload(plugin);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(journal, .init = setup, .fini = teardown);

static engine_journal sample(const char *sid, int64_t wh)
{
    engine_journal j;
    memset(&j, 0, sizeof j);
    snprintf(j.cp_id, sizeof j.cp_id, "CP_001");
    snprintf(j.session_id, sizeof j.session_id, "%s", sid);
    snprintf(j.driver_id, sizeof j.driver_id, "driver1");
    j.price_cents_per_kwh = 35;
    j.authorised_at = 1700000000000;
    j.started_at = 1700000002000;
    j.wh = wh;
    return j;
}

/* ---- sends recorded by the outbox ---------------------------------------- */

typedef struct sent {
    int n;
    char type[32], topic[32], key[32], corr[40], sid[40], reason[32], driver[32];
    int64_t wh, started_at, ended_at;
} sent;

static int record(void *arg, const char *topic, const char *key, const evc_envelope *env)
{
    sent *s = arg;
    s->n++;
    snprintf(s->type, sizeof s->type, "%s", env->type);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    snprintf(s->key, sizeof s->key, "%s", key);
    snprintf(s->corr, sizeof s->corr, "%s", env->correlation_id ? env->correlation_id : "");
    const char *v;
    snprintf(s->sid, sizeof s->sid, "%s", (v = evc_msg_str(env, "session_id")) ? v : "");
    snprintf(s->reason, sizeof s->reason, "%s", (v = evc_msg_str(env, "reason")) ? v : "");
    snprintf(s->driver, sizeof s->driver, "%s", (v = evc_msg_str(env, "driver_id")) ? v : "");
    evc_msg_int(env, "wh", &s->wh);
    evc_msg_int(env, "started_at", &s->started_at);
    evc_msg_int(env, "ended_at", &s->ended_at);
    return EVC_OK;
}

static sent flush(int64_t now, bool all)
{
    sent s;
    memset(&s, 0, sizeof s);
    evc_error err = {0};
    unsigned n = 0;
    cr_assert_eq(engine_outbox_flush(store, now, 5000, all, record, &s, &n, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_eq((int)n, s.n);
    return s;
}

static int64_t pending(void)
{
    int64_t n = -1;
    cr_assert_eq(engine_outbox_pending(store, &n, NULL), EVC_OK);
    return n;
}

/* ---- text form ------------------------------------------------------------ */

Test(journal, text_form_round_trips)
{
    engine_journal j = sample(SID, 1234), back;
    char buf[512];
    int n = engine_journal_encode(&j, buf, sizeof buf);
    cr_assert_gt(n, 0);
    cr_assert_eq(engine_journal_decode(buf, (size_t)n, &back), 0);
    cr_assert_eq(memcmp(&j, &back, sizeof j), 0);
    cr_assert_eq(engine_journal_encode(&j, buf, 10), -1, "too small a buffer is refused");
}

Test(journal, malformed_text_is_refused)
{
    const char *bad[] = {
        "", "v1", "v2|CP|" SID "|d|35|1|2|3", "v1|CP|" SID "|d|35|1|2",
        "v1|CP|" SID "|d|35|1|2|3|4", "v1||" SID "|d|35|1|2|3", "v1|CP|" SID "|d|-35|1|2|3",
        "v1|CP|" SID "|d|35|1|2|3x", "v1|CP|" SID "|d|35|1|2|99999999999999999999",
    };
    engine_journal j;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(engine_journal_decode(bad[i], strlen(bad[i]), &j), -1, "'%s'", bad[i]);
    srand(5);
    char noise[300];
    for (int i = 0; i < 5000; i++) {
        size_t n = (size_t)(rand() % (int)sizeof noise);
        for (size_t k = 0; k < n; k++)
            noise[k] = (char)(rand() % 256);
        engine_journal_decode(noise, n, &j); /* must not crash */
    }
}

/* ---- recovery (R31) ------------------------------------------------------- */

Test(journal, nothing_to_recover_on_a_clean_start)
{
    bool found = true;
    evc_error err = {0};
    cr_assert_eq(engine_journal_recover(store, TOPIC, 1700000009000, NULL, &found, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert_not(found);
    cr_assert_eq(pending(), 0);
}

Test(journal, a_crash_mid_supply_is_reported_once_with_the_last_journalled_energy)
{
    evc_error err = {0};
    engine_journal j = sample(SID, 0);
    for (int tick = 1; tick <= 30; tick++) { /* the telemetry ticks */
        j.wh = tick * 2;
        cr_assert_eq(engine_journal_save(store, &j, &err), EVC_OK, "%s", err.msg);
    }
    reopen_store(); /* the engine was killed and restarts */

    engine_journal got;
    bool found = false;
    cr_assert_eq(engine_journal_recover(store, TOPIC, 1700000099000, &got, &found, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert(found);
    cr_assert_eq(got.wh, 60);
    cr_assert_eq(pending(), 1);
    sent s = flush(1700000099000, false);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.type, "supply.ended");
    cr_assert_str_eq(s.topic, TOPIC);
    cr_assert_str_eq(s.key, "CP_001");
    cr_assert_str_eq(s.corr, SID);
    cr_assert_str_eq(s.sid, SID);
    cr_assert_str_eq(s.driver, "driver1");
    cr_assert_str_eq(s.reason, "engine_restart");
    cr_assert_eq(s.wh, 60);
    cr_assert_eq(s.started_at, 1700000002000);
    cr_assert_eq(s.ended_at, 1700000099000);

    /* A second restart finds no journal: the supply is not reported twice,
     * but its report is still in the outbox until acknowledged. */
    reopen_store();
    found = true;
    cr_assert_eq(engine_journal_recover(store, TOPIC, 1700000199000, NULL, &found, &err), EVC_OK);
    cr_assert_not(found);
    cr_assert_eq(pending(), 1);
}

Test(journal, a_corrupt_journal_is_reported_and_removed)
{
    evc_error err = {0};
    cr_assert_eq(evc_store_kv_put(store, ENGINE_KV_NS, ENGINE_KV_JOURNAL, "garbage", 7, &err),
                 EVC_OK);
    bool found = false;
    cr_assert_eq(engine_journal_recover(store, TOPIC, 1, NULL, &found, &err), EVC_ECORRUPT);
    cr_assert(strstr(err.msg, "garbage"), "%s", err.msg);
    cr_assert_eq(engine_journal_recover(store, TOPIC, 1, NULL, &found, &err), EVC_OK);
    cr_assert_not(found);
}

Test(journal, finishing_clears_the_journal_and_queues_the_report_together)
{
    evc_error err = {0};
    engine_journal j = sample(SID, 4321);
    cr_assert_eq(engine_journal_save(store, &j, &err), EVC_OK);
    cr_assert_eq(engine_journal_finish(store, &j, 1700000050000, "unplugged", TOPIC, &err), EVC_OK,
                 "%s", err.msg);
    engine_journal back;
    cr_assert_eq(engine_journal_load(store, &back, &err), EVC_ENOTFOUND);
    cr_assert_eq(pending(), 1);
    sent s = flush(1700000050000, false);
    cr_assert_str_eq(s.reason, "unplugged");
    cr_assert_eq(s.wh, 4321);
}

/* ---- outbox (R33) --------------------------------------------------------- */

Test(journal, reports_are_resent_until_acknowledged)
{
    evc_error err = {0};
    engine_journal j = sample(SID, 100);
    int64_t t = 1700000000000;
    cr_assert_eq(engine_journal_finish(store, &j, t, "unplugged", TOPIC, &err), EVC_OK);
    cr_assert_eq(flush(t, false).n, 1, "sent at once");
    cr_assert_eq(flush(t, true).n, 1, "'all' re-sends even what was sent this very ms");
    cr_assert_eq(flush(t, false).n, 0);
    cr_assert_eq(flush(t + 10, false).n, 0, "not again before outbox_retry_ms");
    cr_assert_eq(flush(t + 4999, false).n, 0);
    cr_assert_eq(flush(t + 5000, false).n, 1, "re-sent after outbox_retry_ms");
    cr_assert_eq(flush(t + 5001, true).n, 1, "everything at once when Central comes back");
    cr_assert_eq(flush(t + 5002, false).n, 0, "and that counts as an attempt");

    reopen_store(); /* still there after a restart */
    cr_assert_eq(pending(), 1);
    cr_assert_eq(flush(t + 10006, false).n, 1);

    bool found = false;
    cr_assert_eq(engine_outbox_ack(store, SID, &found, &err), EVC_OK, "%s", err.msg);
    cr_assert(found);
    cr_assert_eq(pending(), 0);
    cr_assert_eq(flush(t + 999999, true).n, 0, "acknowledged: never sent again");
    cr_assert_eq(engine_outbox_ack(store, SID, &found, &err), EVC_OK, "a repeated ack is fine");
    cr_assert_not(found);
}

Test(journal, an_ack_removes_only_its_own_session)
{
    evc_error err = {0};
    engine_journal a = sample(SID, 10), b = sample(SID2, 20);
    cr_assert_eq(engine_journal_finish(store, &a, 1000, "unplugged", TOPIC, &err), EVC_OK);
    cr_assert_eq(engine_journal_finish(store, &b, 2000, "fault", TOPIC, &err), EVC_OK);
    cr_assert_eq(flush(2000, false).n, 2);
    bool found = false;
    cr_assert_eq(engine_outbox_ack(store, SID2, &found, &err), EVC_OK);
    cr_assert(found);
    sent s = flush(99999, true);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.sid, SID);
    cr_assert_eq(engine_outbox_ack(store, "unknown-session", &found, &err), EVC_OK);
    cr_assert_not(found);
    cr_assert_eq(engine_outbox_ack(store, "", &found, &err), EVC_EINVAL);
}

Test(journal, many_reports_are_all_flushed)
{
    evc_error err = {0};
    for (int i = 0; i < 75; i++) {
        char sid[40];
        snprintf(sid, sizeof sid, "session-%03d", i);
        engine_journal j = sample(sid, i);
        cr_assert_eq(engine_journal_finish(store, &j, 1000 + i, "unplugged", TOPIC, &err), EVC_OK);
    }
    cr_assert_eq(flush(5000, false).n, 75, "more than one claim batch");
    cr_assert_eq(flush(5001, true).n, 75, "each exactly once per flush, even 'all'");
    cr_assert_eq(flush(5002, false).n, 0, "none due right after");
}

/* Issue 9 item 2 (R31): an engine killed mid-supply and restarted much
 * later reports the supply as ended when energy was last recorded, not at
 * the restart: the outage supplied nothing and must not lengthen the ticket. */
Test(journal, a_recovered_supply_ends_when_energy_was_last_recorded)
{
    evc_error err = {0};
    engine_journal j = sample(SID, 0);
    j.expires_at = 1700000004000;
    for (int tick = 1; tick <= 6; tick++) {
        j.wh = tick * 2;
        j.recorded_at = 1700000002000 + tick * 1000;
        cr_assert_eq(engine_journal_save(store, &j, &err), EVC_OK, "%s", err.msg);
    }
    reopen_store();
    bool found = false;
    /* restarted ten minutes after the last tick */
    cr_assert_eq(engine_journal_recover(store, TOPIC, 1700000608000, NULL, &found, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert(found);
    sent s = flush(1700000608000, false);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.wh, 12);
    cr_assert_eq(s.started_at, 1700000002000);
    cr_assert_eq(s.ended_at, 1700000008000, "the end is the last recorded tick");
}

/* A v1 journal (written before recorded_at existed) still recovers, ended
 * at the restart as before: an upgrade loses no supply. */
Test(journal, a_v1_journal_still_recovers)
{
    const char *v1 = "v1|CP_001|" SID "|driver1|35|1700000001000|1700000002000|60";
    evc_error err = {0};
    cr_assert_eq(evc_store_kv_put(store, ENGINE_KV_NS, ENGINE_KV_JOURNAL, v1, strlen(v1), &err),
                 EVC_OK);
    bool found = false;
    cr_assert_eq(engine_journal_recover(store, TOPIC, 1700000099000, NULL, &found, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert(found);
    sent s = flush(1700000099000, false);
    cr_assert_eq(s.wh, 60);
    cr_assert_eq(s.ended_at, 1700000099000);
}

/* Issue 10: the sessions an engine ended are remembered across restarts
 * (with the report, in one transaction), until an hour past their
 * authorisation's expiry, then forgotten. */
Test(journal, ended_sessions_are_remembered_across_restarts_then_forgotten)
{
    evc_error err = {0};
    engine_journal j = sample(SID, 40);
    j.expires_at = 1700000004000;
    j.recorded_at = 1700000009000;
    cr_assert_eq(engine_journal_save(store, &j, &err), EVC_OK, "%s", err.msg);
    reopen_store(); /* killed mid-supply */
    bool found = false, ended = false;
    cr_assert_eq(engine_session_ended(store, SID, &ended, &err), EVC_OK);
    cr_assert_not(ended, "a supply in progress is not ended");
    cr_assert_eq(engine_journal_recover(store, TOPIC, 1700000010000, NULL, &found, &err), EVC_OK);
    cr_assert(found);
    reopen_store();
    cr_assert_eq(engine_session_ended(store, SID, &ended, &err), EVC_OK);
    cr_assert(ended, "recovered, reported: remembered as ended");
    /* The ack of its report does not make it forgettable. */
    cr_assert_eq(engine_outbox_ack(store, SID, NULL, &err), EVC_OK);
    cr_assert_eq(engine_session_ended(store, SID, &ended, &err), EVC_OK);
    cr_assert(ended);
    engine_journal j2 = sample(SID2, 1);
    j2.expires_at = 1700009000000; /* expires much later */
    cr_assert_eq(engine_journal_finish(store, &j2, 1700000011000, "unplugged", TOPIC, &err),
                 EVC_OK);
    unsigned forgotten = 99;
    cr_assert_eq(engine_ended_prune(store, 1700000009000 + ENGINE_ENDED_KEEP_MS - 1, &forgotten,
                                    &err), EVC_OK);
    cr_assert_eq(forgotten, 0, "kept for an hour past the later of expiry and end");
    cr_assert_eq(engine_ended_prune(store, 1700000010000 + ENGINE_ENDED_KEEP_MS + 1, &forgotten,
                                    &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(forgotten, 1);
    cr_assert_eq(engine_session_ended(store, SID, &ended, &err), EVC_OK);
    cr_assert_not(ended, "forgotten: its authorisation expired an hour ago");
    cr_assert_eq(engine_session_ended(store, SID2, &ended, &err), EVC_OK);
    cr_assert(ended, "the other is still within its time");
}
