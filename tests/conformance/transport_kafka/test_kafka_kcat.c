/* Interoperability with a stock Kafka client (kcat 1.7 at /usr/bin/kcat):
 * what the plugin publishes is exactly what kcat reads (key and JSON
 * envelope), and what kcat produces reaches a subscriber intact. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "../transport/fixture.h"
#include "kt_harness.h"

#define KCAT "/usr/bin/kcat"

/* A bus envelope as the roles publish it: {type, id, correlation_id, ts,
 * source, payload}. */
static const char kt_envelope[] =
    "{\"type\":\"cp.telemetry\",\"id\":\"5f0c6a9e-1b2d-4c3e-8f4a-0d1e2f3a4b5c\","
    "\"correlation_id\":\"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d\",\"ts\":1795000000123,"
    "\"source\":\"EV_CP_E/cp-1\",\"payload\":{\"cp\":\"cp-1\",\"kw\":11.5,\"eur\":0.42}}";

Test(kafka_kcat, kcat_reads_what_the_plugin_published, .timeout = 60)
{
    conformance_peer *peer;
    char boot[512], topic[96], line[4096];
    cr_assert_eq(conformance_fixture_impl.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "to-kcat");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, NULL, conformance_fixture_impl.plugin_yaml("default"), 1,
                         &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(kt_publish(&n, topic, "cp-1", kt_envelope, 1, &err), EVC_OK, "%s", err.msg);
    cr_assert(kt_wait_outcomes(&n, 1, 10000));
    cr_assert_eq(n.outcome[EVC_OUTCOME_ACKED], 1);

    char *argv[] = {KCAT, "-b", boot, "-C", "-t", topic, "-o", "beginning", "-c", "1", "-u",
                    "-q", "-f", "%k\t%s\n", NULL};
    pid_t pid = kt_spawn_line(argv, line, sizeof line, 20000);
    cr_assert(pid > 0);
    int status = 0;
    waitpid(pid, &status, 0);
    char *tab = strchr(line, '\t');
    cr_assert_not_null(tab, "kcat printed '%s' (status %d)", line, status);
    *tab = '\0';
    cr_expect_str_eq(line, "cp-1");
    cr_expect_str_eq(tab + 1, kt_envelope); /* byte for byte */
    json_error_t je;
    json_t *env = json_loads(tab + 1, 0, &je);
    cr_assert_not_null(env, "not JSON: %s", je.text);
    cr_expect_str_eq(json_string_value(json_object_get(env, "type")), "cp.telemetry");
    cr_expect_str_eq(json_string_value(json_object_get(env, "id")),
                     "5f0c6a9e-1b2d-4c3e-8f4a-0d1e2f3a4b5c");
    cr_expect_str_eq(json_string_value(json_object_get(env, "source")), "EV_CP_E/cp-1");
    cr_expect_eq(json_integer_value(json_object_get(env, "ts")), 1795000000123LL);
    json_t *payload = json_object_get(env, "payload");
    cr_expect_str_eq(json_string_value(json_object_get(payload, "cp")), "cp-1");
    cr_expect_float_eq(json_real_value(json_object_get(payload, "kw")), 11.5, 1e-9);
    json_decref(env);
    kt_close(&n);
    conformance_fixture_impl.peer_stop(peer);
}

Test(kafka_kcat, a_kcat_message_reaches_a_subscriber, .timeout = 60)
{
    conformance_peer *peer;
    char boot[512], topic[96], group[96], cmd[1024];
    cr_assert_eq(conformance_fixture_impl.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "from-kcat");
    kt_unique(group, sizeof group, "g");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, group, conformance_fixture_impl.plugin_yaml("default"), 1,
                         &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);

    snprintf(cmd, sizeof cmd, KCAT " -b '%s' -P -t '%s' -k 'driver-42'", boot, topic);
    FILE *kc = popen(cmd, "w");
    cr_assert_not_null(kc);
    fputs("{\"type\":\"driver.request\",\"payload\":{\"cp\":\"cp-3\"}}\n", kc);
    cr_assert_eq(pclose(kc), 0, "kcat failed");

    cr_assert(kt_wait_msgs(&n, 1, 20000), "nothing arrived from kcat");
    cr_expect_str_eq(n.msgs[0].topic, topic);
    cr_expect_str_eq(n.msgs[0].key, "driver-42");
    cr_expect_str_eq(n.msgs[0].payload, "{\"type\":\"driver.request\",\"payload\":{\"cp\":\"cp-3\"}}");
    cr_expect_geq(n.msgs[0].partition, 0);
    cr_expect_eq(n.msgs[0].offset, 0);
    kt_close(&n);
    conformance_fixture_impl.peer_stop(peer);
}
