/* central_cpauth.h: a monitor proves its CP's secret without sending it
 * (issue 11, "no secret in clear on any wire"; docs/PROTOCOL.md M1).
 *
 *   monitor                                  Central
 *   AUTH cp_id, location, price, nonce_m  ->
 *                                         <- CHALLENGE cp_id, PROVE, params, nonce_c
 *   PROOF cp_id, mac_m                    ->    mac_m = MAC(K, "evc-cp-auth-v1",
 *                                                         cp_id, nonce_m, nonce_c)
 *                                         <- AUTH_OK cp_id, admin, mac_c
 *                                               mac_c = MAC(K, "evc-cp-auth-ok-v1", same)
 *
 * K is the key part of the CP's stored string (evc/proof.h): argon2id, or for
 * a strong generated secret the fast verifier "$evc-cpk$v=1$..." whose params
 * read "<salt>:0:0". Central reads it, the monitor recomputes it from the
 * secret and the params (argon2id off its loop; the fast key is one HMAC,
 * refused by the monitor for a typed secret). Checking a PROOF is one HMAC: no argon2 on Central, so
 * a flood of AUTHs costs Central nothing. An unknown CP (or one without a
 * secret) under closed registration gets fake params deterministic in its id,
 * so a CHALLENGE does not tell which ids exist, and its PROOF is denied like a
 * wrong one (BAD_SECRET). Under open registration an unknown CP gets
 * CHALLENGE cp_id, REGISTER, <cost name>, nonce_c and answers REGISTER cp_id,
 * <string it computed with a fresh salt (evc_proof_cp_hash)>: trust on first
 * use, but the secret itself still never crosses.
 *
 * Bounds: one challenge per link at a time (a new AUTH replaces it), its
 * nonces are used once (the first PROOF, right or wrong, consumes them), and
 * a link that does not answer within CENTRAL_CPAUTH_ANSWER_MS is closed.
 *
 * Threads: the loop thread only. */
#ifndef CENTRAL_CPAUTH_H
#define CENTRAL_CPAUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "central_int.h"
#include "evc/proof.h"

#define CENTRAL_CPAUTH_ANSWER_MS 5000 /* CHALLENGE -> PROOF/REGISTER deadline */

typedef enum central_cpauth_stage {
    CENTRAL_CPAUTH_IDLE = 0,
    CENTRAL_CPAUTH_PROVE,    /* CHALLENGE PROVE sent, waiting for PROOF */
    CENTRAL_CPAUTH_REGISTER, /* CHALLENGE REGISTER sent, waiting for REGISTER */
} central_cpauth_stage;

/* One link's challenge; embedded in the link's context (central_links.c). */
typedef struct central_cpauth {
    central_cpauth_stage stage;
    bool fake;                          /* PROVE with fake params: any PROOF is denied */
    bool unknown;                       /* fake because the id is unknown (for the log) */
    char cp_id[EVC_STORE_ID_MAX];
    char location[EVC_STORE_TEXT_MAX];  /* REGISTER of a new CP */
    int64_t price;                      /* REGISTER: -1 = known CP adopting a secret */
    uint8_t key[EVC_PROOF_KEY_BYTES];   /* PROVE: the stored proof key */
    uint8_t nonce_m[EVC_PROOF_NONCE_BYTES], nonce_c[EVC_PROOF_NONCE_BYTES];
    evc_timer *deadline;                /* owned; closed by central_cpauth_clear */
    evc_link *link;                     /* borrowed: the link this belongs to */
} central_cpauth;

/* Frames of the exchange, on the loop thread. Each answers on `link` itself:
 * CHALLENGE, or through central_links_deny / central_links_accept. */
void central_cpauth_on_auth(central *c, evc_link *link, central_cpauth *a,
                            const evc_frame_event *ev);
void central_cpauth_on_proof(central *c, evc_link *link, central_cpauth *a,
                             const evc_frame_event *ev);
void central_cpauth_on_register(central *c, evc_link *link, central_cpauth *a,
                                const evc_frame_event *ev);
/* Forgets the challenge (wipes the key, closes the deadline timer). Safe to
 * call more than once; required before the context is freed. */
void central_cpauth_clear(central_cpauth *a);

/* The MACs of the exchange (also used by tests playing a monitor). */
void central_cpauth_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                        const char *cp_id, const uint8_t nonce_m[EVC_PROOF_NONCE_BYTES],
                        const uint8_t nonce_c[EVC_PROOF_NONCE_BYTES],
                        char out_hex[EVC_PROOF_HEX_SIZE]);
#define CENTRAL_CPAUTH_LABEL "evc-cp-auth-v1"
#define CENTRAL_CPAUTH_OK_LABEL "evc-cp-auth-ok-v1"

/* Implemented by central_links.c. deny answers AUTH_DENIED cp_id, code,
 * text; accept makes the link its CP's and answers AUTH_OK cp_id, admin
 * state, ok_mac (hex, borrowed). */
void central_links_deny(central *c, evc_link *link, const char *cp_id, const char *code,
                        const char *text);
void central_links_accept(central *c, evc_link *link, const evc_charging_point *row,
                          const char *ok_mac);

#endif
