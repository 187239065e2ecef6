/* evc/seal.h: proven senders on the bus.
 *
 * Every bus message is an envelope (evc/envelope.h). A sealed message is the
 * same JSON object with one more, last member:
 *
 *     ..., "seal": {"kid": K, "ep": E, "seq": N, "ts": T, "sig": HEX}}
 *
 * kid names the key that signed (and so the sender: the envelope's "source"
 * must equal kid up to its first '/', e.g. kid "driver1/9f3a..." may speak as
 * "driver1"); ep is the sender's incarnation (its start time in ms), seq
 * counts its messages from 1, ts is the sealing time in ms. sig covers
 * "evc-seal-v1", topic, kid, ep, seq, ts and the envelope bytes: an
 * HMAC-SHA256 (keys shared by a CP or a driver session with Central) or an
 * Ed25519 signature (Central's key: everyone verifies it, only Central signs).
 * docs/SECURITY.md has the key scheme, docs/PROTOCOL.md the wire form.
 *
 * A receiver refuses, counts per reason and logs at a bounded rate: messages
 * without a seal (unless their type is on the policy's unsigned list), an
 * unknown kid, a bad signature, a source other than the kid's, a ts outside
 * [now - max_age, now + max_skew], a (kid, ep, seq) already accepted or older
 * than the 1024 latest of that incarnation, an ep older than the 4 latest
 * incarnations of that kid (once 4 are known), and messages over the kid's
 * rate. Several incarnations are heard at once: a restarted sender's old
 * messages may still be on their way (a Kafka backlog). The bus then hands handlers the envelope
 * without its seal and tells them who proved to send it (evc_bus_sender).
 *
 * Threads: a sealer or verifier is used on one thread at a time (the bus's
 * loop thread once given to a bus).
 */
#ifndef EVC_SEAL_H
#define EVC_SEAL_H

#include "evc/api.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/bus.h"
#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_SEAL_KID_MAX 64      /* key id with its NUL */
#define EVC_SEAL_WINDOW 1024     /* sequence numbers remembered per incarnation */
#define EVC_SEAL_EPOCHS 4        /* incarnations (ep) remembered per kid */
#define EVC_SEAL_SENDERS_MAX (1u << 20) /* kids a verifier remembers at most */
#define EVC_SEAL_ED25519_SECRET_BYTES 64
#define EVC_SEAL_ED25519_PUBLIC_BYTES 32
#define EVC_SEAL_HMAC_KEY_BYTES 32

typedef enum evc_seal_alg {
    EVC_SEAL_HMAC_SHA256 = 1, /* 32-byte shared key */
    EVC_SEAL_ED25519 = 2,     /* sign: 64-byte secret key; verify: 32-byte public key */
} evc_seal_alg;

/* ---- signing ------------------------------------------------------------ */

typedef struct evc_sealer evc_sealer;

/* Relays to a driver. Central seals what it sends to one driver (its live
 * telemetry, once a second per supply) with HMAC-SHA256 under a key only it
 * and that driver hold, instead of its Ed25519 signature (1.5 us instead of
 * 14.6 here): the relay key, derived from the driver's proof key K (what its
 * password derives and Central stores, evc/proof.h), kid "central:<driver
 * id>". A kid is the seal's sender up to its first '/' or ':', so the
 * envelope's source is still "central". Any process of that driver can check
 * it; no one else can make it.
 * evc_seal_relay_kid: false when the kid would be too long (a driver id over
 * 55 characters: Central then signs with Ed25519 as for everyone).
 * evc_seal_relay_key: out = HMAC(K, "evc-relay-v1", driver_id). */
#define EVC_SEAL_RELAY_PREFIX "central:"
EVC_API bool evc_seal_relay_kid(const char *driver_id, char out[EVC_SEAL_KID_MAX]);
EVC_API void evc_seal_relay_key(const uint8_t proof_key[32], const char *driver_id,
                                uint8_t out[32]);

/* A signing identity: `kid` (1..63 chars of [A-Za-z0-9_.:/-]) and its key
 * (copied; 32 bytes for HMAC, 64 for Ed25519). Its ep is the current time.
 * Errors: EVC_EINVAL naming the kid, EVC_ENOMEM. */
EVC_API int evc_sealer_new(const char *kid, evc_seal_alg alg, const uint8_t *key, evc_sealer **out,
                           evc_error *err);
EVC_API void evc_sealer_free(evc_sealer *s); /* wipes the key; NULL-safe */
EVC_API const char *evc_sealer_kid(const evc_sealer *s);

/* Seals `len` bytes of one compact JSON object (an encoded envelope) for
 * `topic` at time now_ms. *out is malloc'd (caller frees), NUL-terminated.
 * EVC_EINVAL when env is not an object text ending in '}'. */
EVC_API int evc_seal(evc_sealer *s, const char *topic, const void *env, size_t len, int64_t now_ms,
                     char **out, size_t *out_len, evc_error *err);

/* ---- verifying ---------------------------------------------------------- */

typedef struct evc_seal_key {
    evc_seal_alg alg;
    uint8_t key[32];     /* HMAC key, or Ed25519 public key */
    double rate_per_s;   /* this kid's sustained message rate; 0 = unlimited */
    double burst;        /* bucket size when rate_per_s > 0 (>= 1) */
} evc_seal_key;

/* Finds the key of `kid`: EVC_OK with *out filled, anything else = unknown
 * kid. Called on the loop thread for every sealed message (cache in it). */
typedef int (*evc_seal_lookup_fn)(void *arg, const char *kid, evc_seal_key *out);

typedef struct evc_seal_policy {
    int64_t max_age_ms;  /* oldest accepted ts; 0 = 900000 (15 min) */
    int64_t max_skew_ms; /* how far ts may be ahead of our clock; 0 = 30000 */
    /* Envelope types accepted without a seal (NULL-terminated, borrowed for
     * the verifier's life; NULL = none): logins, key requests. Handlers see
     * them with no sender. Shared bucket: */
    const char *const *unsigned_types;
    double unsigned_rate_per_s; /* 0 = 200 */
    double unsigned_burst;      /* 0 = 400 */
    /* ... and per claimed source (envelope "source"), checked first, so
     * that a flood in one name does not lock the others out: */
    double unsigned_source_rate_per_s; /* 0 = 2 */
    double unsigned_source_burst;      /* 0 = 10: five logins (hello + login) */
    /* Kids remembered at most (their replay windows and rates), rounded down
     * to a power of two; 0 or more than EVC_SEAL_SENDERS_MAX = that. */
    size_t max_senders;
} evc_seal_policy;

typedef enum evc_seal_verdict {
    EVC_SEAL_OK = 0,          /* proven sender */
    EVC_SEAL_UNSIGNED_OK,     /* no seal, type on the unsigned list */
    EVC_SEAL_UNSIGNED,        /* no seal, type not allowed unsigned */
    EVC_SEAL_MALFORMED,       /* not an envelope, or a broken seal */
    EVC_SEAL_UNKNOWN_KEY,
    EVC_SEAL_BAD_SIGNATURE,
    EVC_SEAL_WRONG_SOURCE,    /* envelope source is not the kid's */
    EVC_SEAL_STALE,           /* ts outside the window */
    EVC_SEAL_REPLAY,
    EVC_SEAL_RATE,            /* over the kid's (or the unsigned) rate */
    EVC_SEAL_NVERDICTS
} evc_seal_verdict;

/* "ok", "unsigned_ok", "unsigned", "malformed", "unknown_key",
 * "bad_signature", "wrong_source", "stale", "replay", "rate". */
EVC_API const char *evc_seal_verdict_name(evc_seal_verdict v);

typedef struct evc_seal_verifier evc_seal_verifier;

/* lookup/arg are borrowed for the verifier's life; policy is copied (NULL =
 * defaults). Memory grows with the kids heard: about 150 bytes each (a kid
 * whose seqs arrive with holes, or that restarted, up to ~700), up to
 * policy.max_senders. A kid silent for max_age + max_skew is forgotten (every
 * message it sent is stale by then); at the bound the least recently heard is
 * forgotten first (docs/SECURITY.md, "Replays"). Errors: EVC_EINVAL,
 * EVC_ENOMEM, EVC_EIO (libsodium). */
EVC_API int evc_seal_verifier_new(evc_seal_lookup_fn lookup, void *arg, const evc_seal_policy *policy,
                                  evc_seal_verifier **out, evc_error *err);
EVC_API void evc_seal_verifier_free(evc_seal_verifier *v); /* NULL-safe */

typedef struct evc_seal_opened {
    evc_seal_verdict verdict;
    char sender[EVC_SEAL_KID_MAX]; /* the kid when verdict == EVC_SEAL_OK, else "" */
    char type[64];                 /* envelope type when it could be read, else "" */
    char source[EVC_SEAL_KID_MAX]; /* envelope source (claimed, unproven), else "" */
    char *envelope;                /* OK/UNSIGNED_OK: the envelope without its seal,
                                      malloc'd, NUL-terminated; caller frees */
    size_t envelope_len;
    uint64_t ep, seq;              /* for evc_seal_unmark */
} evc_seal_opened;

/* Checks one message heard on `topic`; fills *out (free out->envelope).
 * Accepting marks (kid, ep, seq) as seen. */
EVC_API evc_seal_verdict evc_seal_open(evc_seal_verifier *v, const char *topic, const void *data,
                                       size_t len, int64_t now_ms, evc_seal_opened *out);

/* Forgets that `o` was seen (its handler failed and asked for redelivery). */
EVC_API void evc_seal_unmark(evc_seal_verifier *v, const evc_seal_opened *o);

/* Messages per verdict since creation. */
EVC_API void evc_seal_counts(const evc_seal_verifier *v, uint64_t out[EVC_SEAL_NVERDICTS]);

typedef struct evc_seal_memory {
    size_t senders;      /* kids remembered now */
    size_t capacity;     /* records allocated (grows by doubling) */
    size_t max_senders;  /* the bound */
    size_t bytes;        /* heap in use for them: records, index, extra windows */
    size_t record_bytes; /* one record with its index slot (a kid heard in order) */
    uint64_t expired;    /* forgotten after max_age + max_skew of silence: harmless */
    uint64_t evicted;    /* forgotten at the bound while fresh: see docs/SECURITY.md */
} evc_seal_memory;

/* The verifier's memory of senders (all zero for NULL). */
EVC_API void evc_seal_memory_get(const evc_seal_verifier *v, evc_seal_memory *out);

/* ---- on a bus ----------------------------------------------------------- */

/* From now on every publish on `bus` is sealed by `s` (owned by the bus
 * from the call, even on error; replaces and frees a previous sealer). */
EVC_API int evc_bus_seal_with(evc_bus *bus, evc_sealer *s, evc_error *err);

/* From now on every message heard on `bus` is checked by `v` (owned by the
 * bus from the call); refused ones never reach a handler and are logged at
 * most once per reason per 10 s (with the count since the last line). */
EVC_API int evc_bus_verify_with(evc_bus *bus, evc_seal_verifier *v, evc_error *err);

/* Inside a handler: the proven sender (kid) of the message being handled, or
 * NULL (unsigned type on the policy's list, or a bus without a verifier).
 * Borrowed until the handler returns. */
EVC_API const char *evc_bus_sender(const evc_bus *bus);

/* The bus's verifier (borrowed) or NULL: for counts. */
EVC_API const evc_seal_verifier *evc_bus_verifier(const evc_bus *bus);

#ifdef __cplusplus
}
#endif
#endif
