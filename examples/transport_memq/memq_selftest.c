/* memq_selftest.c: loads the memq plugin through the installed core
 * (evc_plugin_load, evc_bus_open) and proves it works: a message published on
 * the bus comes back to the subscriber and its outcome is ACKED; a bad config
 * key is refused by the core before the plugin's create.
 *
 * usage: memq_selftest PLUGIN_DIR    exit 0 = pass, 1 = fail (one line why)
 */
#include <evc/bus.h>
#include <evc/config.h>
#include <evc/loop.h>
#include <evc/plugin.h>
#include <evc/version.h>

#include <stdio.h>
#include <string.h>

struct seen {
    int got, acked;
    char payload[32];
};

static int on_msg(void *arg, const evc_message *m)
{
    struct seen *s = arg;
    s->got++;
    snprintf(s->payload, sizeof s->payload, "%.*s", (int)m->payload_len, (const char *)m->payload);
    return EVC_OK;
}

static void on_outcome(void *arg, evc_outcome_status st, const char *detail)
{
    struct seen *s = arg;
    (void)detail; /* the fixed callback signature; ACKED carries none */
    s->acked += st == EVC_OUTCOME_ACKED;
}

static bool done(void *arg)
{
    const struct seen *s = arg;
    return s->got == 1 && s->acked == 1;
}

static int fail(const char *what, const evc_error *err)
{
    fprintf(stderr, "memq_selftest: FAIL: %s: %s\n", what, err ? err->msg : "");
    return 1;
}

/* A transport section parsed from text, as a program reads its config file. */
static int section(evc_cfg **cfg, const char *yaml, evc_error *err)
{
    return evc_cfg_load_string("selftest.yaml", yaml, strlen(yaml), cfg, err);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: memq_selftest PLUGIN_DIR\n");
        return 2;
    }
    evc_error err = {0};
    evc_plugin_search where = {.cli_dir = argv[1]};
    evc_plugin *p = NULL;
    evc_loop *loop = NULL;
    if (evc_plugin_load(EVC_PLUGIN_TRANSPORT, "memq", &where, &p, NULL, &err) != EVC_OK)
        return fail("load", &err);
    printf("loaded %s (plugin %s, libevc_core %s)\n", evc_plugin_path(p),
           evc_plugin_descriptor_of(p)->version, evc_version());
    if (evc_loop_new(&loop, &err) != EVC_OK)
        return fail("loop", &err);

    /* 1. The core validates the section against the plugin's schema. */
    evc_cfg *bad = NULL;
    evc_bus *bus = NULL;
    if (section(&bad, "max_queu: 5\n", &err) != EVC_OK)
        return fail("parse", &err);
    evc_transport_params bp = {.struct_size = sizeof bp, .endpoint = "", .client_id = "selftest",
                               .config = evc_cfg_root(bad)};
    if (evc_bus_open(loop, p, &bp, &bus, &err) != EVC_ECONFIG || !strstr(err.msg, "max_queu"))
        return fail("a misspelt key was not refused by evc_bus_open", &err);
    printf("refused as expected: %s\n", err.msg);
    evc_cfg_free(bad);

    /* 2. A round trip through the bus. */
    evc_cfg *good = NULL;
    if (section(&good, "max_queue: 8\n", &err) != EVC_OK)
        return fail("parse", &err);
    evc_transport_params gp = {.struct_size = sizeof gp, .endpoint = "", .client_id = "selftest",
                               .config = evc_cfg_root(good)};
    struct seen s = {0};
    if (evc_bus_open(loop, p, &gp, &bus, &err) != EVC_OK)
        return fail("open", &err);
    if (evc_bus_subscribe(bus, "demo.topic", on_msg, &s, &err) != EVC_OK ||
        evc_bus_start(bus, &err) != EVC_OK ||
        evc_bus_publish(bus, "demo.topic", "cp1", "hello", 5, on_outcome, &s, &err) != EVC_OK)
        return fail("publish", &err);
    evc_loop_run_until(loop, done, &s, 5000);
    if (!done(&s) || strcmp(s.payload, "hello") != 0) {
        fprintf(stderr, "memq_selftest: FAIL: received %d (\"%s\"), acked %d; expected 1, 1\n",
                s.got, s.payload, s.acked);
        return 1;
    }
    printf("round trip ok: received \"%s\", outcome ACKED\n", s.payload);
    evc_bus_close(bus);
    evc_cfg_free(good);
    evc_loop_free(loop);
    evc_plugin_unload(p);
    printf("PASS\n");
    return 0;
}
