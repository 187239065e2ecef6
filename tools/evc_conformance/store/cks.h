/* cks.h: helpers shared by the store checks of evc-conformance (groups
 * store_*). Each check gets a private temporary directory, a loop and a store
 * of the plugin under test (ck.plugin), opened through the SDK only; what
 * needs the database's own tools comes from the fixture (ck.store). */
#ifndef EVC_CKS_H
#define EVC_CKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/config.h"
#include "evc/loop.h"
#include "evc/store.h"
#include "ck.h"

typedef struct st_ctx {
    char dir[256];
    char db[512];
    evc_loop *loop;
    evc_store *store;
    evc_cfg *cfg;
} st_ctx;

#define FX (ck.store)

/* Skips the running check when the fixture lacks `what` (a function). */
#define ST_NEED(what)                                                                         \
    do {                                                                                      \
        if (FX->what == NULL)                                                                 \
            ck_skip("needs a store fixture (--fixture) providing " #what);                    \
    } while (0)
/* Skips the running check when the fixture does not say the schema version. */
#define ST_NEED_SCHEMA()                                                                      \
    do {                                                                                      \
        if (FX->schema_version <= 0)                                                          \
            ck_skip("needs a store fixture (--fixture) giving the plugin's schema_version");  \
    } while (0)

/* mkdtemp + loop; asserts on failure. */
void st_setup(st_ctx *c);
/* For a second process or connection on database `db`: a loop, no directory
 * of its own (teardown removes nothing). */
void st_attach(st_ctx *c, const char *db);
/* Opens and starts a store on c->db with the fixture's YAML for `variant`.
 * Returns the status; on failure c->store is NULL and err says why. Skips the
 * check when the fixture has no settings for `variant`. */
int st_open(st_ctx *c, const char *variant, evc_error *err);
/* st_open that must succeed (asserts). */
void st_open_ok(st_ctx *c, const char *variant);
void st_close(st_ctx *c);
/* Closes, frees the loop, removes the directory. */
void st_teardown(st_ctx *c);

/* Inserts driver `id` with balance and a (cheap, test-cost) password hash. */
void st_add_driver(st_ctx *c, const char *id, int64_t balance_cents);
void st_add_cp(st_ctx *c, const char *id, int64_t price_cents_per_kwh);
/* Inserts session id (correlation "corr-<id>") and moves it to `state`
 * (REQUESTED, AUTHORISED or SUPPLYING). */
void st_add_session(st_ctx *c, const char *id, const char *driver, const char *cp,
                    evc_session_state state);
/* Number of events with this correlation id. */
int st_count_events(st_ctx *c, const char *corr);
int st_count_events_all(st_ctx *c);

/* Reads a whole file; caller frees. NULL when missing. */
char *st_read_file(const char *path, size_t *len);

#endif
