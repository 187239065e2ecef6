/* test_fd_limit.c: evc_fd_limit_raise lifts the soft open-files limit to the
 * hard one and names the numbers when even that is below what is needed.
 * Each test runs in its own process (Criterion forks): the limits it sets
 * die with it. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "evc/fd_limit.h"

static struct rlimit now(void)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    return rl;
}

/* The soft limit lowered under the hard one (to 256, or half the hard limit
 * where that is lower): there is something to raise on any machine. The hard
 * limit is made finite first (any process may lower its own; each test runs
 * in its own process), so "past the hard limit" exists everywhere too. */
static struct rlimit lowered(void)
{
    struct rlimit rl = now();
    if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= UINT_MAX - 1) {
        rl.rlim_max = 65536;
        rl.rlim_cur = rl.rlim_cur < rl.rlim_max ? rl.rlim_cur : rl.rlim_max;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    rlim_t soft = rl.rlim_max / 2 < 256 ? rl.rlim_max / 2 : 256;
    struct rlimit low = {soft, rl.rlim_max};
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    return low;
}

Test(fd_limit, the_soft_limit_goes_up_to_the_hard_one)
{
    struct rlimit before = lowered();
    unsigned got = 0;
    evc_error err = {0};
    cr_assert_eq(evc_fd_limit_raise(0, &got, &err), EVC_OK, "%s", err.msg);
    struct rlimit after = now();
    cr_expect_gt(after.rlim_cur, before.rlim_cur);
    cr_expect_eq(after.rlim_cur, before.rlim_max);
    cr_expect_eq(after.rlim_max, before.rlim_max, "the hard limit changed");
    cr_expect_eq(got, after.rlim_cur > UINT_MAX ? UINT_MAX : (unsigned)after.rlim_cur);
}

Test(fd_limit, a_need_within_the_hard_limit_is_met)
{
    struct rlimit before = lowered();
    unsigned need = (unsigned)before.rlim_max; /* above the soft limit, within the hard one */
    unsigned got = 0;
    cr_assert_eq(evc_fd_limit_raise(need, &got, NULL), EVC_OK);
    cr_expect_geq(got, need);
    cr_expect_geq(now().rlim_cur, need);
}

/* Past the hard limit: a specific error naming the numbers, and the soft
 * limit raised as far as it goes all the same. */
Test(fd_limit, a_need_past_the_hard_limit_is_a_clear_error)
{
    struct rlimit before = lowered();
    unsigned need = (unsigned)before.rlim_max + 1, got = 0;
    evc_error err = {0};
    cr_assert_eq(evc_fd_limit_raise(need, &got, &err), EVC_ETOOBIG);
    cr_expect_eq(got, (unsigned)before.rlim_max);
    char want[64];
    snprintf(want, sizeof want, "%u descriptors needed", need);
    cr_expect(strstr(err.msg, want) != NULL, "%s", err.msg);
    snprintf(want, sizeof want, "hard limit %llu", (unsigned long long)before.rlim_max);
    cr_expect(strstr(err.msg, want) != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "LimitNOFILE") != NULL, "%s", err.msg);
    cr_expect_eq(now().rlim_cur, before.rlim_max);
}
