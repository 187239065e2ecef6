/* fixture.h: what the store conformance suite needs from each store plugin's
 * test fixture. The suite's tests (test_*.c) use only evc/store.h and this
 * interface; fixture_<name>.c provides `store_fixture_impl` for plugin <name>
 * (EVC_CONFORMANCE_PLUGIN), doing the few things that need the database's own
 * tools: holding a lock from another process, building an old-schema database
 * by hand, corrupting a file.
 */
#ifndef EVC_TEST_STORE_FIXTURE_H
#define EVC_TEST_STORE_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct store_fixture {
    const char *plugin;    /* "sqlite" */
    int schema_version;    /* newest schema version the plugin supports */
    /* Database address for a test whose private temporary directory is dir. */
    void (*database)(const char *dir, char *out, size_t cap);
    /* YAML text of the plugin's section for a test variant:
     *   "default"   fast settings for tests
     *   "busy"      busy timeout of about 300 ms
     *   "full"      a size quota a few dozen KiB above an empty database
     *   "read_only" open read-only
     *   "batch"     batches of at most 5 rows, at most 50 ms late
     *   "batch_rows" batches of exactly 10 rows (the delay is a minute)
     *   "bad_key"   a misspelt key on line 2
     *   "bad_value" a valid key with a value outside its enum, on line 1 */
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
     * of old_driver on it, so a rebuild of charging_points meets foreign
     * keys. 0 or -1. */
    int (*make_version)(const char *db, int version);
    /* Overwrites the schema version of an existing database. 0 or -1. */
    int (*set_version)(const char *db, int version);
    /* Creates a database of another application at `db`: a valid file of
     * the database's kind holding a table "photos" with one row, none of
     * ours, no schema version. 0 or -1. */
    int (*make_foreign)(const char *db);
    /* Replaces the database by garbage of the same size. 0 or -1. */
    int (*corrupt)(const char *db);
    /* Files that hold the database's bytes (NULL-terminated list written to
     * out, at most max entries, paths in bufs of cap bytes each). */
    size_t (*files)(const char *db, char bufs[][512], size_t max);
} store_fixture;

extern const store_fixture store_fixture_impl;

#endif
