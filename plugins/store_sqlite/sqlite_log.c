/* sqlite_log.c: the event_log, outbox and kv repositories. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_internal.h"

/* ---- event log --------------------------------------------------------- */

int sqlite_event_append(sqlite_store *s, const evc_event *e, unsigned flags, int64_t *seq,
                        evc_error *err)
{
    const char *op = "append event";
    if (!e)
        return evc_error_set(err, EVC_EINVAL, "%s: NULL event", op);
    int rc = sqlite_check_id(e->message_id, "message id", op, err);
    if (rc != EVC_OK)
        return rc;
    if (!e->type || !e->type[0] || !e->source || !e->source[0])
        return evc_error_set(err, EVC_EINVAL, "%s %s: empty type or source", op, e->message_id);
    rc = (flags & EVC_STORE_BATCHED) ? sqlite_batch_prepare(s, op, err)
                                     : sqlite_write_prepare(s, op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_EVENT_INSERT);
    sqlite3_bind_text(st, 1, e->message_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, e->correlation_id ? e->correlation_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, e->type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, e->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, e->detail_json ? e->detail_json : "{}", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, e->ts_ms ? e->ts_ms : sqlite_now_ms(s));
    rc = sqlite_step_done(s, st, op, NULL, err);
    if (rc == EVC_EEXIST)
        return evc_error_set(err, rc, "database %s: %s: message id '%s' is already logged",
                             s->path, op, e->message_id);
    if (rc == EVC_ECONFLICT)
        return evc_error_set(err, rc, "database %s: %s %s: detail is not valid JSON", s->path,
                             op, e->message_id);
    if (rc != EVC_OK)
        return rc;
    if (seq)
        *seq = sqlite3_last_insert_rowid(s->db);
    return (flags & EVC_STORE_BATCHED) ? sqlite_batch_done(s, err) : EVC_OK;
}

static int list_events(sqlite_store *s, sqlite3_stmt *st, evc_event_cb cb, void *arg,
                       const char *op, evc_error *err)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        evc_event e = {
            .seq = sqlite3_column_int64(st, 0),
            .message_id = sqlite_col_str(st, 1),
            .correlation_id = sqlite_col_str(st, 2),
            .type = sqlite_col_str(st, 3),
            .source = sqlite_col_str(st, 4),
            .detail_json = sqlite_col_str(st, 5),
            .ts_ms = sqlite3_column_int64(st, 6),
        };
        if (cb && cb(arg, &e) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? EVC_OK : sqlite_fail(s, rc, op, err);
}

int sqlite_event_list(sqlite_store *s, int64_t after_seq, unsigned limit, evc_event_cb cb,
                      void *arg, evc_error *err)
{
    sqlite3_stmt *st = sqlite_stmt(s, SQ_EVENT_LIST);
    sqlite3_bind_int64(st, 1, after_seq);
    sqlite3_bind_int64(st, 2, limit ? (int64_t)limit : -1);
    return list_events(s, st, cb, arg, "list events", err);
}

int sqlite_event_list_by_correlation(sqlite_store *s, const char *corr, evc_event_cb cb,
                                     void *arg, evc_error *err)
{
    const char *op = "list events by correlation id";
    int rc = sqlite_check_id(corr, "correlation id", op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_EVENT_LISTCORR);
    sqlite3_bind_text(st, 1, corr, -1, SQLITE_STATIC);
    return list_events(s, st, cb, arg, op, err);
}

/* ---- outbox ------------------------------------------------------------ */

int sqlite_outbox_add(sqlite_store *s, const char *topic, const char *key, const void *payload,
                      size_t len, int64_t *id, evc_error *err)
{
    const char *op = "add to outbox";
    if (!topic || !topic[0])
        return evc_error_set(err, EVC_EINVAL, "%s: empty topic", op);
    if (!payload && len)
        return evc_error_set(err, EVC_EINVAL, "%s: NULL payload of %zu bytes", op, len);
    if (len > 0x7fffffff)
        return evc_error_set(err, EVC_ETOOBIG, "%s: payload of %zu bytes", op, len);
    int rc = sqlite_write_prepare(s, op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_OUT_INSERT);
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key ? key : "", -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, payload ? payload : "", (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, sqlite_now_ms(s));
    if ((rc = sqlite_step_done(s, st, op, NULL, err)) != EVC_OK)
        return rc;
    if (id)
        *id = sqlite3_last_insert_rowid(s->db);
    return EVC_OK;
}

/* Claims in one transaction (so two processes never hold the same message),
 * then hands the claimed rows to cb after the commit. */
int sqlite_outbox_claim(sqlite_store *s, int64_t now_ms, int64_t lease_ms, unsigned max,
                        evc_outbox_cb cb, void *arg, evc_error *err)
{
    const char *op = "claim outbox messages";
    if (max == 0)
        return EVC_OK;
    if (lease_ms <= 0)
        return evc_error_set(err, EVC_EINVAL, "%s: lease must be > 0 ms", op);
    int64_t *ids = calloc(max, sizeof *ids);
    if (!ids)
        return evc_error_set(err, EVC_ENOMEM, "%s: out of memory", op);
    size_t n = 0;
    int rc = sqlite_op_begin(s, op, err);
    if (rc != EVC_OK) {
        free(ids);
        return rc;
    }
    sqlite3_stmt *st = sqlite_stmt(s, SQ_OUT_DUE);
    sqlite3_bind_int64(st, 1, now_ms);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    int src = SQLITE_DONE;
    while (n < max && (src = sqlite3_step(st)) == SQLITE_ROW)
        ids[n++] = sqlite3_column_int64(st, 0);
    if (n < max && src != SQLITE_DONE)
        rc = sqlite_fail(s, src, op, err);
    sqlite3_reset(st);
    for (size_t i = 0; rc == EVC_OK && i < n; i++) {
        st = sqlite_stmt(s, SQ_OUT_CLAIM);
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int64(st, 2, now_ms + lease_ms);
        rc = sqlite_step_done(s, st, op, NULL, err);
    }
    int rc2 = sqlite_op_end(s, rc == EVC_OK, op, rc == EVC_OK ? err : NULL);
    if (rc == EVC_OK)
        rc = rc2;
    for (size_t i = 0; rc == EVC_OK && i < n; i++) {
        st = sqlite_stmt(s, SQ_OUT_GET);
        sqlite3_bind_int64(st, 1, ids[i]);
        src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            evc_outbox_msg m = {
                .id = sqlite3_column_int64(st, 0),
                .topic = sqlite_col_str(st, 1),
                .key = sqlite_col_str(st, 2),
                .payload = sqlite3_column_blob(st, 3),
                .payload_len = (size_t)sqlite3_column_bytes(st, 3),
                .created_ms = sqlite3_column_int64(st, 4),
                .attempts = sqlite3_column_int64(st, 5),
            };
            int stop = cb ? cb(arg, &m) : 0;
            sqlite3_reset(st);
            if (stop)
                break;
        } else {
            sqlite3_reset(st);
            if (src != SQLITE_DONE) /* DONE: acked meanwhile by an earlier callback */
                rc = sqlite_fail(s, src, op, err);
        }
    }
    free(ids);
    return rc;
}

int sqlite_outbox_ack(sqlite_store *s, int64_t id, evc_error *err)
{
    const char *op = "ack outbox message";
    int rc = sqlite_write_prepare(s, op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_OUT_ACK);
    sqlite3_bind_int64(st, 1, id);
    int changes = 0;
    rc = sqlite_step_done(s, st, op, &changes, err);
    if (rc == EVC_OK && changes == 0)
        rc = evc_error_set(err, EVC_ENOTFOUND, "database %s: %s: no outbox message %lld",
                           s->path, op, (long long)id);
    return rc;
}

int sqlite_outbox_retry(sqlite_store *s, int64_t id, int64_t next_attempt_ms,
                        const char *last_error, evc_error *err)
{
    const char *op = "retry outbox message";
    int rc = sqlite_write_prepare(s, op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_OUT_RETRY);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, next_attempt_ms);
    sqlite3_bind_text(st, 3, last_error ? last_error : "", -1, SQLITE_STATIC);
    int changes = 0;
    rc = sqlite_step_done(s, st, op, &changes, err);
    if (rc == EVC_OK && changes == 0)
        rc = evc_error_set(err, EVC_ENOTFOUND, "database %s: %s: no outbox message %lld",
                           s->path, op, (long long)id);
    return rc;
}

int sqlite_outbox_pending(sqlite_store *s, int64_t *count, evc_error *err)
{
    sqlite3_stmt *st = sqlite_stmt(s, SQ_OUT_PENDING);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && count)
        *count = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? EVC_OK : sqlite_fail(s, rc, "count outbox messages", err);
}

/* ---- key-value --------------------------------------------------------- */

static int check_nskey(const char *ns, const char *key, const char *op, evc_error *err)
{
    if (!ns || !ns[0] || !key || !key[0])
        return evc_error_set(err, EVC_EINVAL, "%s: empty namespace or key", op);
    return EVC_OK;
}

int sqlite_kv_put(sqlite_store *s, const char *ns, const char *key, const void *value,
                  size_t len, evc_error *err)
{
    const char *op = "put key-value";
    int rc = check_nskey(ns, key, op, err);
    if (rc != EVC_OK)
        return rc;
    if ((!value && len) || len > 0x7fffffff)
        return evc_error_set(err, EVC_EINVAL, "%s %s/%s: bad value", op, ns, key);
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_KV_PUT);
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, value ? value : "", (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, sqlite_now_ms(s));
    return sqlite_step_done(s, st, op, NULL, err);
}

int sqlite_kv_get(sqlite_store *s, const char *ns, const char *key, void *buf, size_t cap,
                  size_t *len, evc_error *err)
{
    const char *op = "get key-value";
    int rc = check_nskey(ns, key, op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_KV_GET);
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        const void *v = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        if (len)
            *len = n;
        if (n > cap)
            rc = evc_error_set(err, EVC_ETOOBIG, "%s %s/%s: value of %zu bytes, buffer of %zu",
                               op, ns, key, n, cap);
        else if (n)
            memcpy(buf, v, n);
    } else if (src == SQLITE_DONE) {
        rc = evc_error_set(err, EVC_ENOTFOUND, "database %s: %s: no key %s/%s", s->path, op, ns,
                           key);
    } else {
        rc = sqlite_fail(s, src, op, err);
    }
    sqlite3_reset(st);
    return rc;
}

int sqlite_kv_delete(sqlite_store *s, const char *ns, const char *key, evc_error *err)
{
    const char *op = "delete key-value";
    int rc = check_nskey(ns, key, op, err);
    if (rc != EVC_OK || (rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_KV_DELETE);
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int changes = 0;
    rc = sqlite_step_done(s, st, op, &changes, err);
    if (rc == EVC_OK && changes == 0)
        rc = evc_error_set(err, EVC_ENOTFOUND, "database %s: %s: no key %s/%s", s->path, op,
                           ns, key);
    return rc;
}

int sqlite_kv_list(sqlite_store *s, const char *ns, evc_kv_cb cb, void *arg, evc_error *err)
{
    const char *op = "list key-values";
    if (!ns || !ns[0])
        return evc_error_set(err, EVC_EINVAL, "%s: empty namespace", op);
    sqlite3_stmt *st = sqlite_stmt(s, SQ_KV_LIST);
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cb && cb(arg, sqlite_col_str(st, 0), sqlite3_column_blob(st, 1),
                     (size_t)sqlite3_column_bytes(st, 1)) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? EVC_OK : sqlite_fail(s, rc, op, err);
}
