/* supply_checks.c: see supply_checks.h. */
#include "supply_checks.h"

#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sc_write_services(h_env *env, const char *name, const char *const ids[], char *buf,
                              size_t cap)
{
    snprintf(buf, cap, "%s/%s", env->dir, name);
    FILE *f = fopen(buf, "w");
    cr_assert(f != NULL, "cannot write %s", buf);
    fprintf(f, "# services of a scenario\n");
    for (int i = 0; ids[i]; i++)
        fprintf(f, "%s\n", ids[i]);
    fclose(f);
    return buf;
}

static int64_t sc_q(h_env *env, const char *sql) { return h_db_int(env, sql, 0); }

#define SC_ZERO(env, sql, what)                                                            \
    do {                                                                                   \
        int64_t n_ = sc_q(env, sql);                                                       \
        H_ASSERT(env, n_ == 0, "%s: %lld row(s) (%s)", what, (long long)n_, sql);          \
    } while (0)

/* Seeded balances (roles/central/initdb.c, docs/DATABASE.md). */
static const struct {
    const char *id;
    int64_t cents;
} sc_seed[] = {{"driver1", 15000}, {"driver2", 20000}};

typedef struct sc_ticket {
    char session[80];
    int64_t wh, cents, price;
} sc_ticket;

static sc_ticket *sc_tickets(h_env *env, size_t *n)
{
    sqlite3 *db = NULL;
    cr_assert(sqlite3_open_v2(env->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    cr_assert(sqlite3_prepare_v2(db,
                                 "select session_id, energy_wh, amount_cents, price_cents_per_kwh "
                                 "from tickets order by session_id",
                                 -1, &st, NULL) == SQLITE_OK,
              "%s", sqlite3_errmsg(db));
    size_t cap = 16, k = 0;
    sc_ticket *t = calloc(cap, sizeof *t);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (k == cap) {
            cap *= 2;
            t = realloc(t, cap * sizeof *t);
            cr_assert(t != NULL);
        }
        snprintf(t[k].session, sizeof t[k].session, "%s",
                 (const char *)sqlite3_column_text(st, 0));
        t[k].wh = sqlite3_column_int64(st, 1);
        t[k].cents = sqlite3_column_int64(st, 2);
        t[k].price = sqlite3_column_int64(st, 3);
        k++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    *n = k;
    return t;
}

static const char *sc_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static int64_t sc_int(const json_t *o, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

void sc_check_billing(h_env *env, int expected_tickets)
{
    SC_ZERO(env, "select count(*) from sessions where state in ('requested','authorised','supplying')",
            "sessions left open");
    int64_t ended = sc_q(env, "select count(*) from sessions where state='ended'");
    int64_t tickets = sc_q(env, "select count(*) from tickets");
    H_ASSERT(env, ended == tickets, "%lld ended sessions but %lld tickets", (long long)ended,
             (long long)tickets);
    if (expected_tickets >= 0)
        H_ASSERT(env, tickets == expected_tickets, "%lld tickets, expected %d", (long long)tickets,
                 expected_tickets);
    SC_ZERO(env,
            "select count(*) from sessions s left join tickets t on t.session_id = s.id "
            "where s.state = 'ended' and t.session_id is null",
            "ended sessions without a ticket");
    SC_ZERO(env,
            "select count(*) from tickets t join sessions s on s.id = t.session_id "
            "where t.energy_wh != s.energy_wh or t.amount_cents != s.amount_cents "
            "or t.driver_id != s.driver_id or t.cp_id != s.cp_id",
            "tickets that disagree with their session");
    SC_ZERO(env,
            "select count(*) from tickets t join charging_points c on c.id = t.cp_id "
            "where t.price_cents_per_kwh != c.price_cents_per_kwh "
            "or t.amount_cents != (t.energy_wh * t.price_cents_per_kwh + 500) / 1000",
            "tickets not billed as (Wh x price + 500) / 1000 at the CP's price");
    int64_t billed = sc_q(env, "select coalesce(sum(amount_cents), 0) from tickets");
    int64_t expect = sc_q(env, "select coalesce(sum((s.energy_wh * c.price_cents_per_kwh + 500) "
                               "/ 1000), 0) from sessions s join charging_points c "
                               "on c.id = s.cp_id where s.state = 'ended'");
    H_ASSERT(env, billed == expect, "sum of tickets %lld cents != sum over sessions %lld cents",
             (long long)billed, (long long)expect);
    for (size_t i = 0; i < sizeof sc_seed / sizeof sc_seed[0]; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "select balance_cents from users where id = '%s'", sc_seed[i].id);
        int64_t bal = sc_q(env, sql);
        snprintf(sql, sizeof sql,
                 "select coalesce(sum(amount_cents), 0) from tickets where driver_id = '%s'",
                 sc_seed[i].id);
        int64_t spent = sc_q(env, sql);
        H_ASSERT(env, bal == sc_seed[i].cents - spent,
                 "%s: balance %lld cents, but seeded %lld minus tickets %lld = %lld",
                 sc_seed[i].id, (long long)bal, (long long)sc_seed[i].cents, (long long)spent,
                 (long long)(sc_seed[i].cents - spent));
    }

    /* What the engines reported on the bus. */
    json_t *cp = h_bus_messages(env, "cp-events");
    json_t *central = h_bus_messages(env, "central-events");
    size_t n = 0;
    sc_ticket *t = sc_tickets(env, &n);
    for (size_t k = 0; k < n; k++) {
        int64_t ended_wh = -1, max_tel_wh = -1;
        size_t i;
        json_t *m;
        json_array_foreach(cp, i, m)
        {
            json_t *p = json_object_get(m, "payload");
            if (strcmp(sc_str(p, "session_id"), t[k].session) != 0)
                continue;
            const char *type = sc_str(m, "type");
            if (strcmp(type, "supply.ended") == 0) {
                int64_t wh = sc_int(p, "wh", -1);
                H_ASSERT(env, ended_wh < 0 || ended_wh == wh,
                         "session %s: two supply.ended with %lld and %lld Wh", t[k].session,
                         (long long)ended_wh, (long long)wh);
                ended_wh = wh;
            } else if (strcmp(type, "supply.telemetry") == 0) {
                int64_t wh = sc_int(p, "wh", -1), cents = sc_int(p, "cents", -1);
                if (wh > max_tel_wh)
                    max_tel_wh = wh;
                H_ASSERT(env, cents == (wh * t[k].price + 500) / 1000,
                         "session %s: telemetry says %lld Wh and %lld cents; at %lld c/kWh that "
                         "is %lld cents",
                         t[k].session, (long long)wh, (long long)cents, (long long)t[k].price,
                         (long long)((wh * t[k].price + 500) / 1000));
            }
        }
        H_ASSERT(env, ended_wh >= 0, "session %s: no supply.ended on cp-events", t[k].session);
        H_ASSERT(env, ended_wh == t[k].wh, "session %s: the engine reported %lld Wh, ticket %lld Wh",
                 t[k].session, (long long)ended_wh, (long long)t[k].wh);
        H_ASSERT(env, max_tel_wh <= ended_wh,
                 "session %s: telemetry reached %lld Wh, more than the %lld Wh billed",
                 t[k].session, (long long)max_tel_wh, (long long)ended_wh);
        /* The ticket sent to the driver says the same as the database. */
        bool ticket_seen = false;
        json_array_foreach(central, i, m)
        {
            json_t *p = json_object_get(m, "payload");
            if (strcmp(sc_str(m, "type"), "supply.ticket") != 0 ||
                strcmp(sc_str(p, "session_id"), t[k].session) != 0)
                continue;
            ticket_seen = true;
            H_ASSERT(env, sc_int(p, "wh", -1) == t[k].wh && sc_int(p, "cents", -1) == t[k].cents,
                     "session %s: supply.ticket says %lld Wh %lld cents, database %lld Wh %lld "
                     "cents",
                     t[k].session, (long long)sc_int(p, "wh", -1), (long long)sc_int(p, "cents", -1),
                     (long long)t[k].wh, (long long)t[k].cents);
        }
        H_ASSERT(env, ticket_seen, "session %s: no supply.ticket on central-events", t[k].session);
    }
    free(t);
    json_decref(cp);
    json_decref(central);

    json_t *root = NULL;
    h_api_sessions(env, &root);
    json_t *active = json_object_get(root, "active");
    H_ASSERT(env, root != NULL, "GET /api/sessions failed");
    H_ASSERT(env, json_array_size(active) == 0, "/api/sessions lists %zu active session(s)",
             json_array_size(active));
    json_decref(root);
}

void sc_check_one_correlation(h_env *env, const char *session_id)
{
    static const struct {
        const char *topic, *type;
    } want[] = {
        {"driver-events", "supply.request"},    {"central-events", "cp.authorise"},
        {"cp-events", "cp.authorise_reply"},    {"cp-events", "supply.started"},
        {"cp-events", "supply.telemetry"},      {"cp-events", "supply.ended"},
        {"central-events", "supply.update"},    {"central-events", "supply.telemetry"},
        {"central-events", "supply.ticket"},    {"central-events", "supply.end_ack"},
    };
    const char *topics[] = {"driver-events", "cp-events", "central-events"};
    json_t *msgs[3];
    for (int i = 0; i < 3; i++) {
        msgs[i] = h_bus_messages(env, topics[i]);
        H_ASSERT(env, json_array_size(msgs[i]) > 0, "nothing read from topic %s", topics[i]);
    }
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        int t = strcmp(want[w].topic, "driver-events") == 0 ? 0
                : strcmp(want[w].topic, "cp-events") == 0   ? 1
                                                            : 2;
        bool found = false;
        size_t i;
        json_t *m;
        json_array_foreach(msgs[t], i, m)
        {
            if (strcmp(sc_str(m, "type"), want[w].type) == 0 &&
                strcmp(sc_str(m, "correlation_id"), session_id) == 0)
                found = true;
        }
        H_ASSERT(env, found, "no %s with correlation id %s on %s", want[w].type, session_id,
                 want[w].topic);
    }
    /* And nothing of that supply under another correlation id. */
    for (int t = 0; t < 3; t++) {
        size_t i;
        json_t *m;
        json_array_foreach(msgs[t], i, m)
        {
            json_t *p = json_object_get(m, "payload");
            if (strcmp(sc_str(p, "session_id"), session_id) == 0)
                H_ASSERT(env, strcmp(sc_str(m, "correlation_id"), session_id) == 0,
                         "%s on %s for session %s has correlation id '%s'", sc_str(m, "type"),
                         topics[t], session_id, sc_str(m, "correlation_id"));
        }
        json_decref(msgs[t]);
    }
}
