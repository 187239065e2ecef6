/* h_db.c: read-only queries on Central's SQLite database. Opened per query
 * (WAL: Central keeps writing while the test reads). */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static sqlite3_stmt *h_db_query(h_env *env, sqlite3 **db, const char *sql)
{
    int rc = sqlite3_open_v2(env->db, db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "harness: open %s: %s\n", env->db, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return NULL;
    }
    sqlite3_busy_timeout(*db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(*db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "harness: %s: %s\n", sql, sqlite3_errmsg(*db));
        sqlite3_close(*db);
        *db = NULL;
        return NULL;
    }
    return st;
}

int64_t h_db_int(h_env *env, const char *sql, int64_t dflt)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = h_db_query(env, &db, sql);
    cr_assert(st != NULL, "query failed: %s", sql);
    int64_t v = dflt;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

const char *h_db_text(h_env *env, const char *sql, char *buf, size_t cap)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = h_db_query(env, &db, sql);
    cr_assert(st != NULL, "query failed: %s", sql);
    buf[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(buf, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}
