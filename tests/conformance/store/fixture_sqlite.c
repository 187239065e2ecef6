/* fixture_sqlite.c: the store conformance fixture of the SQLite plugin. */
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"

static void sq_database(const char *dir, char *out, size_t cap)
{
    snprintf(out, cap, "%s/central.db", dir);
}

static const char *sq_yaml(const char *variant)
{
    if (strcmp(variant, "busy") == 0)
        return "busy_timeout_ms: 300\n";
    if (strcmp(variant, "full") == 0)
        return "max_page_count: 40\n"; /* pages of 4 KiB; a fresh schema uses about 25 */
    if (strcmp(variant, "read_only") == 0)
        return "read_only: true\n";
    if (strcmp(variant, "bad_key") == 0)
        return "busy_timeout_ms: 100\nbusy_timout: 5\n";
    if (strcmp(variant, "bad_value") == 0)
        return "synchronous: OFF\n";
    if (strcmp(variant, "batch_rows") == 0)
        return "batch_max_rows: 10\nbatch_max_delay_ms: 60000\n";
    if (strcmp(variant, "batch") == 0)
        return "batch_max_rows: 5\nbatch_max_delay_ms: 50\n";
    return "busy_timeout_ms: 2000\n";
}

static pid_t sq_lock_hold(const char *db, int *release_fd)
{
    int ready[2], release[2];
    if (pipe(ready) != 0 || pipe(release) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(ready[0]);
        close(release[1]);
        sqlite3 *h = NULL;
        int ok = sqlite3_open(db, &h) == SQLITE_OK &&
                 sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
        char c = ok ? 'L' : 'E';
        if (write(ready[1], &c, 1) != 1)
            _exit(2);
        while (read(release[0], &c, 1) > 0) {
        }
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(h);
        _exit(ok ? 0 : 1);
    }
    close(ready[1]);
    close(release[0]);
    char c = 0;
    ssize_t n = read(ready[0], &c, 1);
    close(ready[0]);
    if (n != 1 || c != 'L') {
        close(release[1]);
        return -1;
    }
    *release_fd = release[1];
    return pid;
}

/* Version 1 as released: users, charging_points, sessions, tickets. Kept
 * here verbatim (not taken from the plugin) so the test really starts from
 * what an old build wrote. */
static const char *const v1_sql =
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
    "CREATE INDEX tickets_driver ON tickets(driver_id, ended_ms);"
    "INSERT INTO users VALUES ('old_driver', 'driver',"
    " '$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA', 4200, 1);"
    "INSERT INTO charging_points VALUES ('OLD_CP', 'Old town', 30, 22000, 'in_service', '',"
    " 1, 1);"
    "PRAGMA user_version = 1;";

/* Version 2 as released: version 1's tables and rows, the audit/outbox/kv
 * tables, and (for the migration to 3, which rebuilds charging_points under
 * the foreign keys of sessions and tickets) OLD_CP with a real argon2id
 * secret ("old-cp-secret", MIN cost) and a session and ticket on it. */
static const char *const v2_sql =
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
    " SELECT RAISE(ABORT, 'event_log is append-only'); END;"
    "CREATE TRIGGER event_log_no_delete BEFORE DELETE ON event_log BEGIN "
    "SELECT RAISE(ABORT, 'event_log is append-only'); END;"
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
    " PRIMARY KEY (namespace, key)) STRICT, WITHOUT ROWID;"
    "UPDATE charging_points SET secret_hash = '$argon2id$v=19$m=8,t=1,p=1$"
    "IerLeLrS3Smp27RGt23UQA$/uNS/NCggDQBuwbImrTPWbsV6hdPuA4h/FNH1FlATkc' WHERE id = 'OLD_CP';"
    "INSERT INTO sessions (id, correlation_id, driver_id, cp_id, requested_ms, state)"
    " VALUES ('old-session', 'old-corr', 'old_driver', 'OLD_CP', 1, 'ended');"
    "INSERT INTO tickets VALUES ('old-session', 'old_driver', 'OLD_CP', 1000, 30, 30, 1, 2, 3,"
    " 'done');"
    "PRAGMA user_version = 2;";

static int sq_exec(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open(db, &h);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "fixture_sqlite: %s: %s\n", db, sqlite3_errmsg(h));
    sqlite3_close(h);
    return rc == SQLITE_OK ? 0 : -1;
}

static int sq_make_version(const char *db, int version)
{
    if (version == 0) {
        int fd = open(db, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        return fd < 0 ? -1 : close(fd);
    }
    if (version == 1)
        return sq_exec(db, v1_sql);
    if (version == 2)
        return sq_exec(db, v1_sql) == 0 ? sq_exec(db, v2_sql) : -1;
    return -1;
}

static int sq_set_version(const char *db, int version)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", version);
    return sq_exec(db, sql);
}

static int sq_make_foreign(const char *db)
{
    return sq_exec(db, "CREATE TABLE photos (id INTEGER PRIMARY KEY, path TEXT NOT NULL);"
                       "INSERT INTO photos (path) VALUES ('/home/x/cat.jpg');");
}

static int sq_corrupt(const char *db)
{
    struct stat st;
    size_t size = stat(db, &st) == 0 && st.st_size > 0 ? (size_t)st.st_size : 8192;
    char *junk = malloc(size);
    if (!junk)
        return -1;
    for (size_t i = 0; i < size; i++)
        junk[i] = (char)(i * 131u + 7u);
    char path[600];
    int rc = 0;
    const char *suffix[] = {"-wal", "-shm"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", db, suffix[i]);
        unlink(path);
    }
    int fd = open(db, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, junk, size) != (ssize_t)size)
        rc = -1;
    if (fd >= 0)
        close(fd);
    free(junk);
    return rc;
}

static size_t sq_files(const char *db, char bufs[][512], size_t max)
{
    const char *suffix[] = {"", "-wal", "-journal"};
    size_t n = 0;
    for (int i = 0; i < 3 && n < max; i++) {
        snprintf(bufs[n], 512, "%s%s", db, suffix[i]);
        if (access(bufs[n], F_OK) == 0)
            n++;
    }
    return n;
}

const store_fixture evc_conformance_store_fixture = {
    .plugin = "sqlite",
    .schema_version = 3,
    .database = sq_database,
    .yaml = sq_yaml,
    .lock_hold = sq_lock_hold,
    .make_version = sq_make_version,
    .set_version = sq_set_version,
    .make_foreign = sq_make_foreign,
    .corrupt = sq_corrupt,
    .files = sq_files,
};
