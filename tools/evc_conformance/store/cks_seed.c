/* cks_seed.c (group store_seed of evc-conformance): password hashing and central_init_db (--init-db --seed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/password.h"
#include "initdb.h"
#include "cks.h"

static st_ctx C;
static void setup(void) { st_setup(&C); st_open_ok(&C, "default"); }
static void teardown(void) { st_teardown(&C); }

static void password_hash_is_salted_argon2id(void)
{
    char h1[EVC_PASSWORD_HASH_MAX], h2[EVC_PASSWORD_HASH_MAX];
    evc_error err = {0};
    ck_assert_eq(evc_password_hash("pass123", EVC_PASSWORD_COST_INTERACTIVE, h1, &err), EVC_OK);
    ck_assert_eq(strncmp(h1, "$argon2id$", 10), 0, "%s", h1);
    ck_assert(strstr(h1, "m=65536,t=2"), "interactive cost: %s", h1);
    ck_assert_null(strstr(h1, "pass123"));
    ck_assert(evc_password_verify(h1, "pass123"));
    ck_assert_not(evc_password_verify(h1, "pass124"));
    ck_assert_not(evc_password_verify(h1, ""));
    ck_assert_eq(evc_password_hash("pass123", EVC_PASSWORD_COST_MIN, h2, &err), EVC_OK);
    ck_assert_str_neq(h1, h2, "salted");
    ck_assert(evc_password_verify(h2, "pass123"));
    ck_assert_not(evc_password_needs_rehash(h1, EVC_PASSWORD_COST_INTERACTIVE));
    ck_assert(evc_password_needs_rehash(h2, EVC_PASSWORD_COST_INTERACTIVE));
    /* garbage never crashes, never verifies */
    ck_assert_not(evc_password_verify("pass123", "pass123"));
    ck_assert_not(evc_password_verify("$argon2id$garbage", "pass123"));
    ck_assert_not(evc_password_verify(NULL, "x"));
    ck_assert(evc_password_needs_rehash("5f4dcc3b5aa765d61d8327deb882cf99",
                                        EVC_PASSWORD_COST_MIN));
    evc_password_cost cost;
    ck_assert_eq(evc_password_cost_parse("min", &cost, &err), EVC_OK);
    ck_assert_eq(cost, EVC_PASSWORD_COST_MIN);
    ck_assert_eq(evc_password_cost_parse("cheap", &cost, &err), EVC_ECONFIG);
    ck_assert(strstr(err.msg, "interactive, moderate, min"), "%s", err.msg);
}

typedef struct users_seen {
    int n;
    int drivers, admins;
    bool all_argon2id;
} users_seen;

static int see_user(void *arg, const evc_user *u)
{
    users_seen *s = arg;
    s->n++;
    s->drivers += u->role == EVC_ROLE_DRIVER;
    s->admins += u->role == EVC_ROLE_ADMIN;
    s->all_argon2id = s->all_argon2id && strncmp(u->password_hash, "$argon2id$", 10) == 0;
    return 0;
}

static int see_cp(void *arg, const evc_charging_point *cp)
{
    char secret[96];
    snprintf(secret, sizeof secret, "secret-%s", cp->id);
    ck_assert(cp->location[0] && cp->price_cents_per_kwh > 0 && cp->max_w > 0, "%s", cp->id);
    ck_assert(evc_password_verify(cp->secret_hash, secret), "%s secret", cp->id);
    ++*(int *)arg;
    return 0;
}

static bool file_contains(const char *path, const char *needle)
{
    size_t len = 0, n = strlen(needle);
    char *buf = st_read_file(path, &len);
    bool found = false;
    for (size_t i = 0; buf && i + n <= len && !found; i++)
        found = memcmp(buf + i, needle, n) == 0;
    free(buf);
    return found;
}

/* The production cost: the acceptance criterion as the operator runs it. */
static void init_db_seed_hashes_everything(void)
{
    evc_error err = {0};
    uint64_t t0 = evc_wall_ms();
    ck_assert_eq(central_init_db(C.store, true, false, &err), EVC_OK, "%s", err.msg);
    fprintf(stderr, "store_seed: init-db --seed at interactive cost: %llu ms\n",
                (unsigned long long)(evc_wall_ms() - t0));

    users_seen us = {.all_argon2id = true};
    ck_assert_eq(evc_store_user_list(C.store, see_user, &us, &err), EVC_OK);
    ck_assert_eq(us.n, 3);
    ck_assert_eq(us.drivers, 2);
    ck_assert_eq(us.admins, 1);
    ck_assert(us.all_argon2id);
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 15000);
    ck_assert(evc_password_verify(u.password_hash, "pass123"));
    ck_assert_not(evc_password_verify(u.password_hash, "pass456"));
    ck_assert_eq(evc_store_user_get(C.store, "driver2", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 20000);
    ck_assert(evc_password_verify(u.password_hash, "pass456"));
    ck_assert_eq(evc_store_user_get(C.store, "admin", &u, &err), EVC_OK);
    ck_assert_eq(u.role, EVC_ROLE_ADMIN);
    ck_assert(evc_password_verify(u.password_hash, "admin123"));
    int cps = 0;
    ck_assert_eq(evc_store_cp_list(C.store, see_cp, &cps, &err), EVC_OK);
    ck_assert_eq(cps, 10);

    /* no clear-text password or secret in any file holding the database */
    st_close(&C);
    ST_NEED(files); /* everything above has passed: the rest needs the files */
    char files[4][512];
    size_t nf = FX->files(C.db, files, 4);
    ck_assert_geq(nf, 1);
    const char *clear[] = {"pass123", "pass456", "admin123", "secret-CP_001", "secret-CP_010"};
    for (size_t f = 0; f < nf; f++)
        for (size_t i = 0; i < sizeof clear / sizeof *clear; i++)
            ck_assert_not(file_contains(files[f], clear[i]), "%s found in %s", clear[i],
                          files[f]);
    ck_assert(file_contains(files[0], "$argon2id$"), "hashes are in %s", files[0]);
}

static void init_db_refuses_a_non_empty_database_unless_forced(void)
{
    evc_error err = {0};
    ck_assert_eq(central_init_db_cost(C.store, true, false, EVC_PASSWORD_COST_MIN, &err),
                 EVC_OK, "%s", err.msg);
    /* a real database: a driver and a billed session */
    st_add_driver(&C, "extra", 1);
    st_add_session(&C, "s1", "driver1", "CP_001", EVC_SESSION_SUPPLYING);
    ck_assert_eq(evc_store_session_end_and_bill(C.store, "s1", 0, 1000, "done", NULL, NULL,
                                                &err), EVC_OK, "%s", err.msg);
    evc_event e = {.message_id = "m", .type = "t", .source = "s"};
    ck_assert_eq(evc_store_event_append(C.store, &e, 0, NULL, &err), EVC_OK);

    int rc = central_init_db_cost(C.store, true, false, EVC_PASSWORD_COST_MIN, &err);
    ck_assert_eq(rc, EVC_EEXIST, "%s", evc_status_name(rc));
    ck_assert(strstr(err.msg, "--force"), "%s", err.msg);
    evc_user u;
    ck_assert_eq(evc_store_user_get(C.store, "extra", &u, &err), EVC_OK, "nothing destroyed");
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 15000 - 35);

    ck_assert_eq(central_init_db_cost(C.store, true, true, EVC_PASSWORD_COST_MIN, &err), EVC_OK,
                 "%s", err.msg);
    ck_assert_eq(evc_store_user_get(C.store, "extra", &u, &err), EVC_ENOTFOUND, "wiped");
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_OK);
    ck_assert_eq(u.balance_cents, 15000, "fresh seed");
    evc_ticket t;
    ck_assert_eq(evc_store_ticket_get(C.store, "s1", &t, &err), EVC_ENOTFOUND);
    ck_assert_eq(st_count_events_all(&C), 0);

    /* --force without --seed leaves an empty database */
    ck_assert_eq(central_init_db_cost(C.store, false, true, EVC_PASSWORD_COST_MIN, &err),
                 EVC_OK);
    ck_assert_eq(evc_store_user_get(C.store, "driver1", &u, &err), EVC_ENOTFOUND);
    /* and an empty database needs no force */
    ck_assert_eq(central_init_db_cost(C.store, true, false, EVC_PASSWORD_COST_MIN, &err),
                 EVC_OK, "%s", err.msg);
}

#define T(fn, text) {"store_seed." #fn, text, setup, fn, teardown, 60}
static const ck_check checks[] = {
    T(password_hash_is_salted_argon2id,
      "passwords are salted argon2id hashes at the asked cost, never in clear; garbage never verifies"),
    T(init_db_seed_hashes_everything,
      "EV_Central --init-db --seed stores the seed data with every password and secret hashed"),
    T(init_db_refuses_a_non_empty_database_unless_forced,
      "--init-db refuses a non-empty database unless forced, and then leaves the seed only"),
};
const ck_group ck_store_seed_checks = {checks, sizeof checks / sizeof checks[0]};
