/* evc/store.h: the store SDK -- what a store plugin implements (evc_store_ops)
 * and what roles call (the evc_store_* facade). Roles see domain repositories
 * (users, charging points, sessions, tickets, event log, outbox, key-value),
 * never SQL.
 *
 * Units: money in integer cents, energy in integer Wh, power in integer W,
 * times in integer milliseconds since the Unix epoch (0 = "not yet"). Nothing
 * that is billed is ever a floating-point number.
 *
 * Threads: a store instance lives on the loop thread of its process; every op
 * and every facade call is for that thread only.
 *
 * Transactions: evc_store_begin / commit / rollback bracket several ops into
 * one atomic unit. Outside an explicit transaction every write op is atomic on
 * its own and durable when it returns (per the plugin's durability setting),
 * except writes marked EVC_STORE_BATCHED, which the plugin may group with
 * later ones and commit within a bounded delay (see the plugin's README).
 *
 * Strings in domain structs are fixed-size arrays owned by the struct, so a
 * struct filled by a getter owns nothing on the heap. Strings handed to a
 * list callback are borrowed for the duration of that callback only.
 *
 * Errors: EVC_ENOTFOUND (no such row), EVC_EEXIST (duplicate id / unique key),
 * EVC_ECONFLICT (constraint or state conflict, schema version mismatch),
 * EVC_EBUSY (locked by another process after the busy timeout), EVC_EFULL,
 * EVC_EREADONLY, EVC_ECORRUPT, EVC_EIO, EVC_EINVAL (bad argument), EVC_ESTATE
 * (e.g. commit without begin). Messages name the database and the operation.
 */
#ifndef EVC_STORE_H
#define EVC_STORE_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/config.h"
#include "evc/error.h"
#include "evc/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

struct evc_host_api;
struct evc_plugin;

typedef struct evc_store evc_store;           /* facade handle (core) */
typedef struct evc_store_impl evc_store_impl; /* a plugin's instance, opaque to the core */

#define EVC_STORE_ID_MAX 64     /* ids: user, CP, session, correlation, message (incl. NUL) */
#define EVC_STORE_HASH_MAX 128  /* "$argon2id$..." strings (crypto_pwhash_STRBYTES) */
#define EVC_STORE_TEXT_MAX 256  /* location, end reason, event type/source */

/* ---- domain ------------------------------------------------------------ */

typedef enum evc_user_role { EVC_ROLE_DRIVER = 1, EVC_ROLE_ADMIN = 2 } evc_user_role;

typedef struct evc_user {
    char id[EVC_STORE_ID_MAX];                /* "driver1" */
    evc_user_role role;
    char password_hash[EVC_STORE_HASH_MAX];   /* "$argon2id$..."; never a clear password */
    int64_t balance_cents;
    int64_t created_ms;                       /* set by the store on insert when 0 */
} evc_user;

typedef enum evc_cp_admin_state {
    EVC_CP_IN_SERVICE = 1, /* Central lets it supply */
    EVC_CP_STOPPED = 2,    /* "Out of Order": stopped by an administrator */
} evc_cp_admin_state;

typedef struct evc_charging_point {
    char id[EVC_STORE_ID_MAX];                /* "CP_001" */
    char location[EVC_STORE_TEXT_MAX];
    int64_t price_cents_per_kwh;
    int64_t max_w;                            /* maximum power, watts */
    evc_cp_admin_state admin_state;
    char secret_hash[EVC_STORE_HASH_MAX];     /* "$argon2id$..." or "$evc-cpk$v=1$..." (a
                                                 generated secret, evc/proof.h); "" = none */
    int64_t registered_ms;                    /* set by the store on insert when 0 */
    int64_t updated_ms;                       /* last change of any field */
} evc_charging_point;

typedef enum evc_session_state {
    EVC_SESSION_REQUESTED = 1,
    EVC_SESSION_AUTHORISED = 2,
    EVC_SESSION_SUPPLYING = 3,
    EVC_SESSION_ENDED = 4,  /* billed: a ticket exists */
    EVC_SESSION_DENIED = 5, /* never supplied, never billed */
} evc_session_state;

typedef struct evc_session {
    char id[EVC_STORE_ID_MAX];
    char correlation_id[EVC_STORE_ID_MAX];    /* unique: one per supply */
    char driver_id[EVC_STORE_ID_MAX];
    char cp_id[EVC_STORE_ID_MAX];
    int64_t requested_ms, authorised_ms, started_ms, ended_ms; /* 0 = not yet */
    int64_t energy_wh;                        /* so far, or final once ENDED */
    int64_t amount_cents;                     /* so far (informative), or billed once ENDED */
    evc_session_state state;
    char end_reason[EVC_STORE_TEXT_MAX];      /* "" until ended/denied */
} evc_session;

typedef struct evc_ticket {
    char session_id[EVC_STORE_ID_MAX];
    char driver_id[EVC_STORE_ID_MAX];
    char cp_id[EVC_STORE_ID_MAX];
    int64_t energy_wh;
    int64_t price_cents_per_kwh;              /* the CP's price when billed */
    int64_t amount_cents;                     /* evc_bill_cents(energy_wh, price) */
    int64_t started_ms, ended_ms, issued_ms;
    char end_reason[EVC_STORE_TEXT_MAX];
} evc_ticket;

/* One audit record. As input: message_id must be non-empty and unique;
 * detail_json is a JSON text ("{}" when NULL); seq and ts_ms are filled by the
 * store when 0. As callback argument: every pointer borrowed for the call. */
typedef struct evc_event {
    int64_t seq;              /* store-assigned, strictly increasing */
    const char *message_id;
    const char *correlation_id; /* may be NULL/"" */
    const char *type;
    const char *source;
    const char *detail_json;
    int64_t ts_ms;
} evc_event;

/* An outbox message as handed to a claim callback (borrowed for the call). */
typedef struct evc_outbox_msg {
    int64_t id;
    const char *topic;
    const char *key;
    const void *payload;
    size_t payload_len;
    int64_t created_ms;
    int64_t attempts;         /* including this claim */
} evc_outbox_msg;

/* Write flag: the write may be grouped with later ones into one commit,
 * delayed by at most the plugin's bounded batch delay. A crash in that
 * window loses whole batches, never part of one. Use for telemetry. */
#define EVC_STORE_BATCHED 1u

/* Billing: cents = round-half-up(energy_wh * price_cents_per_kwh / 1000),
 * computed in integers as (wh * price + 500) / 1000. energy_wh and price must
 * be >= 0; returns -1 on negative input or overflow (> INT64_MAX). Pure. */
EVC_API int64_t evc_bill_cents(int64_t energy_wh, int64_t price_cents_per_kwh);

/* Callbacks of list ops: return 0 to continue, non-zero to stop early (the
 * op then returns EVC_OK). */
typedef int (*evc_user_cb)(void *arg, const evc_user *u);
typedef int (*evc_cp_cb)(void *arg, const evc_charging_point *cp);
typedef int (*evc_session_cb)(void *arg, const evc_session *s);
typedef int (*evc_ticket_cb)(void *arg, const evc_ticket *t);
typedef int (*evc_event_cb)(void *arg, const evc_event *e);
typedef int (*evc_outbox_cb)(void *arg, const evc_outbox_msg *m);
typedef int (*evc_kv_cb)(void *arg, const char *key, const void *value, size_t len);

/* ---- plugin side -------------------------------------------------------- */

/* Handed to create; borrowed during create only. */
typedef struct evc_store_params {
    uint32_t struct_size;
    const char *database;        /* file path (SQLite) or conninfo */
    const evc_cfg_node *config;  /* the plugin's section (store.<name>), may be NULL */
} evc_store_params;

/* Statistics since create. */
typedef struct evc_store_stats {
    uint32_t struct_size;
    uint64_t commits;           /* transactions committed (explicit, implicit, batches) */
    uint64_t rollbacks;
    uint64_t batched_writes;    /* EVC_STORE_BATCHED writes accepted */
    uint64_t batch_commits;     /* commits of a batch */
    uint64_t busy;              /* ops that failed EVC_EBUSY */
} evc_store_stats;

/* What a store plugin implements. Every op runs on the loop thread; `err`
 * may be NULL. An op beyond struct_size or NULL is "not supported"
 * (the facade answers EVC_ENOTSUP). Semantics of each op: see the facade
 * function of the same name below. */
typedef struct evc_store_ops {
    uint32_t struct_size;
    /* Validates config, allocates; opens nothing yet. `host` is borrowed for
     * the instance's life. On failure *out stays NULL. */
    int (*create)(const struct evc_host_api *host, const evc_store_params *params,
                  evc_store_impl **out, evc_error *err);
    /* Opens the database, applies migrations. */
    int (*start)(evc_store_impl *s, evc_error *err);
    /* Commits any pending batch and closes the database. Idempotent. */
    void (*stop)(evc_store_impl *s);
    /* Frees; calls stop first if needed. NULL is a no-op. */
    void (*destroy)(evc_store_impl *s);

    int (*begin)(evc_store_impl *s, evc_error *err);
    int (*commit)(evc_store_impl *s, evc_error *err);
    int (*rollback)(evc_store_impl *s, evc_error *err);
    int (*flush)(evc_store_impl *s, evc_error *err);
    int (*schema_version)(evc_store_impl *s, int *current, int *supported, evc_error *err);
    int (*wipe)(evc_store_impl *s, evc_error *err);
    void (*stats)(evc_store_impl *s, evc_store_stats *out);

    int (*user_insert)(evc_store_impl *s, const evc_user *u, evc_error *err);
    int (*user_get)(evc_store_impl *s, const char *id, evc_user *out, evc_error *err);
    int (*user_list)(evc_store_impl *s, evc_user_cb cb, void *arg, evc_error *err);
    int (*user_set_password)(evc_store_impl *s, const char *id, const char *hash, evc_error *err);
    int (*user_add_balance)(evc_store_impl *s, const char *id, int64_t delta_cents,
                            int64_t *new_balance, evc_error *err);
    int (*user_delete)(evc_store_impl *s, const char *id, evc_error *err);

    int (*cp_insert)(evc_store_impl *s, const evc_charging_point *cp, evc_error *err);
    int (*cp_update)(evc_store_impl *s, const evc_charging_point *cp, evc_error *err);
    int (*cp_get)(evc_store_impl *s, const char *id, evc_charging_point *out, evc_error *err);
    int (*cp_list)(evc_store_impl *s, evc_cp_cb cb, void *arg, evc_error *err);
    int (*cp_set_admin_state)(evc_store_impl *s, const char *id, evc_cp_admin_state st,
                              evc_error *err);
    int (*cp_set_secret)(evc_store_impl *s, const char *id, const char *hash, evc_error *err);

    int (*session_insert)(evc_store_impl *s, const evc_session *se, evc_error *err);
    int (*session_get)(evc_store_impl *s, const char *id, evc_session *out, evc_error *err);
    int (*session_get_by_correlation)(evc_store_impl *s, const char *corr, evc_session *out,
                                      evc_error *err);
    int (*session_set_state)(evc_store_impl *s, const char *id, evc_session_state st,
                             int64_t ts_ms, const char *reason, evc_error *err);
    int (*session_progress)(evc_store_impl *s, const char *id, int64_t energy_wh,
                            int64_t amount_cents, unsigned flags, evc_error *err);
    int (*session_list_open)(evc_store_impl *s, evc_session_cb cb, void *arg, evc_error *err);
    int (*session_list_by_driver)(evc_store_impl *s, const char *driver_id, unsigned limit,
                                  evc_session_cb cb, void *arg, evc_error *err);
    int (*session_end_and_bill)(evc_store_impl *s, const char *id, int64_t ended_ms,
                                int64_t energy_wh, const char *reason, evc_ticket *ticket,
                                bool *already_billed, evc_error *err);

    int (*ticket_get)(evc_store_impl *s, const char *session_id, evc_ticket *out,
                      evc_error *err);
    int (*ticket_list_by_driver)(evc_store_impl *s, const char *driver_id, unsigned limit,
                                 evc_ticket_cb cb, void *arg, evc_error *err);

    int (*event_append)(evc_store_impl *s, const evc_event *e, unsigned flags, int64_t *seq,
                        evc_error *err);
    int (*event_list)(evc_store_impl *s, int64_t after_seq, unsigned limit, evc_event_cb cb,
                      void *arg, evc_error *err);
    int (*event_list_by_correlation)(evc_store_impl *s, const char *corr, evc_event_cb cb,
                                     void *arg, evc_error *err);

    int (*outbox_add)(evc_store_impl *s, const char *topic, const char *key,
                      const void *payload, size_t len, int64_t *id, evc_error *err);
    int (*outbox_claim)(evc_store_impl *s, int64_t now_ms, int64_t lease_ms, unsigned max,
                        evc_outbox_cb cb, void *arg, evc_error *err);
    int (*outbox_ack)(evc_store_impl *s, int64_t id, evc_error *err);
    int (*outbox_retry)(evc_store_impl *s, int64_t id, int64_t next_attempt_ms,
                        const char *last_error, evc_error *err);
    int (*outbox_pending)(evc_store_impl *s, int64_t *count, evc_error *err);

    int (*kv_put)(evc_store_impl *s, const char *ns, const char *key, const void *value,
                  size_t len, evc_error *err);
    int (*kv_get)(evc_store_impl *s, const char *ns, const char *key, void *buf, size_t cap,
                  size_t *len, evc_error *err);
    int (*kv_delete)(evc_store_impl *s, const char *ns, const char *key, evc_error *err);
    int (*kv_list)(evc_store_impl *s, const char *ns, evc_kv_cb cb, void *arg, evc_error *err);
} evc_store_ops;

/* ---- role side: the facade ---------------------------------------------- */

/* Creates a store instance from a loaded store plugin (kind EVC_PLUGIN_STORE)
 * on `loop`. Nothing is opened until evc_store_start. `params` is borrowed
 * during the call. On success *out is owned by the caller (evc_store_close);
 * `plugin` and `loop` must outlive it. EVC_EPLUGIN when `plugin` is not a
 * store plugin, or the plugin's create error (EVC_ECONFIG for bad config). */
EVC_API int evc_store_open(evc_loop *loop, struct evc_plugin *plugin, const evc_store_params *params,
                           evc_store **out, evc_error *err);

/* Opens the database and migrates it to this build's schema. A database of a
 * newer schema is refused (EVC_ECONFLICT, "database X has schema version N,
 * this build supports up to M"); a corrupt one EVC_ECORRUPT; a locked one
 * EVC_EBUSY. */
EVC_API int evc_store_start(evc_store *s, evc_error *err);

/* Commits any pending batch, closes the database and frees s. An explicit
 * transaction still open is rolled back. NULL is a no-op. */
EVC_API void evc_store_close(evc_store *s);

/* Explicit transaction. begin while one is open: EVC_ESTATE. A pending batch
 * is committed first. After an error inside a transaction the caller decides:
 * rollback, or commit what succeeded. */
EVC_API int evc_store_begin(evc_store *s, evc_error *err);
EVC_API int evc_store_commit(evc_store *s, evc_error *err);
EVC_API int evc_store_rollback(evc_store *s, evc_error *err);
/* Commits the pending batch of EVC_STORE_BATCHED writes now. */
EVC_API int evc_store_flush(evc_store *s, evc_error *err);
/* The database's schema version and the newest this build knows. */
EVC_API int evc_store_schema_version(evc_store *s, int *current, int *supported, evc_error *err);
/* Deletes every row of every domain table (keeps the schema). For
 * --init-db --force only. */
EVC_API int evc_store_wipe(evc_store *s, evc_error *err);
EVC_API void evc_store_stats_get(evc_store *s, evc_store_stats *out);

/* Users. insert: EVC_EEXIST when the id exists; id non-empty, hash must start
 * with "$argon2id$" (EVC_EINVAL otherwise: a clear password never reaches the
 * database). add_balance adds delta (may be negative; the balance may not go
 * below zero: EVC_ECONFLICT, nothing changed); *new_balance may be NULL. */
EVC_API int evc_store_user_insert(evc_store *s, const evc_user *u, evc_error *err);
EVC_API int evc_store_user_get(evc_store *s, const char *id, evc_user *out, evc_error *err);
EVC_API int evc_store_user_list(evc_store *s, evc_user_cb cb, void *arg, evc_error *err);
EVC_API int evc_store_user_set_password(evc_store *s, const char *id, const char *hash, evc_error *err);
EVC_API int evc_store_user_add_balance(evc_store *s, const char *id, int64_t delta_cents,
                                       int64_t *new_balance, evc_error *err);
/* EVC_ECONFLICT when sessions reference the user. */
EVC_API int evc_store_user_delete(evc_store *s, const char *id, evc_error *err);

/* Charging points. update rewrites location, price, max_w (not state,
 * secret, registered). secret hash: "", "$argon2id$..." or "$evc-cpk$v=1$..."
 * (EVC_EINVAL otherwise). */
EVC_API int evc_store_cp_insert(evc_store *s, const evc_charging_point *cp, evc_error *err);
EVC_API int evc_store_cp_update(evc_store *s, const evc_charging_point *cp, evc_error *err);
EVC_API int evc_store_cp_get(evc_store *s, const char *id, evc_charging_point *out, evc_error *err);
EVC_API int evc_store_cp_list(evc_store *s, evc_cp_cb cb, void *arg, evc_error *err);
EVC_API int evc_store_cp_set_admin_state(evc_store *s, const char *id, evc_cp_admin_state st,
                                         evc_error *err);
EVC_API int evc_store_cp_set_secret(evc_store *s, const char *id, const char *hash, evc_error *err);

/* Sessions. insert: state must be REQUESTED (requested_ms 0 = now); driver
 * and CP must exist (EVC_ECONFLICT); duplicate id or correlation id
 * EVC_EEXIST. set_state moves REQUESTED->AUTHORISED (stamps authorised_ms),
 * AUTHORISED->SUPPLYING (started_ms), REQUESTED|AUTHORISED->DENIED (ended_ms,
 * reason); any other move is EVC_ECONFLICT (ENDED only through end_and_bill).
 * ts_ms 0 = now. progress records telemetry (energy and amount so far) of a
 * SUPPLYING session; flags may be EVC_STORE_BATCHED. list_open: every session
 * not ENDED/DENIED, oldest first. list_by_driver: newest first, limit 0 = all. */
EVC_API int evc_store_session_insert(evc_store *s, const evc_session *se, evc_error *err);
EVC_API int evc_store_session_get(evc_store *s, const char *id, evc_session *out, evc_error *err);
EVC_API int evc_store_session_get_by_correlation(evc_store *s, const char *corr, evc_session *out,
                                                 evc_error *err);
EVC_API int evc_store_session_set_state(evc_store *s, const char *id, evc_session_state st,
                                        int64_t ts_ms, const char *reason, evc_error *err);
EVC_API int evc_store_session_progress(evc_store *s, const char *id, int64_t energy_wh,
                                       int64_t amount_cents, unsigned flags, evc_error *err);
EVC_API int evc_store_session_list_open(evc_store *s, evc_session_cb cb, void *arg, evc_error *err);
EVC_API int evc_store_session_list_by_driver(evc_store *s, const char *driver_id, unsigned limit,
                                             evc_session_cb cb, void *arg, evc_error *err);

/* Ends session `id` and bills it exactly once, atomically: the session becomes
 * ENDED with energy_wh, amount and reason, the driver's balance is debited by
 * the amount (it may go negative: energy already delivered is owed), and the
 * ticket is inserted -- all in one transaction (a savepoint when called
 * inside an explicit transaction). The amount is evc_bill_cents(energy_wh,
 * the CP's current price). When the session is already ENDED nothing changes:
 * EVC_OK, *already_billed = true and *ticket is the existing ticket. A DENIED
 * session is billed like an AUTHORISED one (Central denied it, but the CP
 * supplied anyway: the energy was delivered and is owed); a REQUESTED one is
 * EVC_ECONFLICT (authorise it first). ticket and already_billed may be NULL;
 * ended_ms 0 = now. */
EVC_API int evc_store_session_end_and_bill(evc_store *s, const char *id, int64_t ended_ms,
                                           int64_t energy_wh, const char *reason, evc_ticket *ticket,
                                           bool *already_billed, evc_error *err);

EVC_API int evc_store_ticket_get(evc_store *s, const char *session_id, evc_ticket *out, evc_error *err);
/* Newest first; limit 0 = all. */
EVC_API int evc_store_ticket_list_by_driver(evc_store *s, const char *driver_id, unsigned limit,
                                            evc_ticket_cb cb, void *arg, evc_error *err);

/* Event log (append-only: there is no update or delete op). A duplicate
 * message_id is EVC_EEXIST and changes nothing, so consumers can use it to
 * stay idempotent. *seq (may be NULL) receives the record's sequence number
 * (0 for a batched write, whose number is assigned at commit). list returns
 * records with seq > after_seq, oldest first, at most limit (0 = all). */
EVC_API int evc_store_event_append(evc_store *s, const evc_event *e, unsigned flags, int64_t *seq,
                                   evc_error *err);
EVC_API int evc_store_event_list(evc_store *s, int64_t after_seq, unsigned limit, evc_event_cb cb,
                                 void *arg, evc_error *err);
EVC_API int evc_store_event_list_by_correlation(evc_store *s, const char *corr, evc_event_cb cb,
                                                void *arg, evc_error *err);

/* Outbox: messages to deliver at least once. add queues one (payload copied;
 * *id may be NULL). claim hands up to `max` messages whose next attempt is
 * due and that nobody holds to cb, oldest first, and leases them until
 * now_ms + lease_ms: a process that dies holding a lease releases its messages
 * when the lease runs out. ack deletes a delivered message (EVC_ENOTFOUND when
 * already acked). retry releases the lease and schedules the next attempt. */
EVC_API int evc_store_outbox_add(evc_store *s, const char *topic, const char *key, const void *payload,
                                 size_t len, int64_t *id, evc_error *err);
EVC_API int evc_store_outbox_claim(evc_store *s, int64_t now_ms, int64_t lease_ms, unsigned max,
                                   evc_outbox_cb cb, void *arg, evc_error *err);
EVC_API int evc_store_outbox_ack(evc_store *s, int64_t id, evc_error *err);
EVC_API int evc_store_outbox_retry(evc_store *s, int64_t id, int64_t next_attempt_ms,
                                   const char *last_error, evc_error *err);
EVC_API int evc_store_outbox_pending(evc_store *s, int64_t *count, evc_error *err);

/* Key-value for role-private state; namespaces keep roles apart. get copies
 * the value into buf (cap bytes) and sets *len to its length; EVC_ETOOBIG
 * (with *len set) when cap is too small, EVC_ENOTFOUND when absent. */
EVC_API int evc_store_kv_put(evc_store *s, const char *ns, const char *key, const void *value,
                             size_t len, evc_error *err);
EVC_API int evc_store_kv_get(evc_store *s, const char *ns, const char *key, void *buf, size_t cap,
                             size_t *len, evc_error *err);
EVC_API int evc_store_kv_delete(evc_store *s, const char *ns, const char *key, evc_error *err);
EVC_API int evc_store_kv_list(evc_store *s, const char *ns, evc_kv_cb cb, void *arg, evc_error *err);

/* Names for logs and docs: "driver", "in_service", "supplying", ... */
EVC_API const char *evc_user_role_name(evc_user_role r);
EVC_API const char *evc_cp_admin_state_name(evc_cp_admin_state st);
EVC_API const char *evc_session_state_name(evc_session_state st);

#ifdef __cplusplus
}
#endif
#endif
