/* gw.h: EV_OCPP_GW's shared state (README.md, docs/OCPP.md).
 *
 * One process, one loop. Each OCPP 1.6J charger connected at
 * ws://host:port/ocpp/<CP_ID> becomes a gw_cp, which speaks for it to Central
 * exactly as an EV_CP_M/EV_CP_E pair does: a monitor link (framed TCP, AUTH /
 * CHALLENGE / PROOF / AUTH_OK, HB every second; docs/PROTOCOL.md M1) and an
 * engine on the bus (sealed with the CP's bus key; M3). The charger's HTTP
 * Basic password is the CP's secret (OCPP security profile 1): it proves the
 * CP to Central and is kept only in memory while the charger is connected.
 * With client certificates (profile 3) the certificate's CommonName names
 * the CP and the secret comes from the gateway's secrets directory.
 */
#ifndef GW_H
#define GW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "evc/app.h"
#include "evc/bus.h"
#include "evc/cplink.h"
#include "evc/frame.h"
#include "evc/loop.h"
#include "evc/proof.h"
#include "evc/seal.h"
#include "evc/uuid.h"
#include "evc/web.h"

#define GW_LOG "ocpp_gateway"
#define GW_ID_MAX 65
#define GW_MSGID_MAX 37 /* OCPP-J message ids: at most 36 characters */
#define GW_END_RESEND_MS 2000
#define GW_CONN_MAX 16 /* ocpp_gateway.connectors at most */
#define GW_CALLQ 8      /* CALLs waiting for the outstanding one to be answered */

typedef struct gw gw;

/* ---- the monitor link of one CP (gw_link.c) ----------------------------- */
typedef enum gw_mon { GW_MON_IDLE = 0, GW_MON_CONNECTING, GW_MON_AUTH, GW_MON_PROVING,
                      GW_MON_OK, GW_MON_DENIED } gw_mon;

/* What a CALL the gateway sent is for, so that its result can act. */
typedef enum gw_call_kind { GW_CALL_NONE = 0, GW_CALL_REMOTE_START, GW_CALL_REMOTE_STOP,
                            GW_CALL_AVAILABILITY, GW_CALL_RESET } gw_call_kind;

typedef struct gw_call {
    gw_call_kind kind;
    int conn;                        /* the connector whose CP it is for (1 = the charger's) */
    char action[32];
    char session[EVC_UUID_STR_SIZE]; /* REMOTE_START: the session it answers */
    char *text;                      /* the whole frame, malloc'd */
} gw_call;

typedef enum gw_sup { GW_SUP_NONE = 0, GW_SUP_STARTING, GW_SUP_AUTHORISED,
                      GW_SUP_SUPPLYING } gw_sup;

typedef struct gw_cp {
    gw *g;
    char id[GW_ID_MAX];
    /* Connector n >= 2 of a multi-connector charger (ocpp_gateway.connectors,
     * gw_conn.c) is a CP of its own, "<CP_ID>.<n>": its own monitor link,
     * bus key and supply. It has no WebSocket: parent is the charger's gw_cp
     * (connector 1), whose WebSocket, boot and CALL queue it uses. NULL and
     * conn 1 for the charger itself. */
    struct gw_cp *parent;
    int conn;
    /* A connector above ocpp_gateway.connectors (lowered since its
     * transaction started, gw_conn.c): served only until that transaction's
     * end is acknowledged by Central, then closed; no new supply. */
    bool stranded;
    bool faulted0;      /* the charger (connectorId 0) Faulted: every connector KO */
    struct gw_cp *conns[GW_CONN_MAX + 1]; /* the charger's: its connector CPs by n (2..GW_CONN_MAX) */
    char secret[256]; /* the Basic password; wiped when the CP is freed */
    evc_web_client *ws; /* NULL once the charger's WebSocket closed */
    char peer[64];      /* the charger's IP address (throttles key on it) */
    /* A second connection for a CP id that has one: it does not replace
     * the first until Central accepts its password (gw_cp_take_over), so
     * whoever knows only the id cannot disconnect the charger. Not found
     * by gw_cp_find meanwhile. */
    bool challenger;
    bool booted;        /* a BootNotification was accepted on this connection */
    bool faulted;       /* last StatusNotification Faulted: HB KO */
    bool inoperative;   /* Central's stop: ChangeAvailability Inoperative */
    /* The charger answered ChangeAvailability "Scheduled" (busy: OCPP 1.6
     * has it apply the change itself when the transaction ends). Until a
     * status agreeing with Central's admin state arrives, a status that
     * disagrees once the transaction ended gets ChangeAvailability again,
     * once per status change (gw_avail.c). */
    bool avail_check;
    /* ChangeAvailability calls of this CP queued or outstanding: a repeated
     * order of Central's meanwhile is not queued again (gw_bus.c) */
    int avail_pending;
    char last_status[16]; /* the last StatusNotification status routed to this CP */
    /* one outstanding CALL towards the charger, the rest queued */
    gw_call out;
    char out_id[GW_MSGID_MAX];
    uint64_t out_deadline_ms;
    gw_call q[GW_CALLQ];
    size_t qhead, qlen;
    unsigned next_msg;
    /* an Authorize of the charger's own (idTag at the charger) -- or a
     * StartTransaction nobody authorised through the gateway (auth_start: a
     * charger that started offline or from its local list) -- answered when
     * Central's cp.authorise for that driver arrives, or Invalid at
     * auth_deadline_ms. One at a time: the charger has one CALL outstanding. */
    char auth_id[GW_MSGID_MAX]; /* its message id; "" when none */
    char auth_driver[GW_ID_MAX];
    uint64_t auth_deadline_ms;
    bool auth_start;            /* the call is a StartTransaction */
    int64_t auth_meter_start;   /* its meterStart */
    /* monitor link: the SDK's CP session (gw_link.c) */
    evc_cplink *link;        /* owned; NULL before gw_link_start */
    evc_frame_decoder *dec;  /* always NULL now (main.c still frees it) */
    gw_mon mon;
    bool tcp_open;           /* the session exists (it reconnects by itself) */
    bool closing;
    uint8_t key[EVC_PROOF_KEY_BYTES]; /* K of the last acceptance (gw_bus.c's bus key) */
    /* engine on the bus */
    evc_sealer *sealer;
    /* the supply */
    gw_sup sup;
    char session[EVC_UUID_STR_SIZE];
    char driver[GW_ID_MAX];
    int64_t tx_id, meter_start, last_wh, started_at, price;
    char end_reason[24]; /* why we asked RemoteStopTransaction (our reason) */
    struct gw_cp *next;
} gw_cp;

/* A supply.ended Central has not acknowledged (the outbox, gw_state.c): in
 * ocpp_gateway.state_file before the charger hears StopTransaction.conf,
 * sent again every GW_END_RESEND_MS while its CP is connected and keyed
 * (the bus key exists only then), at once when it connects, until Central's
 * supply.end_ack names its session (Central bills a session once). */
typedef struct gw_end {
    char cp_id[GW_ID_MAX];
    int64_t conn; /* connector n (cp_id "<charger>.<n>") or 1; 0 = not recorded (older file) */
    char session[EVC_UUID_STR_SIZE];
    char *payload;    /* the supply.ended payload, JSON text, owned */
    uint64_t sent_ms; /* loop time of the last send, 0 = not sent by this process */
    struct gw_end *next;
} gw_end;

/* The bus sealer of a CP whose charger went while supply.ended of it were
 * unacknowledged (gw_bus.c; in memory only, never in the state file): those
 * ends are still sent again every GW_END_RESEND_MS, the charger gone or
 * not. Freed once they are all acknowledged, or when the CP is keyed again
 * by its charger's return. After a gateway restart there is none: ends from
 * the state file wait for their charger (the bus key needs its password). */
typedef struct gw_orphan {
    char cp_id[GW_ID_MAX];
    evc_sealer *sealer; /* owned */
    struct gw_orphan *next;
} gw_orphan;

/* A transaction in progress whose charger is not connected (gw_state.c):
 * kept so that its StopTransaction after a reconnect -- or after a gateway
 * restart, from ocpp_gateway.state_file -- is matched and billed. */
typedef struct gw_tx {
    char cp_id[GW_ID_MAX];
    int64_t conn; /* as gw_end's */
    char session[EVC_UUID_STR_SIZE];
    char driver[GW_ID_MAX];
    int64_t tx_id, meter_start, last_wh, started_at, price;
    char end_reason[24];
    struct gw_tx *next;
} gw_tx;

struct gw {
    evc_app *app;
    evc_loop *loop;
    uv_loop_t *uv;
    evc_bus *bus;
    evc_web *web;
    const char *t_cp, *t_central;
    /* config */
    char host[64];
    uint16_t port;
    char central_host[256];
    uint16_t central_port;
    int64_t call_timeout_ms, heartbeat_interval_s, price_cents;
    char state_file[4096]; /* "" = transactions not persisted */
    /* TLS (OCPP security profile 2): PEM files, borrowed from the config
     * tree (lives as long as the app); "" = plain ws:// */
    const char *tls_cert, *tls_key;
    /* Security profile 3 (client certificates): the operator's CA file and
     * the directory of the CPs' secrets (<dir>/<CP_ID>.secret, mode 0600),
     * borrowed like tls_cert; tls_client_ca "" = profiles 1/2 (Basic). */
    const char *tls_client_ca, *secrets_dir;
    gw_tx *parked;         /* transactions of chargers not connected */
    gw_end *ends;          /* supply.ended not acknowledged yet, oldest first */
    gw_orphan *orphans;    /* sealers of CPs gone with ends unacknowledged (gw_bus.c) */
    /* CP ids whose password Central denied: each try costs an argon2id
     * derivation here, so repeated failures wait (evc_web_throttle) */
    evc_web_throttle *denied;      /* key "<CP id>@<peer>": 3 denials */
    evc_web_throttle *denied_peer; /* key "<peer>": 10 denials, any CP id */
    int64_t max_pending;           /* connections not yet accepted, at most */
    bool open_registration;        /* answer CHALLENGE REGISTER with the charger's password */
    int64_t connectors;            /* connectors per charger that are CPs of their own (gw_conn.c) */
    /* state */
    gw_cp *cps; /* connected or closing */
    evc_timer *tick;
    int64_t next_tx;
    json_t *schemas; /* "Action.req" / "Action.conf" -> schema (gw_schema.c) */
    struct gw_schemas *compiled; /* the same, compiled for checking (gw_schema.c); owned */
};

/* gw_schema.c: validation against the official OCPP 1.6 JSON schemas */
int gw_schema_load(gw *g, evc_error *err);
/* Frees what gw_schema_load made (also after it failed); g->schemas too. */
void gw_schema_free(gw *g);
/* NULL when `payload` satisfies the schema of action's req (is_req) or conf;
 * else an OCPP error code ("TypeConstraintViolation", ...) and a sentence in
 * why (cap bytes). "NotImplemented" when there is no schema for action. */
const char *gw_schema_check(const gw *g, const char *action, bool is_req, const json_t *payload,
                            char *why, size_t cap);

/* gw_ocpp.c: OCPP-J on one charger's WebSocket */
void gw_ocpp_on_message(gw_cp *cp, const char *data, size_t len);
/* Queues a CALL (payload owned by the call: stolen) to the charger. */
int gw_ocpp_call(gw_cp *cp, gw_call_kind kind, const char *action, json_t *payload,
                 const char *session);
void gw_ocpp_tick(gw_cp *cp, uint64_t now_ms);
void gw_ocpp_drop_calls(gw_cp *cp);
/* Answers the charger's pending Authorize (status "Accepted", "Invalid"...),
 * or its pending StartTransaction: "Accepted" starts the supply Central
 * authorised (cp->session, driver, price set: supply.started). */
void gw_ocpp_authorize_done(gw_cp *cp, const char *status);

/* gw_link.c: the CP's monitor link to Central */
void gw_link_start(gw_cp *cp);
void gw_link_heartbeat(gw_cp *cp); /* now, with the current health */
void gw_link_close(gw_cp *cp);     /* closes the session and frees the CP */

/* gw_bus.c: the CP's engine on the bus */
int gw_bus_start(gw *g, evc_error *err);
void gw_bus_stop(void);
void gw_bus_on_accepted(gw_cp *cp); /* AUTH_OK: the bus key from K, then cp.hello */
int gw_bus_publish(gw_cp *cp, const char *type, const char *corr, json_t *payload);
/* The charger's transaction events, in our model */
void gw_bus_started(gw_cp *cp);
void gw_bus_request(gw_cp *cp, const char *driver); /* supply.request at the CP */
void gw_bus_telemetry(gw_cp *cp, int64_t wh, int64_t w);
void gw_bus_ended(gw_cp *cp, int64_t wh, const char *reason);
/* Sends cp's unacknowledged supply.ended: all of them (all) or those last
 * sent GW_END_RESEND_MS ago or more (the tick). Nothing without a bus key. */
void gw_bus_resend(gw_cp *cp, uint64_t now_ms, bool all);
/* cp is going (gw_cp_free): its sealer is kept as an orphan when ends of it
 * are unacknowledged and no other connection holds its id. */
void gw_bus_adopt(gw_cp *cp);
/* The tick: ends of CPs whose charger went, sent again with the orphans. */
void gw_bus_resend_orphans(gw *g, uint64_t now_ms);
/* Frees the orphans of cp_id (NULL: all). */
void gw_bus_orphans_free(gw *g, const char *cp_id);
void gw_bus_remote_start_result(gw_cp *cp, const char *session, bool accepted, const char *why);
/* ChangeAvailability of cp's connector (connectorId 0 for a charger that is
 * one CP) with Central's admin state: Inoperative when stopped. */
void gw_bus_availability(gw_cp *cp);

/* gw_state.c: transactions across reconnects and restarts */
int gw_state_load(gw *g, evc_error *err);
void gw_state_save(gw *g);       /* after every change of a transaction */
void gw_state_park(gw_cp *cp);   /* the charger went: keep its transaction */
void gw_state_restore(gw_cp *cp); /* it came back: take its transaction */
/* The outbox: an end added (payload text stolen, freed on failure; NULL
 * when out of memory: then not kept), an end acknowledged (true when it
 * was there). Neither saves: the caller does, once. */
gw_end *gw_state_end_add(gw *g, const char *cp_id, int64_t conn, const char *session,
                         char *payload);
bool gw_state_end_ack(gw *g, const char *cp_id, const char *session);
void gw_state_free(gw *g);

/* gw_secret.c: the secret of CP `id` for a charger that authenticated by
 * certificate (profile 3): the first line of <secrets_dir>/<id>.secret, a
 * regular file that neither group nor others may read or write. Into out
 * (cap bytes); EVC_ECONFIG naming the file and what is wrong. */
int gw_secret_read(const gw *g, const char *id, char *out, size_t cap, evc_error *err);
/* gw_create: with tls_client_ca, secrets_dir must be a directory that
 * neither group nor others may enter or list; EVC_ECONFIG naming it. */
int gw_secret_check_dir(const gw *g, evc_error *err);

/* gw_avail.c: ChangeAvailability answered Scheduled, checked after the
 * transaction. The answer to a ChangeAvailability for cp (status: the
 * result's, NULL for a CALLERROR or no answer); a StatusNotification status
 * routed to cp (also remembered as its last). */
void gw_avail_answer(gw_cp *cp, const char *status, bool accepted);
void gw_avail_status(gw_cp *cp, const char *status);
/* Central accepted cp (its admin state in cp->inoperative): the charger's
 * availability is checked against it, at once if the charger booted on
 * this connection and reported a status, else at its next status. */
void gw_avail_accepted(gw_cp *cp);
/* The charger's last reported status agrees with that admin state. */
bool gw_avail_in_line(const gw_cp *cp, bool inoperative);

/* gw_conn.c: connectors as CPs (ocpp_gateway.connectors; docs/OCPP.md) */
static inline gw_cp *gw_charger(gw_cp *cp) { return cp->parent ? cp->parent : cp; }
/* KO at Central: the connector Faulted, or the whole charger (connectorId 0) */
static inline bool gw_cp_faulted(const gw_cp *cp)
{
    return cp->faulted || (cp->parent ? cp->parent->faulted0 : cp->faulted0);
}
/* The CP of connector n of charger ch (1 or 0: ch itself; above
 * ocpp_gateway.connectors: ch too, as a single-CP charger); created (and
 * its monitor link started) when create and ch was accepted by Central;
 * else NULL when it does not exist. */
gw_cp *gw_conn_get(gw_cp *ch, int n, bool create);
/* The CP of connector n of charger ch as it is now, not created: ch for n
 * <= 1, else its connector CP (also one left above a lowered
 * ocpp_gateway.connectors to end its transaction), NULL when none. */
gw_cp *gw_conn_find(gw_cp *ch, int n);
/* The connector of ch (or ch) whose transaction is tx; NULL when none. */
gw_cp *gw_conn_by_tx(gw_cp *ch, int64_t tx);
/* ch was accepted by Central: connector CPs with a parked transaction or
 * an unacknowledged end come back (their links start), also those above
 * ocpp_gateway.connectors (stranded: served until that end is billed). */
void gw_conn_revive(gw_cp *ch);
/* ch goes: each of its connector CPs parks its transaction and closes. */
void gw_conn_detach_all(gw_cp *ch);
/* Closes the stranded connector CPs whose transaction ended and whose end
 * Central acknowledged (the tick). */
void gw_conn_reap(gw *g);
/* main.c */
gw_cp *gw_cp_find(gw *g, const char *id);
/* cp (a challenger) was accepted by Central: the connection it challenged is
 * closed and cp takes its place and its transaction. */
void gw_cp_take_over(gw_cp *cp);
/* Central denied cp's password, or accepted it: the throttles learn it. */
void gw_cp_denied(gw_cp *cp);
void gw_cp_accepted(gw_cp *cp);
void gw_cp_free(gw_cp *cp); /* unlinked and freed; the link must be closed */

#endif
