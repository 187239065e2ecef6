/* sqlite_plugin.c: descriptor, config, lifecycle, error mapping,
 * transactions and batched commits of the SQLite store plugin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/plugin.h"
#include "sqlite_internal.h"

static const char *const sync_values[] = {"NORMAL", "FULL", NULL};

static const evc_cfg_field sqlite_schema[] = {
    {.key = "synchronous", .type = EVC_CFG_ENUM, .default_text = "NORMAL",
     .help = "PRAGMA synchronous: NORMAL (WAL: durable at checkpoint, never corrupt) or FULL "
             "(every commit fsynced)",
     .enum_values = sync_values},
    {.key = "busy_timeout_ms", .type = EVC_CFG_INT, .default_text = "5000",
     .help = "how long a write waits for another process's lock before EVC_EBUSY",
     .min = 0, .max = 600000},
    {.key = "batch_max_delay_ms", .type = EVC_CFG_INT, .default_text = "100",
     .help = "longest time a batched (telemetry) write waits for its commit",
     .min = 1, .max = 60000},
    {.key = "batch_max_rows", .type = EVC_CFG_INT, .default_text = "500",
     .help = "a batch is committed as soon as it holds this many writes",
     .min = 1, .max = 1000000},
    {.key = "read_only", .type = EVC_CFG_BOOL, .default_text = "false",
     .help = "open the database read-only (SQLITE_OPEN_READONLY); every write is EVC_EREADONLY"},
    {.key = "max_page_count", .type = EVC_CFG_INT, .default_text = "0",
     .help = "PRAGMA max_page_count: size quota in pages (0 = SQLite's default, no quota); "
             "writes beyond it are EVC_EFULL",
     .min = 0, .max = 4294967294LL},
    {.key = NULL},
};

/* ---- errors ------------------------------------------------------------ */

static int map_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return EVC_OK;
    case SQLITE_BUSY: case SQLITE_LOCKED: return EVC_EBUSY;
    case SQLITE_FULL: return EVC_EFULL;
    case SQLITE_READONLY: return EVC_EREADONLY;
    case SQLITE_CORRUPT: case SQLITE_NOTADB: return EVC_ECORRUPT;
    case SQLITE_NOMEM: return EVC_ENOMEM;
    case SQLITE_CONSTRAINT:
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
            return EVC_EEXIST;
        return EVC_ECONFLICT;
    case SQLITE_MISUSE: case SQLITE_RANGE: return EVC_EINVAL;
    default: return EVC_EIO;
    }
}

int sqlite_fail(sqlite_store *s, int rc, const char *op, evc_error *err)
{
    int code = map_code(rc);
    if (code == EVC_OK)
        code = EVC_EIO;
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        evc_error_set(err, code, "database %s: %s: %s (the file is corrupt or not an SQLite "
                      "database; restore it from a backup)", s->path, op, msg);
    else if ((rc & 0xff) == SQLITE_BUSY)
        evc_error_set(err, code, "database %s: %s: %s (another process held the write lock "
                      "longer than busy_timeout_ms=%lld)", s->path, op, msg,
                      (long long)s->busy_timeout_ms);
    else if ((rc & 0xff) == SQLITE_CANTOPEN)
        evc_error_set(err, code, "database %s: %s: %s (does its directory exist, and may this "
                      "process create files in it?)", s->path, op, msg);
    else
        evc_error_set(err, code, "database %s: %s: %s", s->path, op, msg);
    if (code == EVC_EBUSY)
        s->stats.busy++;
    /* FULL, IOERR, NOMEM and BUSY may roll back the whole transaction: keep
     * our view of it true. */
    if (s->db && sqlite3_get_autocommit(s->db)) {
        if (s->in_txn) {
            s->in_txn = false;
            s->txn_aborted = true;
        }
        if (s->in_batch) {
            s->in_batch = false;
            if (s->host)
                s->host->log(s->host->host, EVC_LOG_ERROR, NULL,
                             "database %s: a batch of %lld writes was rolled back: %s", s->path,
                             (long long)s->batch_rows, msg);
            s->batch_rows = 0;
        }
    }
    return code;
}

int sqlite_exec(sqlite_store *s, const char *sql, const char *op, evc_error *err)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? EVC_OK : sqlite_fail(s, rc, op, err);
}

int64_t sqlite_now_ms(sqlite_store *s)
{
    return (int64_t)s->host->wall_ms(s->host->host);
}

sqlite3_stmt *sqlite_stmt(sqlite_store *s, enum sqlite_stmt_id id)
{
    sqlite3_reset(s->st[id]);
    sqlite3_clear_bindings(s->st[id]);
    return s->st[id];
}

int sqlite_step_done(sqlite_store *s, sqlite3_stmt *st, const char *op, int *changes,
                     evc_error *err)
{
    int rc = sqlite3_step(st);
    while (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        int code = sqlite_fail(s, sqlite3_extended_errcode(s->db), op, err);
        sqlite3_reset(st);
        return code;
    }
    if (changes)
        *changes = sqlite3_changes(s->db);
    sqlite3_reset(st);
    return EVC_OK;
}

void sqlite_col_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s", sqlite_col_str(st, col));
}

const char *sqlite_col_str(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

int sqlite_check_id(const char *id, const char *what, const char *op, evc_error *err)
{
    if (!id || !id[0])
        return evc_error_set(err, EVC_EINVAL, "%s: empty %s", op, what);
    if (strlen(id) >= EVC_STORE_ID_MAX)
        return evc_error_set(err, EVC_EINVAL, "%s: %s '%.40s...' longer than %d bytes", op, what,
                             id, EVC_STORE_ID_MAX - 1);
    return EVC_OK;
}

/* ---- transactions and batches ------------------------------------------ */

static void batch_timer_stop(sqlite_store *s)
{
    if (s->batch_timer) {
        s->host->timer_stop(s->batch_timer);
        s->batch_timer = NULL;
    }
}

int sqlite_batch_commit(sqlite_store *s, evc_error *err)
{
    batch_timer_stop(s);
    if (!s->in_batch)
        return EVC_OK;
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int code = sqlite_fail(s, rc, "commit of a batch", err);
        if (s->in_batch) { /* still open (BUSY on commit): give it up */
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            s->in_batch = false;
            s->batch_rows = 0;
            s->stats.rollbacks++;
        }
        return code;
    }
    s->in_batch = false;
    s->batch_rows = 0;
    s->stats.commits++;
    s->stats.batch_commits++;
    return EVC_OK;
}

static void batch_timer_cb(evc_timer *t, void *arg)
{
    sqlite_store *s = arg;
    evc_error err = {0};
    if (sqlite_batch_commit(s, &err) != EVC_OK)
        s->host->log(s->host->host, EVC_LOG_ERROR, NULL, "%s", err.msg);
}

/* SQLite lets a read-only connection BEGIN and fails only at the first
 * write: refuse earlier with a message that says why. */
static int check_writable(sqlite_store *s, const char *op, evc_error *err)
{
    if (!s->db)
        return evc_error_set(err, EVC_ESTATE, "database %s: %s: store not started",
                             s->path, op);
    if (sqlite3_db_readonly(s->db, "main") == 1)
        return evc_error_set(err, EVC_EREADONLY, "database %s: %s: the database is open "
                             "read-only (%s)", s->path, op,
                             s->read_only ? "config read_only: true"
                                          : "the file is not writable by this process");
    return EVC_OK;
}

int sqlite_write_prepare(sqlite_store *s, const char *op, evc_error *err)
{
    int rc = check_writable(s, op, err);
    if (rc != EVC_OK)
        return rc;
    if (s->txn_aborted)
        return evc_error_set(err, EVC_ESTATE, "database %s: %s: the transaction was rolled "
                             "back by an earlier error; call rollback", s->path, op);
    return s->in_batch ? sqlite_batch_commit(s, err) : EVC_OK;
}

int sqlite_batch_prepare(sqlite_store *s, const char *op, evc_error *err)
{
    int rc = check_writable(s, op, err);
    if (rc != EVC_OK || s->in_txn || s->in_batch)
        return rc;
    if (s->txn_aborted)
        return sqlite_write_prepare(s, op, err);
    if ((rc = sqlite_exec(s, "BEGIN IMMEDIATE", op, err)) != EVC_OK)
        return rc;
    s->in_batch = true;
    s->batch_rows = 0;
    evc_error terr = {0};
    if (s->host->timer_start(s->host->host, (uint64_t)s->batch_max_delay_ms, 0, batch_timer_cb,
                             s, &s->batch_timer, &terr) != EVC_OK) {
        /* No timer: do not let a batch wait for a commit that never comes. */
        s->batch_timer = NULL;
        s->batch_rows = s->batch_max_rows;
    }
    return EVC_OK;
}

int sqlite_batch_done(sqlite_store *s, evc_error *err)
{
    s->stats.batched_writes++;
    if (!s->in_batch)
        return EVC_OK;
    if (++s->batch_rows >= s->batch_max_rows)
        return sqlite_batch_commit(s, err);
    return EVC_OK;
}

int sqlite_op_begin(sqlite_store *s, const char *op, evc_error *err)
{
    int rc = sqlite_write_prepare(s, op, err);
    if (rc != EVC_OK)
        return rc;
    if (s->in_txn || s->op_depth > 0)
        rc = sqlite_exec(s, "SAVEPOINT evc_op", op, err);
    else
        rc = sqlite_exec(s, "BEGIN IMMEDIATE", op, err);
    if (rc == EVC_OK)
        s->op_depth++;
    return rc;
}

int sqlite_op_end(sqlite_store *s, bool ok, const char *op, evc_error *err)
{
    s->op_depth--;
    bool nested = s->in_txn || s->op_depth > 0;
    if (sqlite3_get_autocommit(s->db)) /* SQLite already rolled everything back */
        return EVC_OK;
    if (nested) {
        if (!ok)
            sqlite3_exec(s->db, "ROLLBACK TO evc_op", NULL, NULL, NULL);
        return sqlite_exec(s, "RELEASE evc_op", op, ok ? err : NULL);
    }
    if (!ok) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->stats.rollbacks++;
        return EVC_OK;
    }
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int code = sqlite_fail(s, rc, op, err);
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->stats.rollbacks++;
        return code;
    }
    s->stats.commits++;
    return EVC_OK;
}

static int sq_begin(sqlite_store *s, evc_error *err)
{
    if (s->in_txn)
        return evc_error_set(err, EVC_ESTATE, "database %s: begin: a transaction is already "
                             "open", s->path);
    s->txn_aborted = false;
    int rc = sqlite_write_prepare(s, "begin", err);
    if (rc == EVC_OK)
        rc = sqlite_exec(s, "BEGIN IMMEDIATE", "begin", err);
    if (rc == EVC_OK)
        s->in_txn = true;
    return rc;
}

static int sq_commit(sqlite_store *s, evc_error *err)
{
    if (s->txn_aborted) {
        s->txn_aborted = false;
        s->stats.rollbacks++;
        return evc_error_set(err, EVC_ESTATE, "database %s: commit: the transaction was "
                             "rolled back by an earlier error; nothing was committed", s->path);
    }
    if (!s->in_txn)
        return evc_error_set(err, EVC_ESTATE, "database %s: commit: no transaction is open",
                             s->path);
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        /* The transaction stays open on BUSY: the caller may retry commit or
         * roll back. Other failures roll back (sqlite_fail notices). */
        return sqlite_fail(s, rc, "commit", err);
    }
    s->in_txn = false;
    s->stats.commits++;
    return EVC_OK;
}

static int sq_rollback(sqlite_store *s, evc_error *err)
{
    if (s->txn_aborted) {
        s->txn_aborted = false;
        s->stats.rollbacks++;
        return EVC_OK;
    }
    if (!s->in_txn)
        return evc_error_set(err, EVC_ESTATE, "database %s: rollback: no transaction is open",
                             s->path);
    s->in_txn = false;
    s->stats.rollbacks++;
    int rc = sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc == SQLITE_OK ? EVC_OK : sqlite_fail(s, rc, "rollback", err);
}

static int sq_flush(sqlite_store *s, evc_error *err)
{
    return sqlite_batch_commit(s, err);
}

static void sq_stats(sqlite_store *s, evc_store_stats *out)
{
    uint32_t size = out->struct_size;
    size_t n = size < sizeof *out ? size : sizeof *out;
    memcpy(out, &s->stats, n);
    out->struct_size = size;
}

static int sq_schema_version(sqlite_store *s, int *current, int *supported, evc_error *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sqlite_fail(s, rc, "schema version", err);
    }
    if (current)
        *current = sqlite3_column_int(st, 0);
    if (supported)
        *supported = SQLITE_SCHEMA_VERSION;
    sqlite3_finalize(st);
    return EVC_OK;
}

static int sq_wipe(sqlite_store *s, evc_error *err)
{
    int rc = sqlite_op_begin(s, "wipe", err);
    if (rc != EVC_OK)
        return rc;
    rc = sqlite_wipe(s, err);
    int rc2 = sqlite_op_end(s, rc == EVC_OK, "wipe", err);
    return rc != EVC_OK ? rc : rc2;
}

/* ---- lifecycle --------------------------------------------------------- */

static int sq_create(const evc_host_api *host, const evc_store_params *params,
                     sqlite_store **out, evc_error *err)
{
    if (!out)
        return evc_error_set(err, EVC_EINVAL, "store sqlite: NULL out");
    *out = NULL;
    /* The ABI promises that a struct only grows at its end: an older host may
     * pass a params struct that stops after `database`. Every field past the
     * caller's struct_size is absent (config NULL = all defaults); only a
     * struct too short to carry the database path is refused. */
    if (!host || !params ||
        params->struct_size < offsetof(evc_store_params, database) + sizeof params->database)
        return evc_error_set(err, EVC_EINVAL,
                             "store sqlite: params struct_size %u is too short for the database "
                             "path",
                             params ? (unsigned)params->struct_size : 0u);
    if (!params->database || !params->database[0])
        return evc_error_set(err, EVC_EINVAL, "store sqlite: no database path given");
    const evc_cfg_node *c = EVC_HAS_FIELD(params, config) ? params->config : NULL;
    /* The core validated the section already (evc_store_open); checking again
     * keeps create safe for a test that calls the op directly. */
    if (evc_cfg_check(c, sqlite_schema, "store.sqlite", err) != EVC_OK)
        return EVC_ECONFIG;
    sqlite_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(params->database))) {
        free(s);
        return evc_error_set(err, EVC_ENOMEM, "store sqlite: out of memory");
    }
    s->host = host;
    /* Defaults come from sqlite_schema, where they are documented. */
    s->sync_full = strcmp(evc_cfg_schema_str(c, sqlite_schema, "synchronous"), "FULL") == 0;
    s->busy_timeout_ms = evc_cfg_schema_int(c, sqlite_schema, "busy_timeout_ms");
    s->batch_max_delay_ms = evc_cfg_schema_int(c, sqlite_schema, "batch_max_delay_ms");
    s->batch_max_rows = evc_cfg_schema_int(c, sqlite_schema, "batch_max_rows");
    s->read_only = evc_cfg_schema_bool(c, sqlite_schema, "read_only");
    s->max_page_count = evc_cfg_schema_int(c, sqlite_schema, "max_page_count");
    s->stats.struct_size = sizeof s->stats;
    *out = s;
    return EVC_OK;
}

static int pragma_setup(sqlite_store *s, evc_error *err)
{
    char sql[160];
    sqlite3_busy_timeout(s->db, (int)s->busy_timeout_ms);
    int rc = sqlite_exec(s, "PRAGMA foreign_keys=ON", "PRAGMA foreign_keys", err);
    if (rc == EVC_OK && !s->read_only) {
        /* journal_mode answers a row: the mode in force. */
        sqlite3_stmt *st = NULL;
        int src = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (src == SQLITE_OK)
            src = sqlite3_step(st);
        if (src != SQLITE_ROW)
            rc = sqlite_fail(s, sqlite3_extended_errcode(s->db), "PRAGMA journal_mode=WAL", err);
        else if (strcmp(sqlite_col_str(st, 0), "wal") != 0)
            rc = evc_error_set(err, EVC_EIO, "database %s: could not switch to WAL (journal "
                               "mode is %s)", s->path, sqlite_col_str(st, 0));
        sqlite3_finalize(st);
    }
    if (rc == EVC_OK) {
        snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", s->sync_full ? "FULL" : "NORMAL");
        rc = sqlite_exec(s, sql, "PRAGMA synchronous", err);
    }
    if (rc == EVC_OK && s->max_page_count > 0) {
        snprintf(sql, sizeof sql, "PRAGMA max_page_count=%lld", (long long)s->max_page_count);
        rc = sqlite_exec(s, sql, "PRAGMA max_page_count", err);
    }
    return rc;
}

static void sq_stop(sqlite_store *s)
{
    if (!s || !s->db)
        return;
    evc_error err = {0};
    if (sqlite_batch_commit(s, &err) != EVC_OK)
        s->host->log(s->host->host, EVC_LOG_ERROR, NULL, "%s", err.msg);
    sqlite_ckpt_stop(s);
    if (s->in_txn) {
        s->host->log(s->host->host, EVC_LOG_WARN, NULL,
                     "database %s: closing with an open transaction: rolled back", s->path);
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->in_txn = false;
    }
    for (int i = 0; i < SQ_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    int rc = sqlite3_close(s->db);
    if (rc != SQLITE_OK)
        s->host->log(s->host->host, EVC_LOG_ERROR, NULL, "database %s: close: %s", s->path,
                     sqlite3_errstr(rc));
    s->db = NULL;
}

/* A database that cannot be written, or is damaged, must not start "ok":
 * the first write (a login, a ticket) would fail far from the cause. SQLite
 * opens a write-protected file read-only without an error, so ask it; then
 * take the write lock once (a read-only directory or mount fails here); then
 * PRAGMA quick_check, which reads every page (about 1 s per GB) but not the
 * indexes' contents: the cost of one start, for a refusal that names the
 * file instead of "wrong or missing password" later. */
static int start_checks(sqlite_store *s, evc_error *err)
{
    if (!s->read_only && sqlite3_db_readonly(s->db, "main") == 1)
        return evc_error_set(err, EVC_EREADONLY, "database %s is read-only (file permissions or a "
                             "read-only mount): this program writes to it", s->path);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sqlite_fail(s, sqlite3_extended_errcode(s->db), "integrity check", err);
    }
    if (strcmp(sqlite_col_str(st, 0), "ok") != 0) {
        /* SQLite's report spans lines: one line for the operator's log. */
        char why[200];
        snprintf(why, sizeof why, "%s", sqlite_col_str(st, 0));
        for (char *p = why; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
        rc = evc_error_set(err, EVC_EIO, "database %s is corrupt (PRAGMA quick_check: %s): "
                           "restore it from a backup", s->path, why);
        sqlite3_finalize(st);
        return rc;
    }
    sqlite3_finalize(st);
    if (s->read_only)
        return EVC_OK;
    rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return sqlite_fail(s, sqlite3_extended_errcode(s->db), "write check (BEGIN IMMEDIATE)",
                           err);
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return EVC_OK;
}

static int sq_start(sqlite_store *s, evc_error *err)
{
    if (s->db)
        return evc_error_set(err, EVC_ESTATE, "database %s: already started", s->path);
    int flags = s->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(s->path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int code = sqlite_fail(s, rc, "open", err);
        sqlite3_close(s->db);
        s->db = NULL;
        return code;
    }
    sqlite3_extended_result_codes(s->db, 1);
    rc = start_checks(s, err);
    if (rc == EVC_OK)
        rc = pragma_setup(s, err);
    if (rc == EVC_OK)
        rc = sqlite_migrate(s, err);
    if (rc == EVC_OK)
        rc = sqlite_prepare_all(s, err);
    if (rc == EVC_OK)
        rc = sqlite_ckpt_start(s, err);
    if (rc != EVC_OK)
        sq_stop(s);
    return rc;
}

static void sq_destroy(sqlite_store *s)
{
    if (!s)
        return;
    sq_stop(s);
    free(s->path);
    free(s);
}

/* ---- descriptor -------------------------------------------------------- */

static const evc_store_ops sqlite_ops = {
    .struct_size = sizeof(evc_store_ops),
    .create = sq_create,
    .start = sq_start,
    .stop = sq_stop,
    .destroy = sq_destroy,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .flush = sq_flush,
    .schema_version = sq_schema_version,
    .wipe = sq_wipe,
    .stats = sq_stats,
    SQLITE_USERS_OPS,
    SQLITE_SESSIONS_OPS,
    SQLITE_LOG_OPS,
};

static const evc_plugin_descriptor sqlite_descriptor = {
    .magic = EVC_PLUGIN_MAGIC,
    .abi_major = EVC_ABI_MAJOR,
    .abi_minor = 0, /* uses nothing added after ABI 1.0 */
    .struct_size = sizeof(evc_plugin_descriptor),
    .kind = EVC_PLUGIN_STORE,
    .name = "sqlite",
    .version = "1.0.0",
    .description = "SQLite store: one WAL database file, embedded migrations",
    .config_schema = sqlite_schema,
    .ops = &sqlite_ops,
};

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_query(uint16_t host_abi_major,
                                                                uint16_t host_abi_minor);
EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_query(uint16_t host_abi_major,
                                                                uint16_t host_abi_minor)
{
    if (host_abi_major != EVC_ABI_MAJOR)
        return NULL;
    return &sqlite_descriptor;
}
