/* evc_bus_subscribe_keys over the fake transport: with the ABI 1.2
 * subscribe_keys op (the transport is asked for each key once) and without
 * it (one whole-topic subscription, the bus filters); handlers get only
 * their keys, in the order added; foreign keys are dropped before the seal
 * check. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus_internal.h"
#include "evc/log.h"
#include "evc/seal.h"
#include "fake_transport.h"

static evc_loop *L;
static evc_bus *B;
static evc_transport_ops OPS;
static FILE *LOG;
static char ORDER[64];

static void setup(void)
{
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&L, &err), EVC_OK, "%s", err.msg);
    LOG = tmpfile();
    evc_log_set_fd(fileno(LOG));
    ORDER[0] = '\0';
}

static void open_bus(bool with_op)
{
    evc_error err = {0};
    FAKE.has_subscribe_keys = with_op;
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

static const char *logged(void)
{
    static char buf[16384];
    fflush(LOG);
    ssize_t n = pread(fileno(LOG), buf, sizeof buf - 1, 0);
    buf[n < 0 ? 0 : n] = '\0';
    return buf;
}

TestSuite(bus_keys, .init = setup, .fini = teardown, .timeout = 30);

static int mark(void *arg, const evc_message *m)
{
    size_t n = strlen(ORDER);
    ORDER[n] = *(const char *)arg;
    ORDER[n + 1] = '\0';
    return EVC_OK;
}

static const char *const CP1[] = {"CP1", "central"};
static const char *const CP2[] = {"CP2", "central"};

static void got(const char *key, const char *want)
{
    ORDER[0] = '\0';
    cr_assert_eq(fake_dispatch_key("central-events", key, "{}"), EVC_OK);
    cr_assert_str_eq(ORDER, want, "key %s: handlers '%s', expected '%s'", key, ORDER, want);
}

Test(bus_keys, with_the_op_each_key_is_asked_once_and_handlers_get_only_theirs)
{
    open_bus(true);
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP1, 2, mark, "a", &err), EVC_OK,
                 "%s", err.msg);
    cr_assert_eq(evc_bus_start(B, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP2, 2, mark, "b", &err), EVC_OK);
    cr_assert_eq(FAKE.nsubscribed, 0, "no whole-topic subscription");
    cr_assert_eq(FAKE.nsubscribed_keys, 2);
    cr_assert_str_eq(FAKE.subscribed_keys[0], "central-events:CP1,central");
    cr_assert_str_eq(FAKE.subscribed_keys[1], "central-events:CP2", "'central' asked once");

    got("CP1", "a");
    got("CP2", "b");
    got("central", "ab");
    got("CP3", "");
    cr_assert_eq(evc_bus_foreign(B), 1);
}

Test(bus_keys, without_the_op_one_topic_subscription_and_local_filtering)
{
    open_bus(false);
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP1, 2, mark, "a", &err), EVC_OK,
                 "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP2, 2, mark, "b", &err), EVC_OK);
    cr_assert_eq(FAKE.nsubscribed, 1);
    cr_assert_str_eq(FAKE.subscribed[0], "central-events");
    got("CP1", "a");
    got("CP2", "b");
    got("central", "ab");
    got("CP3", "");
    got("", "");
    cr_assert_eq(evc_bus_foreign(B), 2);
}

Test(bus_keys, keyless_and_keyed_handlers_mix_in_the_order_added)
{
    open_bus(true);
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP1, 2, mark, "1", &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(B, "central-events", mark, "2", &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP2, 2, mark, "3", &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP1, 1, mark, "4", &err), EVC_OK);
    /* Widened by the keyless handler: no key asked after it. */
    cr_assert_eq(FAKE.nsubscribed, 1);
    cr_assert_eq(FAKE.nsubscribed_keys, 1);
    got("CP1", "124");
    got("CP2", "23");
    got("central", "123");
    got("CP9", "2");
    cr_assert_eq(evc_bus_foreign(B), 0);
}

Test(bus_keys, a_key_given_twice_calls_the_handler_once)
{
    open_bus(true);
    const char *const twice[] = {"CP1", "CP1", ""};
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe_keys(B, "t", twice, 3, mark, "a", &err), EVC_OK);
    cr_assert_str_eq(FAKE.subscribed_keys[0], "t:CP1,");
    ORDER[0] = '\0';
    fake_dispatch_key("t", "CP1", "{}");
    cr_assert_str_eq(ORDER, "a");
    ORDER[0] = '\0';
    fake_dispatch_key("t", "", "{}"); /* unkeyed messages can be asked for */
    cr_assert_str_eq(ORDER, "a");
}

Test(bus_keys, refused_keys_are_asked_again_and_add_no_handler)
{
    open_bus(true);
    evc_error err = {0};
    FAKE.subscribe_rc = EVC_EIO;
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP1, 2, mark, "a", &err), EVC_EIO);
    cr_assert_str_eq(err.msg, "fake: keys of 'central-events' refused");
    got("CP1", "");
    FAKE.subscribe_rc = EVC_OK;
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP1, 2, mark, "a", &err), EVC_OK);
    cr_assert_str_eq(FAKE.subscribed_keys[0], "central-events:CP1,central");
    got("CP1", "a");
}

Test(bus_keys, bad_arguments_name_the_problem)
{
    open_bus(true);
    evc_error err = {0};
    char longkey[300];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    const char *const bad[] = {"CP1", longkey};
    const char *const nul[] = {NULL};
    cr_assert_eq(evc_bus_subscribe_keys(B, "t", bad, 2, mark, "a", &err), EVC_EINVAL);
    cr_assert(strstr(err.msg, "key 1 is too long"), "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe_keys(B, "t", nul, 1, mark, "a", &err), EVC_EINVAL);
    cr_assert(strstr(err.msg, "key 0 is NULL"), "%s", err.msg);
    cr_assert_eq(evc_bus_subscribe_keys(B, "t", CP1, 0, mark, "a", &err), EVC_EINVAL);
    cr_assert_eq(evc_bus_subscribe_keys(B, "", CP1, 1, mark, "a", &err), EVC_EINVAL);
    cr_assert_eq(evc_bus_subscribe_keys(B, "t", CP1, 1, NULL, "a", &err), EVC_EINVAL);
    cr_assert_eq(FAKE.nsubscribed_keys, 0);
}

static int subscribe_more(void *arg, const evc_message *m)
{
    mark(arg, m);
    evc_error err = {0};
    const char *const k[] = {"CP1"};
    /* grows the key table and the handler list from inside a dispatch */
    for (int i = 0; i < 50; i++) {
        char key[16];
        snprintf(key, sizeof key, "X%d", i);
        const char *const one[] = {key};
        cr_assert_eq(evc_bus_subscribe_keys(B, "t", one, 1, mark, "x", &err), EVC_OK);
    }
    cr_assert_eq(evc_bus_subscribe_keys(B, "t", k, 1, mark, "n", &err), EVC_OK);
    return EVC_OK;
}

Test(bus_keys, a_handler_may_subscribe_during_dispatch)
{
    open_bus(true);
    evc_error err = {0};
    const char *const k[] = {"CP1"};
    cr_assert_eq(evc_bus_subscribe_keys(B, "t", k, 1, subscribe_more, "s", &err), EVC_OK);
    ORDER[0] = '\0';
    fake_dispatch_key("t", "CP1", "{}");
    cr_assert_str_eq(ORDER, "sn", "the handler added during the dispatch runs after it");
    ORDER[0] = '\0';
    fake_dispatch_key("t", "X7", "{}");
    cr_assert_str_eq(ORDER, "x");
}

/* ---- foreign keys cost no seal check ------------------------------------- */

static const uint8_t KEY[32] = {7, 7, 7};

static int counting_lookup(void *arg, const char *kid, evc_seal_key *out)
{
    (*(int *)arg)++;
    *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256};
    memcpy(out->key, KEY, 32);
    return EVC_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define ENV "{\"type\":\"cp.authorise\",\"id\":\"6f1c2b9e-8d1f-4c3a-9b7e-2a4d5c6e7f80\"," \
            "\"correlation_id\":null,\"ts\":1,\"source\":\"central\",\"payload\":{}}"

Test(bus_keys, foreign_keys_are_dropped_before_the_seal_check)
{
    open_bus(false);
    int lookups = 0;
    evc_seal_verifier *v = NULL;
    evc_sealer *sealer = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_seal_verifier_new(counting_lookup, &lookups, NULL, &v, &err), EVC_OK);
    cr_assert_eq(evc_bus_verify_with(B, v, &err), EVC_OK);
    cr_assert_eq(evc_sealer_new("central", EVC_SEAL_HMAC_SHA256, KEY, &sealer, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe_keys(B, "central-events", CP1, 2, mark, "a", &err), EVC_OK);
    char *sealed = NULL;
    size_t len = 0;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(evc_seal(sealer, "central-events", ENV, strlen(ENV), now_ms(), &sealed, &len,
                              &err),
                     EVC_OK, "%s", err.msg);
        cr_assert_eq(fake_dispatch_key("central-events", "CP2", sealed), EVC_OK);
        free(sealed);
    }
    cr_assert_eq(evc_bus_foreign(B), 100);
    cr_assert_eq(lookups, 0, "a foreign key reached the verifier");
    cr_assert_null(strstr(logged(), "refused"), "log: %s", logged());
    cr_assert_str_eq(ORDER, "");
    /* Control: a message under a key this bus takes is verified. */
    cr_assert_eq(evc_seal(sealer, "central-events", ENV, strlen(ENV), now_ms(), &sealed, &len, &err),
                 EVC_OK);
    cr_assert_eq(fake_dispatch_key("central-events", "CP1", sealed), EVC_OK);
    free(sealed);
    cr_assert_gt(lookups, 0, "the control message did not reach the verifier");
    cr_assert_str_eq(ORDER, "a", "log: %s", logged());
    evc_sealer_free(sealer);
}
