/* gw_conn.c: the connectors of a multi-connector charger as CPs of their own
 * (ocpp_gateway.connectors; docs/OCPP.md "Connectors").
 *
 * Central's model is one supply per CP, and a real charger with two
 * connectors runs two supplies at once: so connector n >= 2 of charger
 * <CP_ID> is the CP "<CP_ID>.<n>", registered at Central with the charger's
 * secret, and connector 1 keeps the charger's own CP (a single-connector
 * charger, and a gateway with connectors: 1, are exactly as before). A
 * connector CP is a gw_cp with its own monitor link (proved with the
 * charger's password), bus key, health and supply; it has no WebSocket of
 * its own: what it says to the charger goes through its parent's (the
 * charger's gw_cp), and the charger's messages are routed to it by
 * connectorId (StatusNotification, StartTransaction) or transactionId
 * (MeterValues, StopTransaction). It appears when the charger first reports
 * its connectorId, or when the charger is accepted and a transaction or an
 * unacknowledged end of that CP waits in the state file; it goes with the
 * charger's WebSocket (its transaction parked as the charger's is).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/ids.h"
#include "evc/log.h"
#include "gw.h"

/* The CP of connector n (2..GW_CONN_MAX) of charger ch, new: its link
 * starts, its parked transaction (if any) is its own again. */
static gw_cp *conn_new(gw_cp *ch, int n)
{
    gw *g = ch->g;
    if (ch->mon != GW_MON_OK || ch->closing || ch->challenger)
        return NULL; /* its link would prove a password Central has not accepted yet */
    char id[GW_ID_MAX + 16]; /* room for ".<n>": too long is refused below */
    snprintf(id, sizeof id, "%s.%d", ch->id, n);
    if (strlen(id) >= GW_ID_MAX || !evc_id_valid(id)) {
        EVC_LOG_LIMITED(EVC_LOG_WARN, GW_LOG, &(evc_log_ids){.cp = ch->id},
                        "connector %d: the CP id %s is too long; the connector is not served", n,
                        id);
        return NULL;
    }
    if (gw_cp_find(g, id)) {
        EVC_LOG_LIMITED(EVC_LOG_WARN, GW_LOG, &(evc_log_ids){.cp = ch->id},
                        "connector %d: a charger is connected as %s itself; the connector is "
                        "not served",
                        n, id);
        return NULL;
    }
    gw_cp *c = calloc(1, sizeof *c);
    if (!c) {
        evc_log(EVC_LOG_ERROR, GW_LOG, &(evc_log_ids){.cp = ch->id},
                "out of memory: connector %d not served", n);
        return NULL;
    }
    c->g = g;
    memcpy(c->id, id, strlen(id) + 1); /* shorter than GW_ID_MAX: checked above */
    memcpy(c->secret, ch->secret, sizeof c->secret); /* wiped with c (gw_cp_free) */
    snprintf(c->peer, sizeof c->peer, "%s", ch->peer);
    c->parent = ch;
    c->conn = n;
    c->stranded = n > g->connectors;
    c->next = g->cps;
    g->cps = c;
    ch->conns[n] = c;
    gw_state_restore(c);
    if (c->stranded)
        evc_log(EVC_LOG_WARN, GW_LOG, &(evc_log_ids){.cp = ch->id},
                "connector %d is above ocpp_gateway.connectors (%lld) but CP %s has %s in %s: "
                "served until its end is billed, then not any more",
                n, (long long)g->connectors, id,
                c->sup == GW_SUP_SUPPLYING ? "a transaction" : "an unacknowledged end",
                g->state_file);
    else
        evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = ch->id}, "connector %d is CP %s", n,
                id);
    gw_link_start(c);
    return c;
}

gw_cp *gw_conn_get(gw_cp *ch, int n, bool create)
{
    ch = gw_charger(ch);
    if (n <= 1 || n > ch->g->connectors)
        return ch; /* a stranded connector's CP only ends its transaction (gw_conn_by_tx) */
    if (ch->conns[n] || !create)
        return ch->conns[n];
    return conn_new(ch, n);
}

gw_cp *gw_conn_find(gw_cp *ch, int n)
{
    ch = gw_charger(ch);
    return n <= 1 ? ch : n <= GW_CONN_MAX ? ch->conns[n] : NULL;
}

gw_cp *gw_conn_by_tx(gw_cp *ch, int64_t tx)
{
    ch = gw_charger(ch);
    if (ch->sup == GW_SUP_SUPPLYING && ch->tx_id == tx)
        return ch;
    for (int n = 2; n <= GW_CONN_MAX; n++) {
        gw_cp *c = ch->conns[n];
        if (c && c->sup == GW_SUP_SUPPLYING && c->tx_id == tx)
            return c;
    }
    return NULL;
}

/* n when the record of CP id (connector `recorded` as the state file says)
 * is connector n >= 2 of charger ch, else 0. The id alone is ambiguous (a
 * charger may be called "CP_005.2" itself): a record written by this
 * gateway names its connector, so one of a connector above
 * ocpp_gateway.connectors is found too; one of an older file without it
 * counts as a connector only up to connectors, as then. */
static int conn_of(const gw *g, const gw_cp *ch, const char *id, int64_t recorded)
{
    size_t len = strlen(ch->id);
    if (strncmp(id, ch->id, len) != 0 || id[len] != '.')
        return 0;
    const char *d = id + len + 1;
    int n = 0;
    for (; *d >= '0' && *d <= '9' && n <= GW_CONN_MAX; d++)
        n = n * 10 + (*d - '0');
    if (*d || d == id + len + 1 || n < 2 || n > GW_CONN_MAX)
        return 0;
    if (recorded)
        return recorded == n ? n : 0;
    return n <= g->connectors ? n : 0;
}

void gw_conn_revive(gw_cp *ch)
{
    gw *g = ch->g;
    if (ch->parent)
        return;
    bool want[GW_CONN_MAX + 1] = {0};
    /* collected first: conn_new takes the parked transaction out of the list */
    for (const gw_tx *t = g->parked; t; t = t->next)
        want[conn_of(g, ch, t->cp_id, t->conn)] = true;
    for (const gw_end *e = g->ends; e; e = e->next)
        want[conn_of(g, ch, e->cp_id, e->conn)] = true;
    for (int n = 2; n <= GW_CONN_MAX; n++)
        if (want[n] && !ch->conns[n])
            conn_new(ch, n);
}

static bool end_waits(const gw *g, const char *cp_id)
{
    for (const gw_end *e = g->ends; e; e = e->next)
        if (strcmp(e->cp_id, cp_id) == 0)
            return true;
    return false;
}

void gw_conn_reap(gw *g)
{
    for (;;) {
        gw_cp *c = g->cps;
        while (c && (!c->stranded || c->closing || c->sup != GW_SUP_NONE || end_waits(g, c->id)))
            c = c->next;
        if (!c)
            return;
        evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = c->id},
                "the transaction of connector %d is billed: the CP is not served any more "
                "(ocpp_gateway.connectors %lld)",
                c->conn, (long long)g->connectors);
        gw_link_close(c); /* frees c, and takes it out of its charger's conns */
    }
}

void gw_conn_detach_all(gw_cp *ch)
{
    for (int n = 2; n <= GW_CONN_MAX; n++) {
        gw_cp *c = ch->conns[n];
        if (!c)
            continue;
        gw_ocpp_drop_calls(c);
        gw_state_park(c);
        gw_link_close(c); /* frees c, and takes it out of ch->conns */
    }
}
