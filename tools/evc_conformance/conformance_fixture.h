/* evc/conformance_fixture.h: what evc-conformance needs from a plugin's test
 * fixture, a shared object passed with --fixture (installed with the SDK).
 *
 * A fixture gives the tool control of what only the plugin's author knows how
 * to drive: for a transport, its peer (a broker, a proxy) that the tool can
 * start, restart and take down; for a store, the database's own tools (hold a
 * lock from another process, build an old schema, corrupt a file). A fixture
 * module exports one of the two symbols below. Without a fixture the tool
 * runs what it can and reports the rest as SKIP, naming what was missing.
 *
 * Every function is called in the check's own process (the tool forks one
 * per check), on the thread that runs the check. Strings returned are owned
 * by the fixture and stay valid until the next call.
 */
#ifndef EVC_CONFORMANCE_FIXTURE_H
#define EVC_CONFORMANCE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define EVC_CONFORMANCE_TRANSPORT_SYMBOL "evc_conformance_transport_fixture"
#define EVC_CONFORMANCE_STORE_SYMBOL "evc_conformance_store_fixture"

typedef struct conformance_peer conformance_peer; /* the fixture's own */

/* Transport fixture: export `const conformance_fixture
 * evc_conformance_transport_fixture`. */
typedef struct conformance_fixture {
    const char *plugin; /* plugin it was written for (informational) */
    /* Starts a peer; writes the endpoint clients use into endpoint (cap bytes).
     * `brokers` is the number of brokers for Kafka (ignored elsewhere).
     * *out is owned by the fixture until peer_stop. 0 or -1 (the fixture
     * prints why on stderr). Required. */
    int (*peer_start)(conformance_peer **out, int brokers, char *endpoint, size_t cap);
    /* Stops the peer abruptly and starts it again at the same endpoint. 0 or
     * -1. NULL: the checks that need a restart are skipped. */
    int (*peer_restart)(conformance_peer *peer);
    /* Takes broker `id` (1..brokers) down (up = false) or back up. NULL:
     * the checks that need an unreachable peer are skipped. */
    int (*broker_set_up)(conformance_peer *peer, int id, bool up);
    void (*peer_stop)(conformance_peer *peer); /* NULL-safe */
    /* YAML text of the plugin's own section (the map under
     * transport.<plugin>) for a variant of the checks, "" for none, NULL when
     * the fixture has no settings for that variant (checks needing it are
     * skipped):
     *   "default"      tuned for tests (fast reconnects, short waits)
     *   "burst"        no loss under a flood: high-water marks raised
     *   "backpressure" a tiny queue, so that publish returns EVC_EAGAIN
     *   "lossy"        asked only of at-most-once transports: settings under
     *                  which a flood loses messages (to check stats.lost) */
    const char *(*plugin_yaml)(const char *variant);
} conformance_fixture;

/* What a transport fixture module defines (found with dlsym). */
extern const conformance_fixture evc_conformance_transport_fixture;

/* Store fixture: export `const store_fixture evc_conformance_store_fixture`.
 * Any function may be NULL; the checks needing it are skipped. */
typedef struct store_fixture {
    const char *plugin;    /* plugin it was written for (informational) */
    int schema_version;    /* newest schema version the plugin supports; 0 unknown */
    /* Database address for a check whose private temporary directory is dir. */
    void (*database)(const char *dir, char *out, size_t cap);
    /* YAML text of the plugin's section for a variant (NULL: none, the
     * checks needing it are skipped):
     *   "default"    fast settings for tests
     *   "busy"       busy timeout of about 300 ms
     *   "full"       a size quota a few dozen KiB above an empty database
     *   "read_only"  open read-only
     *   "batch"      batches of at most 5 rows, at most 50 ms late
     *   "batch_rows" batches of exactly 10 rows (the delay is a minute)
     *   "bad_key"    a misspelt key on line 2
     *   "bad_value"  a valid key with a value outside its enum, on line 1 */
    const char *(*yaml)(const char *variant);
    /* Forks a process that takes the database's write lock; returns its pid
     * once the lock is held, and a fd whose closing releases the lock (the
     * child then exits 0). -1 on failure. */
    pid_t (*lock_hold)(const char *db, int *release_fd);
    /* Creates a database at an older schema `version` (1 .. schema_version-1,
     * or 0 for an empty file) the way that older build left it, holding user
     * "old_driver" (balance 4200 cents, role driver) and CP "OLD_CP" when the
     * version has those tables. Version 2 also gives OLD_CP the argon2id
     * secret of "old-cp-secret" and holds session (and ticket) "old-session"
     * of old_driver on it. 0 or -1. */
    int (*make_version)(const char *db, int version);
    /* Overwrites the schema version of an existing database. 0 or -1. */
    int (*set_version)(const char *db, int version);
    /* Creates a database of another application at `db`: a valid file of
     * the database's kind holding a table "photos" with one row, none of
     * ours, no schema version. 0 or -1. */
    int (*make_foreign)(const char *db);
    /* Replaces the database by garbage of the same size. 0 or -1. */
    int (*corrupt)(const char *db);
    /* Files that hold the database's bytes (written to bufs, at most max
     * entries of 512 bytes each); returns how many. */
    size_t (*files)(const char *db, char bufs[][512], size_t max);
} store_fixture;

/* What a store fixture module defines (found with dlsym). */
extern const store_fixture evc_conformance_store_fixture;

#endif
