/* chaos_checks.c: see chaos_checks.h. */
#include "chaos_checks.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Log lines are printed for the first few failing sessions only: a run that
 * lost fifty supplies would otherwise bury the summary. */
#define CC_LOG_SESSIONS 6
#define CC_LOG_LINES 40

static int cc_logged;

static void cc_fail_session(h_env *env, const char *sid)
{
    if (!sid || !*sid || cc_logged >= CC_LOG_SESSIONS)
        return;
    cc_logged++;
    fprintf(stderr, "chaos:   the lines of every program about %s:\n", sid);
    if (h_grep_logs(env, sid, CC_LOG_LINES) == 0)
        fprintf(stderr, "  (none)\n");
}

#define CC_FAIL(env, sid, ...)                                                             \
    do {                                                                                   \
        fprintf(stderr, "chaos: FAIL: ");                                                  \
        fprintf(stderr, __VA_ARGS__);                                                      \
        fputc('\n', stderr);                                                               \
        cc_fail_session(env, sid);                                                         \
        fails++;                                                                           \
    } while (0)

/* ---- Central's database --------------------------------------------------- */

typedef struct cc_ticket {
    char session[80], driver[64], cp[64], state[16];
    int64_t wh, cents, price, ses_wh, ses_cents;
} cc_ticket;

static sqlite3 *cc_open(h_env *env)
{
    sqlite3 *db = NULL;
    cr_assert(sqlite3_open_v2(env->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
              "open %s", env->db);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

static void cc_col(sqlite3_stmt *st, int i, char *buf, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
}

/* Every ticket with its session's state and amounts (left join: a ticket
 * without a session shows state ""). */
static cc_ticket *cc_tickets(h_env *env, size_t *n)
{
    sqlite3 *db = cc_open(env);
    sqlite3_stmt *st = NULL;
    cr_assert(sqlite3_prepare_v2(db,
                                 "select t.session_id, t.driver_id, t.cp_id, t.energy_wh, "
                                 "t.amount_cents, t.price_cents_per_kwh, s.state, s.energy_wh, "
                                 "s.amount_cents from tickets t left join sessions s "
                                 "on s.id = t.session_id order by t.issued_ms",
                                 -1, &st, NULL) == SQLITE_OK,
              "%s", sqlite3_errmsg(db));
    size_t cap = 64, k = 0;
    cc_ticket *t = calloc(cap, sizeof *t);
    cr_assert(t != NULL);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (k == cap) {
            cap *= 2;
            t = realloc(t, cap * sizeof *t);
            cr_assert(t != NULL);
        }
        cc_col(st, 0, t[k].session, sizeof t[k].session);
        cc_col(st, 1, t[k].driver, sizeof t[k].driver);
        cc_col(st, 2, t[k].cp, sizeof t[k].cp);
        t[k].wh = sqlite3_column_int64(st, 3);
        t[k].cents = sqlite3_column_int64(st, 4);
        t[k].price = sqlite3_column_int64(st, 5);
        cc_col(st, 6, t[k].state, sizeof t[k].state);
        t[k].ses_wh = sqlite3_column_int64(st, 7);
        t[k].ses_cents = sqlite3_column_int64(st, 8);
        k++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    *n = k;
    return t;
}

static const cc_ticket *cc_ticket_of(const cc_ticket *t, size_t n, const char *sid)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].session, sid) == 0)
            return &t[i];
    return NULL;
}

static int cc_tickets_of(const cc_ticket *t, size_t n, const char *sid)
{
    int c = 0;
    for (size_t i = 0; i < n; i++)
        c += strcmp(t[i].session, sid) == 0;
    return c;
}

int cc_read_balances(h_env *env, cc_balance *out, int cap)
{
    sqlite3 *db = cc_open(env);
    sqlite3_stmt *st = NULL;
    cr_assert(sqlite3_prepare_v2(db,
                                 "select id, balance_cents from users where role = 'driver' "
                                 "order by id",
                                 -1, &st, NULL) == SQLITE_OK);
    int n = 0;
    while (n < cap && sqlite3_step(st) == SQLITE_ROW) {
        cc_col(st, 0, out[n].driver, sizeof out[n].driver);
        out[n].cents = sqlite3_column_int64(st, 1);
        n++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* ---- the engines' stores ---------------------------------------------------- */

int cc_check_engine_store(h_env *env, const char *cp_id)
{
    int fails = 0;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s-engine.db", env->dir, cp_id);
    int64_t journal = h_sqlite_int(
        path, "select count(*) from kv where namespace = 'cp_engine' and key = 'journal'", -1);
    int64_t outbox = h_sqlite_int(path, "select count(*) from outbox", -1);
    int64_t mapped =
        h_sqlite_int(path, "select count(*) from kv where namespace = 'cp_engine.outbox'", -1);
    if (journal != 0)
        CC_FAIL(env, NULL, "%s: the engine's journal holds %lld supply (%s, kv cp_engine/journal)",
                cp_id, (long long)journal, path);
    if (outbox != 0)
        CC_FAIL(env, NULL, "%s: %lld report(s) never acknowledged in the engine's outbox (%s)",
                cp_id, (long long)outbox, path);
    if (mapped != 0)
        CC_FAIL(env, NULL, "%s: %lld session(s) still mapped in kv cp_engine.outbox (%s)", cp_id,
                (long long)mapped, path);
    return fails;
}

/* ---- what the engines reported ---------------------------------------------- */

static const char *cc_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t cc_int(const json_t *o, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* One object per session seen on cp-events: {cp, driver, ends: [wh...],
 * reasons: [..], tel_max, tel_n}. */
static json_t *cc_reports(json_t *cp_events)
{
    json_t *by = json_object();
    size_t i;
    json_t *m;
    json_array_foreach(cp_events, i, m)
    {
        const char *type = cc_str(m, "type");
        bool ended = strcmp(type, "supply.ended") == 0;
        bool tel = strcmp(type, "supply.telemetry") == 0;
        if (!ended && !tel)
            continue;
        json_t *p = json_object_get(m, "payload");
        const char *sid = cc_str(p, "session_id");
        if (!*sid)
            continue;
        json_t *r = json_object_get(by, sid);
        if (!r) {
            r = json_pack("{s:s, s:s, s:[], s:[], s:I, s:I}", "cp", cc_str(p, "cp_id"), "driver",
                          cc_str(p, "driver_id"), "ends", "reasons", "tel_max", (json_int_t)-1,
                          "tel_n", (json_int_t)0);
            json_object_set_new(by, sid, r);
        }
        int64_t wh = cc_int(p, "wh", -1);
        if (ended) {
            json_array_append_new(json_object_get(r, "ends"), json_integer(wh));
            json_array_append_new(json_object_get(r, "reasons"), json_string(cc_str(p, "reason")));
        } else {
            if (wh > cc_int(r, "tel_max", -1))
                json_object_set_new(r, "tel_max", json_integer(wh));
            json_object_set_new(r, "tel_n", json_integer(cc_int(r, "tel_n", 0) + 1));
        }
    }
    return by;
}

/* ---- the ledger ------------------------------------------------------------- */

int cc_check_ledger(h_env *env, json_t *cp_events, const cc_balance *initial, int ndrivers)
{
    int fails = 0;
    cc_logged = 0;
    int64_t open = h_db_int(env,
                            "select count(*) from sessions "
                            "where state in ('requested','authorised','supplying')",
                            0);
    if (open != 0)
        CC_FAIL(env, NULL, "%lld session(s) still open in Central's database", (long long)open);
    int64_t unticketed = h_db_int(env,
                                  "select count(*) from sessions s left join tickets t "
                                  "on t.session_id = s.id where s.state = 'ended' "
                                  "and t.session_id is null",
                                  0);
    if (unticketed != 0)
        CC_FAIL(env, NULL, "%lld ended session(s) without a ticket", (long long)unticketed);

    size_t n = 0;
    cc_ticket *t = cc_tickets(env, &n);
    for (size_t k = 0; k < n; k++) {
        const cc_ticket *x = &t[k];
        int64_t want = (x->wh * x->price + 500) / 1000;
        if (x->cents != want)
            CC_FAIL(env, x->session,
                    "ticket %s (%s at %s): %lld Wh at %lld c/kWh is %lld cents, billed %lld",
                    x->session, x->driver, x->cp, (long long)x->wh, (long long)x->price,
                    (long long)want, (long long)x->cents);
        if (cc_tickets_of(t, n, x->session) != 1)
            CC_FAIL(env, x->session, "session %s (%s at %s) billed %d times", x->session,
                    x->driver, x->cp, cc_tickets_of(t, n, x->session));
        if (strcmp(x->state, "ended") != 0 || x->ses_wh != x->wh || x->ses_cents != x->cents)
            CC_FAIL(env, x->session,
                    "ticket %s (%s at %s: %lld Wh, %lld cents) but its session is '%s' with "
                    "%lld Wh, %lld cents",
                    x->session, x->driver, x->cp, (long long)x->wh, (long long)x->cents,
                    x->state, (long long)x->ses_wh, (long long)x->ses_cents);
    }

    json_t *by = cc_reports(cp_events);
    const char *sid;
    json_t *r;
    int reported = 0, with_energy = 0;
    json_object_foreach(by, sid, r)
    {
        const char *cp = cc_str(r, "cp"), *driver = cc_str(r, "driver");
        json_t *ends = json_object_get(r, "ends");
        const cc_ticket *x = cc_ticket_of(t, n, sid);
        int64_t tel_max = cc_int(r, "tel_max", -1);
        if (json_array_size(ends) > 0) {
            reported++;
            int64_t wh = json_integer_value(json_array_get(ends, 0));
            size_t i;
            json_t *w;
            bool agree = true;
            json_array_foreach(ends, i, w)
            {
                agree = agree && json_integer_value(w) == wh;
            }
            if (!agree) {
                char *list = json_dumps(ends, JSON_COMPACT);
                char *why = json_dumps(json_object_get(r, "reasons"), JSON_COMPACT);
                CC_FAIL(env, sid,
                        "session %s (%s at %s): the engine reported %zu different ends: Wh %s, "
                        "reasons %s; ticket %lld Wh",
                        sid, driver, cp, json_array_size(ends), list, why,
                        x ? (long long)x->wh : -1LL);
                free(list);
                free(why);
                /* The most the engine claimed is what must have been billed. */
                wh = -1;
                json_array_foreach(ends, i, w)
                {
                    if (json_integer_value(w) > wh)
                        wh = json_integer_value(w);
                }
            }
            with_energy += wh > 0;
            /* A 0 Wh report (never plugged in) owes nothing: it need not be
             * billed, but if it was, it was billed 0 Wh. */
            if (!x && wh > 0)
                CC_FAIL(env, sid,
                        "session %s (%s at %s): the engine reported %lld Wh supplied, "
                        "there is no ticket: energy never billed",
                        sid, driver, cp, (long long)wh);
            else if (x && x->wh != wh)
                CC_FAIL(env, sid,
                        "session %s (%s at %s): the engine reported %lld Wh, the ticket says "
                        "%lld Wh",
                        sid, driver, cp, (long long)wh, (long long)x->wh);
        }
        if (tel_max > 0 && !x)
            CC_FAIL(env, sid,
                    "session %s (%s at %s): %lld telemetry message(s) showed up to %lld Wh, "
                    "there is no ticket%s",
                    sid, driver, cp, (long long)cc_int(r, "tel_n", 0), (long long)tel_max,
                    json_array_size(ends) ? "" : " (and no supply.ended either)");
        else if (x && tel_max > x->wh)
            CC_FAIL(env, sid,
                    "session %s (%s at %s): telemetry showed %lld Wh, more than the %lld Wh "
                    "billed",
                    sid, driver, cp, (long long)tel_max, (long long)x->wh);
    }
    fprintf(stderr,
            "chaos: ledger: %zu ticket(s), %d supply(ies) reported ended on the bus (%d with "
            "energy), %zu session(s) seen on cp-events\n",
            n, reported, with_energy, json_object_size(by));
    json_decref(by);

    for (int d = 0; d < ndrivers; d++) {
        int64_t spent = 0;
        for (size_t k = 0; k < n; k++)
            if (strcmp(t[k].driver, initial[d].driver) == 0)
                spent += t[k].cents;
        char sql[256];
        snprintf(sql, sizeof sql, "select balance_cents from users where id = '%s'",
                 initial[d].driver);
        int64_t bal = h_db_int(env, sql, -1);
        if (bal != initial[d].cents - spent)
            CC_FAIL(env, NULL,
                    "%s: balance %lld cents, but %lld at the start minus %lld in tickets is %lld",
                    initial[d].driver, (long long)bal, (long long)initial[d].cents,
                    (long long)spent, (long long)(initial[d].cents - spent));
    }
    free(t);
    return fails;
}
