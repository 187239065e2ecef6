/* cks_repos.c (group store_repos of evc-conformance): every repository operation of evc/store.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/password.h"
#include "cks.h"

static st_ctx C;
static void setup(void) { st_setup(&C); st_open_ok(&C, "default"); }
static void teardown(void) { st_teardown(&C); }

static void bill_cents_rounds_half_up_in_integers(void)
{
    ck_assert_eq(evc_bill_cents(0, 35), 0);
    ck_assert_eq(evc_bill_cents(1000, 35), 35);     /* 1 kWh */
    ck_assert_eq(evc_bill_cents(1234, 35), 43);     /* 43.19 -> 43 */
    ck_assert_eq(evc_bill_cents(100, 5), 1);        /* 0.5 -> 1 (half up) */
    ck_assert_eq(evc_bill_cents(99, 5), 0);         /* 0.495 -> 0 */
    ck_assert_eq(evc_bill_cents(12345678, 40), 493827);
    ck_assert_eq(evc_bill_cents(-1, 35), -1);
    ck_assert_eq(evc_bill_cents(INT64_MAX / 2, 1000), -1); /* overflow refused */
}

static int collect_user(void *arg, const evc_user *u)
{
    char *ids = arg;
    strcat(ids, u->id);
    strcat(ids, ",");
    return 0;
}

static void users(void)
{
    evc_error err = {0};
    st_add_driver(&C, "driver1", 15000);
    st_add_driver(&C, "a_driver", 0);

    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_OK, "%s", err.msg);
    ck_assert_str_eq(u.id, "driver1");
    ck_assert_eq(u.role, EVC_ROLE_DRIVER);
    ck_assert_eq(u.balance_cents, 15000);
    ck_assert(u.created_ms > 0);
    ck_assert(evc_password_verify(u.password_hash, "pw"));

    /* duplicate, unknown, clear-text password */
    evc_user dup = u;
    ck_assert_eq(evc_store_user_insert(C.store, &dup, &err), EVC_EEXIST);
    ck_assert(strstr(err.msg, "driver1") && strstr(err.msg, C.db), "%s", err.msg);
    ck_assert_eq(evc_store_user_get(C.store, "nobody", &u, &err), EVC_ENOTFOUND);
    ck_assert(strstr(err.msg, "nobody"), "%s", err.msg);
    evc_user clear = {.id = "x", .role = EVC_ROLE_DRIVER, .password_hash = "pass123"};
    ck_assert_eq(evc_store_user_insert(C.store, &clear, &err), EVC_EINVAL);

    char ids[256] = "";
    ck_assert_eq(evc_store_user_list(C.store, collect_user, ids, &err), EVC_OK);
    ck_assert_str_eq(ids, "a_driver,driver1,");

    int64_t bal = 0;
    ck_assert_eq(evc_store_user_add_balance(C.store, "driver1", -500, &bal, &err), EVC_OK);
    ck_assert_eq(bal, 14500);
    ck_assert_eq(evc_store_user_add_balance(C.store, "driver1", -20000, &bal, &err),
                 EVC_ECONFLICT);
    ck_assert_eq(evc_store_user_add_balance(C.store, "ghost", 5, &bal, &err), EVC_ENOTFOUND);
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 14500, "refused debit changed nothing");

    char h[EVC_PASSWORD_HASH_MAX];
    ck_assert_eq(evc_password_hash("new", EVC_PASSWORD_COST_MIN, h, &err), EVC_OK);
    ck_assert_eq(evc_store_user_set_password(C.store, "driver1", h, &err), EVC_OK);
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_OK);
    ck_assert(evc_password_verify(u.password_hash, "new"));
    ck_assert_eq(evc_store_user_set_password(C.store, "ghost", h, &err), EVC_ENOTFOUND);

    ck_assert_eq(evc_store_user_delete(C.store, "a_driver", &err), EVC_OK);
    ck_assert_eq(evc_store_user_delete(C.store, "a_driver", &err), EVC_ENOTFOUND);
}

static int count_cp(void *arg, const evc_charging_point *cp)
{
    ++*(int *)arg;
    return 0;
}

static void charging_points(void)
{
    evc_error err = {0};
    st_add_cp(&C, "CP_001", 35);
    st_add_cp(&C, "CP_002", 40);
    evc_charging_point cp;
    ck_assert_eq(evc_store_cp_get(C.store, "CP_001", &cp, &err), EVC_OK, "%s", err.msg);
    ck_assert_str_eq(cp.location, "Location of CP_001");
    ck_assert_eq(cp.price_cents_per_kwh, 35);
    ck_assert_eq(cp.max_w, 22000);
    ck_assert_eq(cp.admin_state, EVC_CP_IN_SERVICE);
    ck_assert_str_eq(cp.secret_hash, "");
    ck_assert(cp.registered_ms > 0);
    ck_assert_eq(evc_store_cp_insert(C.store, &cp, &err), EVC_EEXIST);

    cp.price_cents_per_kwh = 50;
    snprintf(cp.location, sizeof cp.location, "Moved");
    ck_assert_eq(evc_store_cp_update(C.store, &cp, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_cp_set_admin_state(C.store, "CP_001", EVC_CP_STOPPED, &err), EVC_OK);
    char h[EVC_PASSWORD_HASH_MAX];
    ck_assert_eq(evc_password_hash("secret-CP_001", EVC_PASSWORD_COST_MIN, h, &err), EVC_OK);
    ck_assert_eq(evc_store_cp_set_secret(C.store, "CP_001", h, &err), EVC_OK);
    ck_assert_eq(evc_store_cp_set_secret(C.store, "CP_001", "clear", &err), EVC_EINVAL);
    ck_assert_eq(evc_store_cp_get(C.store, "CP_001", &cp, &err), EVC_OK);
    ck_assert_eq(cp.price_cents_per_kwh, 50);
    ck_assert_str_eq(cp.location, "Moved");
    ck_assert_eq(cp.admin_state, EVC_CP_STOPPED);
    ck_assert(evc_password_verify(cp.secret_hash, "secret-CP_001"));

    ck_assert_eq(evc_store_cp_set_admin_state(C.store, "CP_404", EVC_CP_STOPPED, &err),
                 EVC_ENOTFOUND);
    ck_assert_eq(evc_store_cp_get(C.store, "CP_404", &cp, &err), EVC_ENOTFOUND);
    int n = 0;
    ck_assert_eq(evc_store_cp_list(C.store, count_cp, &n, &err), EVC_OK);
    ck_assert_eq(n, 2);
}

static int collect_session(void *arg, const evc_session *s)
{
    strcat(arg, s->id);
    strcat(arg, ",");
    return 0;
}

static void session_lifecycle_and_billing_exactly_once(void)
{
    evc_error err = {0};
    st_add_driver(&C, "driver1", 15000);
    st_add_cp(&C, "CP_001", 35);
    st_add_session(&C, "s1", "driver1", "CP_001", EVC_SESSION_SUPPLYING);

    evc_session se;
    ck_assert_eq(evc_store_session_get_by_correlation(C.store, "corr-s1", &se, &err), EVC_OK);
    ck_assert_str_eq(se.id, "s1");
    ck_assert_eq(se.state, EVC_SESSION_SUPPLYING);
    ck_assert_eq(se.authorised_ms, 1000);
    ck_assert_eq(se.started_ms, 2000);

    ck_assert_eq(evc_store_session_progress(C.store, "s1", 500, 18, 0, &err), EVC_OK);
    ck_assert_eq(evc_store_session_get(C.store, "s1", &se, &err), EVC_OK);
    ck_assert_eq(se.energy_wh, 500);

    /* illegal moves */
    ck_assert_eq(evc_store_session_set_state(C.store, "s1", EVC_SESSION_AUTHORISED, 0, NULL,
                                             &err), EVC_ECONFLICT);
    ck_assert(strstr(err.msg, "supplying"), "%s", err.msg);
    ck_assert_eq(evc_store_session_set_state(C.store, "s1", EVC_SESSION_ENDED, 0, NULL, &err),
                 EVC_ECONFLICT);

    char open_ids[128] = "";
    ck_assert_eq(evc_store_session_list_open(C.store, collect_session, open_ids, &err), EVC_OK);
    ck_assert_str_eq(open_ids, "s1,");

    evc_ticket t;
    bool already = true;
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "s1", 9000, 12345, "unplugged", &t,
                                                &already, &err), EVC_OK, "%s", err.msg);
    ck_assert_not(already);
    ck_assert_eq(t.energy_wh, 12345);
    ck_assert_eq(t.price_cents_per_kwh, 35);
    ck_assert_eq(t.amount_cents, 432); /* 432.075 */
    ck_assert_eq(t.started_ms, 2000);
    ck_assert_eq(t.ended_ms, 9000);
    ck_assert_str_eq(t.end_reason, "unplugged");

    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 15000 - 432);

    /* second call: nothing changes, and it says so */
    evc_ticket t2;
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "s1", 9999, 99999, "again", &t2,
                                                &already, &err), EVC_OK, "%s", err.msg);
    ck_assert(already);
    ck_assert_eq(t2.amount_cents, 432);
    ck_assert_eq(t2.energy_wh, 12345);
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 15000 - 432, "billed twice");

    ck_assert_eq(evc_store_session_get(C.store, "s1", &se, &err), EVC_OK);
    ck_assert_eq(se.state, EVC_SESSION_ENDED);
    ck_assert_eq(se.amount_cents, 432);
    ck_assert_eq(evc_store_session_progress(C.store, "s1", 1, 1, 0, &err), EVC_ECONFLICT);
    open_ids[0] = '\0';
    ck_assert_eq(evc_store_session_list_open(C.store, collect_session, open_ids, &err), EVC_OK);
    ck_assert_str_eq(open_ids, "");

    ck_assert_eq(evc_store_ticket_get(C.store, "s1", &t2, &err), EVC_OK);
    ck_assert_eq(t2.amount_cents, 432);
    ck_assert_eq(evc_store_ticket_get(C.store, "s2", &t2, &err), EVC_ENOTFOUND);
}

static int collect_ticket(void *arg, const evc_ticket *t)
{
    strcat(arg, t->session_id);
    strcat(arg, ",");
    return 0;
}

static void sessions_denied_duplicates_and_history(void)
{
    evc_error err = {0};
    st_add_driver(&C, "d", 100);
    st_add_cp(&C, "CP", 30);
    st_add_session(&C, "s1", "d", "CP", EVC_SESSION_REQUESTED);
    ck_assert_eq(evc_store_session_set_state(C.store, "s1", EVC_SESSION_DENIED, 5, "cp busy",
                                             &err), EVC_OK, "%s", err.msg);
    evc_session se;
    ck_assert_eq(evc_store_session_get(C.store, "s1", &se, &err), EVC_OK);
    ck_assert_eq(se.state, EVC_SESSION_DENIED);
    ck_assert_eq(se.ended_ms, 5);
    ck_assert_str_eq(se.end_reason, "cp busy");

    evc_session dup = {.id = "s2", .correlation_id = "corr-s1", .driver_id = "d",
                       .cp_id = "CP", .state = EVC_SESSION_REQUESTED};
    ck_assert_eq(evc_store_session_insert(C.store, &dup, &err), EVC_EEXIST);
    evc_session orphan = {.id = "s3", .correlation_id = "c3", .driver_id = "ghost",
                          .cp_id = "CP", .state = EVC_SESSION_REQUESTED};
    ck_assert_eq(evc_store_session_insert(C.store, &orphan, &err), EVC_ECONFLICT);
    ck_assert(strstr(err.msg, "ghost"), "%s", err.msg);
    ck_assert_eq(evc_store_user_delete(C.store, "d", &err), EVC_ECONFLICT,
                 "a driver with sessions cannot vanish");

    st_add_session(&C, "s4", "d", "CP", EVC_SESSION_SUPPLYING);
    /* balance 100, bill 300: the energy was delivered, the balance goes negative */
    evc_ticket t;
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "s4", 0, 10000, "full", &t, NULL, &err),
                 EVC_OK, "%s", err.msg);
    ck_assert_eq(t.amount_cents, 300);
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "d", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, -200);

    char ids[128] = "";
    ck_assert_eq(evc_store_session_list_by_driver(C.store, "d", 0, collect_session, ids, &err),
                 EVC_OK);
    ck_assert(strcmp(ids, "s4,s1,") == 0 || strcmp(ids, "s1,s4,") == 0, "%s", ids);
    ids[0] = '\0';
    ck_assert_eq(evc_store_session_list_by_driver(C.store, "d", 1, collect_session, ids, &err),
                 EVC_OK);
    ck_assert_eq(strlen(ids), 3, "limit 1: %s", ids);
    ids[0] = '\0';
    ck_assert_eq(evc_store_ticket_list_by_driver(C.store, "d", 0, collect_ticket, ids, &err),
                 EVC_OK);
    ck_assert_str_eq(ids, "s4,");
}

/* Denied by Central, supplied anyway by the CP (its authorisation arrived
 * late): the energy is owed, and billed once. A request never authorised is
 * not billable. */
static void a_denied_session_that_was_supplied_is_billed_once(void)
{
    evc_error err = {0};
    st_add_driver(&C, "late", 100);
    st_add_cp(&C, "CPL", 30);
    st_add_session(&C, "r1", "late", "CPL", EVC_SESSION_REQUESTED);
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "r1", 0, 10, "x", NULL, NULL, &err),
                 EVC_ECONFLICT, "a request not yet authorised is not billed");
    st_add_session(&C, "d1", "late", "CPL", EVC_SESSION_REQUESTED);
    ck_assert_eq(evc_store_session_set_state(C.store, "d1", EVC_SESSION_DENIED, 5,
                                             "cp_no_answer", &err), EVC_OK, "%s", err.msg);
    evc_ticket t;
    bool already = true;
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "d1", 9, 1000, "cancelled", &t,
                                                &already, &err), EVC_OK, "%s", err.msg);
    ck_assert_not(already);
    ck_assert_eq(t.amount_cents, 30);
    ck_assert_str_eq(t.driver_id, "late");
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "d1", 9, 1000, "cancelled", &t,
                                                &already, &err), EVC_OK, "%s", err.msg);
    ck_assert(already, "billed once");
    evc_session se;
    ck_assert_eq(evc_store_session_get(C.store, "d1", &se, &err), EVC_OK);
    ck_assert_eq(se.state, EVC_SESSION_ENDED);
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "late", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 100 - 30);
}

typedef struct ev_seen {
    int n;
    int64_t last_seq;
    char types[256];
} ev_seen;

static int collect_event(void *arg, const evc_event *e)
{
    ev_seen *s = arg;
    ck_assert(e->seq > s->last_seq, "seq strictly increasing");
    s->last_seq = e->seq;
    s->n++;
    strcat(s->types, e->type);
    strcat(s->types, ",");
    return 0;
}

static void event_log_is_append_only_and_idempotent_by_message_id(void)
{
    evc_error err = {0};
    evc_event e = {.message_id = "m1", .correlation_id = "c1", .type = "supply.requested",
                   .source = "driver1", .detail_json = "{\"cp\":\"CP_001\"}"};
    int64_t seq1 = 0, seq2 = 0;
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, &seq1, &err), EVC_OK, "%s", err.msg);
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_EEXIST);
    ck_assert(strstr(err.msg, "m1"), "%s", err.msg);
    e.message_id = "m2";
    e.type = "supply.authorised";
    e.detail_json = NULL;
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, &seq2, &err), EVC_OK);
    ck_assert(seq2 > seq1);
    e.message_id = "m3";
    e.correlation_id = NULL;
    e.type = "cp.registered";
    e.detail_json = "{not json";
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_ECONFLICT);
    e.detail_json = "[1,2]";
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_OK);

    ev_seen s = {0};
    ck_assert_eq(evc_store_event_list(C.store, 0, 0, collect_event, &s, &err), EVC_OK);
    ck_assert_eq(s.n, 3);
    ck_assert_str_eq(s.types, "supply.requested,supply.authorised,cp.registered,");
    ev_seen after = {0};
    ck_assert_eq(evc_store_event_list(C.store, seq1, 1, collect_event, &after, &err), EVC_OK);
    ck_assert_str_eq(after.types, "supply.authorised,");
    ev_seen bycorr = {0};
    ck_assert_eq(evc_store_event_list_by_correlation(C.store, "c1", collect_event, &bycorr,
                                                     &err), EVC_OK);
    ck_assert_eq(bycorr.n, 2);
}

static int collect_kv(void *arg, const char *key, const void *v, size_t n)
{
    strcat(arg, key);
    strcat(arg, "=");
    strncat(arg, v, n);
    strcat(arg, ",");
    return 0;
}

static void key_value(void)
{
    evc_error err = {0};
    char buf[16];
    size_t len = 0;
    ck_assert_eq(evc_store_kv_put(C.store, "central", "offset", "42", 2, &err), EVC_OK);
    ck_assert_eq(evc_store_kv_put(C.store, "central", "offset", "43", 2, &err), EVC_OK);
    ck_assert_eq(evc_store_kv_put(C.store, "central", "epoch", "7", 1, &err), EVC_OK);
    ck_assert_eq(evc_store_kv_put(C.store, "driver", "offset", "1", 1, &err), EVC_OK);
    ck_assert_eq(evc_store_kv_put(C.store, "central", "blob", "a\0b", 3, &err), EVC_OK);
    ck_assert_eq(evc_store_kv_get(C.store, "central", "offset", buf, sizeof buf, &len, &err),
                 EVC_OK);
    ck_assert_eq(len, 2);
    ck_assert_eq(memcmp(buf, "43", 2), 0);
    ck_assert_eq(evc_store_kv_get(C.store, "central", "blob", buf, sizeof buf, &len, &err),
                 EVC_OK);
    ck_assert_eq(len, 3);
    ck_assert_eq(memcmp(buf, "a\0b", 3), 0, "binary-safe");
    ck_assert_eq(evc_store_kv_get(C.store, "central", "offset", buf, 1, &len, &err),
                 EVC_ETOOBIG);
    ck_assert_eq(len, 2, "size reported");
    ck_assert_eq(evc_store_kv_get(C.store, "central", "none", buf, sizeof buf, &len, &err),
                 EVC_ENOTFOUND);
    ck_assert_eq(evc_store_kv_delete(C.store, "central", "blob", &err), EVC_OK);
    ck_assert_eq(evc_store_kv_delete(C.store, "central", "blob", &err), EVC_ENOTFOUND);
    char all[128] = "";
    ck_assert_eq(evc_store_kv_list(C.store, "central", collect_kv, all, &err), EVC_OK);
    ck_assert_str_eq(all, "epoch=7,offset=43,");
}

static void bad_arguments_are_clear_errors(void)
{
    evc_error err = {0};
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "", &u, &err), EVC_EINVAL);
    ck_assert_eq(evc_store_user_get(C.store, NULL, &u, &err), EVC_EINVAL);
    char longid[200];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    ck_assert_eq(evc_store_cp_get(C.store, longid, NULL, &err), EVC_EINVAL);
    ck_assert_eq(evc_store_outbox_add(C.store, "", "k", "p", 1, NULL, &err), EVC_EINVAL);
    ck_assert_eq(evc_store_kv_put(C.store, "", "k", "v", 1, &err), EVC_EINVAL);
    ck_assert_eq(evc_store_user_insert(NULL, &u, &err), EVC_EINVAL);
    int cur = 0, sup = 0;
    ck_assert_eq(evc_store_schema_version(C.store, &cur, &sup, &err), EVC_OK);
    ck_assert_eq(cur, sup, "a fresh database is at the newest version the plugin supports");
    if (FX->schema_version > 0)
        ck_assert_eq(sup, FX->schema_version, "the fixture says %d", FX->schema_version);
}

#define T(fn, text) {"store_repos." #fn, text, setup, fn, teardown, 30}
static const ck_check checks[] = {
    T(bill_cents_rounds_half_up_in_integers,
      "billing rounds half up in integer cents"),
    T(users,
      "users: insert, get, duplicate refused, balance changes, listing"),
    T(charging_points,
      "charging points: insert, get, update, admin state, secrets, listing"),
    T(session_lifecycle_and_billing_exactly_once,
      "a session moves through its states and is billed exactly once, ticket and balance together"),
    T(sessions_denied_duplicates_and_history,
      "denied and duplicate sessions are refused cleanly; a driver's history lists them in order"),
    T(a_denied_session_that_was_supplied_is_billed_once,
      "a session denied after it supplied energy is billed once for that energy"),
    T(event_log_is_append_only_and_idempotent_by_message_id,
      "the event log is append-only; a message id appended twice is EVC_EEXIST, stored once"),
    T(key_value,
      "key-value: put, get, overwrite, delete, list by namespace"),
    T(bad_arguments_are_clear_errors,
      "bad arguments (empty, NULL, too long) are EVC_EINVAL; the schema version is the newest"),
};
const ck_group ck_store_repos_checks = {checks, sizeof checks / sizeof checks[0]};
