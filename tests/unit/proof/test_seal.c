/* Seals: a receiver accepts exactly what a key holder sealed, once, in time,
 * from the source the key belongs to. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/seal.h"

#define NOW 1800000000000LL

static uint8_t cp_key[32] = {1, 2, 3};
static uint8_t ed_pk[32], ed_sk[64];

static int lookup(void *arg, const char *kid, evc_seal_key *out)
{
    (void)arg;
    if (strcmp(kid, "CP_001") == 0 || strncmp(kid, "driver1/", 8) == 0) {
        *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256, .rate_per_s = 0};
        memcpy(out->key, cp_key, 32);
        return 0;
    }
    if (strcmp(kid, "central") == 0) {
        *out = (evc_seal_key){.alg = EVC_SEAL_ED25519};
        memcpy(out->key, ed_pk, 32);
        return 0;
    }
    if (strcmp(kid, "CP_SLOW") == 0) {
        *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256, .rate_per_s = 1, .burst = 2};
        memcpy(out->key, cp_key, 32);
        return 0;
    }
    return -1;
}

static const char *unsigned_types[] = {"driver.hello", NULL};

static evc_seal_verifier *verifier(void)
{
    evc_seal_policy p = {.unsigned_types = unsigned_types, .unsigned_rate_per_s = 1,
                         .unsigned_burst = 3};
    evc_seal_verifier *v = NULL;
    evc_error err;
    cr_assert_eq(evc_seal_verifier_new(lookup, NULL, &p, &v, &err), 0, "%s", err.msg);
    return v;
}

static char *envelope(const char *type, const char *source)
{
    char *e = malloc(512);
    snprintf(e, 512,
             "{\"type\":\"%s\",\"id\":\"6f1c2b9e-8d1f-4c3a-9b7e-2a4d5c6e7f80\","
             "\"correlation_id\":null,\"ts\":1,\"source\":\"%s\",\"payload\":{\"wh\":10}}",
             type, source);
    return e;
}

static char *sealed(evc_sealer *s, const char *type, const char *source, int64_t at, size_t *len)
{
    char *e = envelope(type, source), *out = NULL;
    evc_error err;
    cr_assert_eq(evc_seal(s, "cp-events", e, strlen(e), at, &out, len, &err), 0, "%s", err.msg);
    free(e);
    return out;
}

static evc_seal_verdict open_one(evc_seal_verifier *v, const char *topic, const char *m,
                                 size_t len, int64_t now)
{
    evc_seal_opened o;
    evc_seal_verdict vd = evc_seal_open(v, topic, m, len, now, &o);
    if (vd == EVC_SEAL_OK || vd == EVC_SEAL_UNSIGNED_OK)
        cr_assert(o.envelope && strstr(o.envelope, "\"seal\"") == NULL);
    free(o.envelope);
    return vd;
}

static evc_sealer *cp_sealer(const char *kid)
{
    evc_sealer *s = NULL;
    evc_error err;
    cr_assert_eq(evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, cp_key, &s, &err), 0, "%s", err.msg);
    return s;
}

static void init(void)
{
    cr_assert(sodium_init() >= 0);
    crypto_sign_keypair(ed_pk, ed_sk);
}

TestSuite(seal, .init = init);

Test(seal, a_sealed_message_opens_once_and_names_its_sender)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_001");
    size_t len;
    char *m = sealed(s, "supply.ended", "CP_001", NOW, &len);
    evc_seal_opened o;
    cr_assert_eq(evc_seal_open(v, "cp-events", m, len, NOW, &o), EVC_SEAL_OK);
    cr_assert_str_eq(o.sender, "CP_001");
    char *plain = envelope("supply.ended", "CP_001");
    cr_assert_str_eq(o.envelope, plain, "the handler sees the envelope as sent");
    free(plain);
    free(o.envelope);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_REPLAY);
    free(m);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal, any_changed_byte_or_topic_breaks_it)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_001");
    size_t len;
    char *m = sealed(s, "supply.ended", "CP_001", NOW, &len);
    char *wh = strstr(m, "\"wh\":10");
    wh[6] = '9';
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_BAD_SIGNATURE);
    wh[6] = '0';
    cr_assert_eq(open_one(v, "driver-requests", m, len, NOW), EVC_SEAL_BAD_SIGNATURE);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_OK);
    free(m);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal, a_key_speaks_only_as_its_own_source)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_001"), *d = cp_sealer("driver1/ab12");
    size_t len;
    char *m = sealed(s, "supply.ended", "CP_002", NOW, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_WRONG_SOURCE);
    free(m);
    m = sealed(d, "supply.request", "driver1", NOW, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_OK);
    free(m);
    m = sealed(d, "supply.request", "driver10", NOW, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_WRONG_SOURCE);
    free(m);
    evc_sealer_free(s);
    evc_sealer_free(d);
    evc_seal_verifier_free(v);
}

Test(seal, unknown_keys_and_stripped_seals_are_refused)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_404");
    size_t len;
    char *m = sealed(s, "supply.ended", "CP_404", NOW, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_UNKNOWN_KEY);
    free(m);
    char *e = envelope("supply.ended", "CP_001");
    cr_assert_eq(open_one(v, "cp-events", e, strlen(e), NOW), EVC_SEAL_UNSIGNED);
    free(e);
    const char *junk[] = {"", "{", "}}", "not json", "{\"seal\":{}}",
                          "{\"type\":\"x\",\"seal\":{\"kid\":\"CP_001\"}}"};
    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++)
        cr_assert_eq(open_one(v, "cp-events", junk[i], strlen(junk[i]), NOW),
                     EVC_SEAL_MALFORMED, "%s", junk[i]);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal, a_seal_moved_into_a_string_does_not_verify)
{
    /* The forger splices bytes in front of a real seal: the envelope the
     * receiver rebuilds is not the one that was signed. */
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_001");
    size_t len;
    char *m = sealed(s, "supply.ended", "CP_001", NOW, &len);
    char forged[2048];
    const char *seal = strstr(m, ",\"seal\":{");
    snprintf(forged, sizeof forged, "%.*s,\"x\":\"y\"%s", (int)(seal - m) - 1, m, seal);
    evc_seal_verdict vd = open_one(v, "cp-events", forged, strlen(forged), NOW);
    cr_assert(vd == EVC_SEAL_BAD_SIGNATURE || vd == EVC_SEAL_MALFORMED, "%s",
              evc_seal_verdict_name(vd));
    free(m);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal, central_signs_with_ed25519_and_a_shared_key_cannot_forge_it)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *c = NULL;
    evc_error err;
    cr_assert_eq(evc_sealer_new("central", EVC_SEAL_ED25519, ed_sk, &c, &err), 0);
    size_t len;
    char *m = sealed(c, "cp.authorise", "central", NOW, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_OK);
    free(m);
    evc_sealer *fake = cp_sealer("central"); /* HMAC with a CP's key, named central */
    m = sealed(fake, "cp.authorise", "central", NOW, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_BAD_SIGNATURE);
    free(m);
    evc_sealer_free(fake);
    evc_sealer_free(c);
    evc_seal_verifier_free(v);
}

Test(seal, old_or_future_messages_are_stale)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_001");
    size_t len;
    char *m = sealed(s, "supply.telemetry", "CP_001", NOW - 900001, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_STALE);
    free(m);
    m = sealed(s, "supply.telemetry", "CP_001", NOW + 30001, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_STALE);
    free(m);
    m = sealed(s, "supply.telemetry", "CP_001", NOW - 899000, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_OK);
    free(m);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal, out_of_order_within_the_window_is_fine_beyond_it_a_replay)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_001");
    size_t lens[1100];
    char *ms[1100];
    for (int i = 0; i < 1100; i++)
        ms[i] = sealed(s, "supply.telemetry", "CP_001", NOW, &lens[i]);
    cr_assert_eq(open_one(v, "cp-events", ms[5], lens[5], NOW), EVC_SEAL_OK);
    cr_assert_eq(open_one(v, "cp-events", ms[3], lens[3], NOW), EVC_SEAL_OK, "late but new");
    cr_assert_eq(open_one(v, "cp-events", ms[3], lens[3], NOW), EVC_SEAL_REPLAY);
    cr_assert_eq(open_one(v, "cp-events", ms[1099], lens[1099], NOW), EVC_SEAL_OK);
    cr_assert_eq(open_one(v, "cp-events", ms[4], lens[4], NOW), EVC_SEAL_REPLAY,
                 "older than the window");
    cr_assert_eq(open_one(v, "cp-events", ms[1000], lens[1000], NOW), EVC_SEAL_OK);
    for (int i = 0; i < 1100; i++)
        free(ms[i]);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal, a_restarted_sender_and_its_late_old_self_are_heard_once_each)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *old = cp_sealer("CP_001");
    size_t l1, l2;
    char *m_old = sealed(old, "supply.telemetry", "CP_001", NOW, &l1);
    /* a later incarnation: its ep (start time) is larger */
    evc_sealer *now = NULL;
    /* ep has millisecond resolution: wait until the clock is in the next one */
    struct timespec t0, t1;
    timespec_get(&t0, TIME_UTC);
    do
        timespec_get(&t1, TIME_UTC);
    while (t1.tv_sec * 1000 + t1.tv_nsec / 1000000 <= t0.tv_sec * 1000 + t0.tv_nsec / 1000000);
    evc_error err;
    cr_assert_eq(evc_sealer_new("CP_001", EVC_SEAL_HMAC_SHA256, cp_key, &now, &err), 0);
    char *m_new = sealed(now, "supply.telemetry", "CP_001", NOW, &l2);
    cr_assert_eq(open_one(v, "cp-events", m_new, l2, NOW), EVC_SEAL_OK);
    /* The old incarnation's last message, late (a backlog): heard once. */
    cr_assert_eq(open_one(v, "cp-events", m_old, l1, NOW), EVC_SEAL_OK);
    cr_assert_eq(open_one(v, "cp-events", m_old, l1, NOW), EVC_SEAL_REPLAY);
    cr_assert_eq(open_one(v, "cp-events", m_new, l2, NOW), EVC_SEAL_REPLAY);
    free(m_old);
    free(m_new);
    evc_sealer_free(old);
    evc_sealer_free(now);
    evc_seal_verifier_free(v);
}

Test(seal, rates_bound_a_key_and_the_unsigned_types)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_SLOW");
    size_t len;
    int ok = 0, rate = 0;
    for (int i = 0; i < 5; i++) {
        char *m = sealed(s, "supply.telemetry", "CP_SLOW", NOW, &len);
        evc_seal_verdict vd = open_one(v, "cp-events", m, len, NOW);
        ok += vd == EVC_SEAL_OK;
        rate += vd == EVC_SEAL_RATE;
        free(m);
    }
    cr_assert_eq(ok, 2, "burst 2");
    cr_assert_eq(rate, 3);
    char *m = sealed(s, "supply.telemetry", "CP_SLOW", NOW + 1000, &len);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW + 1000), EVC_SEAL_OK, "1/s refilled");
    free(m);
    char *hello = envelope("driver.hello", "driver1");
    ok = 0;
    for (int i = 0; i < 5; i++)
        ok += open_one(v, "driver-requests", hello, strlen(hello), NOW) == EVC_SEAL_UNSIGNED_OK;
    cr_assert_eq(ok, 3, "unsigned burst 3");
    free(hello);
    uint64_t counts[EVC_SEAL_NVERDICTS];
    evc_seal_counts(v, counts);
    cr_assert_eq(counts[EVC_SEAL_RATE], 5);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal, unmark_lets_a_redelivery_in)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *s = cp_sealer("CP_001");
    size_t len;
    char *m = sealed(s, "supply.ended", "CP_001", NOW, &len);
    evc_seal_opened o;
    cr_assert_eq(evc_seal_open(v, "cp-events", m, len, NOW, &o), EVC_SEAL_OK);
    evc_seal_unmark(v, &o);
    free(o.envelope);
    cr_assert_eq(open_one(v, "cp-events", m, len, NOW), EVC_SEAL_OK);
    free(m);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal, bad_key_ids_are_refused)
{
    evc_sealer *s = NULL;
    evc_error err;
    cr_assert_neq(evc_sealer_new("a\nb", EVC_SEAL_HMAC_SHA256, cp_key, &s, &err), 0);
    cr_assert_neq(evc_sealer_new("", EVC_SEAL_HMAC_SHA256, cp_key, &s, &err), 0);
    cr_assert_neq(evc_sealer_new("x\"y", EVC_SEAL_HMAC_SHA256, cp_key, &s, &err), 0);
    cr_assert_null(s);
}

Test(seal, a_login_sealed_with_a_forgotten_session_counts_as_unsealed)
{
    evc_seal_verifier *v = verifier();
    evc_sealer *old = cp_sealer("driver9/0011223344556677"); /* lookup does not know it */
    size_t len;
    char *m = sealed(old, "driver.hello", "driver9", NOW, &len);
    evc_seal_opened o;
    cr_assert_eq(evc_seal_open(v, "driver-requests", m, len, NOW, &o), EVC_SEAL_UNSIGNED_OK);
    cr_assert_str_eq(o.sender, "", "no proven sender");
    free(o.envelope);
    free(m);
    m = sealed(old, "supply.request", "driver9", NOW, &len);
    cr_assert_eq(open_one(v, "driver-requests", m, len, NOW), EVC_SEAL_UNKNOWN_KEY);
    free(m);
    evc_sealer_free(old);
    evc_seal_verifier_free(v);
}

Test(seal, an_incarnation_older_than_the_four_remembered_is_refused)
{
    evc_seal_verifier *v = verifier();
    /* Five incarnations of CP_001, made oldest first (ep = creation ms). */
    evc_sealer *gen[5];
    char *first[5];
    size_t len[5];
    evc_error err;
    for (int i = 0; i < 5; i++) {
        struct timespec t0, t1;
        timespec_get(&t0, TIME_UTC);
        do
            timespec_get(&t1, TIME_UTC);
        while (t1.tv_sec * 1000 + t1.tv_nsec / 1000000 <= t0.tv_sec * 1000 + t0.tv_nsec / 1000000);
        cr_assert_eq(evc_sealer_new("CP_001", EVC_SEAL_HMAC_SHA256, cp_key, &gen[i], &err), 0);
        first[i] = sealed(gen[i], "cp.hello", "CP_001", NOW, &len[i]);
    }
    for (int i = 1; i < 5; i++)
        cr_assert_eq(open_one(v, "cp-events", first[i], len[i], NOW), EVC_SEAL_OK);
    cr_assert_eq(open_one(v, "cp-events", first[0], len[0], NOW), EVC_SEAL_REPLAY,
                 "older than the four incarnations heard: cannot be told from a replay");
    for (int i = 0; i < 5; i++) {
        free(first[i]);
        evc_sealer_free(gen[i]);
    }
    evc_seal_verifier_free(v);
}

Test(seal, a_flood_in_one_name_leaves_the_other_names_their_logins)
{
    evc_seal_policy p = {.unsigned_types = unsigned_types};
    evc_seal_verifier *v = NULL;
    evc_error err;
    cr_assert_eq(evc_seal_verifier_new(lookup, NULL, &p, &v, &err), 0);
    char *flood = envelope("driver.hello", "driver1");
    int ok = 0;
    for (int i = 0; i < 1000; i++)
        ok += open_one(v, "driver-requests", flood, strlen(flood), NOW) == EVC_SEAL_UNSIGNED_OK;
    cr_assert_eq(ok, 10, "driver1's own burst, no more");
    char *other = envelope("driver.hello", "driver2");
    cr_assert_eq(open_one(v, "driver-requests", other, strlen(other), NOW), EVC_SEAL_UNSIGNED_OK);
    cr_assert_eq(open_one(v, "driver-requests", flood, strlen(flood), NOW + 1000),
                 EVC_SEAL_UNSIGNED_OK, "2/s refilled for driver1");
    free(flood);
    free(other);
    evc_seal_verifier_free(v);
}
