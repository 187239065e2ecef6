/* cks_common.c: see cks.h. */
#include "cks.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evc/password.h"
#include "evc/plugin.h"

/* The plugin under test, loaded once per process through the SDK's loader
 * (--plugin-dir first); it stays loaded until exit (stores borrow it). */
static evc_plugin *st_plugin(void)
{
    static evc_plugin *plugin;
    if (plugin)
        return plugin;
    evc_plugin_search search = {.cli_dir = ck.plugin_dir};
    evc_plugin_refusal refusal = EVC_REFUSE_NONE;
    evc_error err = {0};
    int rc = evc_plugin_load(EVC_PLUGIN_STORE, ck.plugin, &search, &plugin, &refusal, &err);
    ck_assert_eq(rc, EVC_OK, "load store plugin %s: %s (%s)", ck.plugin, err.msg,
                 evc_plugin_refusal_name(refusal));
    const evc_plugin_descriptor *d = evc_plugin_descriptor_of(plugin);
    ck_assert_str_eq(d->name, ck.plugin);
    ck_assert_not_null(d->config_schema, "the plugin declares its config schema");
    return plugin;
}

void st_setup(st_ctx *c)
{
    memset(c, 0, sizeof *c);
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/evc-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_not_null(mkdtemp(c->dir), "mkdtemp");
    if (FX->database)
        FX->database(c->dir, c->db, sizeof c->db);
    else
        snprintf(c->db, sizeof c->db, "%s/conformance.db", c->dir);
    evc_error err = {0};
    ck_assert_eq(evc_loop_new(&c->loop, &err), EVC_OK, "%s", err.msg);
}

void st_attach(st_ctx *c, const char *db)
{
    memset(c, 0, sizeof *c);
    snprintf(c->db, sizeof c->db, "%s", db);
    evc_error err = {0};
    ck_assert_eq(evc_loop_new(&c->loop, &err), EVC_OK, "%s", err.msg);
}

int st_open(st_ctx *c, const char *variant, evc_error *err)
{
    st_close(c);
    const char *v = variant ? variant : "default";
    const char *yaml = FX->yaml ? FX->yaml(v) : strcmp(v, "default") == 0 ? "" : NULL;
    if (yaml == NULL)
        ck_skip("the store fixture has no settings for variant \"%s\" (--fixture)", v);
    int rc = evc_cfg_load_string("<test>", yaml, strlen(yaml), &c->cfg, err);
    if (rc != EVC_OK)
        return rc;
    evc_store_params p = {
        .struct_size = sizeof p,
        .database = c->db,
        .config = evc_cfg_root(c->cfg),
    };
    rc = evc_store_open(c->loop, st_plugin(), &p, &c->store, err);
    if (rc == EVC_OK)
        rc = evc_store_start(c->store, err);
    if (rc != EVC_OK)
        st_close(c);
    return rc;
}

void st_open_ok(st_ctx *c, const char *variant)
{
    evc_error err = {0};
    int rc = st_open(c, variant, &err);
    ck_assert_eq(rc, EVC_OK, "open %s: %s %s", c->db, evc_status_name(rc), err.msg);
}

void st_close(st_ctx *c)
{
    evc_store_close(c->store);
    c->store = NULL;
    evc_cfg_free(c->cfg);
    c->cfg = NULL;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void st_teardown(st_ctx *c)
{
    st_close(c);
    evc_loop_free(c->loop);
    c->loop = NULL;
    if (c->dir[0])
        nftw(c->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

void st_add_driver(st_ctx *c, const char *id, int64_t balance_cents)
{
    evc_user u = {.role = EVC_ROLE_DRIVER, .balance_cents = balance_cents};
    snprintf(u.id, sizeof u.id, "%s", id);
    evc_error err = {0};
    ck_assert_eq(evc_password_hash("pw", EVC_PASSWORD_COST_MIN, u.password_hash, &err), EVC_OK);
    ck_assert_eq(evc_store_user_insert(c->store, &u, &err), EVC_OK, "%s", err.msg);
}

void st_add_cp(st_ctx *c, const char *id, int64_t price)
{
    evc_charging_point cp = {.price_cents_per_kwh = price, .max_w = 22000,
                             .admin_state = EVC_CP_IN_SERVICE};
    snprintf(cp.id, sizeof cp.id, "%s", id);
    snprintf(cp.location, sizeof cp.location, "Location of %s", id);
    evc_error err = {0};
    ck_assert_eq(evc_store_cp_insert(c->store, &cp, &err), EVC_OK, "%s", err.msg);
}

void st_add_session(st_ctx *c, const char *id, const char *driver, const char *cp,
                    evc_session_state state)
{
    evc_session se = {.state = EVC_SESSION_REQUESTED};
    snprintf(se.id, sizeof se.id, "%s", id);
    snprintf(se.correlation_id, sizeof se.correlation_id, "corr-%s", id);
    snprintf(se.driver_id, sizeof se.driver_id, "%s", driver);
    snprintf(se.cp_id, sizeof se.cp_id, "%s", cp);
    evc_error err = {0};
    ck_assert_eq(evc_store_session_insert(c->store, &se, &err), EVC_OK, "%s", err.msg);
    if (state >= EVC_SESSION_AUTHORISED)
        ck_assert_eq(evc_store_session_set_state(c->store, id, EVC_SESSION_AUTHORISED, 1000,
                                                 NULL, &err), EVC_OK, "%s", err.msg);
    if (state >= EVC_SESSION_SUPPLYING)
        ck_assert_eq(evc_store_session_set_state(c->store, id, EVC_SESSION_SUPPLYING, 2000,
                                                 NULL, &err), EVC_OK, "%s", err.msg);
}

static int count_cb(void *arg, const evc_event *e)
{
    ++*(int *)arg;
    return 0;
}

int st_count_events(st_ctx *c, const char *corr)
{
    int n = 0;
    evc_error err = {0};
    ck_assert_eq(evc_store_event_list_by_correlation(c->store, corr, count_cb, &n, &err), EVC_OK,
                 "%s", err.msg);
    return n;
}

int st_count_events_all(st_ctx *c)
{
    int n = 0;
    evc_error err = {0};
    ck_assert_eq(evc_store_event_list(c->store, 0, 0, count_cb, &n, &err), EVC_OK, "%s",
                 err.msg);
    return n;
}

char *st_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    fclose(f);
    return buf;
}
