/* fake_transport.h: an in-process transport for bus unit tests. It records
 * what the bus asks and lets a test decide every answer and outcome. */
#ifndef FAKE_TRANSPORT_H
#define FAKE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/host.h"
#include "evc/transport.h"

#define FAKE_MAX_PUB 20000

typedef struct fake_pub {
    uint64_t token;
    char topic[32];
    char key[32];
    size_t len;
    char body[480]; /* the first bytes of the payload, NUL-terminated */
    bool done; /* an outcome was sent by the fake */
} fake_pub;

typedef struct fake_state {
    /* knobs, set by the test before the call they affect */
    int create_rc;            /* != EVC_OK: create fails with this */
    int subscribe_rc;
    int publish_rc;           /* EVC_OK or the refusal to return */
    int outcome_inside_publish; /* != 0: report this status from within publish */
    bool stop_forgets;        /* stop does not report pending outcomes */
    bool has_flush;
    bool has_subscribe_keys;  /* offer the ABI 1.2 op */

    /* observations */
    const evc_host_api *host;
    bool created, started, stopped, destroyed;
    int nsubscribed;
    char subscribed[8][32];
    int nsubscribed_keys;     /* subscribe_keys calls: "topic:k1,k2" each */
    char subscribed_keys[8][64];
    size_t npub;
    fake_pub pub[FAKE_MAX_PUB];
} fake_state;

extern fake_state FAKE;

/* The ops table: a fresh copy per call so tests can blank optional ops. */
evc_transport_ops fake_ops(void);

/* Sends an outcome for publish number i (0-based) through the host. */
void fake_outcome(size_t i, evc_outcome_status status, const char *detail);
/* Sends an outcome for an arbitrary token. */
void fake_outcome_token(uint64_t token, evc_outcome_status status, const char *detail);
/* Hands an inbound message to the host; returns dispatch's result. */
int fake_dispatch(const char *topic, const char *payload);
/* The same with a key of the test's choice. */
int fake_dispatch_key(const char *topic, const char *key, const char *payload);

#endif
