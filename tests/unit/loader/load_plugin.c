/* load_plugin.c: loads one plugin the way a role does and exits with the
 * documented code, for the valgrind checks of the loader corpus.
 *
 *   evc_load_plugin [--plugin-dir DIR] [--config-dir DIR] [--roundtrip] KIND NAME
 *
 * Prints the loader's one-line message to stderr and exits with
 * evc_plugin_refusal_exit_code (21..29). For a transport that loads, it also
 * creates an instance on a fake host and starts it, exiting 30 (create
 * failed) or 31 (start failed) like the roles do; --roundtrip then publishes
 * one message to a subscribed topic and requires it back, ACKED (exit 1 if
 * not). Exit 0 when everything worked, 2 on a usage error. */
#include <stdio.h>
#include <string.h>

#include "evc/plugin.h"
#include "evc/transport.h"
#include "fake_host.h"

static bool all_acked(void *arg)
{
    fake_host *fh = arg;
    return fh->n_outcomes == 1;
}

static int run_transport(const evc_plugin *p, bool roundtrip)
{
    const evc_transport_ops *ops = evc_plugin_descriptor_of(p)->ops;
    fake_host fh;
    fake_host_init(&fh);
    evc_transport_params params = {.struct_size = sizeof params,
                                   .endpoint = "loopback://evc_load_plugin",
                                   .client_id = "evc_load_plugin",
                                   .group_id = "evc_load_plugin"};
    evc_transport *t = NULL;
    evc_error err = {0};
    if (!EVC_HAS_FIELD(ops, create) || ops->create(&fh.api, &params, &t, &err) != EVC_OK) {
        fprintf(stderr, "plugin %s: create failed: %s\n", evc_plugin_path(p),
                err.msg[0] ? err.msg : "no create op");
        return evc_plugin_refusal_exit_code(EVC_REFUSE_CREATE);
    }
    int rc = 0;
    if ((EVC_HAS_FIELD(ops, subscribe) && ops->subscribe(t, "loader.check", &err) != EVC_OK) ||
        !EVC_HAS_FIELD(ops, start) || ops->start(t, &err) != EVC_OK) {
        fprintf(stderr, "plugin %s: start failed: %s\n", evc_plugin_path(p),
                err.msg[0] ? err.msg : "no start op");
        rc = evc_plugin_refusal_exit_code(EVC_REFUSE_START);
    } else if (roundtrip) {
        evc_message m = {.topic = "loader.check", .key = "k", .payload = "ping",
                         .payload_len = 4, .partition = -1, .offset = -1};
        if (ops->publish(t, &m, 7, &err) != EVC_OK) {
            fprintf(stderr, "publish failed: %s\n", err.msg);
            rc = 1;
        } else if (fake_host_run(&fh, all_acked, &fh) != EVC_OK || fh.n_dispatched != 1 ||
                   fh.outcomes[0].token != 7 || fh.outcomes[0].status != EVC_OUTCOME_ACKED ||
                   memcmp(fh.dispatched[0].payload, "ping", 4) != 0) {
            fprintf(stderr, "roundtrip failed: %zu dispatched, %zu outcomes\n",
                    fh.n_dispatched, fh.n_outcomes);
            rc = 1;
        }
    }
    if (EVC_HAS_FIELD(ops, stop))
        ops->stop(t);
    if (EVC_HAS_FIELD(ops, destroy))
        ops->destroy(t);
    return rc;
}

int main(int argc, char **argv)
{
    evc_plugin_search search = {0};
    bool roundtrip = false;
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        if (strcmp(argv[i], "--plugin-dir") == 0 && i + 1 < argc)
            search.cli_dir = argv[++i];
        else if (strcmp(argv[i], "--config-dir") == 0 && i + 1 < argc)
            search.config_dir = argv[++i];
        else if (strcmp(argv[i], "--roundtrip") == 0)
            roundtrip = true;
        else
            break;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: %s [--plugin-dir DIR] [--config-dir DIR] [--roundtrip] "
                        "transport|store NAME\n", argv[0]);
        return 2;
    }
    evc_plugin_kind kind;
    if (strcmp(argv[i], "transport") == 0)
        kind = EVC_PLUGIN_TRANSPORT;
    else if (strcmp(argv[i], "store") == 0)
        kind = EVC_PLUGIN_STORE;
    else {
        fprintf(stderr, "unknown plugin kind '%s' (transport or store)\n", argv[i]);
        return 2;
    }

    evc_plugin *p = NULL;
    evc_plugin_refusal why = EVC_REFUSE_NONE;
    evc_error err = {0};
    if (evc_plugin_load(kind, argv[i + 1], &search, &p, &why, &err) != EVC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return why != EVC_REFUSE_NONE ? evc_plugin_refusal_exit_code(why) : 1;
    }
    const evc_plugin_descriptor *d = evc_plugin_descriptor_of(p);
    printf("loaded %s (%s %s)\n", evc_plugin_path(p), d->name,
           d->version ? d->version : "?");
    int rc = kind == EVC_PLUGIN_TRANSPORT ? run_transport(p, roundtrip) : 0;
    evc_plugin_unload(p);
    return rc;
}
