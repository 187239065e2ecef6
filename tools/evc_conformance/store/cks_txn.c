/* cks_txn.c (group store_txn of evc-conformance): explicit transactions, rollback, and batched commits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cks.h"

static st_ctx C;
static void setup(void) { st_setup(&C); st_open_ok(&C, "default"); }
static void teardown(void) { st_teardown(&C); }

static evc_event ev(const char *id, const char *corr)
{
    evc_event e = {.message_id = id, .correlation_id = corr, .type = "t", .source = "test"};
    return e;
}

static void commit_makes_all_visible_rollback_none(void)
{
    evc_error err = {0};
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_ESTATE, "no nested begin");
    st_add_driver(&C, "d1", 10);
    evc_event e = ev("m1", "c");
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_OK);
    ck_assert_eq(evc_store_commit(C.store, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_commit(C.store, &err), EVC_ESTATE);

    ck_assert_eq(evc_store_begin(C.store, &err), EVC_OK);
    st_add_driver(&C, "d2", 10);
    e = ev("m2", "c");
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_OK);
    ck_assert_eq(evc_store_user_add_balance(C.store, "d1", 90, NULL, &err), EVC_OK);
    ck_assert_eq(evc_store_rollback(C.store, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_rollback(C.store, &err), EVC_ESTATE);

    /* what a fresh process sees */
    st_close(&C);
    st_open_ok(&C, "default");
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "d1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 10);
    ck_assert_eq(evc_store_user_get(C.store, "d2", &u, &err), EVC_ENOTFOUND);
    ck_assert_eq(st_count_events(&C, "c"), 1);
}

static void a_failed_op_inside_a_transaction_leaves_the_rest(void)
{
    evc_error err = {0};
    st_add_driver(&C, "d", 1000);
    st_add_cp(&C, "CP", 35);
    st_add_session(&C, "s1", "d", "CP", EVC_SESSION_SUPPLYING);
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_OK);
    evc_event e = ev("m1", "corr-s1");
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_OK);
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_EEXIST);
    /* billing nested in the caller's transaction, then rolled back with it */
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "s1", 0, 2000, "done", NULL, NULL,
                                                &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_rollback(C.store, &err), EVC_OK);
    evc_session se;
    ck_assert_eq(evc_store_session_get(C.store, "s1", &se, &err), EVC_OK);
    ck_assert_eq(se.state, EVC_SESSION_SUPPLYING);
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "d", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 1000);
    ck_assert_eq(st_count_events(&C, "corr-s1"), 0);

    /* and committed with it */
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_OK);
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "s1", 0, 2000, "done", NULL, NULL,
                                                &err), EVC_OK);
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_OK);
    ck_assert_eq(evc_store_commit(C.store, &err), EVC_OK);
    ck_assert_eq(evc_store_user_get(C.store, "d", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 1000 - 70);
}

static void close_with_open_transaction_rolls_back(void)
{
    evc_error err = {0};
    ck_assert_eq(evc_store_begin(C.store, &err), EVC_OK);
    st_add_driver(&C, "d1", 10);
    st_close(&C);
    st_open_ok(&C, "default");
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "d1", &u, &err), EVC_ENOTFOUND);
}

typedef struct peek {
    st_ctx other;
    const char *corr;
    int want;
} peek;

/* What another connection sees: committed rows only. */
static bool other_sees(void *arg)
{
    peek *p = arg;
    return st_count_events(&p->other, p->corr) >= p->want;
}

static void batched_writes_commit_after_max_rows_or_max_delay(void)
{
    evc_error err = {0};
    st_close(&C);
    st_open_ok(&C, "batch"); /* at most 5 rows, at most 50 ms */
    peek p = {.corr = "b", .want = 5};
    st_attach(&p.other, C.db);
    st_open_ok(&p.other, "default");

    char id[32];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "m%d", i);
        evc_event e = ev(id, "b");
        ck_assert_eq(evc_store_event_append(C.store, &e, EVC_STORE_BATCHED, NULL, &err), EVC_OK,
                     "%s", err.msg);
    }
    ck_assert_eq(st_count_events(&p.other, "b"), 0, "a batch is not visible before its commit");
    ck_assert_eq(st_count_events(&C, "b"), 4, "but its writer reads its own writes");
    evc_event e = ev("m4", "b");
    ck_assert_eq(evc_store_event_append(C.store, &e, EVC_STORE_BATCHED, NULL, &err), EVC_OK);
    ck_assert_eq(st_count_events(&p.other, "b"), 5, "5th row commits the batch at once");

    /* a partial batch is committed by the timer, within the bounded delay */
    e = ev("m5", "b");
    ck_assert_eq(evc_store_event_append(C.store, &e, EVC_STORE_BATCHED, NULL, &err), EVC_OK);
    p.want = 6;
    uint64_t t0 = evc_wall_ms();
    ck_assert_eq(evc_loop_run_until(C.loop, other_sees, &p, 2000), EVC_OK,
                 "batch committed by its timer");
    ck_assert(evc_wall_ms() - t0 < 1000, "bounded delay");

    /* flush commits now; a non-batched write commits the pending batch first */
    e = ev("m6", "b");
    ck_assert_eq(evc_store_event_append(C.store, &e, EVC_STORE_BATCHED, NULL, &err), EVC_OK);
    ck_assert_eq(evc_store_flush(C.store, &err), EVC_OK);
    ck_assert_eq(st_count_events(&p.other, "b"), 7);
    e = ev("m7", "b");
    ck_assert_eq(evc_store_event_append(C.store, &e, EVC_STORE_BATCHED, NULL, &err), EVC_OK);
    st_add_driver(&C, "d", 1);
    ck_assert_eq(st_count_events(&p.other, "b"), 8);

    evc_store_stats stats;
    evc_store_stats_get(C.store, &stats);
    ck_assert_eq(stats.batched_writes, 8);
    ck_assert_geq(stats.batch_commits, 4);
    st_teardown(&p.other);
}

static void batched_progress_survives_close(void)
{
    evc_error err = {0};
    st_add_driver(&C, "d", 1000);
    st_add_cp(&C, "CP", 35);
    st_add_session(&C, "s1", "d", "CP", EVC_SESSION_SUPPLYING);
    for (int wh = 1; wh <= 3; wh++)
        ck_assert_eq(evc_store_session_progress(C.store, "s1", wh * 100, wh * 4,
                                                EVC_STORE_BATCHED, &err), EVC_OK, "%s", err.msg);
    st_close(&C); /* close commits the pending batch */
    st_open_ok(&C, "default");
    evc_session se;
    ck_assert_eq(evc_store_session_get(C.store, "s1", &se, &err), EVC_OK);
    ck_assert_eq(se.energy_wh, 300);
    ck_assert_eq(se.amount_cents, 12);
}

#define T(fn, text) {"store_txn." #fn, text, setup, fn, teardown, 30}
static const ck_check checks[] = {
    T(commit_makes_all_visible_rollback_none,
      "commit makes a transaction's writes visible together, rollback none; no nesting"),
    T(a_failed_op_inside_a_transaction_leaves_the_rest,
      "a failed operation inside a transaction leaves the rest to commit or roll back whole"),
    T(close_with_open_transaction_rolls_back,
      "closing with a transaction open rolls it back"),
    T(batched_writes_commit_after_max_rows_or_max_delay,
      "batched writes commit at max rows or within max delay, on flush, or before a plain write"),
    T(batched_progress_survives_close,
      "batched session progress pending at close is committed by the close"),
};
const ck_group ck_store_txn_checks = {checks, sizeof checks / sizeof checks[0]};
