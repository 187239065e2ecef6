/* lg_restart.c: a Central restart under load (--restart). The monitor links
 * are the SDK's CP sessions (evc/cplink.h), which reconnect as EV_CP_M's
 * does (the same link client): after a loss the next attempt comes `min` ms
 * later, each failure doubles the delay up to `max`, a connection resets it
 * to `min` (EV_CP_M's defaults 250 and 2000 ms, cp_monitor.backoff_*_ms),
 * each delay plus up to 50 % at random (--jitter PCT; 0 shows the herd of
 * clients that all retry at the same instants). The engines answer Central's
 * new started_at (central.heartbeat) with cp.hello, busy_session_id set
 * while supplying, as EV_CP_E does (PROTOCOL.md, "Central restarts").
 *
 * Measured: the first link lost in the steady phase (Central killed), the
 * first connection accepted after it (Central listening again), and for each
 * CP the first HB that Central ACKs after it re-authenticated (Central
 * derives ACTIVATED from that HB): the time when the last CP got there is
 * "all ACTIVATED". A link lost after its CP was back is a relapse. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "lg.h"

/* The link client's delays are capped here too. */
#define RS_MAX_DELAY_MS 5000u

enum { RS_DOWN = 1, RS_BACK = 2 };

typedef struct rs_cp {
    uint8_t flags;
} rs_cp;

struct lg_restart {
    uint32_t min_ms, max_ms, jitter_pct;
    rs_cp *cp;
    /* measurements (loop ms) */
    uint64_t loss_ms, back_ms, first_ms, all_ms, hello_ms;
    size_t down, back, relapsed;
    int64_t started_at;
    uint64_t hellos, restarts_seen;
    lg_counts at_loss;
};

int lg_restart_init(lg *g, evc_error *err)
{
    if (!evc_app_option(g->app, "restart"))
        return EVC_OK;
    lg_restart *r = calloc(1, sizeof *r);
    if (r)
        r->cp = calloc(g->ntotal ? g->ntotal : 1, sizeof *r->cp);
    if (!r || !r->cp) {
        free(r);
        return evc_error_set(err, EVC_ENOMEM, "loadgen: out of memory for --restart");
    }
    r->min_ms = 250;
    r->max_ms = 2000;
    const char *b = evc_app_option(g->app, "backoff-ms");
    if (b && sscanf(b, "%" SCNu32 ":%" SCNu32, &r->min_ms, &r->max_ms) != 2) {
        free(r->cp);
        free(r);
        return evc_error_set(err, EVC_EINVAL, "--backoff-ms %s: want MIN:MAX (ms)", b);
    }
    if (r->min_ms < 10)
        r->min_ms = 10;
    if (r->max_ms > RS_MAX_DELAY_MS)
        r->max_ms = RS_MAX_DELAY_MS;
    if (r->max_ms < r->min_ms)
        r->max_ms = r->min_ms;
    const char *j = evc_app_option(g->app, "jitter");
    r->jitter_pct = j ? (uint32_t)strtoul(j, NULL, 10) : 50; /* link_client.c's */
    if (r->jitter_pct > 100)
        r->jitter_pct = 100;
    g->rs = r;
    return EVC_OK;
}

void lg_restart_free(lg *g)
{
    if (g->rs)
        free(g->rs->cp);
    free(g->rs);
    g->rs = NULL;
}

static uint64_t now_ms(lg *g)
{
    return evc_loop_now_ms(g->loop);
}

void lg_restart_backoff(const lg *g, uint64_t *min_ms, uint64_t *max_ms, int *jitter_pct)
{
    const lg_restart *r = g->rs;
    *min_ms = r ? r->min_ms : 250;
    *max_ms = r ? r->max_ms : 2000;
    *jitter_pct = !r ? 0 : r->jitter_pct ? (int)r->jitter_pct : EVC_CPLINK_NO_JITTER;
}

void lg_restart_on_closed(lg_cp *cp)
{
    lg *g = cp->lg;
    lg_restart *r = g->rs;
    if (!r || !g->tick || g->phase_no > 2)
        return; /* stopping: not measured */
    size_t i = (size_t)(cp - g->cps);
    rs_cp *c = &r->cp[i];
    if (g->phase_no == 2 && !r->loss_ms) {
        r->loss_ms = now_ms(g); /* at_loss: the last tick's counts (lg_restart_tick) */
        printf("restart: first monitor link lost at %.1f s of the steady phase\n",
               (double)(r->loss_ms - g->steady_start_ms) / 1000.0);
        fflush(stdout);
    }
    if (r->loss_ms) {
        if (c->flags & RS_BACK) {
            r->relapsed++;
            r->back--;
            c->flags &= (uint8_t)~RS_BACK;
        }
        if (!(c->flags & RS_DOWN)) {
            c->flags |= RS_DOWN;
            r->down++;
        }
    }
}

void lg_restart_on_connected(lg_cp *cp)
{
    lg *g = cp->lg;
    lg_restart *r = g->rs;
    if (!r)
        return;
    if (r->loss_ms && !r->back_ms)
        r->back_ms = now_ms(g);
}

void lg_restart_on_hb_acked(lg_cp *cp)
{
    lg *g = cp->lg;
    lg_restart *r = g->rs;
    if (!r || !r->loss_ms)
        return;
    rs_cp *c = &r->cp[cp - g->cps];
    if (!(c->flags & RS_DOWN))
        return;
    c->flags = (uint8_t)((c->flags & ~RS_DOWN) | RS_BACK);
    r->down--;
    r->back++;
    uint64_t now = now_ms(g);
    if (!r->first_ms)
        r->first_ms = now;
    if (r->down == 0 && r->back == g->ntotal && !r->all_ms) {
        r->all_ms = now;
        printf("restart: all %zu CPs ACTIVATED again %.2f s after the loss\n", g->ntotal,
               (double)(now - r->loss_ms) / 1000.0);
        fflush(stdout);
    }
}

void lg_restart_tick(lg *g)
{
    lg_restart *r = g->rs;
    /* Counts before the loss: the links' losses are counted before their
     * callbacks, where the loss is noticed. */
    if (r && !r->loss_ms)
        r->at_loss = g->c;
}

/* central.heartbeat: a new started_at is a new Central; every keyed engine
 * says hello again, as EV_CP_E does. The payload is the envelope's JSON
 * first (lg_bus.c skips it by that prefix). */
void lg_restart_on_central_heartbeat(lg *g, const evc_message *m)
{
    lg_restart *r = g->rs;
    if (!r)
        return;
    char buf[512];
    size_t n = m->payload_len < sizeof buf - 1 ? m->payload_len : sizeof buf - 1;
    memcpy(buf, m->payload, n);
    buf[n] = '\0';
    const char *p = strstr(buf, "\"started_at\":");
    if (!p)
        return;
    int64_t started = strtoll(p + 13, NULL, 10);
    if (!started || started == r->started_at)
        return;
    bool again = r->started_at != 0;
    r->started_at = started;
    if (!again)
        return;
    r->restarts_seen++;
    r->hello_ms = now_ms(g);
    for (size_t i = 0; i < g->ntotal; i++) {
        lg_cp *cp = &g->cps[i];
        if (!cp->keyed)
            continue;
        char p2[256];
        bool busy = cp->sup == LG_SUP_SUPPLYING || cp->sup == LG_SUP_AUTHORISED;
        snprintf(p2, sizeof p2,
                 "{\"cp_id\":\"%s\",\"busy_session_id\":%s%s%s,\"health\":\"OK\","
                 "\"admin_state\":\"IN_SERVICE\"}",
                 cp->id, busy ? "\"" : "", busy ? cp->session : "null", busy ? "\"" : "");
        if (lg_publish(g, g->t_cp, cp->id, cp->sealer, "cp.hello", cp->id, NULL, p2) == EVC_OK)
            r->hellos++;
    }
}

static double secs_after(const lg_restart *r, uint64_t t)
{
    return t && r->loss_ms ? (double)(t - r->loss_ms) / 1000.0 : -1;
}

void lg_restart_report(lg *g, FILE *json)
{
    lg_restart *r = g->rs;
    if (!r)
        return;
    const lg_counts *a = &r->at_loss, *c = &g->c;
    if (!json) {
        if (!r->loss_ms) {
            printf("restart: no link lost in the steady phase (Central was not restarted)\n");
            return;
        }
        printf("restart (seconds after the first link lost; backoff %" PRIu32 "..%" PRIu32
               " ms, jitter %" PRIu32 " %%): Central accepting %.2f, first CP ACTIVATED %.2f, "
               "all %zu ACTIVATED %.2f%s; new started_at seen %.2f (%" PRIu64 " cp.hello)\n",
               r->min_ms, r->max_ms, r->jitter_pct, secs_after(r, r->back_ms),
               secs_after(r, r->first_ms), g->ntotal, secs_after(r, r->all_ms),
               r->all_ms ? "" : " (NOT all: see below)", secs_after(r, r->hello_ms), r->hellos);
        printf("restart: CPs back %zu, still down %zu, relapsed (link lost after back) %zu; "
               "since the loss: HB unacked %" PRIu64 ", connect failures %" PRIu64
               ", supplies denied %" PRIu64 ", interrupted %" PRIu64 ", telemetry not relayed %" PRIu64
               "\n",
               r->back, r->down, r->relapsed, c->hb_unacked - a->hb_unacked,
               c->connect_failed - a->connect_failed, c->supply_denied - a->supply_denied,
               c->interrupted - a->interrupted, c->tele_lost - a->tele_lost);
        return;
    }
    fprintf(json,
            ",\n \"restart\":{\"backoff_min_ms\":%" PRIu32 ",\"backoff_max_ms\":%" PRIu32
            ",\"jitter_pct\":%" PRIu32 ",\"restarted\":%s,\"accepting_s\":%.3f,"
            "\"first_activated_s\":%.3f,\"all_activated_s\":%.3f,\"started_at_seen_s\":%.3f,"
            "\"hellos\":%" PRIu64 ",\"back\":%zu,\"down\":%zu,\"relapsed\":%zu,"
            "\"hb_unacked\":%" PRIu64 ",\"connect_failed\":%" PRIu64 ",\"supply_denied\":%" PRIu64
            ",\"interrupted\":%" PRIu64 ",\"tele_lost\":%" PRIu64 "}",
            r->min_ms, r->max_ms, r->jitter_pct, r->loss_ms ? "true" : "false",
            secs_after(r, r->back_ms), secs_after(r, r->first_ms), secs_after(r, r->all_ms),
            secs_after(r, r->hello_ms), r->hellos, r->back, r->down, r->relapsed,
            c->hb_unacked - a->hb_unacked, c->connect_failed - a->connect_failed,
            c->supply_denied - a->supply_denied, c->interrupted - a->interrupted,
            c->tele_lost - a->tele_lost);
}
