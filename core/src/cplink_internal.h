/* cplink_internal.h: the CP session's state, shared by cplink.c (the
 * session: links, AUTH, AUTH_OK, HB, denials) and cplink_proof.c (Central's
 * CHALLENGE: the proof key, PROOF or REGISTER). Internal to the core. */
#ifndef EVC_CPLINK_INTERNAL_H
#define EVC_CPLINK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "evc/cplink.h"
#include "evc/link.h"
#include "evc/log.h"

#define LOGC(c, lvl, ...) evc_log((lvl), "cplink", &(evc_log_ids){.cp = (c)->id}, __VA_ARGS__)
#define PARAMS_MAX 128
#define CPLINK_SECRET_MAX 256 /* with its NUL */

typedef struct cplink_job cplink_job;

struct evc_cplink {
    evc_loop *loop;
    evc_cplink_handlers h;
    void *arg;
    evc_link_client *client;
    evc_link *link; /* open (on_open seen, on_close not yet), else NULL */
    char id[EVC_CPLINK_ID_MAX + 1];
    char *location, *addr;   /* owned */
    char *secret;            /* owned, wiped; NULL when a proof key was given */
    int64_t price;
    bool given_key, allow_register, closing;
    int depth;               /* callbacks of the caller running now */
    uint64_t hb_ms, deny_min, deny_max, deny_backoff;
    evc_timer *hb, *reauth;  /* reauth: one-shot re-AUTH after a denial */
    evc_cplink_state state;
    unsigned gen;            /* +1 per AUTH: a late derivation of an old one is dropped */
    cplink_job *job;         /* derivation in flight, or NULL */
    uint8_t nonce_m[EVC_PROOF_NONCE_BYTES], nonce_c[EVC_PROOF_NONCE_BYTES];
    uint8_t key[EVC_PROOF_KEY_BYTES]; /* K of this AUTH, valid when have_key */
    bool have_key;
    uint8_t cached_key[EVC_PROOF_KEY_BYTES]; /* given, or derived for key_params */
    char key_params[PARAMS_MAX];
    uint64_t connections, denials, derivations;
};

/* cplink.c */
/* Central's "ip:port" while a link is up, else the "host:port" given. */
const char *cplink_peer(const evc_cplink *c);
/* A denial, Central's or ours: reported, AUTH again after the backoff.
 * False when the caller closed the session in the callback. */
bool cplink_refuse(evc_cplink *c, const char *code, const char *text, bool by_central);
void cplink_wipe(void *p, size_t n);

/* cplink_proof.c */
/* CHALLENGE (cp_id, mode, params or cost, nonce_c) of the current AUTH:
 * PROOF with K (given, cached or derived, on the pool when slow) or
 * REGISTER; a CHALLENGE that cannot be answered is a refusal. */
void cplink_on_challenge(evc_cplink *c, const evc_frame_event *ev);
/* The session closes: a derivation in flight only frees itself. */
void cplink_job_drop(evc_cplink *c);

#endif
