/* central_billing.c: see central_billing.h. */
#include "central_billing.h"

#include <stdio.h>
#include <string.h>

int64_t central_energy_bound_wh(int64_t max_w, int64_t tolerance_pct, int64_t elapsed_ms)
{
    if (max_w <= 0)
        return INT64_MAX;
    if (elapsed_ms < 0)
        elapsed_ms = 0; /* Central's clock stepped back: only the slack */
    if (tolerance_pct < 0)
        tolerance_pct = 0;
    /* In double: max_w x elapsed_ms overflows int64 after a few weeks at
     * MW; 53 bits are far more precise than a meter, and the result is
     * rounded up. */
    double wh = (double)max_w * (double)elapsed_ms / 3.6e6 * (double)(100 + tolerance_pct) /
                100.0;
    if (wh >= 9.0e18)
        return INT64_MAX;
    return (int64_t)wh + 1 + CENTRAL_ENERGY_SLACK_WH;
}

bool central_floor_reached(int64_t balance_cents, int64_t floor_cents, int64_t cents, int64_t w,
                           int64_t price_cents_per_kwh)
{
    int64_t lead_wh = w > 0 ? w * CENTRAL_FLOOR_LEAD_MS / 3600000 : 0;
    int64_t lead = evc_bill_cents(lead_wh, price_cents_per_kwh);
    if (lead < 0)
        lead = 0;
    return cents + lead >= balance_cents - floor_cents;
}

int central_bill(evc_store *store, const char *session_id, int64_t ended_ms, int64_t energy_wh,
                 const char *reason, evc_ticket *ticket, bool *already, evc_error *err)
{
    *already = false;
    if (energy_wh < 0)
        return evc_error_set(err, EVC_EINVAL, "session %s: negative energy %lld Wh", session_id,
                             (long long)energy_wh);
    int rc = evc_store_begin(store, err);
    if (rc != EVC_OK)
        return rc;
    rc = evc_store_session_end_and_bill(store, session_id, ended_ms, energy_wh, reason, ticket,
                                        already, err);
    if (rc == EVC_OK && !*already)
        rc = evc_store_kv_put(store, CENTRAL_KV_UNACKED, session_id, ticket->driver_id,
                              strlen(ticket->driver_id), err);
    if (rc == EVC_OK)
        rc = evc_store_commit(store, err);
    if (rc != EVC_OK)
        evc_store_rollback(store, NULL); /* also after a failed commit */
    return rc;
}

int central_ticket_acked(evc_store *store, const char *session_id, evc_error *err)
{
    int rc = evc_store_kv_delete(store, CENTRAL_KV_UNACKED, session_id, err);
    return rc == EVC_ENOTFOUND ? EVC_OK : rc;
}

typedef struct unacked_ctx {
    const char *driver;
    char ids[64][EVC_STORE_ID_MAX];
    size_t n;
    bool more;
} unacked_ctx;

static int unacked_cb(void *arg, const char *key, const void *value, size_t len)
{
    unacked_ctx *u = arg;
    if (len != strlen(u->driver) || memcmp(value, u->driver, len) != 0)
        return 0;
    if (u->n == sizeof u->ids / sizeof *u->ids) {
        u->more = true;
        return 1;
    }
    snprintf(u->ids[u->n++], EVC_STORE_ID_MAX, "%s", key);
    return 0;
}

int central_unacked_tickets(evc_store *store, const char *driver_id, central_ticket_fn cb,
                            void *arg, evc_error *err)
{
    /* Collected first: the callback may write (publish, log) while a list
     * statement would still be open. At most 64 per sync; the rest follow at
     * the next sync, once these are acknowledged. */
    unacked_ctx u = {.driver = driver_id};
    int rc = evc_store_kv_list(store, CENTRAL_KV_UNACKED, unacked_cb, &u, err);
    for (size_t i = 0; rc == EVC_OK && i < u.n; i++) {
        evc_ticket t;
        int r = evc_store_ticket_get(store, u.ids[i], &t, err);
        if (r == EVC_OK)
            cb(arg, &t);
        else if (r != EVC_ENOTFOUND)
            rc = r;
    }
    return rc;
}
