/* bench_config: evc_cfg_load_string on one map of 10k and of 80k keys, each
 * as a ratio to a baseline measured in the same run on the same text
 * (median of RUNS): libyaml's event parser alone, the least any loader of
 * that YAML must do. Linear loading keeps the ratio about the same at both
 * sizes; the quadratic duplicate check of finding 10 (80k keys: 12.7 s)
 * made it grow eightfold from 10k to 80k. The assert allows twice the 10k
 * ratio at 80k: a machine's noise moves both ratios, a quadratic term
 * cannot hide in it. Numbers go to stderr. */
#include <criterion/criterion.h>
#include <evc/config.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <yaml.h>

#define RUNS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmpd);
    return v[RUNS / 2];
}

static char *big_map(size_t n, size_t *len)
{
    size_t cap = n * 40, off = 0;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off, "key_%zu: value %zu\n", i, i);
    *len = off;
    return s;
}

/* Every event of the text, nothing built: the baseline. */
static size_t yaml_events(const char *text, size_t len)
{
    yaml_parser_t p;
    cr_assert(yaml_parser_initialize(&p));
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    size_t n = 0;
    for (;;) {
        yaml_event_t ev;
        cr_assert(yaml_parser_parse(&p, &ev), "libyaml: %s", p.problem);
        int end = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        n++;
        if (end)
            break;
    }
    yaml_parser_delete(&p);
    return n;
}

/* Ratio of evc_cfg_load_string to the baseline for a map of n keys. */
static double measure(size_t n)
{
    size_t len;
    char *text = big_map(n, &len);
    double ours[RUNS], base[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        evc_cfg *cfg = NULL;
        evc_error err = {0};
        cr_assert_eq(evc_cfg_load_string("bench.yaml", text, len, &cfg, &err), EVC_OK, "%s",
                     err.msg);
        double t1 = now_s();
        cr_assert_eq(evc_cfg_count(evc_cfg_root(cfg)), n);
        evc_cfg_free(cfg);
        double t2 = now_s();
        cr_assert_gt(yaml_events(text, len), 2 * n);
        double t3 = now_s();
        ours[r] = t1 - t0;
        base[r] = t3 - t2;
    }
    double o = median(ours), b = median(base);
    fprintf(stderr,
            "bench_config: map of %6zu keys (%7zu bytes): load %8.1f ms  libyaml events %8.1f "
            "ms  ratio %.2f\n",
            n, len, o * 1e3, b * 1e3, o / b);
    free(text);
    return o / b;
}

Test(bench, config_load_is_linear_in_the_keys_of_a_map)
{
    double small = measure(10000);
    double big = measure(80000);
    fprintf(stderr, "bench_config: ratio at 80k / ratio at 10k = %.2f (quadratic: ~8)\n",
            big / small);
    cr_expect_lt(big / small, 2.0,
                 "loading 80k keys costs %.2f times the parse (10k keys: %.2f): not linear", big,
                 small);
}
