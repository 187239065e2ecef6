/* lg.h: evc-loadgen's shared state. One process, one loop (the core's, libuv
 * underneath): N simulated CPs, each a monitor link to Central (framed TCP:
 * AUTH/CHALLENGE/PROOF/AUTH_OK, HB every second) and an engine on the bus
 * (cp.key_request, cp.hello, cp.authorise_reply, supply.started, 1 Hz
 * supply.telemetry, sealed with the CP's bus key), plus M drivers that log
 * in and loop supply requests. Ids are numbered (LG000001, lgd000001, LGM001,
 * lgm001) so that a message is matched to its CP by parsing, not searching. */
#ifndef LG_H
#define LG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "evc/app.h"
#include "evc/bus.h"
#include "evc/cplink.h"
#include "evc/frame.h"
#include "evc/loop.h"
#include "evc/proof.h"
#include "evc/seal.h"
#include "evc/uuid.h"

#define LG_ID_MAX 24
#define LG_TELE_RING 8   /* telemetry sends remembered per CP, matched by Wh */
#define LG_WHEEL 100     /* 10 ms slots of the one-second tick */
#define LG_POWER_W 7400

/* ---- latency samples ---------------------------------------------------- */
typedef struct lg_samples {
    uint32_t *us;  /* microseconds; reservoir of at most cap */
    size_t n, cap;
    uint64_t seen; /* samples offered */
    uint32_t max;
} lg_samples;
void lg_samples_init(lg_samples *s, size_t cap);
void lg_samples_add(lg_samples *s, uint64_t us);
/* q in [0,1]; sorts in place. 0 when empty. */
double lg_samples_ms(lg_samples *s, double q);
void lg_samples_free(lg_samples *s);

/* ---- one simulated CP --------------------------------------------------- */
typedef enum lg_mon_state {
    LG_MON_IDLE = 0, LG_MON_CONNECTING, LG_MON_AUTH, LG_MON_PROVING, LG_MON_OK
} lg_mon_state;

typedef enum lg_sup_state {
    LG_SUP_NONE = 0, LG_SUP_REQUESTED, LG_SUP_AUTHORISED, LG_SUP_SUPPLYING
} lg_sup_state;

#define LG_PEND 32 /* HBs of one CP waiting for their ACK, timed */

typedef struct lg_cp {
    char id[LG_ID_MAX];
    char driver[LG_ID_MAX]; /* bulk supplier: its driver; looping CP: "" */
    uint8_t key[EVC_PROOF_KEY_BYTES]; /* proof key K of the stored string */
    struct lg *lg;
    evc_cplink *link; /* owned; NULL before the ramp reached this CP */
    lg_mon_state mon;
    bool hb_acked; /* Central ACKed an HB on this link: it holds the CP ACTIVATED */
    /* ACK timing: send times of HBs not yet ACKed (FIFO; ACKs come in order) */
    uint64_t pend_us[LG_PEND];
    unsigned pend_head, pend_n;
    /* engine */
    evc_sealer *sealer;
    bool keyed, hello_sent, wants_supply;
    uint64_t key_req_ms, ok_ms, request_ms, request_us;
    lg_sup_state sup;
    char session[EVC_UUID_STR_SIZE];
    int64_t wh, started_at;
    uint64_t tele_us[LG_TELE_RING];
    int64_t tele_wh[LG_TELE_RING];
    unsigned tele_next;
    struct lg_cp *wheel_next;
    bool is_loop_cp;
    /* looping CP: when its engine got the latest cp.authorise and sent its
     * reply (lg_now_us), to split its driver's request -> authorised in legs */
    uint64_t auth_rx_us, reply_tx_us;
} lg_cp;

/* ---- one looping driver ------------------------------------------------- */
typedef enum lg_drv_state {
    LG_DRV_HELLO = 0, LG_DRV_LOGIN, LG_DRV_READY, LG_DRV_WAIT_AUTH, LG_DRV_WAIT_TICKET
} lg_drv_state;

typedef struct lg_driver {
    char id[LG_ID_MAX];
    char cp[LG_ID_MAX];
    char password[96];
    lg_drv_state st;
    char hello_corr[EVC_UUID_STR_SIZE], nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_sealer *sealer;
    char corr[EVC_UUID_STR_SIZE]; /* the request in flight */
    uint64_t req_us, next_ms, state_ms;
    uint64_t requests, authorised, denied, tickets;
} lg_driver;

/* ---- the whole run ------------------------------------------------------ */
typedef struct lg_restart lg_restart; /* lg_restart.c; NULL without --restart */

typedef struct lg_counts {
    uint64_t hb_sent, hb_acked, hb_nacked, hb_unacked, frames_acked;
    uint64_t auth_ok, auth_denied, links_lost, connect_failed;
    uint64_t keyed, hello;
    uint64_t menu_requests, authorise_recv, supplies_started, supply_denied;
    uint64_t tele_sent, tele_relayed, tele_lost;
    uint64_t interrupted, publish_fail, bus_in, bus_bad;
    uint64_t drv_requests, drv_authorised, drv_denied, drv_tickets;
} lg_counts;

typedef struct lg {
    evc_app *app;
    evc_loop *loop;
    uv_loop_t *uv;
    evc_bus *bus;
    const char *t_cp, *t_drv, *t_central;
    /* options */
    size_t ncps, nsupplying, ndrivers;
    double rate;                 /* CP connections per second in the ramp */
    uint64_t warmup_ms, duration_ms, driver_pause_ms;
    char host[64];
    uint16_t port;
    int central_pid;
    const char *json_path, *label, *transport_name;
    /* CPs: bulk then one per looping driver */
    lg_cp *cps;
    size_t ntotal, started;
    lg_driver *drivers;
    lg_cp *wheel[LG_WHEEL];
    unsigned wheel_pos;
    evc_timer *tick, *ramp, *phase, *lagt;
    /* phases */
    int phase_no;                /* 0 ramp, 1 warm-up, 2 steady, 3 drain */
    uint64_t t0_ms, steady_start_ms, steady_end_ms, lag_expect_us;
    /* The wheel's turns: one HB per CP per turn, so a turn much longer than
     * a second starves every CP's heartbeat at once (a generator stall, not
     * Central's): the longest turn of each phase, and when it ended. */
    uint64_t turn_start_us, turn_max_us[4], turn_max_at_ms[4];
    int64_t steady_event_seq;
    /* measurements (steady phase only, counts all along) */
    lg_samples hb_ack, tele_state, drv_auth, menu_auth, lag;
    /* drv_auth in legs, each sample's three add up to its drv_auth sample:
     * driver's supply.request -> its engine's cp.authorise (bus, Central's
     * checks, bus), the engine's turn, its reply -> the driver's update
     * `authorised` (bus, Central, bus). */
    lg_samples leg_to_engine, leg_engine, leg_to_driver;
    lg_counts c, c_steady0, c_steady1;
    double cpu_pct, rss_mb, rss_start_mb;
    uint64_t cpu_ticks0;
    double central_cpu_s;
    uint64_t false_disconnected;      /* after the steady phase began */
    uint64_t false_disconnected_run;  /* the whole run */
    uint64_t msgs_to_central;    /* HB + bus messages the generator sent in steady */
    double key_tokens;            /* pacing of cp.key_request (unsealed) */
    uint64_t key_refill_ms;
    char last_denial[64];         /* reason of the latest denial seen, for the report */
    lg_restart *rs;               /* owned; --restart only */
    int exit_code;
} lg;

/* lg_cp.c */
int lg_cp_init(lg *g, lg_cp *cp, evc_error *err);
void lg_cp_connect(lg_cp *cp);
void lg_cp_tick(lg_cp *cp, uint64_t now_ms);  /* once a second per CP */
void lg_cp_close(lg_cp *cp);
uint64_t lg_now_us(void);
/* lg_bus.c */
int lg_bus_start(lg *g, evc_error *err);
int lg_publish(lg *g, const char *topic, const char *key, evc_sealer *s, const char *type,
               const char *source, const char *corr, const char *payload);
void lg_engine_on_accepted(lg_cp *cp);  /* the monitor got AUTH_OK */
void lg_engine_tick(lg_cp *cp, uint64_t now_ms);
void lg_driver_tick(lg *g, lg_driver *d, uint64_t now_ms);
/* lg_stats.c */
int lg_find_central_pid(void);
int lg_proc_sample(int pid, uint64_t *ticks, double *rss_mb);
void lg_report(lg *g);
int64_t lg_last_event_seq(lg *g);
/* lg_provision.c */
int lg_provision(lg *g, evc_error *err);
int lg_load_keys(lg *g, evc_error *err);
void lg_cp_name(char *buf, size_t cap, size_t i, size_t nbulk);
void lg_driver_name(char *buf, size_t cap, size_t i, bool looping);
long lg_cp_index(const lg *g, const char *id); /* -1 when not ours */

/* lg_restart.c: a Central restart under load (--restart); each a no-op without it */
int lg_restart_init(lg *g, evc_error *err);
void lg_restart_free(lg *g);
void lg_restart_on_closed(lg_cp *cp);    /* a link was lost (the session reconnects) */
/* The sessions' reconnection: --backoff-ms and --jitter with --restart,
 * EV_CP_M's defaults otherwise. */
void lg_restart_backoff(const lg *g, uint64_t *min_ms, uint64_t *max_ms, int *jitter_pct);
void lg_restart_on_connected(lg_cp *cp);
void lg_restart_on_hb_acked(lg_cp *cp);
void lg_restart_tick(lg *g);              /* every 10 ms tick: counts before the loss */
void lg_restart_on_central_heartbeat(lg *g, const evc_message *m);
void lg_restart_report(lg *g, FILE *json); /* NULL: the text lines */

#endif
