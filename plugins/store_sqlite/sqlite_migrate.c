/* sqlite_migrate.c: the schema (numbered migrations tracked with
 * PRAGMA user_version) and every statement the plugin prepares once.
 *
 * A migration is never edited once released: a change is a new migration.
 * docs/DATABASE.md documents the resulting tables column by column.
 */
#include <stdio.h>
#include <string.h>

#include "sqlite_internal.h"

/* The event log is append-only; wipe (init-db --force) drops the delete
 * trigger for its one DELETE and recreates it in the same transaction. */
#define EVENT_LOG_NO_DELETE                                                              \
    "CREATE TRIGGER event_log_no_delete BEFORE DELETE ON event_log BEGIN "              \
    "SELECT RAISE(ABORT, 'event_log is append-only'); END;"

/* migrations[v-1] turns schema v-1 into v. */
static const char *const migrations[SQLITE_SCHEMA_VERSION] = {
    /* 1: the domain */
    "CREATE TABLE users ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 63),"
    " role TEXT NOT NULL CHECK (role IN ('driver','admin')),"
    " password_hash TEXT NOT NULL CHECK (substr(password_hash,1,10) = '$argon2id$'),"
    " balance_cents INTEGER NOT NULL DEFAULT 0,"
    " created_ms INTEGER NOT NULL) STRICT;"
    "CREATE TABLE charging_points ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 63),"
    " location TEXT NOT NULL DEFAULT '',"
    " price_cents_per_kwh INTEGER NOT NULL CHECK (price_cents_per_kwh >= 0),"
    " max_w INTEGER NOT NULL DEFAULT 0 CHECK (max_w >= 0),"
    " admin_state TEXT NOT NULL DEFAULT 'in_service'"
    "   CHECK (admin_state IN ('in_service','stopped')),"
    " secret_hash TEXT NOT NULL DEFAULT ''"
    "   CHECK (secret_hash = '' OR substr(secret_hash,1,10) = '$argon2id$'),"
    " registered_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL) STRICT;"
    "CREATE TABLE sessions ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " correlation_id TEXT NOT NULL UNIQUE,"
    " driver_id TEXT NOT NULL REFERENCES users(id),"
    " cp_id TEXT NOT NULL REFERENCES charging_points(id),"
    " requested_ms INTEGER NOT NULL,"
    " authorised_ms INTEGER NOT NULL DEFAULT 0,"
    " started_ms INTEGER NOT NULL DEFAULT 0,"
    " ended_ms INTEGER NOT NULL DEFAULT 0,"
    " energy_wh INTEGER NOT NULL DEFAULT 0 CHECK (energy_wh >= 0),"
    " amount_cents INTEGER NOT NULL DEFAULT 0 CHECK (amount_cents >= 0),"
    " state TEXT NOT NULL DEFAULT 'requested'"
    "   CHECK (state IN ('requested','authorised','supplying','ended','denied')),"
    " end_reason TEXT NOT NULL DEFAULT '') STRICT;"
    "CREATE INDEX sessions_driver ON sessions(driver_id, requested_ms);"
    "CREATE INDEX sessions_cp ON sessions(cp_id);"
    "CREATE INDEX sessions_open ON sessions(requested_ms)"
    " WHERE state IN ('requested','authorised','supplying');"
    "CREATE TABLE tickets ("
    " session_id TEXT PRIMARY KEY NOT NULL REFERENCES sessions(id),"
    " driver_id TEXT NOT NULL REFERENCES users(id),"
    " cp_id TEXT NOT NULL REFERENCES charging_points(id),"
    " energy_wh INTEGER NOT NULL CHECK (energy_wh >= 0),"
    " price_cents_per_kwh INTEGER NOT NULL,"
    " amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),"
    " started_ms INTEGER NOT NULL,"
    " ended_ms INTEGER NOT NULL,"
    " issued_ms INTEGER NOT NULL,"
    " end_reason TEXT NOT NULL DEFAULT '') STRICT;"
    "CREATE INDEX tickets_driver ON tickets(driver_id, ended_ms);",

    /* 2: audit, outbox, role-private state */
    "CREATE TABLE event_log ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " message_id TEXT NOT NULL UNIQUE,"
    " correlation_id TEXT NOT NULL DEFAULT '',"
    " type TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " detail TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail)),"
    " ts_ms INTEGER NOT NULL) STRICT;"
    "CREATE INDEX event_log_correlation ON event_log(correlation_id) WHERE correlation_id <> '';"
    "CREATE TRIGGER event_log_no_update BEFORE UPDATE ON event_log BEGIN"
    " SELECT RAISE(ABORT, 'event_log is append-only'); END;" EVENT_LOG_NO_DELETE
    "CREATE TABLE outbox ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " topic TEXT NOT NULL CHECK (topic <> ''),"
    " key TEXT NOT NULL DEFAULT '',"
    " payload BLOB NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_ms INTEGER NOT NULL DEFAULT 0,"
    " claimed_until_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '') STRICT;"
    "CREATE INDEX outbox_due ON outbox(next_attempt_ms, id);"
    "CREATE TABLE kv ("
    " namespace TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value BLOB NOT NULL,"
    " updated_ms INTEGER NOT NULL,"
    " PRIMARY KEY (namespace, key)) STRICT, WITHOUT ROWID;",

    /* 3: CP secrets may also be stored by the fast verifier of strong
     * secrets ("$evc-cpk$v=1$...", evc/proof.h). SQLite cannot change a
     * CHECK in place: the table is rebuilt (SQLite's documented procedure,
     * foreign keys off around the step, foreign_key_check before COMMIT;
     * sessions and tickets keep referring to it by name). */
    "CREATE TABLE charging_points_v3 ("
    " id TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 63),"
    " location TEXT NOT NULL DEFAULT '',"
    " price_cents_per_kwh INTEGER NOT NULL CHECK (price_cents_per_kwh >= 0),"
    " max_w INTEGER NOT NULL DEFAULT 0 CHECK (max_w >= 0),"
    " admin_state TEXT NOT NULL DEFAULT 'in_service'"
    "   CHECK (admin_state IN ('in_service','stopped')),"
    " secret_hash TEXT NOT NULL DEFAULT ''"
    "   CHECK (secret_hash = '' OR substr(secret_hash,1,10) = '$argon2id$'"
    "          OR substr(secret_hash,1,13) = '$evc-cpk$v=1$'),"
    " registered_ms INTEGER NOT NULL,"
    " updated_ms INTEGER NOT NULL) STRICT;"
    "INSERT INTO charging_points_v3 (id, location, price_cents_per_kwh, max_w, admin_state,"
    " secret_hash, registered_ms, updated_ms)"
    " SELECT id, location, price_cents_per_kwh, max_w, admin_state, secret_hash,"
    " registered_ms, updated_ms FROM charging_points;"
    "DROP TABLE charging_points;"
    "ALTER TABLE charging_points_v3 RENAME TO charging_points;",
};

/* Steps that rebuild a table referred to by foreign keys: enforcement off
 * around them (PRAGMA foreign_keys is a no-op inside a transaction). */
static bool rebuilds(int step)
{
    return step == 3;
}

/* Inside the step's transaction: a rebuild must leave every reference
 * valid, or the step is rolled back. */
static int fk_check(sqlite_store *s, const char *op, evc_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA foreign_key_check", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    char table[64] = "";
    if (rc == SQLITE_ROW)
        snprintf(table, sizeof table, "%s", sqlite_col_str(st, 0));
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return evc_error_set(err, EVC_ECONFLICT, "database %s: %s left a broken foreign key "
                             "in table %s: not applied", s->path, op, table);
    return rc == SQLITE_DONE ? EVC_OK : sqlite_fail(s, rc, op, err);
}

#define SES_COLS                                                                           \
    "id, correlation_id, driver_id, cp_id, requested_ms, authorised_ms, started_ms, "     \
    "ended_ms, energy_wh, amount_cents, state, end_reason"
#define TICKET_COLS                                                                        \
    "session_id, driver_id, cp_id, energy_wh, price_cents_per_kwh, amount_cents, "        \
    "started_ms, ended_ms, issued_ms, end_reason"
#define USER_COLS "id, role, password_hash, balance_cents, created_ms"
#define CP_COLS                                                                            \
    "id, location, price_cents_per_kwh, max_w, admin_state, secret_hash, registered_ms, "  \
    "updated_ms"
#define EVENT_COLS "seq, message_id, correlation_id, type, source, detail, ts_ms"

static const char *const stmt_sql[SQ_COUNT] = {
    [SQ_USER_INSERT] = "INSERT INTO users (" USER_COLS ") VALUES (?1, ?2, ?3, ?4, ?5)",
    [SQ_USER_GET] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
    [SQ_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY id",
    [SQ_USER_SETPW] = "UPDATE users SET password_hash = ?2 WHERE id = ?1",
    [SQ_USER_ADDBAL] = "UPDATE users SET balance_cents = balance_cents + ?2"
                       " WHERE id = ?1 AND balance_cents + ?2 >= 0 RETURNING balance_cents",
    [SQ_USER_DEBIT] = "UPDATE users SET balance_cents = balance_cents - ?2 WHERE id = ?1",
    [SQ_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
    [SQ_CP_INSERT] = "INSERT INTO charging_points (" CP_COLS ")"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [SQ_CP_UPDATE] = "UPDATE charging_points SET location = ?2, price_cents_per_kwh = ?3,"
                     " max_w = ?4, updated_ms = ?5 WHERE id = ?1",
    [SQ_CP_GET] = "SELECT " CP_COLS " FROM charging_points WHERE id = ?1",
    [SQ_CP_LIST] = "SELECT " CP_COLS " FROM charging_points ORDER BY id",
    [SQ_CP_SETSTATE] = "UPDATE charging_points SET admin_state = ?2, updated_ms = ?3"
                       " WHERE id = ?1",
    [SQ_CP_SETSECRET] = "UPDATE charging_points SET secret_hash = ?2, updated_ms = ?3"
                        " WHERE id = ?1",
    [SQ_SES_INSERT] = "INSERT INTO sessions (id, correlation_id, driver_id, cp_id,"
                      " requested_ms, state) VALUES (?1, ?2, ?3, ?4, ?5, 'requested')",
    [SQ_SES_GET] = "SELECT " SES_COLS " FROM sessions WHERE id = ?1",
    [SQ_SES_GETCORR] = "SELECT " SES_COLS " FROM sessions WHERE correlation_id = ?1",
    [SQ_SES_SETSTATE] =
        "UPDATE sessions SET state = ?2,"
        " authorised_ms = CASE WHEN ?2 = 'authorised' THEN ?3 ELSE authorised_ms END,"
        " started_ms = CASE WHEN ?2 = 'supplying' THEN ?3 ELSE started_ms END,"
        " ended_ms = CASE WHEN ?2 = 'denied' THEN ?3 ELSE ended_ms END,"
        " end_reason = CASE WHEN ?2 = 'denied' THEN ?4 ELSE end_reason END"
        " WHERE id = ?1 AND state = ?5",
    [SQ_SES_PROGRESS] = "UPDATE sessions SET energy_wh = ?2, amount_cents = ?3"
                        " WHERE id = ?1 AND state = 'supplying'",
    [SQ_SES_LISTOPEN] = "SELECT " SES_COLS " FROM sessions"
                        " WHERE state IN ('requested','authorised','supplying')"
                        " ORDER BY requested_ms, id",
    [SQ_SES_LISTDRIVER] = "SELECT " SES_COLS " FROM sessions WHERE driver_id = ?1"
                          " ORDER BY requested_ms DESC, id DESC LIMIT ?2",
    [SQ_SES_END] = "UPDATE sessions SET state = 'ended', ended_ms = ?2, energy_wh = ?3,"
                   " amount_cents = ?4, end_reason = ?5"
                   " WHERE id = ?1 AND state IN ('authorised','supplying','denied')",
    [SQ_TICKET_INSERT] = "INSERT INTO tickets (" TICKET_COLS ")"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [SQ_TICKET_GET] = "SELECT " TICKET_COLS " FROM tickets WHERE session_id = ?1",
    [SQ_TICKET_LISTDRIVER] = "SELECT " TICKET_COLS " FROM tickets WHERE driver_id = ?1"
                             " ORDER BY ended_ms DESC, session_id DESC LIMIT ?2",
    [SQ_EVENT_INSERT] = "INSERT INTO event_log (message_id, correlation_id, type, source,"
                        " detail, ts_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [SQ_EVENT_LIST] = "SELECT " EVENT_COLS " FROM event_log WHERE seq > ?1 ORDER BY seq"
                      " LIMIT ?2",
    [SQ_EVENT_LISTCORR] = "SELECT " EVENT_COLS " FROM event_log WHERE correlation_id = ?1"
                          " ORDER BY seq",
    [SQ_OUT_INSERT] = "INSERT INTO outbox (topic, key, payload, created_ms)"
                      " VALUES (?1, ?2, ?3, ?4)",
    [SQ_OUT_DUE] = "SELECT id FROM outbox WHERE next_attempt_ms <= ?1"
                   " AND claimed_until_ms <= ?1 ORDER BY id LIMIT ?2",
    [SQ_OUT_CLAIM] = "UPDATE outbox SET claimed_until_ms = ?2, attempts = attempts + 1"
                     " WHERE id = ?1",
    [SQ_OUT_GET] = "SELECT id, topic, key, payload, created_ms, attempts FROM outbox"
                   " WHERE id = ?1",
    [SQ_OUT_ACK] = "DELETE FROM outbox WHERE id = ?1",
    [SQ_OUT_RETRY] = "UPDATE outbox SET claimed_until_ms = 0, next_attempt_ms = ?2,"
                     " last_error = ?3 WHERE id = ?1",
    [SQ_OUT_PENDING] = "SELECT count(*) FROM outbox",
    [SQ_KV_PUT] = "INSERT INTO kv (namespace, key, value, updated_ms) VALUES (?1, ?2, ?3, ?4)"
                  " ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value,"
                  " updated_ms = excluded.updated_ms",
    [SQ_KV_GET] = "SELECT value FROM kv WHERE namespace = ?1 AND key = ?2",
    [SQ_KV_DELETE] = "DELETE FROM kv WHERE namespace = ?1 AND key = ?2",
    [SQ_KV_LIST] = "SELECT key, value FROM kv WHERE namespace = ?1 ORDER BY key",
};

static int read_version(sqlite_store *s, int *v, evc_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? EVC_OK : sqlite_fail(s, rc, "read schema version", err);
}

/* Tables every schema version has (docs/DATABASE.md). */
static const char *const OUR_TABLES[] = {"users", "charging_points", "sessions", "tickets", NULL};

/* Counts the tables of the database (SQLite's own sqlite_% ones aside) and
 * names the first, for the message. */
static int count_tables(sqlite_store *s, int *n, char *first, size_t cap, evc_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT name FROM sqlite_master WHERE type = 'table' AND name "
                                "NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                                -1, &st, NULL);
    *n = 0;
    first[0] = '\0';
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((*n)++ == 0)
            snprintf(first, cap, "%s", sqlite_col_str(st, 0));
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? EVC_OK : sqlite_fail(s, rc, "list tables", err);
}

static int table_exists(sqlite_store *s, const char *name, bool *yes, evc_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                                -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    *yes = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? EVC_OK
                                                 : sqlite_fail(s, rc, "look up a table", err);
}

/* A database must be ours before we write to it. Schema version 0 with
 * tables is another application's database: migrating would add our tables
 * to it (and Central would start on no users). A version we know without
 * our tables is not ours either (another program also uses user_version),
 * or was damaged by hand. Both are refused naming the path; a database
 * with no table at all (just created, or an empty file) is migrated: the
 * role decides whether an empty one may be used (EV_Central: --init-db). */
static int check_ours(sqlite_store *s, int v, evc_error *err)
{
    if (v == 0) {
        int n = 0;
        char first[128];
        int rc = count_tables(s, &n, first, sizeof first, err);
        if (rc != EVC_OK || n == 0)
            return rc;
        return evc_error_set(err, EVC_ECONFLICT,
                             "database %s is not an EVCharging database (no schema version, %d "
                             "table%s of another application, e.g. '%s'): refusing to add ours; "
                             "give a new path to EV_Central --init-db",
                             s->path, n, n == 1 ? "" : "s", first);
    }
    for (size_t i = 0; OUR_TABLES[i]; i++) {
        bool yes = false;
        int rc = table_exists(s, OUR_TABLES[i], &yes, err);
        if (rc != EVC_OK)
            return rc;
        if (!yes)
            return evc_error_set(err, EVC_ECONFLICT,
                                 "database %s has schema version %d but no table '%s': not an "
                                 "EVCharging database, or damaged (restore it from a backup)",
                                 s->path, v, OUR_TABLES[i]);
    }
    return EVC_OK;
}

/* One step in its own transaction; *now is the version it left. */
static int step(sqlite_store *s, int v, bool fk_off, int *now, evc_error *err)
{
    int rc = sqlite_exec(s, "BEGIN IMMEDIATE", "migrate", err);
    if (rc != EVC_OK)
        return rc;
    if ((rc = read_version(s, now, err)) == EVC_OK && *now == v) {
        char op[64], pragma[64];
        snprintf(op, sizeof op, "migration %d", v + 1);
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        rc = sqlite_exec(s, migrations[v], op, err);
        if (rc == EVC_OK && fk_off)
            rc = fk_check(s, op, err);
        if (rc == EVC_OK)
            rc = sqlite_exec(s, pragma, op, err);
        *now = v + 1;
    }
    if (rc == EVC_OK)
        rc = sqlite_exec(s, "COMMIT", "migrate", err);
    if (rc != EVC_OK && !sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

int sqlite_migrate(sqlite_store *s, evc_error *err)
{
    int v = 0;
    int rc = read_version(s, &v, err);
    if (rc != EVC_OK)
        return rc;
    if (v >= 0 && v <= SQLITE_SCHEMA_VERSION && (rc = check_ours(s, v, err)) != EVC_OK)
        return rc;
    if (v > SQLITE_SCHEMA_VERSION || v < 0)
        return evc_error_set(err, EVC_ECONFLICT, "database %s has schema version %d, this build "
                             "supports up to %d: use a newer EV_Central", s->path, v,
                             SQLITE_SCHEMA_VERSION);
    if (v < SQLITE_SCHEMA_VERSION && s->read_only)
        return evc_error_set(err, EVC_EREADONLY, "database %s has schema version %d and needs "
                             "migrating to %d, which a read-only store cannot do", s->path, v,
                             SQLITE_SCHEMA_VERSION);
    /* One transaction per step: a crash leaves the database at a whole
     * version. BEGIN IMMEDIATE and a re-read make two processes starting at
     * once apply each step exactly once. */
    while (v < SQLITE_SCHEMA_VERSION) {
        bool fk_off = rebuilds(v + 1);
        if (fk_off && (rc = sqlite_exec(s, "PRAGMA foreign_keys=OFF", "migrate", err)) != EVC_OK)
            return rc;
        int now = 0;
        rc = step(s, v, fk_off, &now, err);
        if (fk_off) {
            evc_error ferr = {0};
            int frc = sqlite_exec(s, "PRAGMA foreign_keys=ON", "migrate", &ferr);
            if (rc == EVC_OK && frc != EVC_OK) {
                *err = ferr;
                rc = frc;
            }
        }
        if (rc != EVC_OK)
            return rc;
        if (now != v + 1 && now > SQLITE_SCHEMA_VERSION)
            return evc_error_set(err, EVC_ECONFLICT, "database %s has schema version %d, this "
                                 "build supports up to %d", s->path, now, SQLITE_SCHEMA_VERSION);
        v = now;
    }
    return EVC_OK;
}

int sqlite_prepare_all(sqlite_store *s, evc_error *err)
{
    for (int i = 0; i < SQ_COUNT; i++) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                                    NULL);
        if (rc != SQLITE_OK) {
            char op[96];
            snprintf(op, sizeof op, "prepare statement %d", i);
            return sqlite_fail(s, rc, op, err);
        }
    }
    return EVC_OK;
}

int sqlite_wipe(sqlite_store *s, evc_error *err)
{
    return sqlite_exec(s,
                       "DELETE FROM tickets; DELETE FROM sessions; DELETE FROM outbox;"
                       "DELETE FROM kv; DROP TRIGGER event_log_no_delete;"
                       "DELETE FROM event_log;" EVENT_LOG_NO_DELETE
                       "DELETE FROM users; DELETE FROM charging_points;"
                       "DELETE FROM sqlite_sequence;",
                       "wipe", err);
}
