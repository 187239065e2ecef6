/* fixture.h: a temporary seeded SQLite store (and loop) for Central's tests. */
#ifndef CENTRAL_TEST_FIXTURE_H
#define CENTRAL_TEST_FIXTURE_H

#include "evc/loop.h"
#include "evc/store.h"

typedef struct fx_store {
    char dir[256];
    char db[300];
    evc_loop *loop;
    evc_store *store;
} fx_store;

/* mkdtemp, loop, store started and seeded (initdb, cost min). */
void fx_store_open(fx_store *f);
void fx_store_close(fx_store *f);
/* A session of driver1 at CP_001 in `state` (REQUESTED..SUPPLYING). */
void fx_session(fx_store *f, const char *id, const char *driver, const char *cp,
                evc_session_state state);

#endif
