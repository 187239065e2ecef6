/* test_sqlite_params.c: the SQLite store accepts an older host's shorter
 * evc_store_params (the ABI's promise that structs only grow at their end)
 * and refuses one too short to carry the database path, naming why. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include "evc/host.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/store.h"

static evc_loop *L;
static evc_host_api *H;
static evc_plugin *P;
static const evc_store_ops *ops;
static char db[64];

static void setup(void)
{
    evc_error err;
    cr_assert_eq(evc_loop_new(&L, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_host_new(L, "store", NULL, &H, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_STORE, "sqlite", NULL, &P, NULL, &err), EVC_OK, "%s",
                 err.msg);
    ops = evc_plugin_descriptor_of(P)->ops;
    snprintf(db, sizeof db, "/tmp/evc_sqlite_params_%ld.db", (long)getpid());
}

static void teardown(void)
{
    evc_plugin_unload(P);
    evc_host_free(H);
    evc_loop_free(L);
    unlink(db);
}

TestSuite(sqlite_params, .init = setup, .fini = teardown);

Test(sqlite_params, a_params_struct_ending_after_database_opens_the_store)
{
    /* What a host whose params had no `config` yet would pass: the bytes
     * past struct_size hold garbage that the plugin must not read. */
    evc_store_params p = {.struct_size = offsetof(evc_store_params, config),
                          .database = db,
                          .config = (const evc_cfg_node *)(uintptr_t)0x10};
    evc_store_impl *s = NULL;
    evc_error err;
    cr_assert_eq(ops->create(H, &p, &s, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(ops->start(s, &err), EVC_OK, "%s", err.msg);
    int cur = -1, sup = -1;
    cr_assert_eq(ops->schema_version(s, &cur, &sup, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(cur, sup, "a fresh database is migrated to the newest schema");
    ops->destroy(s);
    cr_assert_eq(access(db, F_OK), 0, "the database file %s exists", db);
}

Test(sqlite_params, a_params_struct_without_the_database_path_is_refused)
{
    evc_store_params p = {.struct_size = sizeof(uint32_t), .database = db};
    evc_store_impl *s = (evc_store_impl *)&p;
    evc_error err;
    cr_assert_eq(ops->create(H, &p, &s, &err), EVC_EINVAL);
    cr_assert_null(s);
    cr_assert_str_eq(err.msg, "store sqlite: params struct_size 4 is too short for the database path");
}
