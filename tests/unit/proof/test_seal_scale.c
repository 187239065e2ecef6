/* Seals at a city's scale (issue 14): a verifier remembers every sender it
 * hears (the old fixed table forgot past 8,192), in about 150 bytes each,
 * and its compact replay windows answer exactly as a full 1024-seq map. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/seal.h"

#define NOW 1800000000000LL
#define SENDERS 30000
#define OLD_BYTES_PER_SENDER 656 /* the fixed table's record: 4 x 144-byte windows + kid */

static uint8_t key[32] = {7, 7, 7};

/* Every kid is a CP sharing one key: only the replay state matters here. */
static int lookup(void *arg, const char *kid, evc_seal_key *out)
{
    (void)arg;
    (void)kid;
    *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256};
    memcpy(out->key, key, 32);
    return 0;
}

static evc_seal_verifier *verifier(size_t max_senders)
{
    evc_seal_policy p = {.max_senders = max_senders};
    evc_seal_verifier *v = NULL;
    evc_error err;
    cr_assert_eq(evc_seal_verifier_new(lookup, NULL, &p, &v, &err), 0, "%s", err.msg);
    return v;
}

static evc_sealer *sealer(const char *kid)
{
    evc_sealer *s = NULL;
    evc_error err;
    cr_assert_eq(evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, key, &s, &err), 0, "%s", err.msg);
    return s;
}

static char *sealed(evc_sealer *s, int64_t at, size_t *len)
{
    char e[256], *out = NULL;
    snprintf(e, sizeof e,
             "{\"type\":\"supply.telemetry\",\"id\":\"6f1c2b9e-8d1f-4c3a-9b7e-2a4d5c6e7f80\","
             "\"correlation_id\":null,\"ts\":1,\"source\":\"%s\",\"payload\":{}}",
             evc_sealer_kid(s));
    evc_error err;
    cr_assert_eq(evc_seal(s, "cp-events", e, strlen(e), at, &out, len, &err), 0, "%s", err.msg);
    return out;
}

static evc_seal_verdict open_at(evc_seal_verifier *v, const char *m, size_t len, int64_t now,
                                evc_seal_opened *keep)
{
    evc_seal_opened o;
    evc_seal_verdict vd = evc_seal_open(v, "cp-events", m, len, now, &o);
    free(o.envelope);
    o.envelope = NULL;
    if (keep)
        *keep = o;
    return vd;
}

/* One sealed message from each of n fresh senders named prefix<i>. */
static void others_speak(evc_seal_verifier *v, const char *prefix, int n, int64_t at)
{
    for (int i = 0; i < n; i++) {
        char kid[32];
        snprintf(kid, sizeof kid, "%s%05d", prefix, i);
        evc_sealer *s = sealer(kid);
        size_t len;
        char *m = sealed(s, at, &len);
        cr_assert_eq(open_at(v, m, len, at, NULL), EVC_SEAL_OK, "%s", kid);
        free(m);
        evc_sealer_free(s);
    }
}

static void init(void) { cr_assert(sodium_init() >= 0); }

TestSuite(seal_scale, .init = init, .timeout = 60);

Test(seal_scale, an_old_message_is_still_a_replay_after_30000_others_spoke)
{
    evc_seal_verifier *v = verifier(0);
    evc_sealer *first = sealer("CP_first");
    size_t l1, l2;
    char *m1 = sealed(first, NOW, &l1), *m2 = sealed(first, NOW, &l2);
    cr_assert_eq(open_at(v, m1, l1, NOW, NULL), EVC_SEAL_OK);
    others_speak(v, "CP_", SENDERS, NOW);
    cr_assert_eq(open_at(v, m1, l1, NOW + 1000, NULL), EVC_SEAL_REPLAY,
                 "sender #1 is remembered past 30,000 others");
    cr_assert_eq(open_at(v, m2, l2, NOW + 1000, NULL), EVC_SEAL_OK, "its next message is new");

    evc_seal_memory mem;
    evc_seal_memory_get(v, &mem);
    cr_assert_eq(mem.senders, SENDERS + 1);
    cr_assert_eq(mem.evicted, 0);
    cr_assert_eq(mem.max_senders, EVC_SEAL_SENDERS_MAX);
    /* Bounded by the struct sizes: one record and its bucket per sender,
     * at most twice over while the table is between two doublings. */
    size_t per_sender = mem.bytes / mem.senders;
    cr_assert_leq(mem.bytes, 2 * mem.senders * mem.record_bytes, "%zu bytes", mem.bytes);
    cr_assert_leq(mem.record_bytes, 160, "record %zu bytes", mem.record_bytes);
    cr_assert_lt(per_sender, OLD_BYTES_PER_SENDER / 3, "%zu bytes a sender", per_sender);
    cr_log_info("seal: %zu senders, %zu bytes (%zu a sender, record %zu; was %d)", mem.senders,
                mem.bytes, per_sender, mem.record_bytes, OLD_BYTES_PER_SENDER);
    free(m1);
    free(m2);
    evc_sealer_free(first);
    evc_seal_verifier_free(v);
}

Test(seal_scale, a_silent_sender_is_forgotten_only_once_its_messages_are_stale)
{
    evc_seal_verifier *v = verifier(0);
    evc_sealer *s = sealer("CP_quiet");
    size_t len;
    char *m = sealed(s, NOW, &len);
    cr_assert_eq(open_at(v, m, len, NOW, NULL), EVC_SEAL_OK);
    int64_t later = NOW + 900000 + 30000 + 1; /* max_age + max_skew later */
    others_speak(v, "CP_", 10, later);
    evc_seal_memory mem;
    evc_seal_memory_get(v, &mem);
    cr_assert_eq(mem.expired, 1, "the quiet sender's record was freed");
    cr_assert_eq(mem.senders, 10);
    cr_assert_eq(open_at(v, m, len, later, NULL), EVC_SEAL_STALE, "and its replay is stale");
    free(m);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal_scale, at_the_bound_the_least_recently_heard_is_forgotten)
{
    evc_seal_verifier *v = verifier(64);
    evc_sealer *a = sealer("CP_a"), *b = sealer("CP_b");
    size_t la, lb, la2;
    char *ma = sealed(a, NOW, &la), *mb = sealed(b, NOW, &lb);
    cr_assert_eq(open_at(v, ma, la, NOW, NULL), EVC_SEAL_OK);
    cr_assert_eq(open_at(v, mb, lb, NOW, NULL), EVC_SEAL_OK);
    others_speak(v, "CP_", 61, NOW + 1); /* 63 senders */
    char *ma2 = sealed(a, NOW + 2, &la2);
    cr_assert_eq(open_at(v, ma2, la2, NOW + 2, NULL), EVC_SEAL_OK, "CP_a heard again");
    others_speak(v, "CP_x", 2, NOW + 3); /* 65 > 64: one goes */
    evc_seal_memory mem;
    evc_seal_memory_get(v, &mem);
    cr_assert_eq(mem.senders, 64);
    cr_assert_eq(mem.evicted, 1);
    cr_assert_eq(open_at(v, ma, la, NOW + 4, NULL), EVC_SEAL_REPLAY, "recently heard: kept");
    /* The documented cost of the bound (docs/SECURITY.md): the forgotten
     * sender's fresh message is taken once more, and then remembered. */
    cr_assert_eq(open_at(v, mb, lb, NOW + 4, NULL), EVC_SEAL_OK, "CP_b was forgotten");
    cr_assert_eq(open_at(v, mb, lb, NOW + 4, NULL), EVC_SEAL_REPLAY);
    free(ma);
    free(ma2);
    free(mb);
    evc_sealer_free(a);
    evc_sealer_free(b);
    evc_seal_verifier_free(v);
}

/* ---- compact windows answer as the full map would ------------------------- */

#define MSGS 4000
#define WIN EVC_SEAL_WINDOW

/* The reference: the 1024-bit map of one incarnation, as it always was. */
typedef struct ref {
    uint64_t top;
    uint8_t seen[MSGS + 1];
} ref;

static bool ref_accept(ref *r, uint64_t seq)
{
    if (r->top == 0 || seq > r->top) {
        for (uint64_t q = r->top + 1; q < seq; q++)
            r->seen[q] = 0;
        r->top = seq;
        r->seen[seq] = 1;
        return true;
    }
    if (r->top - seq >= WIN || r->seen[seq])
        return false;
    r->seen[seq] = 1;
    return true;
}

/* Deliveries of one sender's MSGS messages with losses, duplicates, late
 * and very late ones, redeliveries after an unmark, each checked against
 * the reference. `shape` picks how disordered. */
static void differential(unsigned seed, int shape)
{
    srand(seed);
    evc_seal_verifier *v = verifier(0);
    evc_sealer *s = sealer("CP_diff");
    static char *m[MSGS + 1];
    static size_t len[MSGS + 1];
    for (int i = 1; i <= MSGS; i++)
        m[i] = sealed(s, NOW, &len[i]);
    static ref r;
    memset(&r, 0, sizeof r);
    /* shape 3: the receiver starts mid-stream (it restarted): the seqs
     * before the first it hears are new to it */
    int next = shape == 3 ? 300 + rand() % 1200 : 1, n = 0;
    while (next <= MSGS && n < 3 * MSGS) {
        int seq, pick = rand() % 100;
        if (pick < (shape == 0 ? 90 : 60))
            seq = next++; /* in order */
        else if (pick < 70)
            seq = next - 1 - rand() % 64; /* a little late or a duplicate */
        else if (pick < 80)
            seq = next - 1 - rand() % (WIN + 200); /* very late, maybe past the window */
        else if (pick < 75 && shape == 3)
            seq = next - 65 - rand() % 4; /* just under the latest 64 */
        else if (pick < 90)
            next += 1 + rand() % (shape == 2 ? 1500 : 70), seq = next > MSGS ? MSGS : next;
        else
            seq = next - 1;
        if (seq < 1 || seq > MSGS)
            continue;
        evc_seal_opened o;
        evc_seal_verdict got = open_at(v, m[seq], len[seq], NOW, &o);
        bool want = ref_accept(&r, (uint64_t)seq);
        cr_assert_eq(got == EVC_SEAL_OK, want, "seed %u shape %d delivery %d of seq %d: %s",
                     seed, shape, n, seq, evc_seal_verdict_name(got));
        if (got == EVC_SEAL_OK && rand() % 20 == 0) { /* the handler asks for it again */
            evc_seal_unmark(v, &o);
            r.seen[seq] = 0;
        }
        n++;
    }
    for (int i = 1; i <= MSGS; i++)
        free(m[i]);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
}

Test(seal_scale, compact_windows_answer_as_the_full_map)
{
    for (unsigned seed = 1; seed <= 16; seed++)
        differential(seed, (int)(seed % 4));
}

/* The bytes a verifier holds after one sender's 3 windows of messages,
 * one of them lost when `lose` (0 = none). */
static size_t bytes_after_one_sender(int lose)
{
    evc_seal_verifier *v = verifier(0);
    evc_sealer *s = sealer("CP_holes");
    size_t len;
    for (int i = 1; i <= 3 * WIN; i++) {
        char *m = sealed(s, NOW, &len);
        if (i != lose)
            cr_assert_eq(open_at(v, m, len, NOW, NULL), EVC_SEAL_OK);
        free(m);
    }
    evc_seal_memory mem;
    evc_seal_memory_get(v, &mem);
    evc_sealer_free(s);
    evc_seal_verifier_free(v);
    return mem.bytes;
}

Test(seal_scale, a_sender_with_holes_goes_back_to_compact_once_they_leave_the_window)
{
    cr_assert_eq(bytes_after_one_sender(100), bytes_after_one_sender(0),
                 "no full map left once the lost message is out of the window");
}
