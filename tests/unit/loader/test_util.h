/* test_util.h: helpers shared by the loader's test files. */
#ifndef EVC_TEST_LOADER_UTIL_H
#define EVC_TEST_LOADER_UTIL_H

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* The corpus case's directory / plugin file, in a static buffer. */
static inline const char *corpus_dir(const char *c)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/%s", EVC_LOADER_CORPUS_DIR, c);
    return buf;
}

static inline const char *corpus_file(const char *c)
{
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s/%s/evc_transport_zmq.so", EVC_LOADER_CORPUS_DIR, c);
    return buf;
}

/* The build tree with symlinks resolved, as the loader reports it. */
static inline const char *build_dir(void)
{
    static char buf[PATH_MAX];
    cr_assert_not_null(realpath(EVC_TEST_BINARY_DIR, buf), "realpath %s", EVC_TEST_BINARY_DIR);
    return buf;
}

#endif
