/* fixture.h: what the transport conformance suite needs from each transport
 * plugin's test fixture. The suite (test_transport_conformance.c) is compiled
 * once per plugin with EVC_CONFORMANCE_PLUGIN set to the plugin's name
 * ("zmq", "kafka"); fixture_<name>.c provides `conformance_fixture`.
 *
 * A fixture owns the plugin's peer: the XSUB/XPUB proxy for ZeroMQ, the
 * librdkafka mock cluster for Kafka. It runs that peer inside the test process
 * (its own threads), on loopback, on a port chosen by the OS.
 */
#ifndef EVC_TEST_TRANSPORT_FIXTURE_H
#define EVC_TEST_TRANSPORT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct conformance_peer conformance_peer;

typedef struct conformance_fixture {
    const char *plugin; /* plugin name, as in `transport.plugin` */
    /* Starts a peer; writes the endpoint clients use into endpoint (cap bytes).
     * `brokers` is the number of brokers for Kafka (ignored elsewhere).
     * Returns 0 or -1 (with a message printed by the fixture). */
    int (*peer_start)(conformance_peer **out, int brokers, char *endpoint, size_t cap);
    /* Stops the peer abruptly and starts it again at the same endpoint. For
     * Kafka, takes every broker down and up again (mock API). 0 or -1. */
    int (*peer_restart)(conformance_peer *peer);
    /* Takes broker `id` down (up = false) or back up. Kafka only; NULL else. */
    int (*broker_set_up)(conformance_peer *peer, int id, bool up);
    void (*peer_stop)(conformance_peer *peer);
    /* YAML text of the plugin's own section (the map under transport.<name>)
     * tuned for tests (for example fetch.wait.max.ms for Kafka), "" if none.
     * `variant` selects settings for a test: "default", "burst" (no loss:
     * high-water marks raised), "backpressure" (tiny queue so that publish
     * returns EVC_EAGAIN), "lossy" (asked only of transports whose
     * guarantees say at-most-once: settings under which a flood loses
     * messages, to show that the loss is counted in stats.lost). */
    const char *(*plugin_yaml)(const char *variant);
} conformance_fixture;

extern const conformance_fixture conformance_fixture_impl;

#endif
