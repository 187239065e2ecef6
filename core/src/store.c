/* store.c: the store facade -- lifecycle, transactions, billing arithmetic
 * and names. The repository forwarders are in store_repo.c. */
#include "store_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int64_t evc_bill_cents(int64_t energy_wh, int64_t price_cents_per_kwh)
{
    if (energy_wh < 0 || price_cents_per_kwh < 0)
        return -1;
    if (price_cents_per_kwh != 0 && energy_wh > (INT64_MAX - 500) / price_cents_per_kwh)
        return -1;
    /* Half-up rounding of wh*price/1000 in integers: both operands are >= 0. */
    return (energy_wh * price_cents_per_kwh + 500) / 1000;
}

int evc_store_check(const evc_store *s, bool present, const char *name, evc_error *err)
{
    if (!s)
        return evc_error_set(err, EVC_EINVAL, "store %s: NULL store", name);
    if (!s->started)
        return evc_error_set(err, EVC_ESTATE, "store %s: store not started", name);
    if (!present)
        return evc_error_set(err, EVC_ENOTSUP, "store %s: not supported by this store plugin",
                             name);
    return EVC_OK;
}

int evc_store_open_ops(evc_loop *loop, const evc_store_ops *ops, const evc_store_params *params,
                       evc_store **out, evc_error *err)
{
    if (!loop || !ops || !params || !out)
        return evc_error_set(err, EVC_EINVAL, "store open: NULL argument");
    *out = NULL;
    if (ops->struct_size < offsetof(evc_store_ops, stats) + sizeof ops->stats || !ops->create ||
        !ops->start || !ops->stop || !ops->destroy)
        return evc_error_set(err, EVC_EPLUGIN,
                             "store open: the plugin's ops table is too short (%u bytes) or "
                             "lacks create/start/stop/destroy",
                             (unsigned)ops->struct_size);
    evc_store *s = calloc(1, sizeof *s);
    if (!s)
        return evc_error_set(err, EVC_ENOMEM, "store open: out of memory");
    s->ops = ops;
    int rc = evc_host_new(loop, "store", NULL, &s->host, err);
    if (rc == EVC_OK)
        rc = ops->create(s->host, params, &s->impl, err);
    if (rc != EVC_OK) {
        evc_host_free(s->host);
        free(s);
        return rc;
    }
    *out = s;
    return EVC_OK;
}

int evc_store_open(evc_loop *loop, struct evc_plugin *plugin, const evc_store_params *params,
                   evc_store **out, evc_error *err)
{
    if (!plugin)
        return evc_error_set(err, EVC_EINVAL, "store open: NULL plugin");
    const evc_plugin_descriptor *d = evc_plugin_descriptor_of(plugin);
    if (!d || d->kind != EVC_PLUGIN_STORE || !d->ops)
        return evc_error_set(err, EVC_EPLUGIN, "store open: plugin %s is not a store plugin",
                             evc_plugin_path(plugin));
    /* As evc_bus_open: the core validates the section on every path. */
    if (params && d->config_schema) {
        char where[160];
        snprintf(where, sizeof where, "store.%s", d->name ? d->name : "?");
        int rc = evc_cfg_check(EVC_HAS_FIELD(params, config) ? params->config : NULL,
                               d->config_schema, where, err);
        if (rc != EVC_OK)
            return rc;
    }
    int rc = evc_store_open_ops(loop, (const evc_store_ops *)d->ops, params, out, err);
    if (rc == EVC_EPLUGIN)
        evc_error_prefix(err, "store plugin %s", evc_plugin_path(plugin));
    return rc;
}

int evc_store_start(evc_store *s, evc_error *err)
{
    if (!s)
        return evc_error_set(err, EVC_EINVAL, "store start: NULL store");
    if (s->started)
        return evc_error_set(err, EVC_ESTATE, "store start: already started");
    int rc = s->ops->start(s->impl, err);
    if (rc == EVC_OK)
        s->started = true;
    return rc;
}

void evc_store_close(evc_store *s)
{
    if (!s)
        return;
    s->ops->stop(s->impl);
    s->ops->destroy(s->impl);
    evc_host_free(s->host);
    free(s);
}

int evc_store_begin(evc_store *s, evc_error *err) { EVC_STORE_FWD(s, begin, err); }
int evc_store_commit(evc_store *s, evc_error *err) { EVC_STORE_FWD(s, commit, err); }
int evc_store_rollback(evc_store *s, evc_error *err) { EVC_STORE_FWD(s, rollback, err); }
int evc_store_flush(evc_store *s, evc_error *err) { EVC_STORE_FWD(s, flush, err); }
int evc_store_wipe(evc_store *s, evc_error *err) { EVC_STORE_FWD(s, wipe, err); }

int evc_store_schema_version(evc_store *s, int *current, int *supported, evc_error *err)
{
    EVC_STORE_FWD(s, schema_version, current, supported, err);
}

void evc_store_stats_get(evc_store *s, evc_store_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    out->struct_size = sizeof *out;
    if (s && EVC_HAS_FIELD(s->ops, stats))
        s->ops->stats(s->impl, out);
}

const char *evc_user_role_name(evc_user_role r)
{
    switch (r) {
    case EVC_ROLE_DRIVER: return "driver";
    case EVC_ROLE_ADMIN: return "admin";
    }
    return "?";
}

const char *evc_cp_admin_state_name(evc_cp_admin_state st)
{
    switch (st) {
    case EVC_CP_IN_SERVICE: return "in_service";
    case EVC_CP_STOPPED: return "stopped";
    }
    return "?";
}

const char *evc_session_state_name(evc_session_state st)
{
    switch (st) {
    case EVC_SESSION_REQUESTED: return "requested";
    case EVC_SESSION_AUTHORISED: return "authorised";
    case EVC_SESSION_SUPPLYING: return "supplying";
    case EVC_SESSION_ENDED: return "ended";
    case EVC_SESSION_DENIED: return "denied";
    }
    return "?";
}
