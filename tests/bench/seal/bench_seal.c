/* bench_seal: a seal verifier hearing a city's senders (issue 14).
 *
 * Memory: heap bytes per sender remembered, from the growth of the heap
 * (mallinfo2) between 100 and 30,000 senders that each had one message
 * accepted, beside the verifier's own count (evc_seal_memory_get). The
 * fixed table this replaced held 8,192 senders in 656 bytes each.
 *
 * CPU: evc_seal_open per message (HMAC check, parse, replay window) with
 * 30,000 senders speaking in turn, as a ratio to the same with 100 senders
 * in the same run: the lookup does not grow with the senders. Medians of
 * ROUNDS. Numbers go to stderr; the asserts check the verdicts, a memory
 * bound (bytes, not timings) and a loose ratio.
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/seal.h"

#define NOW 1800000000000LL
#define FEW 100
#define MANY 30000
#define ROUNDS 5

static uint8_t key[32] = {9};

static int lookup(void *arg, const char *kid, evc_seal_key *out)
{
    (void)arg;
    (void)kid;
    *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256};
    memcpy(out->key, key, 32);
    return 0;
}

typedef struct msgs {
    char **m;
    size_t *len;
    int n;
} msgs;

/* rounds messages from each of n senders, in turn: m[r * n + i]. */
static msgs make(int n, int rounds)
{
    size_t total = (size_t)n * (size_t)rounds;
    msgs x = {calloc(total, sizeof(char *)), calloc(total, sizeof(size_t)), n * rounds};
    cr_assert(x.m && x.len);
    for (int i = 0; i < n; i++) {
        char kid[32], e[256];
        snprintf(kid, sizeof kid, "CP_%05d", i);
        snprintf(e, sizeof e,
                 "{\"type\":\"supply.telemetry\",\"id\":\"6f1c2b9e-8d1f-4c3a-9b7e-2a4d5c6e7f80\","
                 "\"correlation_id\":null,\"ts\":1,\"source\":\"%s\",\"payload\":{\"w\":7400}}",
                 kid);
        evc_sealer *s = NULL;
        evc_error err;
        cr_assert_eq(evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, key, &s, &err), 0);
        for (int r = 0; r < rounds; r++)
            cr_assert_eq(evc_seal(s, "cp-events", e, strlen(e), NOW, &x.m[r * n + i],
                                  &x.len[r * n + i], &err),
                         0);
        evc_sealer_free(s);
    }
    return x;
}

static void drop(msgs *x)
{
    for (int i = 0; i < x->n; i++)
        free(x->m[i]);
    free(x->m);
    free(x->len);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static evc_seal_verifier *verifier(void)
{
    evc_seal_verifier *v = NULL;
    evc_error err;
    cr_assert_eq(evc_seal_verifier_new(lookup, NULL, NULL, &v, &err), 0, "%s", err.msg);
    return v;
}

/* Seconds per message over x[from, to), all accepted. */
static double open_all(evc_seal_verifier *v, const msgs *x, int from, int to)
{
    double t0 = now_s();
    for (int i = from; i < to; i++) {
        evc_seal_opened o;
        cr_assert_eq(evc_seal_open(v, "cp-events", x->m[i], x->len[i], NOW, &o), EVC_SEAL_OK);
        free(o.envelope);
    }
    return (now_s() - t0) / (to - from);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Per-message seconds once n senders are known: the first round teaches
 * them, the later rounds are timed. */
static double per_message(int n)
{
    int rounds = n == FEW ? 600 : 3; /* about the same number of messages timed */
    msgs x = make(n, rounds);
    double t[ROUNDS];
    for (int k = 0; k < ROUNDS; k++) {
        evc_seal_verifier *v = verifier();
        open_all(v, &x, 0, n);
        t[k] = open_all(v, &x, n, x.n);
        evc_seal_verifier_free(v);
    }
    drop(&x);
    qsort(t, ROUNDS, sizeof *t, cmp);
    return t[ROUNDS / 2];
}

Test(bench, seal_verifier_memory_and_cpu_per_sender, .timeout = 280)
{
    cr_assert(sodium_init() >= 0);
    msgs x = make(MANY, 1);
    evc_seal_verifier *v = verifier();
    open_all(v, &x, 0, FEW);
    struct mallinfo2 a = mallinfo2();
    open_all(v, &x, FEW, MANY);
    struct mallinfo2 b = mallinfo2();
    /* opened envelopes are freed: heap growth is the verifier's */
    double heap = (double)((b.uordblks + b.hblkhd) - (a.uordblks + a.hblkhd)) / (MANY - FEW);
    evc_seal_memory mem;
    evc_seal_memory_get(v, &mem);
    double counted = (double)mem.bytes / (double)mem.senders;
    evc_seal_verifier_free(v);
    drop(&x);

    double few = per_message(FEW), many = per_message(MANY);
    fprintf(stderr,
            "bench_seal: heap %.0f B/sender (address space, doubling included), in use %.0f "
            "B/sender (verifier's count, record %zu B; the fixed table: 656 B, 8,192 senders at "
            "most); open per message at %d senders / at %d: %.2f\n",
            heap, counted, mem.record_bytes, MANY, FEW, many / few);
    cr_assert_eq(mem.senders, MANY);
    cr_assert_lt(counted, 656.0 / 3, "bytes in use per sender");
    cr_assert_lt(heap, 2 * 656.0 / 3, "heap per sender, with the doubling's slack");
    cr_assert_lt(many / few, 3.0, "the lookup does not grow with the senders");
}
