/* test_limits.c: what a huge configuration costs (issue 11 finding 10).
 * Duplicate keys of a big map are still found (the hash index that made
 * loading linear must not miss one, nor report the wrong first position);
 * text over EVC_CFG_MAX_BYTES (4 MiB) is refused with a message naming the
 * source, a file as soon as 4 MiB were read (so /dev/zero ends). Speed is
 * measured in tests/bench/config. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/config.h"

/* "k0: v0\nk1: v1\n..." with n keys; `dup_at` >= 0 appends a copy of key
 * dup_at as key number n. Caller frees. */
static char *big_map(size_t n, long dup_at, size_t *len)
{
    size_t cap = (n + 1) * 32, off = 0;
    char *s = malloc(cap);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        off += (size_t)snprintf(s + off, cap - off, "k%zu: v%zu\n", i, i);
    if (dup_at >= 0)
        off += (size_t)snprintf(s + off, cap - off, "k%ld: again\n", dup_at);
    *len = off;
    return s;
}

Test(limits, a_map_of_80k_keys_loads_with_every_key)
{
    size_t len;
    char *yaml = big_map(80000, -1, &len);
    evc_cfg *cfg = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_cfg_load_string("big.yaml", yaml, len, &cfg, &err), EVC_OK, "%s", err.msg);
    const evc_cfg_node *root = evc_cfg_root(cfg);
    cr_expect_eq(evc_cfg_count(root), 80000);
    cr_expect_str_eq(evc_cfg_get_str(root, "k0", "?"), "v0");
    cr_expect_str_eq(evc_cfg_get_str(root, "k15", "?"), "v15");
    cr_expect_str_eq(evc_cfg_get_str(root, "k16", "?"), "v16");
    cr_expect_str_eq(evc_cfg_get_str(root, "k79999", "?"), "v79999");
    evc_cfg_free(cfg);
    free(yaml);
}

/* Duplicates of keys before, at and after the point where the index is
 * built, and of the last key, in maps of several sizes. */
Test(limits, duplicates_are_found_in_big_maps_with_the_first_position)
{
    const size_t sizes[] = {3, 15, 16, 17, 64, 65, 1000, 80000};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        const long dups[] = {0, 14, 15, 16, (long)n / 2, (long)n - 1};
        for (size_t d = 0; d < sizeof dups / sizeof *dups; d++) {
            if (dups[d] >= (long)n)
                continue;
            size_t len;
            char *yaml = big_map(n, dups[d], &len);
            evc_cfg *cfg = (evc_cfg *)0x1;
            evc_error err = {0};
            cr_assert_eq(evc_cfg_load_string("d.yaml", yaml, len, &cfg, &err), EVC_ECONFIG,
                         "duplicate of key %ld in a map of %zu keys was accepted", dups[d], n);
            cr_expect_null(cfg);
            char want[160];
            snprintf(want, sizeof want,
                     "d.yaml:%zu:1: duplicate key 'k%ld' (first defined at d.yaml:%ld:1)", n + 1,
                     dups[d], dups[d] + 1);
            cr_expect_str_eq(err.msg, want);
            free(yaml);
        }
    }
}

/* Nested maps each get their own index: equal keys in sibling maps are no
 * duplicates. */
Test(limits, sibling_big_maps_may_share_keys)
{
    size_t cap = 200000, off = 0;
    char *s = malloc(cap);
    for (int m = 0; m < 2; m++) {
        off += (size_t)snprintf(s + off, cap - off, "m%d:\n", m);
        for (int i = 0; i < 100; i++)
            off += (size_t)snprintf(s + off, cap - off, "  k%d: %d\n", i, i);
    }
    evc_cfg *cfg = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_cfg_load_string("s.yaml", s, off, &cfg, &err), EVC_OK, "%s", err.msg);
    cr_expect_eq(evc_cfg_count(evc_cfg_path(evc_cfg_root(cfg), "m1")), 100);
    evc_cfg_free(cfg);
    free(s);
}

Test(limits, text_over_4_mib_is_refused_naming_it)
{
    size_t len = 5u * 1024u * 1024u;
    char *yaml = malloc(len);
    memset(yaml, '#', len); /* a comment: valid YAML, only too big */
    evc_cfg *cfg = (evc_cfg *)0x1;
    evc_error err = {0};
    cr_assert_eq(evc_cfg_load_string("huge.yaml", yaml, len, &cfg, &err), EVC_ECONFIG);
    cr_expect_null(cfg);
    cr_expect_str_eq(err.msg,
                     "huge.yaml: configuration too large (5242880 bytes; at most 4194304 "
                     "accepted)");
    free(yaml);
}

/* A 50 MB file (finding 10: still parsing at 20 s) is refused after reading
 * 4 MiB of it; /dev/zero, endless, too. */
Test(limits, a_50_mb_file_and_dev_zero_are_refused_quickly)
{
    char path[] = "/tmp/evc_cfg_hugeXXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < 50 * 1024; i++)
        fprintf(f, "k%d: %01017d\n", i, 0); /* ~1 KB per line */
    fclose(f);
    const char *paths[] = {path, "/dev/zero"};
    for (int i = 0; i < 2; i++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        evc_cfg *cfg = (evc_cfg *)0x1;
        evc_error err = {0};
        cr_expect_eq(evc_cfg_load_file(paths[i], &cfg, &err), EVC_ECONFIG, "%s", paths[i]);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        cr_expect_null(cfg);
        char want[200];
        snprintf(want, sizeof want,
                 "%s: configuration file too large (over 4194304 bytes; a configuration is a "
                 "few KB)",
                 paths[i]);
        cr_expect_str_eq(err.msg, want);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        cr_expect_lt(s, 5.0, "%s took %.1f s to refuse", paths[i], s);
    }
    remove(path);
}
