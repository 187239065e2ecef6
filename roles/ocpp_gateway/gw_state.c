/* gw_state.c: transactions and their unacknowledged ends (the outbox)
 * survive a charger's reconnect and a gateway restart. A charger that loses its WebSocket mid-transaction goes on
 * charging and reports StopTransaction when it is back (OCPP 1.6 offline
 * behaviour): its transaction is parked here when the connection goes and
 * given back when the same CP id connects again. Every transaction in
 * progress, connected or parked, is written to ocpp_gateway.state_file (JSON,
 * written to a temporary file, fsync'd, renamed over the old one) at each
 * start and end, and read back at start: a restarted gateway matches a
 * StopTransaction of a transaction it started before, and Central bills it
 * once (supply.ended is idempotent at Central, PROTOCOL.md M3.2). The same
 * file holds every supply.ended Central has not acknowledged ("ended"),
 * written before the charger's StopTransaction is answered and removed at
 * Central's supply.end_ack: a gateway killed in between sends it again
 * when the charger is back (gw_bus_resend).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evc/log.h"
#include "gw.h"

static void tx_from_cp(gw_tx *t, const gw_cp *cp)
{
    snprintf(t->cp_id, sizeof t->cp_id, "%s", cp->id);
    t->conn = cp->conn;
    snprintf(t->session, sizeof t->session, "%s", cp->session);
    snprintf(t->driver, sizeof t->driver, "%s", cp->driver);
    t->tx_id = cp->tx_id;
    t->meter_start = cp->meter_start;
    t->last_wh = cp->last_wh;
    t->started_at = cp->started_at;
    t->price = cp->price;
    snprintf(t->end_reason, sizeof t->end_reason, "%s", cp->end_reason);
}

/* One description of a transaction's record in the state file, for both
 * directions: save writes the keys in this order, load reads them back. A
 * required string missing makes the entry malformed; a number missing reads
 * as 0 and an optional string as "". */
typedef struct tx_field {
    const char *key;
    bool is_str;
    size_t off;      /* in gw_tx */
    size_t cap;      /* strings: the array's size */
    bool required;
} tx_field;

#define TX_STR(k, m, req) {k, true, offsetof(gw_tx, m), sizeof(((gw_tx *)0)->m), req}
#define TX_INT(k, m) {k, false, offsetof(gw_tx, m), 0, false}
static const tx_field TX_FIELDS[] = {
    TX_STR("cp_id", cp_id, true),
    TX_INT("connector", conn), /* 0 when absent: a file of an older gateway */
    TX_STR("session_id", session, true),
    TX_STR("driver_id", driver, true),
    TX_INT("transaction_id", tx_id),
    TX_INT("meter_start", meter_start),
    TX_INT("last_wh", last_wh),
    TX_INT("started_at", started_at),
    TX_INT("price_cents_per_kwh", price),
    TX_STR("end_reason", end_reason, false),
};
#define TX_NFIELDS (sizeof TX_FIELDS / sizeof TX_FIELDS[0])

static json_t *tx_json(const gw_tx *t)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < TX_NFIELDS; i++) {
        const tx_field *f = &TX_FIELDS[i];
        const char *p = (const char *)t + f->off;
        json_t *v = f->is_str ? json_string(p) : json_integer((json_int_t) * (const int64_t *)p);
        if (json_object_set_new(o, f->key, v) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/* false when a required field is missing or not a string */
static bool tx_parse(const json_t *e, gw_tx *t)
{
    for (size_t i = 0; i < TX_NFIELDS; i++) {
        const tx_field *f = &TX_FIELDS[i];
        char *p = (char *)t + f->off;
        json_t *v = json_object_get(e, f->key);
        if (!f->is_str) {
            *(int64_t *)p = json_integer_value(v);
            continue;
        }
        const char *str = json_string_value(v);
        if (!str && f->required)
            return false;
        snprintf(p, f->cap, "%s", str ? str : "");
    }
    return true;
}

void gw_state_save(gw *g)
{
    if (!g->state_file[0])
        return;
    json_t *all = json_array();
    for (const gw_cp *cp = g->cps; cp; cp = cp->next) {
        if (cp->closing || cp->sup != GW_SUP_SUPPLYING)
            continue;
        gw_tx t;
        tx_from_cp(&t, cp);
        json_array_append_new(all, tx_json(&t));
    }
    for (const gw_tx *t = g->parked; t; t = t->next)
        json_array_append_new(all, tx_json(t));
    json_t *ended = json_array();
    for (const gw_end *e = g->ends; e; e = e->next)
        json_array_append_new(ended, json_pack("{s:s,s:I,s:s,s:o}", "cp_id", e->cp_id,
                                               "connector", (json_int_t)e->conn, "session_id",
                                               e->session, "payload",
                                               json_loads(e->payload, 0, NULL)));
    json_t *doc = json_pack("{s:i,s:o,s:o}", "version", 1, "transactions", all, "ended", ended);
    char *text = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", g->state_file);
    int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    size_t len = text ? strlen(text) : 0;
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0)
        ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, g->state_file) == 0;
    if (!ok)
        evc_log(EVC_LOG_ERROR, GW_LOG, NULL, "state file %s not written: %s: transactions in "
                                             "progress and unacknowledged ends would not "
                                             "survive a restart",
                g->state_file, strerror(errno));
    free(text);
}

int gw_state_load(gw *g, evc_error *err)
{
    if (!g->state_file[0])
        return EVC_OK;
    json_error_t je;
    json_t *doc = json_load_file(g->state_file, 0, &je);
    if (!doc) {
        if (access(g->state_file, F_OK) != 0)
            return EVC_OK; /* first start */
        return evc_error_set(err, EVC_ECORRUPT, "ocpp_gateway.state_file %s: %s (line %d)",
                             g->state_file, je.text, je.line);
    }
    size_t i;
    json_t *e;
    int rc = EVC_OK;
    json_array_foreach(json_object_get(doc, "transactions"), i, e) {
        gw_tx *t = calloc(1, sizeof *t);
        if (!t || !tx_parse(e, t) || !evc_uuid_valid(t->session)) {
            free(t);
            rc = evc_error_set(err, EVC_ECORRUPT, "ocpp_gateway.state_file %s: transaction %zu "
                                                  "malformed",
                               g->state_file, i);
            break;
        }
        if (t->tx_id > g->next_tx)
            g->next_tx = t->tx_id; /* ids stay unique past the ones in flight */
        t->next = g->parked;
        g->parked = t;
        evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = t->cp_id},
                "transaction %lld (session %s) waits for its charger", (long long)t->tx_id,
                t->session);
    }
    json_array_foreach(rc == EVC_OK ? json_object_get(doc, "ended") : NULL, i, e) {
        const char *cp = json_string_value(json_object_get(e, "cp_id"));
        const char *sid = json_string_value(json_object_get(e, "session_id"));
        json_t *p = json_object_get(e, "payload");
        if (!cp || strlen(cp) >= GW_ID_MAX || !sid || !evc_uuid_valid(sid) || !json_is_object(p)) {
            rc = evc_error_set(err, EVC_ECORRUPT, "ocpp_gateway.state_file %s: ended %zu "
                                                  "malformed",
                               g->state_file, i);
            break;
        }
        json_int_t conn = json_integer_value(json_object_get(e, "connector"));
        if (!gw_state_end_add(g, cp, conn, sid, json_dumps(p, JSON_COMPACT))) {
            rc = evc_error_set(err, EVC_ENOMEM, "ocpp_gateway: out of memory");
            break;
        }
        evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = cp},
                "supply.ended of %s not acknowledged before the restart: sent when the "
                "charger is back",
                sid);
    }
    json_decref(doc);
    return rc;
}

gw_end *gw_state_end_add(gw *g, const char *cp_id, int64_t conn, const char *session,
                         char *payload)
{
    for (gw_end *e = g->ends; payload && e; e = e->next)
        if (strcmp(e->cp_id, cp_id) == 0 && strcmp(e->session, session) == 0) {
            free(e->payload); /* the same session ended again: the last report counts */
            e->payload = payload;
            return e;
        }
    gw_end *e = payload ? calloc(1, sizeof *e) : NULL;
    if (!e) {
        free(payload);
        return NULL;
    }
    snprintf(e->cp_id, sizeof e->cp_id, "%s", cp_id);
    e->conn = conn;
    snprintf(e->session, sizeof e->session, "%s", session);
    e->payload = payload;
    gw_end **pp = &g->ends; /* appended: sent oldest first */
    while (*pp)
        pp = &(*pp)->next;
    *pp = e;
    return e;
}

bool gw_state_end_ack(gw *g, const char *cp_id, const char *session)
{
    for (gw_end **pp = &g->ends; *pp; pp = &(*pp)->next) {
        gw_end *e = *pp;
        if (strcmp(e->cp_id, cp_id) != 0 || strcmp(e->session, session) != 0)
            continue;
        *pp = e->next;
        free(e->payload);
        free(e);
        return true;
    }
    return false;
}

void gw_state_park(gw_cp *cp)
{
    if (cp->sup != GW_SUP_SUPPLYING)
        return;
    gw_tx *t = calloc(1, sizeof *t);
    if (!t) {
        evc_log(EVC_LOG_ERROR, GW_LOG, &(evc_log_ids){.cp = cp->id},
                "out of memory: transaction %lld forgotten", (long long)cp->tx_id);
        return;
    }
    tx_from_cp(t, cp);
    t->next = cp->g->parked;
    cp->g->parked = t;
    cp->sup = GW_SUP_NONE;
    evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = cp->id},
            "transaction %lld kept until the charger is back", (long long)t->tx_id);
}

void gw_state_restore(gw_cp *cp)
{
    for (gw_tx **pp = &cp->g->parked; *pp; pp = &(*pp)->next) {
        gw_tx *t = *pp;
        /* a record naming another connector is not this CP's, whatever its
         * id (a charger may be called "CP_005.2" itself); 0: an older file */
        if (strcmp(t->cp_id, cp->id) != 0 || (t->conn && t->conn != cp->conn))
            continue;
        snprintf(cp->session, sizeof cp->session, "%s", t->session);
        snprintf(cp->driver, sizeof cp->driver, "%s", t->driver);
        snprintf(cp->end_reason, sizeof cp->end_reason, "%s", t->end_reason);
        cp->tx_id = t->tx_id;
        cp->meter_start = t->meter_start;
        cp->last_wh = t->last_wh;
        cp->started_at = t->started_at;
        cp->price = t->price;
        cp->sup = GW_SUP_SUPPLYING;
        *pp = t->next;
        free(t);
        evc_log(EVC_LOG_INFO, GW_LOG, &(evc_log_ids){.cp = cp->id},
                "transaction %lld resumed", (long long)cp->tx_id);
        return;
    }
}

void gw_state_free(gw *g)
{
    while (g->ends) {
        gw_end *e = g->ends;
        g->ends = e->next;
        free(e->payload);
        free(e);
    }
    while (g->parked) {
        gw_tx *t = g->parked;
        g->parked = t->next;
        free(t);
    }
}
