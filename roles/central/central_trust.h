/* central_trust.h: who may speak on Central's bus topics (docs/SECURITY.md).
 *
 * Central seals what it publishes with its Ed25519 key (the public half is
 * every other program's security.central_key_file) and checks every message
 * it hears (evc/seal.h): a CP's messages are sealed with a key derived from
 * its secret's stored argon2id string, a driver's with the session key of a
 * login. Logins prove the password without sending it:
 *
 *   driver.hello {driver_id, nonce}                      (unsealed)
 *   driver.challenge {driver_id, nonce, server_nonce, params}   (Central)
 *   driver.login {driver_id, nonce, server_nonce, proof}  (unsealed)
 *   driver.auth_reply {ok, reason, balance_cents}              (Central)
 *
 * and an engine gets the public params of its secret with cp.key_request /
 * cp.key_params. Sessions are kept in the store (they survive a restart of
 * Central), at most CENTRAL_SESSIONS_PER_DRIVER per driver.
 *
 * Threads: loop thread. */
#ifndef CENTRAL_TRUST_H
#define CENTRAL_TRUST_H

#include <stdbool.h>
#include <stdint.h>

#include "central_int.h"
#include "evc/seal.h"

#define CENTRAL_SESSIONS_PER_DRIVER 4
#define CENTRAL_KV_SESSION "central.driver_session"

/* central.signing_key_file, else security.central_key_file without ".pub". */
void central_trust_key_path(evc_app *app, char *buf, size_t cap);

/* Loads or creates the signing key, loads the sessions, seals and checks
 * the bus. Before any message is heard. */
int central_trust_start(central *c, evc_error *err);
void central_trust_free(central *c);

/* Relays to drivers (central_relay.c): Central seals a driver's live
 * telemetry with HMAC under that driver's relay key (evc/seal.h). */
int central_relay_start(central *c, evc_error *err);
void central_relay_free(central *c);
/* At a login that proved proof_key: the relay sealer is made (or remade when
 * the key changed) from it. */
void central_relay_learn(central *c, const char *driver, const uint8_t proof_key[32]);
/* The sealer for relays to `driver` (borrowed until the next call of these
 * functions); NULL when none can be made (unknown driver, id too long for a
 * relay kid, out of memory): publish with Central's own seal then. */
evc_sealer *central_relay_sealer(central *c, const char *driver);

/* Inside a bus handler: the message was sealed by a session of `driver_id`
 * / by the CP `cp_id`. */
bool central_trust_from_driver(central *c, const char *driver_id);
bool central_trust_from_cp(central *c, const char *cp_id);

void central_trust_on_hello(central *c, const evc_envelope *env);
void central_trust_on_login(central *c, const evc_envelope *env);
void central_trust_on_key_request(central *c, const evc_envelope *env);
/* The CP's secret changed (registration): its bus key is derived again. */
void central_trust_forget_cp(central *c, const char *cp_id);

/* Refusals per reason since start (evc_seal_verdict_name). */
void central_trust_counts(central *c, uint64_t out[EVC_SEAL_NVERDICTS]);

#endif
