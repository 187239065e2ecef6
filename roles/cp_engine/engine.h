/* engine.h: EV_CP_E's state, shared by its files:
 *   main.c          role table, config schema, stdin menu, signals
 *   engine_core.c   start/stop of the engine's state, status, KO toggle
 *   engine_link.c   the monitor link (HELLO and mutual proof, PING/PONG, monitor lost: R30)
 *   engine_bus.c    bus messages in and out (central-events, cp-events)
 *   engine_supply.c the supply: authorise, plug, telemetry, end, unattended mode
 *   engine_energy.c, engine_policy.c, engine_journal.c: pure logic and store
 * Everything runs on the loop thread. */
#ifndef ENGINE_H
#define ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "engine_energy.h"
#include "engine_journal.h"
#include "engine_policy.h"
#include "evc/addr.h"
#include "evc/app.h"
#include "evc/envelope.h"
#include "evc/link.h"
#include "evc/msg.h"
#include "evc/store.h"

typedef enum engine_phase {
    ENGINE_IDLE = 0,
    ENGINE_AUTHORISED, /* waiting for the plug (F5) */
    ENGINE_SUPPLYING,
} engine_phase;

typedef struct engine_cfg {
    evc_addr listen;
    char cp_id[EVC_STORE_ID_MAX]; /* cp_engine.cp_id: the only id this engine speaks for */
    char secret[256];   /* the CP's secret: proves the monitor link (engine_link.c) */
    int64_t monitor_timeout_ms;
    int64_t central_timeout_ms;
    int64_t plug_timeout_ms;
    int64_t telemetry_interval_ms;
    int64_t outbox_retry_ms;
    int64_t power_w;
    int64_t power_variation_pct;
    int64_t power_seed; /* 0: from the clock */
    bool unattended;
    int64_t plug_after_ms, unplug_after_ms, target_wh;
} engine_cfg;

typedef struct engine {
    evc_app *app;
    evc_loop *loop;
    evc_bus *bus;
    evc_store *store;
    engine_cfg cfg;
    const char *topic_cp;      /* borrowed from the app */
    const char *topic_central;
    bool tty;                  /* stdout is a terminal: colours */
    bool stopping;             /* graceful stop: ignore the bus */
    bool keyed;                /* the bus seals with this CP's key (engine_keys.c) */
    uint64_t key_requested_ms; /* last cp.key_request, 0 = none */
    struct engine_key_job *key_job; /* derivation on the pool, NULL when none */

    /* cfg.cp_id once a monitor proved the CP's secret (the engine announces
     * itself and accepts supplies from then on); "" before. Never another id. */
    char cp_id[EVC_STORE_ID_MAX];
    uint8_t link_key[32];       /* hash of cp_id and secret (engine_link.c) */

    /* monitor (engine_link.c) */
    evc_link_server *server;
    evc_link *monitor;          /* the link that proved the secret; NULL when none */
    int nlinks;                 /* open links (on_open minus on_close) */
    bool monitor_present;       /* PINGs within monitor_timeout_ms */
    uint64_t last_ping_ms;

    /* health and admin state */
    bool ko;
    bool stopped;

    /* Central's liveness (central.heartbeat) */
    bool central_alive;
    bool central_down_shown;    /* "Unable to connect to CENTRAL" printed */
    uint64_t last_central_ms;
    int64_t central_started_at; /* from central.heartbeat; a change = restart */
    uint64_t started_ms;
    uint64_t bus_live_ms;       /* when the bus began to deliver; 0 = not yet */

    /* the supply (engine_supply.c) */
    engine_phase phase;
    engine_journal j;           /* session, driver, price, times, wh */
    engine_energy energy;
    engine_power power;
    int64_t w;                  /* last power reported */
    uint64_t authorised_mono, plugged_mono, last_tick_mono;

    evc_timer *tick;            /* 1 s housekeeping + telemetry */
    evc_timer *outbox_timer;
    evc_timer *telemetry;       /* while supplying */
    evc_watch *stdin_watch;
    engine_linebuf stdin_buf;
    evc_msg_dedup *dedup;
    uint64_t dropped;           /* malformed bus messages */
} engine;

/* engine_config.c: the section's schema (keys, bounds, defaults, help). */
extern const evc_cfg_field engine_schema[];
/* Fills c's tunables from cp_engine's section `sec` (NULL = none given:
 * every default), each absent key taking the schema's default. */
void engine_cfg_read(engine_cfg *c, const evc_cfg_node *sec);
/* engine_cfg_read with no section: what a test starts from. */
void engine_cfg_defaults(engine_cfg *c);

/* engine_core.c */
/* Starts a filled engine (loop, bus, store, topics, cfg set): recovers the
 * journal, listens for the monitor, subscribes, arms the timers, sends the
 * outbox. */
int engine_core_start(engine *e, evc_error *err);
/* Ends a supply in progress (engine_restart), closes timers and links. */
void engine_core_stop(engine *e);
void engine_core_free(engine *e);
void engine_say(engine *e, const char *colour, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define ENGINE_GREEN "\033[32m"
#define ENGINE_RED "\033[31m"
#define ENGINE_YELLOW "\033[33m"
engine_gate engine_gate_now(const engine *e);
void engine_toggle_ko(engine *e);
void engine_print_status(engine *e);

/* engine_link.c */
int engine_link_start(engine *e, evc_error *err);
void engine_link_stop(engine *e);
void engine_link_check(engine *e, uint64_t now); /* monitor timeout */

/* engine_keys.c: the bus key from the CP secret (Central's key params) */
void engine_keys_request(engine *e);   /* at most every 2 s until keyed */
void engine_keys_on_params(engine *e, const evc_envelope *env);
void engine_keys_stop(engine *e);

/* engine_bus.c */
int engine_bus_start(engine *e, evc_error *err);
void engine_bus_check(engine *e, uint64_t now); /* Central timeout */
int engine_publish(engine *e, const char *type, const char *corr, const char *payload);
void engine_send_hello(engine *e); /* the outbox first, then cp.hello */
void engine_send_status(engine *e);
void engine_send_request(engine *e, const char *driver_id);
void engine_outbox_kick(engine *e, bool all);

/* engine_supply.c */
void engine_supply_recover(engine *e);
void engine_supply_authorise(engine *e, const evc_envelope *env);
void engine_supply_command(engine *e, const char *command);
/* Central's cp.command reset (type "Soft" or "Hard", borrowed; both do the
 * same here: the engine is software, there is nothing to reboot): a supply
 * in progress, or an authorisation waiting for the plug, ends now with
 * reason `reset` through the outbox as on a stop (billed once), and the
 * engine is idle again. The admin state and the health stay as they were
 * (a stopped CP stays stopped; resume is its own command). Answers with
 * cp.status. */
void engine_supply_reset(engine *e, const char *type);
/* Central does not hold session_id open (it denied it, or never knew it),
 * or stops it (balance floor; the driver's stop, reason `driver_stop`): a
 * supply of that session in progress ends now with reason `cancelled`
 * (`driver_stop` for the driver's stop), its energy reported as usual
 * (Central bills it). Anything else: nothing. */
void engine_supply_cancel(engine *e, const char *session_id, const char *reason);
void engine_supply_end_ack(engine *e, const char *session_id);
void engine_supply_plug(engine *e, bool from_menu);
void engine_supply_unplug(engine *e, bool from_menu);
void engine_supply_end(engine *e, const char *reason);
void engine_supply_tick(engine *e, uint64_t now);
/* Graceful stop (SIGINT/SIGTERM): a supply in progress ends now with reason
 * engine_restart (through the outbox, so it is re-sent at the next start
 * until Central acknowledges it). */
void engine_supply_shutdown(engine *e);

#endif
