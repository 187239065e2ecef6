/* Kafka transport security settings (issue 11): security.protocol, ssl.* and
 * sasl.* pass through to librdkafka and are checked at create, with the key
 * and the file named; passwords can come from private files.
 *
 * librdkafka 2.0.2's mock cluster has no TLS listener and no SASL handlers
 * (rdkafka_mock.h has no such API; its ApiVersions has no SaslHandshake), so
 * an encrypted or authenticated round trip cannot be run here. What runs: the
 * checks, librdkafka loading the CA file (a trial handle), and a SASL client
 * that really starts a SASL handshake against the mock and therefore never
 * gets its topics -- where the same settings without SASL work. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"
#include "kt_harness.h"

static void sec_expect_error(const char *yaml, const char *needle1, const char *needle2)
{
    kt_node n;
    evc_error err = {0};
    int rc = kt_open(&n, "127.0.0.1:1", "g", yaml, 1, &err);
    cr_expect_eq(rc, EVC_ECONFIG, "rc %d (%s) for:\n%s", rc, err.msg, yaml);
    cr_expect_null(n.t);
    cr_expect(strstr(err.msg, needle1) != NULL, "'%s' not in '%s'", needle1, err.msg);
    if (needle2)
        cr_expect(strstr(err.msg, needle2) != NULL, "'%s' not in '%s'", needle2, err.msg);
    kt_close(&n);
}

/* A file with `content` and `mode`; its path to out (128 bytes). */
static void sec_file(const char *content, mode_t mode, char *out)
{
    snprintf(out, 128, "/tmp/evc-kafka-sec-XXXXXX");
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
    cr_assert_eq(fchmod(fd, mode), 0);
    close(fd);
}

Test(kafka_security, settings_are_checked_at_create)
{
    char yaml[1024], open_pw[128], pw[128], open_key[128], junk_ca[128];
    sec_file("s3cret\n", 0644, open_pw);
    sec_file("s3cret\n", 0600, pw);
    sec_file("-----BEGIN PRIVATE KEY-----\n", 0644, open_key);
    sec_file("not a certificate\n", 0644, junk_ca);

    sec_expect_error("properties:\n  security.protocol: \"tls\"\n",
                     "transport.kafka.properties.security.protocol", "sasl_ssl");
    sec_expect_error("properties:\n  security.protocol: ssl\n"
                     "  ssl.ca.location: /nonexistent/ca.pem\n",
                     "properties.ssl.ca.location", "/nonexistent/ca.pem");
    sec_expect_error("properties:\n  ssl.certificate.location: /nonexistent/cert.pem\n",
                     "ssl.certificate.location", "No such file");
    snprintf(yaml, sizeof yaml, "properties:\n  ssl.key.location: %s\n", open_key);
    sec_expect_error(yaml, open_key, "mode 0644");
    /* A CA file that exists but is no certificate: librdkafka's own check,
     * in the trial handle built at create. */
    snprintf(yaml, sizeof yaml, "properties:\n  security.protocol: ssl\n  ssl.ca.location: %s\n",
             junk_ca);
    sec_expect_error(yaml, "transport.kafka", "ssl.ca.location");

    sec_expect_error("properties:\n  security.protocol: sasl_ssl\n", "sasl.mechanisms", NULL);
    sec_expect_error("producer_properties:\n  security.protocol: SASL_PLAINTEXT\n",
                     "needs sasl.mechanisms", NULL);
    sec_expect_error("properties:\n  security.protocol: sasl_plaintext\n"
                     "  sasl.mechanisms: PLAIN\n",
                     "needs sasl.username", NULL);
    sec_expect_error("properties:\n  security.protocol: sasl_plaintext\n"
                     "  sasl.mechanisms: SCRAM-SHA-512\n  sasl.username: evc\n",
                     "needs sasl.password_file", NULL);
    snprintf(yaml, sizeof yaml,
             "properties:\n  security.protocol: sasl_plaintext\n  sasl.mechanisms: PLAIN\n"
             "  sasl.username: evc\n  sasl.password_file: %s\n",
             open_pw);
    sec_expect_error(yaml, "sasl.password_file", open_pw);
    sec_expect_error("properties:\n  sasl.password_file: /nonexistent/pw\n", "/nonexistent/pw",
                     NULL);

    /* Accepted: the password from a private file, the system CA store. */
    kt_node n;
    evc_error err = {0};
    snprintf(yaml, sizeof yaml,
             "properties:\n  security.protocol: sasl_ssl\n  sasl.mechanisms: SCRAM-SHA-256\n"
             "  sasl.username: evc\n  sasl.password_file: %s\n  ssl.ca.location: probe\n",
             pw);
    cr_assert_eq(kt_open(&n, "127.0.0.1:1", "g", yaml, 1, &err), EVC_OK, "%s", err.msg);
    kt_close(&n);
    unlink(open_pw);
    unlink(pw);
    unlink(open_key);
    unlink(junk_ca);
}

/* The same instance settings, with and without SASL, against the mock: the
 * SASL client starts a handshake the mock cannot answer, so its start (which
 * creates the topics) fails by admin_timeout_ms; without SASL it works. This
 * shows the settings reach librdkafka, not that SASL works end to end. */
Test(kafka_security, sasl_settings_reach_librdkafka)
{
    conformance_peer *peer;
    char boot[512], topic[96], group[96], pw[128], yaml[1024];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    sec_file("s3cret\n", 0600, pw);
    for (int sasl = 0; sasl < 2; sasl++) {
        kt_unique(topic, sizeof topic, sasl ? "sasl" : "plain");
        kt_unique(group, sizeof group, "g");
        int len = snprintf(yaml, sizeof yaml,
                           "admin_timeout_ms: 4000\nclose_timeout_ms: 2000\n"
                           "flush_timeout_ms: 1000\nproperties:\n"
                           "  reconnect.backoff.ms: \"20\"\n");
        if (sasl)
            snprintf(yaml + len, sizeof yaml - (size_t)len,
                     "  security.protocol: sasl_plaintext\n"
                     "  sasl.mechanisms: PLAIN\n  sasl.username: evc\n"
                     "  sasl.password_file: %s\n",
                     pw);
        kt_node n;
        evc_error err = {0};
        int rc = kt_open(&n, boot, group, yaml, 1, &err);
        cr_assert_eq(rc, EVC_OK, "%s\n%s", err.msg, yaml);
        cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK, "%s", err.msg);
        rc = n.ops->start(n.t, &err);
        if (sasl)
            cr_expect_neq(rc, EVC_OK, "a SASL client started against a broker without SASL");
        else
            cr_expect_eq(rc, EVC_OK, "%s", err.msg);
        kt_close(&n);
    }
    unlink(pw);
    evc_conformance_transport_fixture.peer_stop(peer);
}
