/* Interoperability with a stock Kafka client (kcat 1.7 at /usr/bin/kcat):
 * what the plugin publishes is exactly what kcat reads (key and the JSON
 * envelope of evc/envelope.h, decoded back), and what kcat produces reaches
 * a subscriber intact. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"
#include "evc/envelope.h"
#include "kt_harness.h"

#define KCAT "/usr/bin/kcat"

/* A bus envelope as the roles publish it, built with the core's codec:
 * {type, id, correlation_id, ts, source, payload}. Caller frees. */
static char *kt_envelope(const char *type, const char *source, char id[EVC_UUID_STR_SIZE])
{
    evc_error err = {0};
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", "CP_001");
    evc_payload_real(p, "kw", 11.5);
    evc_payload_real(p, "eur", 0.42);
    char *payload = evc_payload_finish(p, &err);
    cr_assert_not_null(payload, "%s", err.msg);
    evc_envelope env = {.type = type, .correlation_id = NULL, .source = source,
                        .payload = payload};
    cr_assert_eq(evc_envelope_stamp(&env, id, &err), EVC_OK, "%s", err.msg);
    char *text = NULL;
    size_t len = 0;
    cr_assert_eq(evc_envelope_encode(&env, &text, &len, &err), EVC_OK, "%s", err.msg);
    free(payload);
    return text;
}

static void kt_expect_envelope(const char *text, size_t len, const char *type,
                               const char *source, const char *id)
{
    evc_error err = {0};
    evc_envelope *env = NULL;
    cr_assert_eq(evc_envelope_decode(text, len, NULL, &env, &err), EVC_OK, "%s: %s", err.msg,
                 text);
    cr_expect_str_eq(env->type, type);
    cr_expect_str_eq(env->source, source);
    cr_expect_str_eq(env->id, id);
    cr_expect_null(env->correlation_id);
    json_t *payload = (json_t *)evc_envelope_payload_json(env);
    cr_expect_str_eq(json_string_value(json_object_get(payload, "cp_id")), "CP_001");
    cr_expect_float_eq(json_real_value(json_object_get(payload, "kw")), 11.5, 1e-9);
    evc_envelope_free(env);
}

Test(kafka_kcat, kcat_reads_what_the_plugin_published)
{
    conformance_peer *peer;
    char boot[512], topic[96], line[4096], id[EVC_UUID_STR_SIZE];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "to-kcat");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, NULL, evc_conformance_transport_fixture.plugin_yaml("default"), 1,
                         &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    char *env = kt_envelope("cp.telemetry", "CP_001", id);
    cr_assert_eq(kt_publish(&n, topic, "CP_001", env, 1, &err), EVC_OK, "%s", err.msg);
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
    cr_expect_str_eq(line, "CP_001");
    cr_expect_str_eq(tab + 1, env); /* byte for byte */
    kt_expect_envelope(tab + 1, strlen(tab + 1), "cp.telemetry", "CP_001", id);
    free(env);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}

Test(kafka_kcat, a_kcat_message_reaches_a_subscriber)
{
    conformance_peer *peer;
    char boot[512], topic[96], group[96], cmd[1024], id[EVC_UUID_STR_SIZE];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "from-kcat");
    kt_unique(group, sizeof group, "g");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, group, evc_conformance_transport_fixture.plugin_yaml("default"), 1,
                         &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);

    snprintf(cmd, sizeof cmd, KCAT " -b '%s' -P -t '%s' -k 'driver-42'", boot, topic);
    FILE *kc = popen(cmd, "w");
    cr_assert_not_null(kc);
    char *env = kt_envelope("supply.request", "driver-42", id);
    fprintf(kc, "%s\n", env); /* kcat -P: one message per line */
    cr_assert_eq(pclose(kc), 0, "kcat failed");

    cr_assert(kt_wait_msgs(&n, 1, 20000), "nothing arrived from kcat");
    cr_expect_str_eq(n.msgs[0].topic, topic);
    cr_expect_str_eq(n.msgs[0].key, "driver-42");
    cr_expect_str_eq(n.msgs[0].payload, env);
    kt_expect_envelope(n.msgs[0].payload, n.msgs[0].len, "supply.request", "driver-42", id);
    free(env);
    cr_expect_geq(n.msgs[0].partition, 0);
    cr_expect_eq(n.msgs[0].offset, 0);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}
