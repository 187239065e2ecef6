/* cks_failures.c (group store_failures of evc-conformance): each failure is a clear error and loses no committed data:
 * a lock held by another process, a full disk, a read-only database, a
 * corrupt file, old and new schema versions, SIGKILL in the middle of
 * transactions. */
#include <stdio.h>
#include <stdlib.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evc/proof.h"
#include "cks.h"

static st_ctx C;
static void setup(void) { st_setup(&C); }
static void teardown(void) { st_teardown(&C); }

static void add_event(st_ctx *c, const char *id, const char *corr, int expect)
{
    evc_error err = {0};
    evc_event e = {.message_id = id, .correlation_id = corr, .type = "t", .source = "test"};
    int rc = evc_store_event_append(c->store, &e, 0, NULL, &err);
    ck_assert_eq(rc, expect, "append %s: %s %s", id, evc_status_name(rc), err.msg);
}

static void bad_config_is_refused_with_its_position(void)
{
    evc_error err = {0};
    int rc = st_open(&C, "bad_key", &err);
    ck_assert_eq(rc, EVC_ECONFIG, "%s %s", evc_status_name(rc), err.msg);
    ck_assert(strstr(err.msg, "<test>:2:"), "names file:line: %s", err.msg);
    rc = st_open(&C, "bad_value", &err);
    ck_assert_eq(rc, EVC_ECONFIG, "%s %s", evc_status_name(rc), err.msg);
    ck_assert(strstr(err.msg, "<test>:1:"), "names file:line: %s", err.msg);
    ck_assert_eq(access(C.db, F_OK), -1, "nothing created on a refused config");
}

static void busy_another_process_holds_the_write_lock(void)
{
    ST_NEED(lock_hold);
    st_open_ok(&C, "busy");
    add_event(&C, "before", "c", EVC_OK);
    int release = -1;
    pid_t holder = FX->lock_hold(C.db, &release);
    ck_assert_gt(holder, 0, "lock holder");

    evc_error err = {0};
    uint64_t t0 = evc_wall_ms();
    evc_event e = {.message_id = "during", .correlation_id = "c", .type = "t", .source = "x"};
    int rc = evc_store_event_append(C.store, &e, 0, NULL, &err);
    uint64_t waited = evc_wall_ms() - t0;
    ck_assert_eq(rc, EVC_EBUSY, "%s %s", evc_status_name(rc), err.msg);
    ck_assert(strstr(err.msg, C.db), "names the database: %s", err.msg);
    ck_assert_geq(waited, 250, "waited the busy timeout (%llu ms)", (unsigned long long)waited);
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_EBUSY, "%s", err.msg);
    ck_assert_eq(st_count_events(&C, "c"), 1, "reads go on while another process writes");

    close(release);
    int status = 0;
    ck_assert_eq(waitpid(holder, &status, 0), holder);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    add_event(&C, "during", "c", EVC_OK); /* the same write, retried, succeeds */
    evc_store_stats stats;
    evc_store_stats_get(C.store, &stats);
    ck_assert_geq(stats.busy, 1);
    st_close(&C);
    st_open_ok(&C, "default");
    ck_assert_eq(st_count_events(&C, "c"), 2, "nothing lost");
}

static void disk_full_keeps_committed_data(void)
{
    st_open_ok(&C, "full");
    evc_error err = {0};
    char value[2048];
    memset(value, 'v', sizeof value);
    int stored = 0, rc = EVC_OK;
    for (int i = 0; i < 1000 && rc == EVC_OK; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%04d", i);
        rc = evc_store_kv_put(C.store, "t", key, value, sizeof value, &err);
        if (rc == EVC_OK)
            stored++;
    }
    ck_assert_eq(rc, EVC_EFULL, "%s %s", evc_status_name(rc), err.msg);
    ck_assert(strstr(err.msg, C.db), "%s", err.msg);
    ck_assert_gt(stored, 0);

    /* a transaction that fills the disk is rolled back whole */
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_OK, "%s", err.msg);
    rc = EVC_OK;
    for (int i = 0; i < 100 && rc == EVC_OK; i++) {
        char key[32];
        snprintf(key, sizeof key, "tx%04d", i);
        rc = evc_store_kv_put(C.store, "tx", key, value, sizeof value, &err);
    }
    ck_assert_eq(rc, EVC_EFULL);
    evc_store_rollback(C.store, &err);
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_OK, "usable after rollback: %s", err.msg);
    ck_assert_eq(evc_store_rollback(C.store, &err), EVC_OK);

    st_close(&C);
    st_open_ok(&C, "default"); /* no quota */
    size_t len = 0;
    char buf[4096];
    for (int i = 0; i < stored; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%04d", i);
        ck_assert_eq(evc_store_kv_get(C.store, "t", key, buf, sizeof buf, &len, &err), EVC_OK,
                     "committed %s lost: %s", key, err.msg);
    }
    ck_assert_eq(evc_store_kv_get(C.store, "tx", "tx0000", buf, sizeof buf, &len, &err),
                 EVC_ENOTFOUND);
}

static void read_only_store_reads_and_refuses_writes(void)
{
    st_open_ok(&C, "default");
    st_add_driver(&C, "d1", 500);
    st_close(&C);
    st_open_ok(&C, "read_only");
    evc_error err = {0};
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "d1", &u, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_user_add_balance(C.store, "d1", 1, NULL, &err), EVC_EREADONLY, "%s",
                 err.msg);
    ck_assert(strstr(err.msg, C.db), "%s", err.msg);
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_EREADONLY, "%s", err.msg);
    ck_assert_eq(evc_store_user_get(C.store, "d1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 500);
}

static void read_only_needing_migration_is_refused(void)
{
    ST_NEED(make_version);
    ck_assert_eq(FX->make_version(C.db, 1), 0);
    evc_error err = {0};
    int rc = st_open(&C, "read_only", &err);
    ck_assert_eq(rc, EVC_EREADONLY, "%s %s", evc_status_name(rc), err.msg);
    ck_assert(strstr(err.msg, "migrat"), "%s", err.msg);
}

/* chmod 0444 protects nothing from root (tests run as root here): the child
 * drops to an unprivileged user first, then opens the 0444 file normally.
 * Issue 11 finding 13: the open itself is refused, naming the file (it used
 * to succeed, and the first write failed far from the cause). */
static void file_mode_0444_is_refused_at_open(void)
{
    st_open_ok(&C, "default");
    st_add_driver(&C, "d1", 500);
    st_close(&C);
    ck_assert_eq(chmod(C.db, 0444), 0);
    ck_assert_eq(chmod(C.dir, 0777), 0); /* the -shm/-wal files may be created */
    pid_t pid = fork();
    ck_assert_geq(pid, 0);
    if (pid == 0) {
        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("nobody");
            if (!pw || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
                _exit(10);
        }
        st_ctx k;
        st_attach(&k, C.db);
        evc_error err = {0};
        int rc = st_open(&k, "default", &err);
        if (rc != EVC_EREADONLY || !strstr(err.msg, C.db) || !strstr(err.msg, "read-only")) {
            fprintf(stderr, "open: %s %s\n", evc_status_name(rc), err.msg);
            _exit(11);
        }
        _exit(0);
    }
    int status = 0;
    ck_assert_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exit %d",
              WEXITSTATUS(status));
    ck_assert_eq(chmod(C.db, 0644), 0);
    st_open_ok(&C, "default");
    evc_error err = {0};
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "d1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 500);
}

static void corrupt_file_is_a_clear_error(void)
{
    ST_NEED(corrupt);
    st_open_ok(&C, "default");
    st_add_driver(&C, "d1", 500);
    st_close(&C);
    ck_assert_eq(FX->corrupt(C.db), 0);
    evc_error err = {0};
    int rc = st_open(&C, "default", &err);
    ck_assert_eq(rc, EVC_ECORRUPT, "%s %s", evc_status_name(rc), err.msg);
    ck_assert(strstr(err.msg, C.db), "names the file: %s", err.msg);
    ck_assert(strstr(err.msg, "corrupt"), "%s", err.msg);
}

static void newer_schema_is_refused_and_left_alone(void)
{
    ST_NEED_SCHEMA();
    ST_NEED(set_version);
    st_open_ok(&C, "default");
    st_add_driver(&C, "d1", 500);
    st_close(&C);
    int newer = FX->schema_version + 7;
    ck_assert_eq(FX->set_version(C.db, newer), 0);
    evc_error err = {0};
    int rc = st_open(&C, "default", &err);
    ck_assert_eq(rc, EVC_ECONFLICT, "%s %s", evc_status_name(rc), err.msg);
    char want[128];
    snprintf(want, sizeof want, "has schema version %d, this build supports up to %d", newer,
             FX->schema_version);
    ck_assert(strstr(err.msg, want) && strstr(err.msg, C.db), "%s", err.msg);
    ck_assert_eq(FX->set_version(C.db, FX->schema_version), 0);
    st_open_ok(&C, "default");
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "d1", &u, &err), EVC_OK, "data untouched");
}

/* Issue 11: another application's database was migrated into (our tables
 * added next to its own) and Central started on it with no users. Now it is
 * refused naming the path, and left as it was. */
static void another_applications_database_is_refused_and_left_alone(void)
{
    ST_NEED(make_foreign);
    ST_NEED(set_version);
    ck_assert_eq(FX->make_foreign(C.db), 0);
    evc_error err = {0};
    int rc = st_open(&C, "default", &err);
    ck_assert_eq(rc, EVC_ECONFLICT, "%s %s", evc_status_name(rc), err.msg);
    ck_assert(strstr(err.msg, C.db) && strstr(err.msg, "not an EVCharging database") &&
                  strstr(err.msg, "'photos'"),
              "%s", err.msg);
    ck_assert_eq(FX->set_version(C.db, 0), 0, "the foreign database is still usable");
    /* Still refused at the next start: nothing of ours was added. */
    rc = st_open(&C, "default", &err);
    ck_assert_eq(rc, EVC_ECONFLICT, "%s %s", evc_status_name(rc), err.msg);
}

/* A schema version we know without our tables (another program that also
 * sets it, or tables dropped by hand) is refused naming the missing table. */
static void a_known_version_without_our_tables_is_refused(void)
{
    ST_NEED_SCHEMA();
    ST_NEED(make_foreign);
    ST_NEED(set_version);
    ck_assert_eq(FX->make_foreign(C.db), 0);
    ck_assert_eq(FX->set_version(C.db, FX->schema_version), 0);
    evc_error err = {0};
    int rc = st_open(&C, "default", &err);
    ck_assert_eq(rc, EVC_ECONFLICT, "%s %s", evc_status_name(rc), err.msg);
    ck_assert(strstr(err.msg, C.db) && strstr(err.msg, "no table 'users'"), "%s", err.msg);
}

static void check_migrated(st_ctx *c, bool has_old_rows)
{
    evc_error err = {0};
    int cur = 0, sup = 0;
    ck_assert_eq(evc_store_schema_version(c->store, &cur, &sup, &err), EVC_OK);
    ck_assert_eq(cur, FX->schema_version);
    evc_user u;
    if (has_old_rows) {
        ck_assert_eq(evc_store_user_get(c->store, "old_driver", &u, &err), EVC_OK, "%s",
                     err.msg);
        ck_assert_eq(u.balance_cents, 4200);
        evc_charging_point cp;
        ck_assert_eq(evc_store_cp_get(c->store, "OLD_CP", &cp, &err), EVC_OK);
        ck_assert_eq(cp.price_cents_per_kwh, 30);
    }
    /* every table of the current schema works */
    add_event(c, "m1", "c1", EVC_OK);
    ck_assert_eq(evc_store_outbox_add(c->store, "t", "k", "p", 1, NULL, &err), EVC_OK);
    ck_assert_eq(evc_store_kv_put(c->store, "ns", "k", "v", 1, &err), EVC_OK);
}

static void migrates_from_every_older_version(void)
{
    ST_NEED_SCHEMA();
    ST_NEED(make_version);
    for (int v = 0; v < FX->schema_version; v++) {
        char db[600];
        snprintf(db, sizeof db, "%s/v%d.db", C.dir, v);
        ck_assert_eq(FX->make_version(db, v), 0, "make version %d", v);
        st_ctx k;
        st_attach(&k, db);
        st_open_ok(&k, "default");
        check_migrated(&k, v >= 1);
        st_close(&k);
        st_open_ok(&k, "default"); /* reopening migrates nothing and keeps everything */
        ck_assert_eq(st_count_events(&k, "c1"), 1);
        st_teardown(&k);
    }
}

/* A child writes transactions of N events in a loop (explicit transactions in
 * even rounds, batched writes committed every N rows in odd rounds); it is
 * killed with SIGKILL at a random moment. Every transaction (batch) must be
 * whole or absent. */
#define N_PER_TX 10

/* Batched mode: no explicit transaction; the plugin commits every
 * N_PER_TX batched writes, so each group of N_PER_TX is one batch. */
static void batched_writer(st_ctx *k, int round, int ready_fd)
{
    evc_error err = {0};
    for (int w = 0;; w++) {
        char corr[32], id[48];
        snprintf(corr, sizeof corr, "r%d-tx%d", round, w / N_PER_TX);
        snprintf(id, sizeof id, "%s-%d", corr, w % N_PER_TX);
        evc_event e = {.message_id = id, .correlation_id = corr, .type = "kill-test",
                       .source = "child"};
        if (evc_store_event_append(k->store, &e, EVC_STORE_BATCHED, NULL, &err) != EVC_OK)
            _exit(5);
        if (w == 21 * N_PER_TX - 1 && write(ready_fd, "r", 1) != 1)
            _exit(7);
    }
}

static void writer_child(const char *db, int round, int ready_fd)
{
    st_ctx k;
    st_attach(&k, db);
    evc_error err = {0};
    bool batched = round % 2 == 1;
    if (st_open(&k, batched ? "batch_rows" : "default", &err) != EVC_OK)
        _exit(3);
    if (batched)
        batched_writer(&k, round, ready_fd);
    for (int tx = 0;; tx++) {
        char corr[32], id[48];
        snprintf(corr, sizeof corr, "r%d-tx%d", round, tx);
        if (evc_store_begin(k.store, &err) != EVC_OK)
            _exit(4);
        for (int i = 0; i < N_PER_TX; i++) {
            snprintf(id, sizeof id, "%s-%d", corr, i);
            evc_event e = {.message_id = id, .correlation_id = corr, .type = "kill-test",
                           .source = "child", .detail_json = "{\"pad\":\"xxxxxxxxxxxxxxxx\"}"};
            if (evc_store_event_append(k.store, &e, 0, NULL, &err) != EVC_OK)
                _exit(5);
        }
        if (evc_store_commit(k.store, &err) != EVC_OK)
            _exit(6);
        if (tx == 20 && write(ready_fd, "r", 1) != 1)
            _exit(7);
    }
}

typedef struct round_count {
    char prefix[16];
    int rows;
} round_count;

static int count_round(void *arg, const evc_event *e)
{
    round_count *rc = arg;
    if (strncmp(e->correlation_id, rc->prefix, strlen(rc->prefix)) == 0)
        rc->rows++;
    return 0;
}

static void sigkill_never_leaves_half_a_transaction(void)
{
    /* The writers (forked below) open with "batch_rows": skip here, in the
     * check's own process, when the fixture has no such settings. */
    if (FX->yaml == NULL || FX->yaml("batch_rows") == NULL)
        ck_skip("the store fixture has no settings for variant \"batch_rows\" (--fixture)");
    st_open_ok(&C, "default");
    st_close(&C);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int round = 0; round < 4; round++) {
        int fds[2];
        ck_assert_eq(pipe(fds), 0);
        pid_t pid = fork();
        ck_assert_geq(pid, 0);
        if (pid == 0) {
            close(fds[0]);
            writer_child(C.db, round, fds[1]);
        }
        close(fds[1]);
        char c;
        ck_assert_eq(read(fds[0], &c, 1), 1, "child wrote 20 transactions");
        close(fds[0]);
        struct timespec ts = {0, (long)(rand() % 40) * 1000000L}; /* a random moment */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        ck_assert_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFSIGNALED(status), "child was killed, not exited (%d)", status);

        st_open_ok(&C, "default");
        evc_error err = {0};
        char corr[32];
        int whole = 0;
        for (int tx = 0; tx < 100000; tx++) {
            snprintf(corr, sizeof corr, "r%d-tx%d", round, tx);
            int n = st_count_events(&C, corr);
            if (n == 0)
                break; /* transactions commit in order: the first absent one ends it */
            ck_assert_eq(n, N_PER_TX, "round %d tx %d has %d of %d rows", round, tx, n,
                         N_PER_TX);
            whole++;
        }
        ck_assert_geq(whole, 21, "the 21 acknowledged transactions are there");
        round_count all = {.rows = 0};
        snprintf(all.prefix, sizeof all.prefix, "r%d-", round);
        ck_assert_eq(evc_store_event_list(C.store, 0, 0, count_round, &all, &err), EVC_OK);
        ck_assert_eq(all.rows, whole * N_PER_TX, "round %d: %d rows, not %d whole transactions",
                     round, all.rows, whole);
        st_close(&C);
    }
}

/* Schema 3 rebuilt charging_points to admit the fast verifier of strong CP
 * secrets: an old argon2id secret is kept byte for byte and still proves, the
 * sessions and tickets on the CP still refer to it, a fast string can now be
 * stored, and foreign keys are enforced again after the step. */
static void migration_to_3_keeps_cp_secrets_and_references(void)
{
    ST_NEED_SCHEMA();
    ST_NEED(make_version);
    if (FX->schema_version < 3)
        ck_skip("the plugin's schema has no version 3 to migrate to");
    ck_assert_eq(FX->make_version(C.db, 2), 0);
    st_open_ok(&C, "default");
    evc_error err = {0};
    evc_charging_point cp;
    ck_assert_eq(evc_store_cp_get(C.store, "OLD_CP", &cp, &err), EVC_OK, "%s", err.msg);
    ck_assert_str_eq(cp.secret_hash, "$argon2id$v=19$m=8,t=1,p=1$IerLeLrS3Smp27RGt23UQA$"
                                     "/uNS/NCggDQBuwbImrTPWbsV6hdPuA4h/FNH1FlATkc");
    evc_proof_params p;
    uint8_t stored[EVC_PROOF_KEY_BYTES], derived[EVC_PROOF_KEY_BYTES];
    ck_assert_eq(evc_proof_split(cp.secret_hash, &p, stored, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_proof_derive("old-cp-secret", &p, derived, &err), EVC_OK, "%s", err.msg);
    ck_assert(evc_proof_equal(stored, derived), "the old CP still proves its secret");

    evc_session se;
    ck_assert_eq(evc_store_session_get(C.store, "old-session", &se, &err), EVC_OK, "%s", err.msg);
    ck_assert_str_eq(se.cp_id, "OLD_CP");
    evc_ticket tk;
    ck_assert_eq(evc_store_ticket_get(C.store, "old-session", &tk, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(tk.energy_wh, 1000);

    char fast[EVC_PASSWORD_HASH_MAX];
    const char *strong = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    ck_assert_eq(evc_proof_fast_hash(strong, fast, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_cp_set_secret(C.store, "OLD_CP", fast, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_cp_get(C.store, "OLD_CP", &cp, &err), EVC_OK);
    ck_assert_str_eq(cp.secret_hash, fast);

    evc_session orphan = {.id = "s-ghost", .correlation_id = "c-ghost", .driver_id = "old_driver",
                          .cp_id = "NO_SUCH_CP", .state = EVC_SESSION_REQUESTED};
    ck_assert_eq(evc_store_session_insert(C.store, &orphan, &err), EVC_ECONFLICT,
                 "foreign keys are on again after the migration");
}

#define T(fn, text) {"store_failures." #fn, text, setup, fn, teardown, 60}
static const ck_check checks[] = {
    T(bad_config_is_refused_with_its_position,
      "a bad key or value in the section is refused with EVC_ECONFIG naming file:line:, creating nothing"),
    T(busy_another_process_holds_the_write_lock,
      "a write lock held by another process gives EVC_EBUSY after the busy timeout, naming the database; reads go on"),
    T(disk_full_keeps_committed_data,
      "a full disk gives EVC_EFULL naming the database, rolls back the transaction whole, keeps what was committed"),
    T(read_only_store_reads_and_refuses_writes,
      "a read-only store reads, and refuses writes and begin with EVC_EREADONLY naming the database"),
    T(read_only_needing_migration_is_refused,
      "a read-only open of a database that needs migrating is refused with EVC_EREADONLY saying so"),
    T(file_mode_0444_is_refused_at_open,
      "a database the process may not write is refused at open (EVC_EREADONLY naming it), not at the first write"),
    T(corrupt_file_is_a_clear_error,
      "a corrupt database is refused with EVC_ECORRUPT naming the file"),
    T(newer_schema_is_refused_and_left_alone,
      "a database of a newer schema is refused, naming both versions, and left unchanged"),
    T(another_applications_database_is_refused_and_left_alone,
      "another application's database is refused and left unchanged"),
    T(a_known_version_without_our_tables_is_refused,
      "a database claiming our schema version without our tables is refused"),
    T(migrates_from_every_older_version,
      "every older schema version migrates to the newest keeping its users and CPs"),
    T(sigkill_never_leaves_half_a_transaction,
      "SIGKILL at any moment leaves whole transactions only; every acknowledged one is there"),
    T(migration_to_3_keeps_cp_secrets_and_references,
      "migrating schema 2 to 3 keeps CP secrets, sessions and tickets, and foreign keys hold"),
};
const ck_group ck_store_failures_checks = {checks, sizeof checks / sizeof checks[0]};
