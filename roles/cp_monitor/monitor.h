/* monitor.h: EV_CP_M's state, shared by its files:
 *   main.c             role table, config schema, options
 *   monitor_core.c     start/stop, terminal lines
 *   monitor_central.c  the link to Central: the SDK's CP session (evc/cplink.h) and what
 *                      the monitor shows of it
 *   monitor_proof.c    the engine link's key and MACs
 *   monitor_engine.c   the link to the engine (HELLO, mutual proof, PING/PONG)
 *   monitor_health.c   the engine's health state machine (pure)
 *   monitor_track.c    checks, usage and alerts in bounded rings (pure)
 *   monitor_web.c      the dashboard: HTTP + WebSocket /ws/monitor (docs/WEB.md)
 * Everything runs on the loop thread. */
#ifndef MONITOR_H
#define MONITOR_H

#include <stdbool.h>
#include <stdint.h>

#include "evc/addr.h"
#include "evc/app.h"
#include "evc/cplink.h"
#include "evc/link.h"
#include "evc/proof.h"
#include "monitor_health.h"
#include "monitor_track.h"

#define MONITOR_ID_MAX 64

typedef struct monitor_cfg {
    evc_addr engine, central;
    char cp_id[MONITOR_ID_MAX + 1];
    char location[256];
    int64_t price_cents_per_kwh;
    char secret[256];
    int64_t health_interval_ms, health_timeout_ms, heartbeat_interval_ms;
    int64_t engine_grace_ms;     /* at start: an engine not reached yet is no fault */
    int64_t backoff_min_ms, backoff_max_ms;
    int64_t deny_retry_min_ms, deny_retry_max_ms;
    /* The dashboard (monitor_web.c): off unless `web`; port 0 with web on
     * lets the OS choose (tests). The program sets web = web_port != 0. */
    bool web;
    uint16_t web_port;
    char web_host[256];
} monitor_cfg;

typedef enum monitor_central_state {
    MONITOR_C_CONNECTING = 0, /* never connected yet */
    MONITOR_C_DOWN,           /* "Unable to connect to CENTRAL" shown */
    MONITOR_C_AUTHENTICATING, /* connected: AUTH, CHALLENGE, PROOF/REGISTER under way */
    MONITOR_C_DENIED,         /* refused; the session re-AUTHs after its denial backoff */
    MONITOR_C_ACCEPTED,
} monitor_central_state;

typedef struct monitor {
    evc_app *app;
    evc_loop *loop;
    monitor_cfg cfg;
    bool tty;
    bool stopping;
    unsigned said;               /* lines printed (tests check "once per transition") */
    char last_said[256];

    /* Central */
    evc_cplink *central;         /* the session (monitor_central.c) */
    bool central_up;             /* a link to Central is open */
    monitor_central_state cstate;
    uint64_t accepted_ms;
    bool ever_accepted;          /* the id is confirmed: HELLO may go to the engine */
    char denied_text[256];       /* last denial shown (printed again only when it changes) */

    /* Engine */
    evc_link_client *engine;
    evc_link *engine_link;
    bool hello_ok;               /* the engine proved itself and accepted our proof */
    uint8_t link_key[EVC_PROOF_KEY_BYTES]; /* monitor_link_key of cp_id and secret */
    uint8_t hello_nonce[EVC_PROOF_NONCE_BYTES]; /* of the HELLO in flight */
    bool engine_shown_down;      /* "Engine not answering" printed */
    bool engine_shown_refused;   /* a refusal (ours or the engine's) printed */
    uint64_t ping_seq;
    evc_timer *ping;
    evc_timer *check;            /* health timeout, every 100 ms */
    monitor_health_sm health;

    /* What the dashboard shows (monitor_track.h, monitor_web.c). */
    monitor_track track;
    bool track_ok;               /* the rings were allocated */
    int64_t started_at;          /* wall ms */
    int64_t central_since, engine_since; /* wall ms of the last change */
    char central_admin[16];      /* AUTH_OK's admin_state ("" before) */
    /* From the engine's extended PONG (PROTOCOL.md M2); have_supply false
     * with an engine that sends seq and health only. */
    bool have_supply, have_admin;
    char supply_state[16];       /* idle, authorised, supplying */
    int64_t supply_w, supply_wh;
    char session_id[65];
    char engine_admin[16];       /* in_service, stopped */
    struct monitor_web *web;     /* NULL when the page is off */
} monitor;

/* monitor_config.c: the section's schema (keys, bounds, defaults, help). */
extern const evc_cfg_field monitor_schema[];
/* Fills c's tunables (location, price, timings, page) from cp_monitor's
 * section `sec` (NULL = none given: every default), each absent key taking
 * the schema's default; web stays false (the program decides). */
void monitor_cfg_read(monitor_cfg *c, const evc_cfg_node *sec);
/* monitor_cfg_read with no section: what a test starts from. */
void monitor_cfg_defaults(monitor_cfg *c);

/* monitor_core.c */
int monitor_core_start(monitor *m, evc_error *err);
/* Closes both links and waits (bounded) for their on_close. */
void monitor_core_stop(monitor *m);
/* One line on stdout (coloured on a terminal); counted in m->said. */
void monitor_say(monitor *m, const char *colour, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define MONITOR_GREEN "\033[32m"
#define MONITOR_RED "\033[31m"
#define MONITOR_YELLOW "\033[33m"

/* monitor_central.c */
int monitor_central_start(monitor *m, evc_error *err);
void monitor_central_stop(monitor *m);
/* Sends an HB now (no-op unless accepted). */
void monitor_send_hb(monitor *m);

/* monitor_proof.c */
/* MAC of a challenge-response: hex of evc_proof_nonce_mac(key, label, cp_id,
 * nonce_m, nonce_c) (M1's as Central's; M2's with the link key). */
void monitor_proof_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                       const char *cp_id, const uint8_t *nonce_m, const uint8_t *nonce_c,
                       char out_hex[EVC_PROOF_HEX_SIZE]);
/* The engine link's key: evc_proof_mac under an all-zero key of "evc-link-v1",
 * cp_id, secret (a hash; both ends hold the secret, no argon2 needed). */
void monitor_link_key(const char *cp_id, const char *secret,
                      uint8_t out[EVC_PROOF_KEY_BYTES]);
#define MONITOR_CPAUTH_LABEL EVC_CPLINK_AUTH_LABEL
#define MONITOR_CPAUTH_OK_LABEL EVC_CPLINK_AUTH_OK_LABEL
#define MONITOR_LINK_ENGINE_LABEL "evc-link-engine-v1"
#define MONITOR_LINK_MONITOR_LABEL "evc-link-monitor-v1"

/* monitor_web.c: the dashboard. start: nothing unless cfg.web; an address
 * in use is an error naming host:port. changed: pushes what is new (checks,
 * usage, alerts) and the status to the page's clients, at once. */
int monitor_web_start(monitor *m, evc_error *err);
void monitor_web_stop(monitor *m);
void monitor_web_changed(monitor *m);
/* An alert (kept in the ring, pushed at once). */
void monitor_alert(monitor *m, const char *kind, const char *link, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The Host header names this server the way a browser on the CP's host or
 * a technician would (an IP literal, localhost, or web_host): anything
 * else may be a DNS-rebinding page, refused. Pure. */
bool monitor_web_host_ok(const char *host_header, const char *web_host);
/* The port the page listens on (tests: cfg.web_port 0), 0 when off. */
uint16_t monitor_web_port(const monitor *m);

/* monitor_engine.c */
int monitor_engine_start(monitor *m, evc_error *err);
void monitor_engine_stop(monitor *m);
/* Central confirmed the id: tell the engine (HELLO) when its link is up. */
void monitor_engine_hello(monitor *m);

#endif
