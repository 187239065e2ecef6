/* The bus seals what it publishes and hands handlers only proven messages,
 * without their seal, with their sender. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_internal.h"
#include "evc/log.h"
#include "evc/seal.h"
#include "fake_transport.h"

static evc_loop *L;
static evc_bus *B;
static evc_transport_ops OPS;
static FILE *LOG;
static const uint8_t KEY[32] = {9, 9, 9};

static int lookup(void *arg, const char *kid, evc_seal_key *out)
{
    (void)arg;
    if (strcmp(kid, "CP_001") != 0)
        return EVC_ENOTFOUND;
    *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256};
    memcpy(out->key, KEY, 32);
    return EVC_OK;
}

typedef struct seen {
    int calls;
    char payload[512];
    char sender[64];
    int rc; /* what the handler returns */
} seen;

static int handler(void *arg, const evc_message *m)
{
    seen *s = arg;
    s->calls++;
    snprintf(s->payload, sizeof s->payload, "%.*s", (int)m->payload_len,
             (const char *)m->payload);
    const char *who = evc_bus_sender(B);
    snprintf(s->sender, sizeof s->sender, "%s", who ? who : "(none)");
    return s->rc;
}

static void setup(void)
{
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&L, &err), EVC_OK, "%s", err.msg);
    LOG = tmpfile();
    evc_log_set_fd(fileno(LOG));
    OPS = fake_ops();
    evc_transport_params params = {.struct_size = sizeof params, .endpoint = "fake:1"};
    cr_assert_eq(evc_bus_open_ops(L, &OPS, &params, &B, &err), EVC_OK, "%s", err.msg);
}

static void teardown(void)
{
    evc_bus_close(B);
    evc_loop_free(L);
    evc_log_set_fd(2);
    fclose(LOG);
}

static size_t log_lines(void)
{
    char buf[65536];
    fflush(LOG);
    ssize_t n = pread(fileno(LOG), buf, sizeof buf - 1, 0);
    size_t lines = 0;
    for (ssize_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    return lines;
}

TestSuite(bus_seal, .init = setup, .fini = teardown, .timeout = 30);

#define ENV "{\"type\":\"supply.ended\",\"id\":\"6f1c2b9e-8d1f-4c3a-9b7e-2a4d5c6e7f80\"," \
            "\"correlation_id\":null,\"ts\":1,\"source\":\"CP_001\",\"payload\":{\"wh\":5}}"

static void seal_as_cp(void)
{
    evc_sealer *s = NULL;
    evc_error err;
    cr_assert_eq(evc_sealer_new("CP_001", EVC_SEAL_HMAC_SHA256, KEY, &s, &err), EVC_OK);
    cr_assert_eq(evc_bus_seal_with(B, s, &err), EVC_OK);
}

static void verify(void)
{
    evc_seal_verifier *v = NULL;
    evc_error err;
    cr_assert_eq(evc_seal_verifier_new(lookup, NULL, NULL, &v, &err), EVC_OK);
    cr_assert_eq(evc_bus_verify_with(B, v, &err), EVC_OK);
}

Test(bus_seal, a_published_message_carries_a_seal_the_receiver_checks)
{
    seal_as_cp();
    verify();
    seen s = {0};
    evc_error err;
    cr_assert_eq(evc_bus_subscribe(B, "cp-events", handler, &s, &err), EVC_OK);
    cr_assert_eq(evc_bus_publish(B, "cp-events", "CP_001", ENV, strlen(ENV), NULL, NULL, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(FAKE.npub, 1);
    cr_assert(strstr(FAKE.pub[0].body, "\"seal\":{\"kid\":\"CP_001\""), "%s", FAKE.pub[0].body);
    char wire[512];
    snprintf(wire, sizeof wire, "%s", FAKE.pub[0].body);
    cr_assert_eq(fake_dispatch("cp-events", wire), EVC_OK);
    cr_assert_eq(s.calls, 1);
    cr_assert_str_eq(s.payload, ENV);
    cr_assert_str_eq(s.sender, "CP_001");
    cr_assert_null(evc_bus_sender(B), "no sender outside a handler");
    cr_assert_eq(fake_dispatch("cp-events", wire), EVC_OK, "a replay is refused, not retried");
    cr_assert_eq(s.calls, 1);
}

Test(bus_seal, a_failed_handler_gets_the_redelivery)
{
    seal_as_cp();
    verify();
    seen s = {.rc = EVC_EIO};
    evc_error err;
    evc_bus_subscribe(B, "cp-events", handler, &s, &err);
    evc_bus_publish(B, "cp-events", "CP_001", ENV, strlen(ENV), NULL, NULL, &err);
    char wire[512];
    snprintf(wire, sizeof wire, "%s", FAKE.pub[0].body);
    cr_assert_eq(fake_dispatch("cp-events", wire), EVC_EIO);
    s.rc = EVC_OK;
    cr_assert_eq(fake_dispatch("cp-events", wire), EVC_OK);
    cr_assert_eq(s.calls, 2);
}

Test(bus_seal, forgeries_never_reach_a_handler_and_log_at_a_bounded_rate)
{
    verify();
    seen s = {0};
    evc_error err;
    evc_bus_subscribe(B, "cp-events", handler, &s, &err);
    size_t before = log_lines();
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(fake_dispatch("cp-events", ENV), EVC_OK);
    cr_assert_eq(s.calls, 0);
    size_t lines = log_lines() - before;
    cr_assert(lines >= 1 && lines <= 2, "%zu log lines for 1000 forgeries", lines);
    uint64_t counts[EVC_SEAL_NVERDICTS];
    evc_seal_counts(evc_bus_verifier(B), counts);
    cr_assert_eq(counts[EVC_SEAL_UNSIGNED], 1000);
}

/* ---- relays to a driver (evc/seal.h "Relays to a driver") ---------------- */

#define CENV "{\"type\":\"supply.telemetry\",\"id\":\"6f1c2b9e-8d1f-4c3a-9b7e-2a4d5c6e7f81\"," \
             "\"correlation_id\":null,\"ts\":1,\"source\":\"central\",\"payload\":{\"wh\":7}}"

static const uint8_t PROOF_KEY[32] = {4, 2};

/* A driver's lookup: only Central's relay kid for "driver1". */
static int relay_lookup(void *arg, const char *kid, evc_seal_key *out)
{
    (void)arg;
    char mine[EVC_SEAL_KID_MAX];
    cr_assert(evc_seal_relay_kid("driver1", mine));
    if (strcmp(kid, mine) != 0)
        return EVC_ENOTFOUND;
    *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256};
    evc_seal_relay_key(PROOF_KEY, "driver1", out->key);
    return EVC_OK;
}

/* The bus checks seals as driver1's app does, and hands central-events to s. */
static void verify_as_driver1(seen *s)
{
    evc_seal_verifier *v = NULL;
    evc_error err;
    cr_assert_eq(evc_seal_verifier_new(relay_lookup, NULL, NULL, &v, &err), EVC_OK);
    cr_assert_eq(evc_bus_verify_with(B, v, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(B, "central-events", handler, s, &err), EVC_OK);
}

static evc_sealer *relay_sealer(const char *driver)
{
    char kid[EVC_SEAL_KID_MAX];
    uint8_t k[32];
    cr_assert(evc_seal_relay_kid(driver, kid));
    evc_seal_relay_key(PROOF_KEY, driver, k);
    evc_sealer *s = NULL;
    evc_error err;
    cr_assert_eq(evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, k, &s, &err), EVC_OK, "%s", err.msg);
    return s;
}

Test(bus_seal, a_relay_sealed_with_the_drivers_key_is_central_speaking)
{
    seen s = {0};
    verify_as_driver1(&s);
    evc_error err;
    evc_sealer *relay = relay_sealer("driver1");
    cr_assert_eq(evc_bus_publish_with(B, relay, "central-events", "driver1", CENV, strlen(CENV),
                                      NULL, NULL, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert(strstr(FAKE.pub[0].body, "\"kid\":\"central:driver1\""), "%s", FAKE.pub[0].body);
    char wire[512];
    snprintf(wire, sizeof wire, "%s", FAKE.pub[0].body);
    cr_assert_eq(fake_dispatch("central-events", wire), EVC_OK);
    cr_assert_eq(s.calls, 1, "the relay reached the handler");
    cr_assert_str_eq(s.sender, "central:driver1");
    cr_assert_str_eq(s.payload, CENV);
    evc_sealer_free(relay);
}

Test(bus_seal, a_relay_to_another_driver_is_dropped_quietly_as_foreign)
{
    seen s = {0};
    verify_as_driver1(&s);
    evc_error err;
    /* driver2's relay, read by a program that takes every key. */
    char kid[EVC_SEAL_KID_MAX];
    uint8_t k[32];
    cr_assert(evc_seal_relay_kid("driver2", kid));
    evc_seal_relay_key(PROOF_KEY, "driver2", k);
    evc_sealer *other = NULL;
    cr_assert_eq(evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, k, &other, &err), EVC_OK);
    const char *env2 = "{\"type\":\"supply.telemetry\",\"id\":\"6f1c2b9e-8d1f-4c3a-9b7e-"
                       "2a4d5c6e7f82\",\"correlation_id\":null,\"ts\":1,\"source\":\"central\","
                       "\"payload\":{\"wh\":7}}";
    cr_assert_eq(evc_bus_publish_with(B, other, "central-events", "driver2", env2, strlen(env2),
                                      NULL, NULL, &err),
                 EVC_OK);
    size_t before = log_lines();
    uint64_t foreign = evc_bus_foreign(B);
    char wire[512];
    snprintf(wire, sizeof wire, "%s", FAKE.pub[0].body);
    cr_assert_eq(fake_dispatch("central-events", wire), EVC_OK);
    cr_assert_eq(s.calls, 0, "another driver's relay reached the handler");
    cr_assert_eq(evc_bus_foreign(B), foreign + 1, "counted as another's message");
    cr_assert_eq(log_lines(), before, "no refusal logged for another driver's relay");
    evc_sealer_free(other);
}

Test(bus_seal, a_relay_kid_cannot_be_made_for_a_bad_or_too_long_driver_id)
{
    char kid[EVC_SEAL_KID_MAX];
    cr_assert(evc_seal_relay_kid("driver1", kid));
    cr_assert_str_eq(kid, "central:driver1");
    cr_assert_not(evc_seal_relay_kid("", kid));
    cr_assert_not(evc_seal_relay_kid("bad id", kid));
    char longid[80];
    memset(longid, 'd', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    cr_assert_not(evc_seal_relay_kid(longid, kid), "a kid over 63 characters");
    uint8_t a[32], b[32];
    evc_seal_relay_key(PROOF_KEY, "driver1", a);
    evc_seal_relay_key(PROOF_KEY, "driver2", b);
    cr_assert(memcmp(a, b, 32) != 0, "one relay key per driver");
}
