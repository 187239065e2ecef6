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
