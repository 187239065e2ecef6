/* store_internal.h: core-private parts of the store facade. */
#ifndef EVC_STORE_INTERNAL_H
#define EVC_STORE_INTERNAL_H

#include "evc/host.h"
#include "evc/plugin.h"
#include "evc/store.h"

struct evc_store {
    const evc_store_ops *ops; /* borrowed from the plugin's descriptor */
    evc_store_impl *impl;     /* owned */
    evc_host_api *host;       /* owned (evc_host_free after impl is destroyed) */
    bool started;
};

/* evc_store_open without a loaded evc_plugin: `ops` is a store plugin's ops
 * table (borrowed; must outlive the store). Used by evc_store_open and by
 * tests that obtain the ops themselves. Exported from libevc_core.so but not
 * part of the SDK. */
int evc_store_open_ops(evc_loop *loop, const evc_store_ops *ops, const evc_store_params *params,
                       evc_store **out, evc_error *err);

/* Checks that a call may reach op `name` of s: EVC_EINVAL for NULL s,
 * EVC_ESTATE before evc_store_start, EVC_ENOTSUP when the plugin lacks it. */
int evc_store_check(const evc_store *s, bool present, const char *name, evc_error *err);

/* Body of a forwarder: `err` must be in scope. */
#define EVC_STORE_FWD(s, op, ...)                                               \
    do {                                                                        \
        int rc_ = evc_store_check((s), (s) && EVC_HAS_FIELD((s)->ops, op), #op, err); \
        if (rc_ != EVC_OK)                                                      \
            return rc_;                                                         \
        return (s)->ops->op((s)->impl, __VA_ARGS__);                            \
    } while (0)

#endif
