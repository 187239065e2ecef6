/* broken_transport.c: evc_transport_broken.so, a transport plugin that breaks
 * one promise on purpose, to show that evc-conformance catches it and names
 * it (ctest conformance_tool_catches_a_broken_plugin).
 *
 * It is the ZeroMQ plugin (loaded from EVC_BROKEN_REAL, the build tree's
 * evc_transport_zmq.so) under another name, except that its guarantees claim
 * redelivery -- a handler that fails a message gets it again -- which ZeroMQ
 * PUB/SUB never does. Everything else is the real plugin's, so exactly one
 * check must fail: transport.redelivery_matches_the_guarantee.
 * Test-only: built in tests/, never installed.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "evc/plugin.h"
#include "evc/transport.h"

#ifndef EVC_BROKEN_REAL
#error "EVC_BROKEN_REAL must give the path of the real plugin"
#endif

static const evc_transport_ops *real_ops; /* the real plugin's, static storage */
static evc_transport_ops broken_ops;
static evc_plugin_descriptor broken_descriptor;

static void broken_guarantees(evc_transport *t, evc_transport_guarantees *out)
{
    real_ops->guarantees(t, out);
    if (out->struct_size >= offsetof(evc_transport_guarantees, redelivery) + sizeof(bool))
        out->redelivery = true; /* the lie under test */
}

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_query(uint16_t host_abi_major,
                                                                uint16_t host_abi_minor);

EVC_PLUGIN_EXPORT const evc_plugin_descriptor *evc_plugin_query(uint16_t host_abi_major,
                                                                uint16_t host_abi_minor)
{
    if (real_ops == NULL) {
        /* Stays loaded for the life of the process, like the plugin itself. */
        void *h = dlopen(EVC_BROKEN_REAL, RTLD_NOW | RTLD_LOCAL);
        void *sym = h ? dlsym(h, EVC_PLUGIN_ENTRY_NAME) : NULL;
        if (sym == NULL) {
            fprintf(stderr, "broken_transport: %s: %s\n", EVC_BROKEN_REAL, dlerror());
            return NULL;
        }
        evc_plugin_query_fn query;
        memcpy(&query, &sym, sizeof query); /* object -> function pointer, as dlsym intends */
        const evc_plugin_descriptor *real = query(host_abi_major, host_abi_minor);
        if (real == NULL)
            return NULL;
        broken_descriptor = *real;
        broken_descriptor.name = "broken";
        broken_descriptor.description = "the ZeroMQ transport claiming redelivery (test only)";
        real_ops = real->ops;
        memcpy(&broken_ops, real_ops,
               real_ops->struct_size < sizeof broken_ops ? real_ops->struct_size
                                                         : sizeof broken_ops);
        broken_ops.guarantees = broken_guarantees;
        broken_descriptor.ops = &broken_ops;
    }
    return &broken_descriptor;
}
