/* sqlite_internal.h: the SQLite store plugin's private declarations.
 *
 * One connection, used on the loop thread only. Every statement is prepared
 * once at start (after migrations) and kept in `st`. Writes go through three
 * paths:
 *   - explicit transactions (begin/commit/rollback: BEGIN IMMEDIATE);
 *   - single ops that need several statements (sqlite_op_begin/end: BEGIN
 *     IMMEDIATE on their own, a SAVEPOINT inside an explicit transaction);
 *   - EVC_STORE_BATCHED writes, grouped in an implicit transaction committed
 *     after batch_max_rows writes or batch_max_delay_ms (host timer).
 * Any non-batched write, begin, or stop first commits the pending batch.
 * WAL checkpoints run on a thread with a connection of its own
 * (sqlite_ckpt.c), not in the loop's commits.
 */
#ifndef SQLITE_INTERNAL_H
#define SQLITE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "evc/host.h"
#include "evc/store.h"

enum sqlite_stmt_id {
    SQ_USER_INSERT, SQ_USER_GET, SQ_USER_LIST, SQ_USER_SETPW, SQ_USER_ADDBAL, SQ_USER_DEBIT,
    SQ_USER_DELETE,
    SQ_CP_INSERT, SQ_CP_UPDATE, SQ_CP_GET, SQ_CP_LIST, SQ_CP_SETSTATE, SQ_CP_SETSECRET,
    SQ_SES_INSERT, SQ_SES_GET, SQ_SES_GETCORR, SQ_SES_SETSTATE, SQ_SES_PROGRESS,
    SQ_SES_LISTOPEN, SQ_SES_LISTDRIVER, SQ_SES_END,
    SQ_TICKET_INSERT, SQ_TICKET_GET, SQ_TICKET_LISTDRIVER,
    SQ_EVENT_INSERT, SQ_EVENT_LIST, SQ_EVENT_LISTCORR,
    SQ_OUT_INSERT, SQ_OUT_DUE, SQ_OUT_CLAIM, SQ_OUT_GET, SQ_OUT_ACK, SQ_OUT_RETRY,
    SQ_OUT_PENDING,
    SQ_KV_PUT, SQ_KV_GET, SQ_KV_DELETE, SQ_KV_LIST,
    SQ_COUNT
};

typedef struct sqlite_ckpt sqlite_ckpt; /* sqlite_ckpt.c */

struct evc_store_impl {
    const evc_host_api *host; /* borrowed for the instance's life */
    char *path;               /* owned */
    /* config */
    bool sync_full;
    bool read_only;
    int64_t busy_timeout_ms;
    int64_t batch_max_delay_ms;
    int64_t batch_max_rows;
    int64_t max_page_count;
    /* state */
    sqlite3 *db;
    sqlite3_stmt *st[SQ_COUNT];
    bool in_txn;       /* explicit transaction open */
    bool txn_aborted;  /* SQLite rolled the explicit transaction back on an error */
    bool in_batch;     /* implicit batch transaction open */
    int64_t batch_rows;
    evc_timer *batch_timer;
    int op_depth;      /* nesting of sqlite_op_begin */
    sqlite_ckpt *ckpt; /* owned; NULL when read-only or not started */
    evc_store_stats stats;
};
typedef struct evc_store_impl sqlite_store;

/* sqlite_plugin.c */
/* Maps an SQLite result code to an evc_status and sets err to
 * "database PATH: OP: sqlite message". Also notices a transaction SQLite
 * rolled back on its own. Returns the evc_status. */
int sqlite_fail(sqlite_store *s, int rc, const char *op, evc_error *err);
/* Commits the pending batch (if any). */
int sqlite_batch_commit(sqlite_store *s, evc_error *err);
/* Prepares the ground for a non-batched write: commits the pending batch. */
int sqlite_write_prepare(sqlite_store *s, const char *op, evc_error *err);
/* A batched write is about to run: opens the batch transaction when needed.
 * Outside a batch context (explicit transaction) it does nothing. */
int sqlite_batch_prepare(sqlite_store *s, const char *op, evc_error *err);
/* After a successful batched write: counts it, commits when full. */
int sqlite_batch_done(sqlite_store *s, evc_error *err);
/* Atomic multi-statement op: BEGIN IMMEDIATE, or SAVEPOINT inside a
 * transaction. end commits (ok) or rolls back (!ok); returns end's status. */
int sqlite_op_begin(sqlite_store *s, const char *op, evc_error *err);
int sqlite_op_end(sqlite_store *s, bool ok, const char *op, evc_error *err);
int sqlite_exec(sqlite_store *s, const char *sql, const char *op, evc_error *err);
int64_t sqlite_now_ms(sqlite_store *s);
/* Returns a reset statement ready for binding. */
sqlite3_stmt *sqlite_stmt(sqlite_store *s, enum sqlite_stmt_id id);
/* Steps a write statement expecting SQLITE_DONE; resets it. *changes (may be
 * NULL) receives sqlite3_changes. */
int sqlite_step_done(sqlite_store *s, sqlite3_stmt *st, const char *op, int *changes,
                     evc_error *err);
/* Text column as a C string ("" for NULL), copied into dst of cap bytes. */
void sqlite_col_text(sqlite3_stmt *st, int col, char *dst, size_t cap);
const char *sqlite_col_str(sqlite3_stmt *st, int col);
/* Checks id-like arguments: non-NULL, non-empty, shorter than EVC_STORE_ID_MAX. */
int sqlite_check_id(const char *id, const char *what, const char *op, evc_error *err);

/* sqlite_ckpt.c: the checkpoint thread. start: after the schema is ready
 * (EVC_EIO when its connection cannot be opened); stop: before the loop's
 * connection closes. Both idempotent; nothing for a read-only store. */
int sqlite_ckpt_start(sqlite_store *s, evc_error *err);
void sqlite_ckpt_stop(sqlite_store *s);

/* sqlite_migrate.c */
#define SQLITE_SCHEMA_VERSION 3
int sqlite_migrate(sqlite_store *s, evc_error *err);
int sqlite_wipe(sqlite_store *s, evc_error *err);
int sqlite_prepare_all(sqlite_store *s, evc_error *err);

/* repositories (sqlite_users.c, sqlite_sessions.c, sqlite_log.c) */
int sqlite_user_insert(sqlite_store *s, const evc_user *u, evc_error *err);
int sqlite_user_get(sqlite_store *s, const char *id, evc_user *out, evc_error *err);
int sqlite_user_list(sqlite_store *s, evc_user_cb cb, void *arg, evc_error *err);
int sqlite_user_set_password(sqlite_store *s, const char *id, const char *hash, evc_error *err);
int sqlite_user_add_balance(sqlite_store *s, const char *id, int64_t delta, int64_t *new_balance, evc_error *err);
int sqlite_user_delete(sqlite_store *s, const char *id, evc_error *err);
int sqlite_cp_insert(sqlite_store *s, const evc_charging_point *cp, evc_error *err);
int sqlite_cp_update(sqlite_store *s, const evc_charging_point *cp, evc_error *err);
int sqlite_cp_get(sqlite_store *s, const char *id, evc_charging_point *out, evc_error *err);
int sqlite_cp_list(sqlite_store *s, evc_cp_cb cb, void *arg, evc_error *err);
int sqlite_cp_set_admin_state(sqlite_store *s, const char *id, evc_cp_admin_state state, evc_error *err);
int sqlite_cp_set_secret(sqlite_store *s, const char *id, const char *hash, evc_error *err);
int sqlite_session_insert(sqlite_store *s, const evc_session *se, evc_error *err);
int sqlite_session_get(sqlite_store *s, const char *id, evc_session *out, evc_error *err);
int sqlite_session_get_by_correlation(sqlite_store *s, const char *corr, evc_session *out, evc_error *err);
int sqlite_session_set_state(sqlite_store *s, const char *id, evc_session_state to, int64_t ts, const char *reason, evc_error *err);
int sqlite_session_progress(sqlite_store *s, const char *id, int64_t wh, int64_t cents, unsigned flags, evc_error *err);
int sqlite_session_list_open(sqlite_store *s, evc_session_cb cb, void *arg, evc_error *err);
int sqlite_session_list_by_driver(sqlite_store *s, const char *driver, unsigned limit, evc_session_cb cb, void *arg, evc_error *err);
int sqlite_session_end_and_bill(sqlite_store *s, const char *id, int64_t ended, int64_t wh, const char *reason, evc_ticket *ticket, bool *already_billed, evc_error *err);
int sqlite_ticket_get(sqlite_store *s, const char *session_id, evc_ticket *out, evc_error *err);
int sqlite_ticket_list_by_driver(sqlite_store *s, const char *driver, unsigned limit, evc_ticket_cb cb, void *arg, evc_error *err);
int sqlite_event_append(sqlite_store *s, const evc_event *e, unsigned flags, int64_t *seq, evc_error *err);
int sqlite_event_list(sqlite_store *s, int64_t after_seq, unsigned limit, evc_event_cb cb, void *arg, evc_error *err);
int sqlite_event_list_by_correlation(sqlite_store *s, const char *corr, evc_event_cb cb, void *arg, evc_error *err);
int sqlite_outbox_add(sqlite_store *s, const char *topic, const char *key, const void *payload, size_t len, int64_t *id, evc_error *err);
int sqlite_outbox_claim(sqlite_store *s, int64_t now_ms, int64_t lease_ms, unsigned max, evc_outbox_cb cb, void *arg, evc_error *err);
int sqlite_outbox_ack(sqlite_store *s, int64_t id, evc_error *err);
int sqlite_outbox_retry(sqlite_store *s, int64_t id, int64_t next_attempt_ms, const char *last_error, evc_error *err);
int sqlite_outbox_pending(sqlite_store *s, int64_t *count, evc_error *err);
int sqlite_kv_put(sqlite_store *s, const char *ns, const char *key, const void *value, size_t len, evc_error *err);
int sqlite_kv_get(sqlite_store *s, const char *ns, const char *key, void *buf, size_t cap, size_t *len, evc_error *err);
int sqlite_kv_delete(sqlite_store *s, const char *ns, const char *key, evc_error *err);
int sqlite_kv_list(sqlite_store *s, const char *ns, evc_kv_cb cb, void *arg, evc_error *err);
#define SQLITE_USERS_OPS \
    .user_insert = sqlite_user_insert, \
    .user_get = sqlite_user_get, \
    .user_list = sqlite_user_list, \
    .user_set_password = sqlite_user_set_password, \
    .user_add_balance = sqlite_user_add_balance, \
    .user_delete = sqlite_user_delete, \
    .cp_insert = sqlite_cp_insert, \
    .cp_update = sqlite_cp_update, \
    .cp_get = sqlite_cp_get, \
    .cp_list = sqlite_cp_list, \
    .cp_set_admin_state = sqlite_cp_set_admin_state, \
    .cp_set_secret = sqlite_cp_set_secret
#define SQLITE_SESSIONS_OPS \
    .session_insert = sqlite_session_insert, \
    .session_get = sqlite_session_get, \
    .session_get_by_correlation = sqlite_session_get_by_correlation, \
    .session_set_state = sqlite_session_set_state, \
    .session_progress = sqlite_session_progress, \
    .session_list_open = sqlite_session_list_open, \
    .session_list_by_driver = sqlite_session_list_by_driver, \
    .session_end_and_bill = sqlite_session_end_and_bill, \
    .ticket_get = sqlite_ticket_get, \
    .ticket_list_by_driver = sqlite_ticket_list_by_driver
#define SQLITE_LOG_OPS \
    .event_append = sqlite_event_append, \
    .event_list = sqlite_event_list, \
    .event_list_by_correlation = sqlite_event_list_by_correlation, \
    .outbox_add = sqlite_outbox_add, \
    .outbox_claim = sqlite_outbox_claim, \
    .outbox_ack = sqlite_outbox_ack, \
    .outbox_retry = sqlite_outbox_retry, \
    .outbox_pending = sqlite_outbox_pending, \
    .kv_put = sqlite_kv_put, \
    .kv_get = sqlite_kv_get, \
    .kv_delete = sqlite_kv_delete, \
    .kv_list = sqlite_kv_list

#endif
