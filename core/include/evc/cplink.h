/* evc/cplink.h: a CP's authenticated session with Central over the monitor
 * link (docs/PROTOCOL.md M1), for anything that speaks as a CP: a monitor,
 * a gateway standing in for a foreign charger, a load generator.
 *
 * A session is an evc_link client (evc/link.h: framing, ACK/NACK, resends,
 * reconnection with capped, jittered backoff) plus the M1 protocol on top:
 *   - on every connection: AUTH (cp_id, location, price, a fresh nonce_m);
 *   - CHALLENGE PROVE: the proof key K from the CP's secret and Central's
 *     params (evc/proof.h: argon2id on libuv's pool, never on the loop; one
 *     HMAC for fast params), cached per params text so that a reconnection
 *     costs one HMAC; or a K given at start (no secret, no derivation);
 *   - CHALLENGE REGISTER (open registration, only when allowed): the
 *     secret's stored string at Central's cost, never the secret;
 *   - AUTH_OK: accepted only with Central's MAC of this AUTH's nonces (a peer
 *     without K -- a spoofed address -- is refused and the link closed);
 *   - HB (cp_id, health) at once after AUTH_OK, then every heartbeat_ms
 *     and whenever the caller asks (evc_cplink_heartbeat);
 *   - a denial (Central's AUTH_DENIED, or a refusal of this side) is
 *     reported and AUTH is sent again after a backoff of its own
 *     (deny_retry_*), doubling to its cap, reset by an AUTH_OK: a wrong
 *     secret never makes a busy loop of AUTH or of connections.
 *
 * Why a header of its own and not more of link.h: link.h knows frames, not
 * what they mean, and also carries the monitor-engine link; this is one
 * protocol (M1) on top of it and of proof.h, the one place outside Central
 * that knows M1's opcodes and MAC labels.
 *
 * Threads: everything on the loop thread of `loop` (callbacks included);
 * only the key derivation runs on the pool, on copies. Ownership: a session
 * belongs to its caller until evc_cplink_close; strings passed in are
 * copied; strings passed to callbacks are borrowed for the call.
 */
#ifndef EVC_CPLINK_H
#define EVC_CPLINK_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/error.h"
#include "evc/frame.h"
#include "evc/loop.h"
#include "evc/proof.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The labels of the M1 MACs (the same as Central's). */
#define EVC_CPLINK_AUTH_LABEL "evc-cp-auth-v1"
#define EVC_CPLINK_AUTH_OK_LABEL "evc-cp-auth-ok-v1"
/* Defaults of the options (0 in a field). */
#define EVC_CPLINK_DEFAULT_DENY_RETRY_MIN_MS 2000u
#define EVC_CPLINK_DEFAULT_DENY_RETRY_MAX_MS 30000u
#define EVC_CPLINK_DEFAULT_JITTER_PCT 50
/* In jitter_pct: no jitter at all (clients retry at the same instants; only
 * to show that herd in a benchmark). */
#define EVC_CPLINK_NO_JITTER (-1)
#define EVC_CPLINK_ID_MAX 64

typedef struct evc_cplink evc_cplink;

typedef enum evc_cplink_state {
    EVC_CPLINK_DOWN = 0,       /* no link (connecting, or waiting to retry) */
    EVC_CPLINK_AUTHENTICATING, /* AUTH sent, waiting for the CHALLENGE */
    EVC_CPLINK_PROVING,        /* CHALLENGE received: deriving K, PROOF/REGISTER sent */
    EVC_CPLINK_ACCEPTED,       /* AUTH_OK with Central's valid MAC: heartbeats go */
    EVC_CPLINK_REFUSED,        /* denied; AUTH again when the denial backoff ends */
} evc_cplink_state;

typedef enum evc_cplink_event {
    EVC_CPLINK_EV_CONNECTED = 1, /* a link is up (AUTH follows, or waits for the denial backoff) */
    EVC_CPLINK_EV_ACCEPTED,      /* AUTH_OK checked; the first HB goes right after the callback */
    EVC_CPLINK_EV_DENIED,        /* see code, text, by_central, retry_in_ms */
    EVC_CPLINK_EV_LOST,          /* an open link closed (text: why); the client reconnects */
    EVC_CPLINK_EV_CONNECT_FAILED /* an attempt failed (text); next one in retry_in_ms */
} evc_cplink_event;

/* What a callback is told. Every pointer is borrowed for the call. */
typedef struct evc_cplink_info {
    evc_cplink_event event;
    const char *cp_id;
    const char *peer;   /* Central's "ip:port" when a link is up, else "host:port" as given */
    /* DENIED: Central's reason code (BAD_SECRET, BAD_REQUEST, BUSY, ...) or this
     * side's: BAD_PROOF (AUTH_OK without Central's valid MAC: the link is
     * closed), BAD_CHALLENGE (a CHALLENGE this session cannot answer: bad
     * params, REGISTER not allowed, fast params for a secret that is not
     * strong, out of memory or of pool slots). "" for other events. */
    const char *code;
    /* DENIED: Central's text (control bytes replaced by '?': it comes from
     * the network) or this side's reason; LOST, CONNECT_FAILED: the link's
     * reason; "" otherwise. */
    const char *text;
    bool by_central;      /* DENIED: Central sent AUTH_DENIED */
    bool admin_stopped;   /* ACCEPTED: Central's admin_state is STOPPED */
    uint64_t retry_in_ms; /* DENIED: AUTH again in; CONNECT_FAILED: next attempt in */
} evc_cplink_info;

typedef struct evc_cplink_handlers {
    /* Required. State changes, in order. The session may be closed inside
     * (evc_cplink_close): nothing of it is touched afterwards. */
    void (*on_event)(evc_cplink *c, const evc_cplink_info *info, void *arg);
    /* Optional. Central's frames other than CHALLENGE, AUTH_OK and
     * AUTH_DENIED (already ACKed), for a caller that knows more of M1 than
     * this session. `ev` borrowed for the call. */
    void (*on_frame)(evc_cplink *c, const evc_frame_event *ev, void *arg);
    /* Optional. Central ACKed (nack false) or NACKed (nack true; the link
     * re-sends it) the oldest frame this session sent that waits for its
     * reply; `opcode` ("AUTH", "HB", ...) borrowed. Frames are answered in
     * the order sent, so a caller can time them (a load generator). */
    void (*on_ack)(evc_cplink *c, const char *opcode, bool nack, void *arg);
    /* Optional. The health field of the HB about to be sent ("OK", "KO",
     * "UNREACHABLE"; a static or the caller's string, copied at once), or
     * NULL to send no HB this time (a health not measured yet). Called only
     * when the HB can go: accepted, link up, room for one more frame.
     * Without it every HB says "OK". */
    const char *(*health)(evc_cplink *c, void *arg);
} evc_cplink_handlers;

/* Zero-initialise, then set what you need; 0/NULL in a field is its
 * default. Fields are only ever appended: set struct_size so that an older
 * core reads only what it knows and a newer one treats the rest as 0. */
typedef struct evc_cplink_opts {
    size_t struct_size;         /* sizeof(evc_cplink_opts); 0 is taken as the full size */
    const char *cp_id;          /* required: 1..EVC_CPLINK_ID_MAX chars (evc/ids.h rules) */
    const char *location;       /* AUTH's location; NULL = "" */
    int64_t price_cents_per_kwh; /* AUTH's price */
    /* The CP's secret (NUL-terminated; copied, wiped when the session is
     * freed), or proof_key: K known already (the HASH of Central's stored
     * string, EVC_PROOF_KEY_BYTES, copied), then used for any PROVE params
     * without a derivation. One of the two is required; with both, the key
     * is used and the secret only for REGISTER. */
    const char *secret;
    const uint8_t *proof_key;
    bool allow_register;        /* answer CHALLENGE REGISTER (needs secret); else BAD_CHALLENGE */
    uint64_t heartbeat_ms;      /* an HB this often while accepted; 0 = only evc_cplink_heartbeat */
    uint64_t backoff_min_ms, backoff_max_ms; /* reconnection, as evc_link_client_opts */
    int jitter_pct;             /* 0 = EVC_CPLINK_DEFAULT_JITTER_PCT; 1..100; EVC_CPLINK_NO_JITTER */
    uint64_t deny_retry_min_ms, deny_retry_max_ms; /* re-AUTH after a denial; doubles to max */
} evc_cplink_opts;

/* Starts the session: connects to host:port (first attempt at once) and
 * keeps reconnecting until evc_cplink_close. `opts` and `handlers` are
 * copied; `arg` is passed back. *out owned by the caller: evc_cplink_close.
 * EVC_EINVAL naming the CP id and host:port (no cp_id or a bad one, neither
 * secret nor proof_key, allow_register without a secret, bad address or
 * option), EVC_ENOMEM. Nothing is called back before this returns. */
EVC_API int evc_cplink_start(evc_loop *loop, const char *host, uint16_t port,
                             const evc_cplink_opts *opts, const evc_cplink_handlers *handlers,
                             void *arg, evc_cplink **out, evc_error *err);

/* Sends an HB now with the health callback's word: a status report (a
 * health change) between the periodic ones. EVC_OK also when the health
 * callback said NULL (nothing sent). EVC_ESTATE naming the CP and peer when
 * not accepted or no link is up; EVC_EAGAIN when EVC_LINK_MAX_UNACKED
 * frames wait for their ACK; EVC_ENOMEM. */
EVC_API int evc_cplink_heartbeat(evc_cplink *c, evc_error *err);

/* Sends another frame of M1 on the current link (copied), e.g. one a newer
 * Central understands. Errors as evc_link_send, plus EVC_ESTATE when no
 * link is up; messages name the CP and peer. */
EVC_API int evc_cplink_send(evc_cplink *c, const char *opcode, const evc_frame_field *fields,
                            size_t nfields, evc_error *err);

EVC_API evc_cplink_state evc_cplink_get_state(const evc_cplink *c);

/* The proof key K of the current acceptance (EVC_PROOF_KEY_BYTES into out,
 * e.g. to derive the engine's bus key from it): true while ACCEPTED, false
 * (out zeroed) otherwise. */
EVC_API bool evc_cplink_proof_key(const evc_cplink *c, uint8_t out[EVC_PROOF_KEY_BYTES]);

/* Central's "ip:port" while a link is up, else "host:port" as given.
 * Borrowed until the next loop turn. */
EVC_API const char *evc_cplink_peer(const evc_cplink *c);

/* Links opened, denials seen and proof keys derived (argon2id or HMAC; a
 * key given or cached per params costs none) since the start: for tests
 * and reports. */
EVC_API uint64_t evc_cplink_connections(const evc_cplink *c);
EVC_API uint64_t evc_cplink_denials(const evc_cplink *c);
EVC_API uint64_t evc_cplink_derivations(const evc_cplink *c);

/* Ends the session: stops reconnecting, closes the link, drops a
 * derivation in flight (its result is discarded). No callback is called
 * after this returns, also when called from inside one; the memory goes
 * once the link has closed, without the caller waiting. NULL is a no-op. */
EVC_API void evc_cplink_close(evc_cplink *c);

#ifdef __cplusplus
}
#endif
#endif
