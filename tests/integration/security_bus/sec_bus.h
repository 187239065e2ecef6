/* sec_bus.h: what the bus attack suite needs beyond the harness -- an
 * attacker's publisher that keeps its connection (batches, floods, exact
 * bytes, seals with a CP's real key), the raw bytes that crossed the bus,
 * Central's refusal counters and the gaps between its heartbeats.
 * Test-only: set-up failures fail the test (cr_assert). */
#ifndef EVC_IT_SEC_BUS_H
#define EVC_IT_SEC_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "harness.h"

/* ---- the attacker's publisher -------------------------------------------- */
typedef struct sb_pub sb_pub;

/* A publisher on the scenario's bus through the project's own transport
 * plugin and settings (Central's config), as anyone on the bus network
 * could run it. Caller frees with sb_pub_close. */
sb_pub *sb_pub_open(h_env *env);
void sb_pub_close(sb_pub *p); /* NULL-safe */

/* Queues one message: `bytes` (NUL-terminated envelope text) as they are
 * when as_cp is NULL (a forger without keys), else sealed with the real bus
 * key of the CP `as_cp` (from the scenario's database: a compromised CP
 * host). false when the transport refused it (e.g. its queue is full). */
bool sb_pub_send(sb_pub *p, const char *as_cp, const char *topic, const char *key,
                 const char *bytes);
/* Waits up to timeout_ms for every queued message's outcome. */
void sb_pub_flush(sb_pub *p, int timeout_ms);
/* Runs the publisher's loop for ms (its transport sends what is queued). */
void sb_pub_pump(sb_pub *p, int ms);

/* One attack round: the n messages sent in order each time, again every
 * 250 ms (a ZeroMQ publisher that just connected drops what it sends until
 * the proxy's subscriptions reach it) until `until` holds, at most
 * timeout_ms. as_cp[i] NULL: unsealed. Returns whether it held. */
typedef struct sb_msg {
    const char *as_cp, *topic, *key, *bytes;
} sb_msg;
bool sb_pub_until(sb_pub *p, const sb_msg *msgs, size_t n, bool (*until)(h_env *env, void *arg),
                  void *arg, int timeout_ms);

/* ---- envelopes ----------------------------------------------------------- */
/* A fresh lowercase UUID into out (37 bytes). */
void sb_uuid(char out[37]);
/* Wall clock, ms (envelope and seal timestamps). */
int64_t sb_wall_ms(void);
/* An envelope {"type","id" (fresh),"correlation_id" (NULL: null),"ts"
 * (now),"source","payload"} into buf; payload is JSON object text. */
const char *sb_envelope(char *buf, size_t cap, const char *type, const char *corr,
                        const char *source, const char *payload);

/* ---- what crossed the bus, as bytes ---------------------------------------- */
/* Every message of `topic` (NULL: every topic) exactly as published, one per
 * line ("<topic>\t<bytes>" for ZeroMQ from the tap's record; Kafka: kcat's
 * raw value, "%t\t%k\t%s"). Caller frees. */
char *sb_raw_bus(h_env *env, const char *topic);
/* The bytes of the first message on `topic` holding every one of the
 * NULL-terminated needles, copied into buf without its topic; NULL if none. */
const char *sb_raw_find(h_env *env, const char *topic, const char *const needles[], char *buf,
                        size_t cap);

/* ---- Central's counters (GET /api/health, no login) ----------------------- */
/* A top-level integer of /api/health (fails the test when absent). */
int64_t sb_health(h_env *env, const char *name);
/* bus_refused.<reason> of /api/health: messages the seal check refused. */
int64_t sb_refused(h_env *env, const char *reason);
/* Sum of every bus_refused reason. */
int64_t sb_refused_all(h_env *env);

/* ---- timing --------------------------------------------------------------- */
/* central.heartbeat messages on the bus sealed between from_ms and to_ms
 * (their envelope ts, Central's clock at publishing): *count of them and the
 * longest gap between neighbours, which also covers from_ms..first and
 * last..to_ms. */
int64_t sb_heartbeat_max_gap(h_env *env, int64_t from_ms, int64_t to_ms, int *count);
/* Waits until a central.heartbeat sealed after `after_ms` is on the bus:
 * Central ran its loop and published after that instant. */
bool sb_wait_heartbeat_after(h_env *env, int64_t after_ms, int timeout_ms);

/* Lines of stdout + stderr of a process. */
int sb_lines(const h_proc *p);

#endif
