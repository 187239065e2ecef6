/* bus_internal.h: core-private entry points of bus.c (not part of the SDK). */
#ifndef EVC_BUS_INTERNAL_H
#define EVC_BUS_INTERNAL_H

#include "evc/bus.h"

/* evc_bus_open without a loaded .so: builds the bus over the transport ops
 * table `ops` (borrowed; must outlive the bus), whose log lines carry the
 * component "transport". For in-process transports and unit tests with a fake
 * transport. Same contract and errors as evc_bus_open. */
int evc_bus_open_ops(evc_loop *loop, const evc_transport_ops *ops,
                     const evc_transport_params *params, evc_bus **out, evc_error *err);

#endif
