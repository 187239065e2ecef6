/* sqlite_sessions.c: the sessions and tickets repositories, and billing. */
#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

static const char *const state_names[] = {NULL, "requested", "authorised", "supplying",
                                          "ended", "denied"};

static evc_session_state state_from(const char *t)
{
    for (int i = 1; i <= 5; i++)
        if (strcmp(t, state_names[i]) == 0)
            return (evc_session_state)i;
    return EVC_SESSION_REQUESTED;
}

/* Column order of every session SELECT (see sqlite_migrate.c). */
static void read_session(sqlite3_stmt *st, evc_session *se)
{
    memset(se, 0, sizeof *se);
    sqlite_col_text(st, 0, se->id, sizeof se->id);
    sqlite_col_text(st, 1, se->correlation_id, sizeof se->correlation_id);
    sqlite_col_text(st, 2, se->driver_id, sizeof se->driver_id);
    sqlite_col_text(st, 3, se->cp_id, sizeof se->cp_id);
    se->requested_ms = sqlite3_column_int64(st, 4);
    se->authorised_ms = sqlite3_column_int64(st, 5);
    se->started_ms = sqlite3_column_int64(st, 6);
    se->ended_ms = sqlite3_column_int64(st, 7);
    se->energy_wh = sqlite3_column_int64(st, 8);
    se->amount_cents = sqlite3_column_int64(st, 9);
    se->state = state_from(sqlite_col_str(st, 10));
    sqlite_col_text(st, 11, se->end_reason, sizeof se->end_reason);
}

static void read_ticket(sqlite3_stmt *st, evc_ticket *t)
{
    memset(t, 0, sizeof *t);
    sqlite_col_text(st, 0, t->session_id, sizeof t->session_id);
    sqlite_col_text(st, 1, t->driver_id, sizeof t->driver_id);
    sqlite_col_text(st, 2, t->cp_id, sizeof t->cp_id);
    t->energy_wh = sqlite3_column_int64(st, 3);
    t->price_cents_per_kwh = sqlite3_column_int64(st, 4);
    t->amount_cents = sqlite3_column_int64(st, 5);
    t->started_ms = sqlite3_column_int64(st, 6);
    t->ended_ms = sqlite3_column_int64(st, 7);
    t->issued_ms = sqlite3_column_int64(st, 8);
    sqlite_col_text(st, 9, t->end_reason, sizeof t->end_reason);
}

static int get_one(sqlite_store *s, enum sqlite_stmt_id id, const char *key, const char *what,
                   void (*reader)(sqlite3_stmt *, void *), void *out, const char *op,
                   evc_error *err)
{
    sqlite3_stmt *st = sqlite_stmt(s, id);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out)
        reader(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return EVC_OK;
    if (rc == SQLITE_DONE)
        return evc_error_set(err, EVC_ENOTFOUND, "database %s: %s: no %s '%s'", s->path, op,
                             what, key);
    return sqlite_fail(s, rc, op, err);
}

static void session_reader(sqlite3_stmt *st, void *out) { read_session(st, out); }
static void ticket_reader(sqlite3_stmt *st, void *out) { read_ticket(st, out); }

static int check_text(const char *t, const char *what, const char *op, evc_error *err)
{
    if (t && strlen(t) >= EVC_STORE_TEXT_MAX)
        return evc_error_set(err, EVC_EINVAL, "%s: %s longer than %d bytes", op, what,
                             EVC_STORE_TEXT_MAX - 1);
    return EVC_OK;
}

int sqlite_session_insert(sqlite_store *s, const evc_session *se, evc_error *err)
{
    const char *op = "insert session";
    if (!se)
        return evc_error_set(err, EVC_EINVAL, "%s: NULL session", op);
    int rc;
    if ((rc = sqlite_check_id(se->id, "session id", op, err)) != EVC_OK ||
        (rc = sqlite_check_id(se->correlation_id, "correlation id", op, err)) != EVC_OK ||
        (rc = sqlite_check_id(se->driver_id, "driver id", op, err)) != EVC_OK ||
        (rc = sqlite_check_id(se->cp_id, "CP id", op, err)) != EVC_OK)
        return rc;
    if (se->state != EVC_SESSION_REQUESTED)
        return evc_error_set(err, EVC_EINVAL, "%s %s: a new session must be 'requested'", op,
                             se->id);
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_SES_INSERT);
    sqlite3_bind_text(st, 1, se->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, se->correlation_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, se->driver_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, se->cp_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, se->requested_ms ? se->requested_ms : sqlite_now_ms(s));
    rc = sqlite_step_done(s, st, op, NULL, err);
    if (rc == EVC_EEXIST)
        evc_error_set(err, rc, "database %s: %s: session '%s' or correlation id '%s' already "
                      "exists", s->path, op, se->id, se->correlation_id);
    else if (rc == EVC_ECONFLICT)
        evc_error_set(err, rc, "database %s: %s %s: unknown driver '%s' or CP '%s'", s->path,
                      op, se->id, se->driver_id, se->cp_id);
    return rc;
}

int sqlite_session_get(sqlite_store *s, const char *id, evc_session *out, evc_error *err)
{
    int rc = sqlite_check_id(id, "session id", "get session", err);
    return rc != EVC_OK ? rc : get_one(s, SQ_SES_GET, id, "session", session_reader, out,
                                       "get session", err);
}

int sqlite_session_get_by_correlation(sqlite_store *s, const char *corr, evc_session *out,
                                      evc_error *err)
{
    const char *op = "get session by correlation id";
    int rc = sqlite_check_id(corr, "correlation id", op, err);
    return rc != EVC_OK ? rc : get_one(s, SQ_SES_GETCORR, corr, "session with correlation id",
                                       session_reader, out, op, err);
}

static bool transition_ok(evc_session_state from, evc_session_state to)
{
    switch (to) {
    case EVC_SESSION_AUTHORISED: return from == EVC_SESSION_REQUESTED;
    case EVC_SESSION_SUPPLYING: return from == EVC_SESSION_AUTHORISED;
    case EVC_SESSION_DENIED:
        return from == EVC_SESSION_REQUESTED || from == EVC_SESSION_AUTHORISED;
    default: return false;
    }
}

int sqlite_session_set_state(sqlite_store *s, const char *id, evc_session_state to, int64_t ts,
                             const char *reason, evc_error *err)
{
    const char *op = "set session state";
    int rc = sqlite_check_id(id, "session id", op, err);
    if (rc != EVC_OK || (rc = check_text(reason, "reason", op, err)) != EVC_OK)
        return rc;
    if (to < EVC_SESSION_REQUESTED || to > EVC_SESSION_DENIED)
        return evc_error_set(err, EVC_EINVAL, "%s %s: bad state %d", op, id, (int)to);
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    evc_session cur;
    if ((rc = sqlite_session_get(s, id, &cur, err)) != EVC_OK)
        return rc;
    if (!transition_ok(cur.state, to))
        return evc_error_set(err, EVC_ECONFLICT, "database %s: %s %s: cannot go from %s to %s",
                             s->path, op, id, state_names[cur.state], state_names[to]);
    sqlite3_stmt *st = sqlite_stmt(s, SQ_SES_SETSTATE);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, state_names[to], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, ts ? ts : sqlite_now_ms(s));
    sqlite3_bind_text(st, 4, reason ? reason : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, state_names[cur.state], -1, SQLITE_STATIC);
    int changes = 0;
    rc = sqlite_step_done(s, st, op, &changes, err);
    if (rc == EVC_OK && changes == 0)
        rc = evc_error_set(err, EVC_ECONFLICT, "database %s: %s %s: changed concurrently",
                           s->path, op, id);
    return rc;
}

int sqlite_session_progress(sqlite_store *s, const char *id, int64_t wh, int64_t cents,
                            unsigned flags, evc_error *err)
{
    const char *op = "record session progress";
    int rc = sqlite_check_id(id, "session id", op, err);
    if (rc != EVC_OK)
        return rc;
    if (wh < 0 || cents < 0)
        return evc_error_set(err, EVC_EINVAL, "%s %s: negative energy or amount", op, id);
    rc = (flags & EVC_STORE_BATCHED) ? sqlite_batch_prepare(s, op, err)
                                     : sqlite_write_prepare(s, op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_SES_PROGRESS);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, wh);
    sqlite3_bind_int64(st, 3, cents);
    int changes = 0;
    if ((rc = sqlite_step_done(s, st, op, &changes, err)) != EVC_OK)
        return rc;
    if (changes == 0) {
        evc_session cur;
        if ((rc = sqlite_session_get(s, id, &cur, err)) != EVC_OK)
            return rc;
        return evc_error_set(err, EVC_ECONFLICT, "database %s: %s %s: session is %s, not "
                             "supplying", s->path, op, id, state_names[cur.state]);
    }
    return (flags & EVC_STORE_BATCHED) ? sqlite_batch_done(s, err) : EVC_OK;
}

static int list_sessions(sqlite_store *s, sqlite3_stmt *st, evc_session_cb cb, void *arg,
                         const char *op, evc_error *err)
{
    int rc;
    evc_session se;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_session(st, &se);
        if (cb && cb(arg, &se) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? EVC_OK : sqlite_fail(s, rc, op, err);
}

int sqlite_session_list_open(sqlite_store *s, evc_session_cb cb, void *arg, evc_error *err)
{
    return list_sessions(s, sqlite_stmt(s, SQ_SES_LISTOPEN), cb, arg, "list open sessions", err);
}

int sqlite_session_list_by_driver(sqlite_store *s, const char *driver, unsigned limit,
                                  evc_session_cb cb, void *arg, evc_error *err)
{
    const char *op = "list sessions of driver";
    int rc = sqlite_check_id(driver, "driver id", op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_SES_LISTDRIVER);
    sqlite3_bind_text(st, 1, driver, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
    return list_sessions(s, st, cb, arg, op, err);
}

/* The body of end_and_bill, inside its transaction/savepoint. */
static int end_and_bill_tx(sqlite_store *s, const char *id, int64_t ended, int64_t wh,
                           const char *reason, evc_ticket *ticket, bool *already,
                           evc_error *err)
{
    const char *op = "end and bill session";
    evc_session se;
    int rc = sqlite_session_get(s, id, &se, err);
    if (rc != EVC_OK)
        return rc;
    if (se.state == EVC_SESSION_ENDED) {
        *already = true;
        return get_one(s, SQ_TICKET_GET, id, "ticket for session", ticket_reader, ticket, op,
                       err);
    }
    /* DENIED too: the CP supplied although Central had denied (a late
     * authorisation); the energy was delivered and is owed. */
    if (se.state == EVC_SESSION_REQUESTED)
        return evc_error_set(err, EVC_ECONFLICT, "database %s: %s %s: session is %s; only an "
                             "authorised, supplying or denied session can end", s->path, op, id,
                             state_names[se.state]);
    evc_charging_point cp;
    if ((rc = sqlite_cp_get(s, se.cp_id, &cp, err)) != EVC_OK)
        return rc;
    int64_t cents = evc_bill_cents(wh, cp.price_cents_per_kwh);
    if (cents < 0)
        return evc_error_set(err, EVC_EINVAL, "%s %s: %lld Wh at %lld c/kWh overflows", op, id,
                             (long long)wh, (long long)cp.price_cents_per_kwh);
    int64_t now = sqlite_now_ms(s);
    if (!ended)
        ended = now;

    sqlite3_stmt *st = sqlite_stmt(s, SQ_SES_END);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, ended);
    sqlite3_bind_int64(st, 3, wh);
    sqlite3_bind_int64(st, 4, cents);
    sqlite3_bind_text(st, 5, reason ? reason : "", -1, SQLITE_STATIC);
    int changes = 0;
    if ((rc = sqlite_step_done(s, st, op, &changes, err)) != EVC_OK)
        return rc;
    if (changes != 1)
        return evc_error_set(err, EVC_ECONFLICT, "database %s: %s %s: changed concurrently",
                             s->path, op, id);

    st = sqlite_stmt(s, SQ_USER_DEBIT);
    sqlite3_bind_text(st, 1, se.driver_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cents);
    if ((rc = sqlite_step_done(s, st, op, &changes, err)) != EVC_OK)
        return rc;

    evc_ticket t;
    memset(&t, 0, sizeof t);
    snprintf(t.session_id, sizeof t.session_id, "%s", se.id);
    snprintf(t.driver_id, sizeof t.driver_id, "%s", se.driver_id);
    snprintf(t.cp_id, sizeof t.cp_id, "%s", se.cp_id);
    snprintf(t.end_reason, sizeof t.end_reason, "%s", reason ? reason : "");
    t.energy_wh = wh;
    t.price_cents_per_kwh = cp.price_cents_per_kwh;
    t.amount_cents = cents;
    t.started_ms = se.started_ms ? se.started_ms : ended;
    t.ended_ms = ended;
    t.issued_ms = now;
    st = sqlite_stmt(s, SQ_TICKET_INSERT);
    sqlite3_bind_text(st, 1, t.session_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t.driver_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, t.cp_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, t.energy_wh);
    sqlite3_bind_int64(st, 5, t.price_cents_per_kwh);
    sqlite3_bind_int64(st, 6, t.amount_cents);
    sqlite3_bind_int64(st, 7, t.started_ms);
    sqlite3_bind_int64(st, 8, t.ended_ms);
    sqlite3_bind_int64(st, 9, t.issued_ms);
    sqlite3_bind_text(st, 10, t.end_reason, -1, SQLITE_STATIC);
    if ((rc = sqlite_step_done(s, st, op, NULL, err)) != EVC_OK)
        return rc;
    if (ticket)
        *ticket = t;
    return EVC_OK;
}

int sqlite_session_end_and_bill(sqlite_store *s, const char *id, int64_t ended, int64_t wh,
                                const char *reason, evc_ticket *ticket, bool *already_billed,
                                evc_error *err)
{
    const char *op = "end and bill session";
    int rc = sqlite_check_id(id, "session id", op, err);
    if (rc != EVC_OK || (rc = check_text(reason, "reason", op, err)) != EVC_OK)
        return rc;
    if (wh < 0)
        return evc_error_set(err, EVC_EINVAL, "%s %s: negative energy %lld Wh", op, id,
                             (long long)wh);
    bool already = false;
    if ((rc = sqlite_op_begin(s, op, err)) != EVC_OK)
        return rc;
    rc = end_and_bill_tx(s, id, ended, wh, reason, ticket, &already, err);
    int rc2 = sqlite_op_end(s, rc == EVC_OK, op, rc == EVC_OK ? err : NULL);
    if (rc == EVC_OK)
        rc = rc2;
    if (already_billed)
        *already_billed = rc == EVC_OK && already;
    return rc;
}

int sqlite_ticket_get(sqlite_store *s, const char *session_id, evc_ticket *out, evc_error *err)
{
    const char *op = "get ticket";
    int rc = sqlite_check_id(session_id, "session id", op, err);
    return rc != EVC_OK ? rc : get_one(s, SQ_TICKET_GET, session_id, "ticket for session",
                                       ticket_reader, out, op, err);
}

int sqlite_ticket_list_by_driver(sqlite_store *s, const char *driver, unsigned limit,
                                 evc_ticket_cb cb, void *arg, evc_error *err)
{
    const char *op = "list tickets of driver";
    int rc = sqlite_check_id(driver, "driver id", op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_TICKET_LISTDRIVER);
    sqlite3_bind_text(st, 1, driver, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
    evc_ticket t;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_ticket(st, &t);
        if (cb && cb(arg, &t) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? EVC_OK : sqlite_fail(s, rc, op, err);
}
