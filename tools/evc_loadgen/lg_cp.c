/* lg_cp.c: a simulated CP's monitor link to Central (docs/PROTOCOL.md M1) on
 * the SDK's CP session (evc/cplink.h), as EV_OCPP_GW's. The proof key K is
 * given (lg_load_keys read it from the stored strings, as the real
 * monitor's per-params cache would have it): no derivation. HBs go from the
 * one-second wheel (lg_main.c), one per CP per turn; the session's on_ack
 * reports Central's ACK of each in order, which times HB -> ACK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/log.h"
#include "lg.h"

uint64_t lg_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_event(evc_cplink *c, const evc_cplink_info *in, void *arg)
{
    (void)c;
    lg_cp *cp = arg;
    lg *g = cp->lg;
    switch (in->event) {
    case EVC_CPLINK_EV_CONNECTED:
        cp->mon = LG_MON_AUTH;
        lg_restart_on_connected(cp);
        break;
    case EVC_CPLINK_EV_ACCEPTED: {
        bool first = cp->ok_ms == 0;
        cp->mon = LG_MON_OK;
        cp->ok_ms = evc_loop_now_ms(g->loop);
        g->c.auth_ok++;
        /* The session sends the first HB right after this returns (Central
         * derives ACTIVATED from it); health() below counts it. */
        if (first)
            lg_engine_on_accepted(cp);
        break;
    }
    case EVC_CPLINK_EV_DENIED:
        g->c.auth_denied++;
        cp->mon = LG_MON_IDLE; /* the session sends AUTH again after its backoff */
        break;
    case EVC_CPLINK_EV_LOST:
        g->c.links_lost++;
        cp->hb_acked = false;
        cp->mon = LG_MON_IDLE;
        g->c.hb_unacked += cp->pend_n; /* never to be ACKed */
        cp->pend_n = 0;
        lg_restart_on_closed(cp);
        break;
    case EVC_CPLINK_EV_CONNECT_FAILED:
        g->c.connect_failed++;
        break;
    }
}

/* Called for each HB about to go: its send time, for the ACK. */
static const char *health(evc_cplink *c, void *arg)
{
    (void)c;
    lg_cp *cp = arg;
    if (cp->pend_n < LG_PEND) {
        cp->pend_us[(cp->pend_head + cp->pend_n) % LG_PEND] = lg_now_us();
        cp->pend_n++;
    }
    cp->lg->c.hb_sent++;
    return "OK";
}

static void on_ack(evc_cplink *c, const char *opcode, bool nack, void *arg)
{
    (void)c;
    lg_cp *cp = arg;
    lg *g = cp->lg;
    if (strcmp(opcode, "HB") != 0 || !cp->pend_n)
        return;
    if (nack) { /* the link re-sends it: its ACK is still to come */
        g->c.hb_nacked++;
        return;
    }
    unsigned slot = cp->pend_head;
    cp->pend_head = (cp->pend_head + 1) % LG_PEND;
    cp->pend_n--;
    g->c.hb_acked++;
    cp->hb_acked = true;
    lg_restart_on_hb_acked(cp);
    if (g->phase_no == 2)
        lg_samples_add(&g->hb_ack, lg_now_us() - cp->pend_us[slot]);
}

int lg_cp_init(lg *g, lg_cp *cp, evc_error *err)
{
    (void)err;
    cp->lg = g;
    return EVC_OK;
}

void lg_cp_connect(lg_cp *cp)
{
    lg *g = cp->lg;
    if (cp->link)
        return;
    evc_cplink_opts o = {.struct_size = sizeof o,
                         .cp_id = cp->id,
                         .location = "loadgen",
                         .price_cents_per_kwh = 35,
                         .proof_key = cp->key,
                         .heartbeat_ms = 0, /* the wheel sends them */
                         /* A denial is retried about a second later, as the
                          * tick used to. */
                         .deny_retry_min_ms = 1000,
                         .deny_retry_max_ms = 1000};
    lg_restart_backoff(g, &o.backoff_min_ms, &o.backoff_max_ms, &o.jitter_pct);
    evc_cplink_handlers h = {.on_event = on_event, .on_ack = on_ack, .health = health};
    evc_error err = {0};
    cp->pend_n = 0;
    if (evc_cplink_start(g->loop, g->host, g->port, &o, &h, cp, &cp->link, &err) != EVC_OK) {
        g->c.connect_failed++;
        EVC_LOG_LIMITED(EVC_LOG_ERROR, "loadgen", NULL, "%s", err.msg);
        return;
    }
    cp->mon = LG_MON_CONNECTING;
}

void lg_cp_tick(lg_cp *cp, uint64_t now_ms)
{
    if (cp->mon == LG_MON_OK && cp->link) {
        evc_error err = {0};
        if (evc_cplink_heartbeat(cp->link, &err) != EVC_OK)
            EVC_LOG_LIMITED(EVC_LOG_WARN, "loadgen", NULL, "%s", err.msg);
    }
    lg_engine_tick(cp, now_ms);
}

void lg_cp_close(lg_cp *cp)
{
    evc_cplink_close(cp->link); /* no callback after this */
    cp->link = NULL;
    cp->mon = LG_MON_IDLE;
}
