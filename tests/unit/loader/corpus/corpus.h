/* corpus.h: shared pieces of the loader's corpus of broken plugins.
 *
 * Each corpus/<case>.c is one deliberately broken (or, for good.c, working)
 * transport plugin, built as tests/loader-corpus/<case>/evc_transport_zmq.so
 * so that `--plugin-dir <that dir>` with transport "zmq" exercises it. The
 * stub ops below are never meant to run: the loader refuses these plugins
 * before any op is called; they exist so that only the one defect under test
 * differs from a valid plugin. */
#ifndef EVC_LOADER_CORPUS_H
#define EVC_LOADER_CORPUS_H

#include "evc/error.h"
#include "evc/host.h"
#include "evc/plugin.h"
#include "evc/transport.h"

static int corpus_stub_create(const struct evc_host_api *host, const evc_transport_params *params,
                              evc_transport **out, evc_error *err)
{
    *out = NULL;
    return evc_error_set(err, EVC_ENOTSUP, "corpus stub: create is not implemented");
}

/* A complete 1.0 ops table whose only working op refuses politely. */
static const evc_transport_ops corpus_stub_ops = {
    .struct_size = sizeof(evc_transport_ops),
    .create = corpus_stub_create,
};

/* A valid 1.0 descriptor named "zmq" with the given ops; cases override one
 * field with designated initialisers placed after this macro. */
#define CORPUS_DESCRIPTOR_FIELDS(ops_ptr)                                                        \
    .magic = EVC_PLUGIN_MAGIC, .abi_major = EVC_ABI_MAJOR, .abi_minor = EVC_ABI_MINOR,            \
    .struct_size = sizeof(evc_plugin_descriptor), .kind = EVC_PLUGIN_TRANSPORT, .name = "zmq",   \
    .version = "0.0.0-corpus", .description = "loader test corpus", .config_schema = NULL,       \
    .ops = (ops_ptr)

#endif
