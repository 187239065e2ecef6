/* store_repo.c: the facade's repository forwarders. Each checks that the
 * store is started and that the plugin implements the op, then calls it. */
#include "store_internal.h"

int evc_store_user_insert(evc_store *s, const evc_user *u, evc_error *err)
{
    EVC_STORE_FWD(s, user_insert, u, err);
}
int evc_store_user_get(evc_store *s, const char *id, evc_user *out, evc_error *err)
{
    EVC_STORE_FWD(s, user_get, id, out, err);
}
int evc_store_user_list(evc_store *s, evc_user_cb cb, void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, user_list, cb, arg, err);
}
int evc_store_user_set_password(evc_store *s, const char *id, const char *hash, evc_error *err)
{
    EVC_STORE_FWD(s, user_set_password, id, hash, err);
}
int evc_store_user_add_balance(evc_store *s, const char *id, int64_t delta_cents,
                               int64_t *new_balance, evc_error *err)
{
    EVC_STORE_FWD(s, user_add_balance, id, delta_cents, new_balance, err);
}
int evc_store_user_delete(evc_store *s, const char *id, evc_error *err)
{
    EVC_STORE_FWD(s, user_delete, id, err);
}

int evc_store_cp_insert(evc_store *s, const evc_charging_point *cp, evc_error *err)
{
    EVC_STORE_FWD(s, cp_insert, cp, err);
}
int evc_store_cp_update(evc_store *s, const evc_charging_point *cp, evc_error *err)
{
    EVC_STORE_FWD(s, cp_update, cp, err);
}
int evc_store_cp_get(evc_store *s, const char *id, evc_charging_point *out, evc_error *err)
{
    EVC_STORE_FWD(s, cp_get, id, out, err);
}
int evc_store_cp_list(evc_store *s, evc_cp_cb cb, void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, cp_list, cb, arg, err);
}
int evc_store_cp_set_admin_state(evc_store *s, const char *id, evc_cp_admin_state st,
                                 evc_error *err)
{
    EVC_STORE_FWD(s, cp_set_admin_state, id, st, err);
}
int evc_store_cp_set_secret(evc_store *s, const char *id, const char *hash, evc_error *err)
{
    EVC_STORE_FWD(s, cp_set_secret, id, hash, err);
}

int evc_store_session_insert(evc_store *s, const evc_session *se, evc_error *err)
{
    EVC_STORE_FWD(s, session_insert, se, err);
}
int evc_store_session_get(evc_store *s, const char *id, evc_session *out, evc_error *err)
{
    EVC_STORE_FWD(s, session_get, id, out, err);
}
int evc_store_session_get_by_correlation(evc_store *s, const char *corr, evc_session *out,
                                         evc_error *err)
{
    EVC_STORE_FWD(s, session_get_by_correlation, corr, out, err);
}
int evc_store_session_set_state(evc_store *s, const char *id, evc_session_state st,
                                int64_t ts_ms, const char *reason, evc_error *err)
{
    EVC_STORE_FWD(s, session_set_state, id, st, ts_ms, reason, err);
}
int evc_store_session_progress(evc_store *s, const char *id, int64_t energy_wh,
                               int64_t amount_cents, unsigned flags, evc_error *err)
{
    EVC_STORE_FWD(s, session_progress, id, energy_wh, amount_cents, flags, err);
}
int evc_store_session_list_open(evc_store *s, evc_session_cb cb, void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, session_list_open, cb, arg, err);
}
int evc_store_session_list_by_driver(evc_store *s, const char *driver_id, unsigned limit,
                                     evc_session_cb cb, void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, session_list_by_driver, driver_id, limit, cb, arg, err);
}
int evc_store_session_end_and_bill(evc_store *s, const char *id, int64_t ended_ms,
                                   int64_t energy_wh, const char *reason, evc_ticket *ticket,
                                   bool *already_billed, evc_error *err)
{
    EVC_STORE_FWD(s, session_end_and_bill, id, ended_ms, energy_wh, reason, ticket, already_billed, err);
}

int evc_store_ticket_get(evc_store *s, const char *session_id, evc_ticket *out, evc_error *err)
{
    EVC_STORE_FWD(s, ticket_get, session_id, out, err);
}
int evc_store_ticket_list_by_driver(evc_store *s, const char *driver_id, unsigned limit,
                                    evc_ticket_cb cb, void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, ticket_list_by_driver, driver_id, limit, cb, arg, err);
}

int evc_store_event_append(evc_store *s, const evc_event *e, unsigned flags, int64_t *seq,
                           evc_error *err)
{
    EVC_STORE_FWD(s, event_append, e, flags, seq, err);
}
int evc_store_event_list(evc_store *s, int64_t after_seq, unsigned limit, evc_event_cb cb,
                         void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, event_list, after_seq, limit, cb, arg, err);
}
int evc_store_event_list_by_correlation(evc_store *s, const char *corr, evc_event_cb cb,
                                        void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, event_list_by_correlation, corr, cb, arg, err);
}

int evc_store_outbox_add(evc_store *s, const char *topic, const char *key, const void *payload,
                         size_t len, int64_t *id, evc_error *err)
{
    EVC_STORE_FWD(s, outbox_add, topic, key, payload, len, id, err);
}
int evc_store_outbox_claim(evc_store *s, int64_t now_ms, int64_t lease_ms, unsigned max,
                           evc_outbox_cb cb, void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, outbox_claim, now_ms, lease_ms, max, cb, arg, err);
}
int evc_store_outbox_ack(evc_store *s, int64_t id, evc_error *err)
{
    EVC_STORE_FWD(s, outbox_ack, id, err);
}
int evc_store_outbox_retry(evc_store *s, int64_t id, int64_t next_attempt_ms,
                           const char *last_error, evc_error *err)
{
    EVC_STORE_FWD(s, outbox_retry, id, next_attempt_ms, last_error, err);
}
int evc_store_outbox_pending(evc_store *s, int64_t *count, evc_error *err)
{
    EVC_STORE_FWD(s, outbox_pending, count, err);
}

int evc_store_kv_put(evc_store *s, const char *ns, const char *key, const void *value,
                     size_t len, evc_error *err)
{
    EVC_STORE_FWD(s, kv_put, ns, key, value, len, err);
}
int evc_store_kv_get(evc_store *s, const char *ns, const char *key, void *buf, size_t cap,
                     size_t *len, evc_error *err)
{
    EVC_STORE_FWD(s, kv_get, ns, key, buf, cap, len, err);
}
int evc_store_kv_delete(evc_store *s, const char *ns, const char *key, evc_error *err)
{
    EVC_STORE_FWD(s, kv_delete, ns, key, err);
}
int evc_store_kv_list(evc_store *s, const char *ns, evc_kv_cb cb, void *arg, evc_error *err)
{
    EVC_STORE_FWD(s, kv_list, ns, cb, arg, err);
}
