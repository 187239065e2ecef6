/* ck.h: the conformance checks' assertions and registry (internal to
 * evc-conformance; not installed).
 *
 * A check is a function that runs in a process of its own (the runner forks
 * one per check, so each starts from a clean slate, and a crash or a hang
 * fails that check only). An assertion that fails records where and why and
 * jumps back to the runner, which runs the check's fini and reports FAIL; a
 * check that cannot run here calls ck_skip with the reason. The assertion
 * macros take the shape of Criterion's (a condition or two operands, then an
 * optional printf format and its arguments), which the checks were first
 * written in.
 */
#ifndef EVC_CK_H
#define EVC_CK_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "conformance_fixture.h"

typedef struct ck_check {
    const char *name;      /* "transport.round_trip": <group>.<check> */
    const char *guarantee; /* one line: what a plugin that passes promises */
    void (*init)(void);    /* NULL or run first */
    void (*run)(void);
    void (*fini)(void);    /* NULL or run last, also after a failure */
    unsigned timeout_s;    /* the runner kills the check after this */
} ck_check;

typedef struct ck_group {
    const ck_check *checks;
    size_t n;
} ck_group;

/* What the tool was asked to check; set before the runner forks. */
typedef struct ck_env {
    const char *plugin;     /* name, as in transport.plugin / store.plugin */
    const char *plugin_dir; /* --plugin-dir; NULL: the loader's own search */
    const conformance_fixture *transport; /* transport mode */
    const store_fixture *store;           /* store mode */
    unsigned delivery_ms; /* --delivery-ms: how long a message may take to arrive */
} ck_env;

extern ck_env ck;

/* ck.delivery_ms unless --delivery-ms: Kafka consumer groups take seconds to
 * form, a healthy run meets it with a wide margin. */
#define DELIVERY_DEADLINE_MS_DEFAULT 45000

#if defined(__GNUC__)
#define CK_NORETURN __attribute__((noreturn))
#define CK_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CK_NORETURN
#define CK_PRINTF(a, b)
#endif

/* Fails the running check: `expr` (may be NULL) is what was asserted, fmt
 * "-" then the message's format (the macros below add the "-"). Does not
 * return. In a process the check forked
 * itself, exits that process with status 99 instead. */
CK_NORETURN void ck_fail_at(const char *file, int line, const char *expr, const char *fmt, ...)
    CK_PRINTF(4, 5);
/* Ends the running check as SKIP with this reason. Does not return. */
CK_NORETURN void ck_skip(const char *fmt, ...) CK_PRINTF(1, 2);

/* `"-" __VA_ARGS__`: the message is optional and, when given, a literal. */
#define ck_assert(cond, ...)                                                                  \
    ((cond) ? (void)0 : ck_fail_at(__FILE__, __LINE__, #cond, "-" __VA_ARGS__))
#define ck_assert_not(cond, ...)                                                              \
    (!(cond) ? (void)0 : ck_fail_at(__FILE__, __LINE__, "!(" #cond ")", "-" __VA_ARGS__))
#define ck_assert_fail(...) ck_fail_at(__FILE__, __LINE__, NULL, "-" __VA_ARGS__)
#define ck_cmp_(a, op, b, ...)                                                                \
    (((a)op(b)) ? (void)0 : ck_fail_at(__FILE__, __LINE__, #a " " #op " " #b, "-" __VA_ARGS__))
#define ck_assert_eq(a, b, ...) ck_cmp_(a, ==, b, __VA_ARGS__)
#define ck_assert_neq(a, b, ...) ck_cmp_(a, !=, b, __VA_ARGS__)
#define ck_assert_lt(a, b, ...) ck_cmp_(a, <, b, __VA_ARGS__)
#define ck_assert_leq(a, b, ...) ck_cmp_(a, <=, b, __VA_ARGS__)
#define ck_assert_gt(a, b, ...) ck_cmp_(a, >, b, __VA_ARGS__)
#define ck_assert_geq(a, b, ...) ck_cmp_(a, >=, b, __VA_ARGS__)
#define ck_assert_null(p, ...) ck_cmp_(p, ==, NULL, __VA_ARGS__)
#define ck_assert_not_null(p, ...) ck_cmp_(p, !=, NULL, __VA_ARGS__)
#define ck_assert_str_eq(a, b, ...)                                                           \
    (strcmp((a), (b)) == 0 ? (void)0                                                          \
                           : ck_fail_at(__FILE__, __LINE__, #a " equals " #b, "-" __VA_ARGS__))
#define ck_assert_str_neq(a, b, ...)                                                          \
    (strcmp((a), (b)) != 0 ? (void)0                                                          \
                           : ck_fail_at(__FILE__, __LINE__, #a " differs from " #b,          \
                                        "-" __VA_ARGS__))

/* The groups: transport (ckt_checks.c), transport_keys (ckt_keys.c), store
 * (cks_*.c). */
extern const ck_group ck_transport_checks, ck_transport_keys_checks;
extern const ck_group ck_store_repos_checks, ck_store_txn_checks, ck_store_outbox_checks,
    ck_store_failures_checks, ck_store_seed_checks;

#endif
