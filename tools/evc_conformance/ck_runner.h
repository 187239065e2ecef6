/* ck_runner.h: runs checks, each in a forked process of its own with a
 * deadline, and prints their table (internal to evc-conformance). */
#ifndef EVC_CK_RUNNER_H
#define EVC_CK_RUNNER_H

#include <stdio.h>

#include "ck.h"

typedef enum ck_verdict { CK_PASS = 0, CK_FAIL = 1, CK_SKIP = 2 } ck_verdict;

typedef struct ck_result {
    const ck_check *check; /* borrowed from the group's table */
    ck_verdict verdict;
    char why[1024]; /* FAIL: file:line, what was asserted, the message; SKIP: the reason */
    double seconds;
} ck_result;

/* Runs checks[0..n) with at most `jobs` at a time; results in out[0..n), in
 * the order of checks. Progress lines ("PASS name (1.2 s)") go to `progress`
 * (may be NULL) as checks end. Returns 0, or -1 when a process cannot be
 * made (out then holds FAILs saying so). */
int ck_run(const ck_check *const *checks, size_t n, unsigned jobs, FILE *progress,
           ck_result *out);

/* The table: one row per check (result, name, guarantee), the reason under a
 * FAIL or SKIP, then the totals. Returns the exit code: 0 all passed, 1 any
 * failed, 3 none failed but some were skipped. */
int ck_print_table(FILE *f, const ck_result *r, size_t n);

#endif
