/* test_msg.c: envelopes through a real bus (the loopback test transport),
 * payload readers, the duplicate window. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/msg.h"

Test(msg_dedup, repeats_are_recognised_within_the_window)
{
    evc_msg_dedup *d = evc_msg_dedup_new(3);
    cr_assert(evc_msg_dedup_first(d, "a"));
    cr_assert(evc_msg_dedup_first(d, "b"));
    cr_assert_not(evc_msg_dedup_first(d, "a"));
    cr_assert(evc_msg_dedup_first(d, "c"));
    cr_assert(evc_msg_dedup_first(d, "d"), "evicts a");
    cr_assert(evc_msg_dedup_first(d, "a"), "a left the window");
    cr_assert_not(evc_msg_dedup_first(d, "d"));
    evc_msg_dedup_free(d);
}

Test(msg_dedup, matches_a_reference_model_over_many_ids)
{
    /* Random ids from a small alphabet collide often; compare with a naive
     * model of "the last N distinct ids accepted". */
    enum { CAP = 64, N = 200000 };
    evc_msg_dedup *d = evc_msg_dedup_new(CAP);
    char window[CAP][8];
    size_t wcount = 0, wnext = 0;
    srand(7);
    for (int i = 0; i < N; i++) {
        char id[8];
        snprintf(id, sizeof id, "%d", rand() % 300);
        bool in_model = false;
        for (size_t k = 0; k < wcount; k++)
            if (strcmp(window[k], id) == 0)
                in_model = true;
        bool first = evc_msg_dedup_first(d, id);
        cr_assert_eq(first, !in_model, "step %d id %s", i, id);
        if (first) {
            snprintf(window[wnext], sizeof window[wnext], "%s", id);
            wnext = (wnext + 1) % CAP;
            if (wcount < CAP)
                wcount++;
        }
    }
    evc_msg_dedup_free(d);
}

typedef struct got {
    int n;
    char type[64], corr[64], cp[32];
    int64_t wh;
    bool ok;
} got;

static int on_msg(void *arg, const evc_message *m)
{
    got *g = arg;
    evc_envelope *env = NULL;
    evc_error err;
    cr_assert_eq(evc_envelope_decode(m->payload, m->payload_len, NULL, &env, &err), EVC_OK, "%s",
                 err.msg);
    snprintf(g->type, sizeof g->type, "%s", env->type);
    snprintf(g->corr, sizeof g->corr, "%s", env->correlation_id ? env->correlation_id : "");
    snprintf(g->cp, sizeof g->cp, "%s", evc_msg_str(env, "cp_id") ? evc_msg_str(env, "cp_id") : "");
    cr_assert_eq(evc_msg_int(env, "wh", &g->wh), 0);
    cr_assert_eq(evc_msg_bool(env, "ok", &g->ok), 0);
    cr_assert_eq(evc_msg_int(env, "cp_id", &g->wh), -1, "a string is not an integer");
    cr_assert_null(evc_msg_str(env, "absent"));
    char *nested = evc_msg_json(env, "list");
    cr_assert_str_eq(nested, "[1,2]");
    free(nested);
    evc_envelope_free(env);
    g->n++;
    return EVC_OK;
}

static bool got_one(void *arg) { return ((got *)arg)->n >= 1; }

Test(msg, publish_round_trip_on_a_real_bus)
{
    evc_loop *loop;
    cr_assert_eq(evc_loop_new(&loop, NULL), EVC_OK);
    evc_plugin *plugin;
    evc_error err;
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "loopback", NULL, &plugin, NULL, &err),
                 EVC_OK, "%s", err.msg);
    evc_transport_params p = {.struct_size = sizeof p, .endpoint = "x", .client_id = "t",
                              .group_id = "t"};
    evc_bus *bus;
    cr_assert_eq(evc_bus_open(loop, plugin, &p, &bus, &err), EVC_OK, "%s", err.msg);
    got g = {0};
    cr_assert_eq(evc_bus_subscribe(bus, "cp-events", on_msg, &g, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(bus, &err), EVC_OK, "%s", err.msg);
    char corr[EVC_UUID_STR_SIZE], id[EVC_UUID_STR_SIZE];
    cr_assert_eq(evc_uuid_generate(corr, NULL), EVC_OK);
    cr_assert_eq(evc_msg_publish(bus, "cp-events", "CP_001", "supply.telemetry", "CP_001", corr,
                                 "{\"cp_id\":\"CP_001\",\"wh\":1234,\"ok\":true,\"list\":[1,2]}",
                                 NULL, NULL, id, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert(evc_uuid_valid(id));
    cr_assert_eq(evc_loop_run_until(loop, got_one, &g, 5000), EVC_OK);
    cr_expect_str_eq(g.type, "supply.telemetry");
    cr_expect_str_eq(g.corr, corr);
    cr_expect_str_eq(g.cp, "CP_001");
    cr_expect_eq(g.wh, 1234);
    cr_expect(g.ok);

    cr_expect_neq(evc_msg_publish(bus, "cp-events", "k", "t", "s", NULL, "[1]", NULL, NULL, NULL,
                                  &err),
                  EVC_OK, "a payload that is not an object is refused");
    cr_expect(strstr(err.msg, "message t on cp-events"), "%s", err.msg);
    evc_bus_close(bus);
    evc_loop_free(loop);
    evc_plugin_unload(plugin);
}
