/* fixture.c: see fixture.h. */
#include "fixture.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evc/plugin.h"
#include "initdb.h"

static evc_plugin *fx_plugin(void)
{
    static evc_plugin *plugin; /* stays loaded until exit: stores borrow it */
    if (plugin)
        return plugin;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/plugins", EVC_TEST_BINARY_DIR);
    evc_plugin_search search = {.cli_dir = dir};
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_STORE, "sqlite", &search, &plugin, NULL, &err),
                 EVC_OK, "%s", err.msg);
    return plugin;
}

void fx_store_open(fx_store *f)
{
    memset(f, 0, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/evc-central-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/central.db", f->dir);
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&f->loop, &err), EVC_OK, "%s", err.msg);
    evc_store_params p = {.struct_size = sizeof p, .database = f->db};
    cr_assert_eq(evc_store_open(f->loop, fx_plugin(), &p, &f->store, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_eq(evc_store_start(f->store, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(central_init_db_cost(f->store, true, false, EVC_PASSWORD_COST_MIN, &err), EVC_OK,
                 "%s", err.msg);
}

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void fx_store_close(fx_store *f)
{
    evc_store_close(f->store);
    evc_loop_free(f->loop);
    nftw(f->dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
}

void fx_session(fx_store *f, const char *id, const char *driver, const char *cp,
                evc_session_state state)
{
    evc_session s = {.state = EVC_SESSION_REQUESTED};
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.correlation_id, sizeof s.correlation_id, "%s", id);
    snprintf(s.driver_id, sizeof s.driver_id, "%s", driver);
    snprintf(s.cp_id, sizeof s.cp_id, "%s", cp);
    evc_error err = {0};
    cr_assert_eq(evc_store_session_insert(f->store, &s, &err), EVC_OK, "%s", err.msg);
    if (state >= EVC_SESSION_AUTHORISED)
        cr_assert_eq(evc_store_session_set_state(f->store, id, EVC_SESSION_AUTHORISED, 0, NULL,
                                                 &err), EVC_OK, "%s", err.msg);
    if (state >= EVC_SESSION_SUPPLYING)
        cr_assert_eq(evc_store_session_set_state(f->store, id, EVC_SESSION_SUPPLYING, 0, NULL,
                                                 &err), EVC_OK, "%s", err.msg);
}
