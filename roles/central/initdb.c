/* initdb.c: creating (and seeding) Central's database. */
#include "initdb.h"

#include <stdio.h>
#include <string.h>

#include "evc/proof.h"

typedef struct central_seed_cp {
    const char *id;
    const char *location;
    int64_t price_cents_per_kwh;
    int64_t max_w;
} central_seed_cp;

static const central_seed_cp central_seed_cps[] = {
    {"CP_001", "Alicante - Plaza de los Luceros", 35, 22000},
    {"CP_002", "Alicante - Universidad, parking norte", 30, 50000},
    {"CP_003", "Elche - Estacion de autobuses", 40, 11000},
    {"CP_004", "San Vicente - Centro comercial", 32, 22000},
    {"CP_005", "Alicante - Puerto, muelle 12", 45, 150000},
    {"CP_006", "Benidorm - Avenida del Mediterraneo", 38, 22000},
    {"CP_007", "Elda - Polideportivo", 29, 7400},
    {"CP_008", "Alcoy - Plaza de Espana", 33, 22000},
    {"CP_009", "Torrevieja - Paseo maritimo", 36, 50000},
    {"CP_010", "Denia - Estacion maritima", 42, 100000},
};

typedef struct central_seed_user {
    const char *id;
    const char *password;
    evc_user_role role;
    int64_t balance_cents;
} central_seed_user;

static const central_seed_user central_seed_users[] = {
    {"driver1", "pass123", EVC_ROLE_DRIVER, 15000},
    {"driver2", "pass456", EVC_ROLE_DRIVER, 20000},
    {"admin", "admin123", EVC_ROLE_ADMIN, 0},
};

static int central_count_cb(void *arg, const void *unused)
{
    (void)unused;
    ++*(int *)arg;
    return 1; /* one row is enough to know it is not empty */
}
static int central_user_cb(void *arg, const evc_user *u) { return central_count_cb(arg, u); }
static int central_cp_cb(void *arg, const evc_charging_point *c) { return central_count_cb(arg, c); }
static int central_event_cb(void *arg, const evc_event *e) { return central_count_cb(arg, e); }
static int central_kv_cb(void *arg, const char *k, const void *v, size_t n)
{
    (void)v;
    (void)n;
    return central_count_cb(arg, k);
}

/* True when the database holds domain rows. Sessions and tickets need a user
 * and a CP, so checking users, CPs, events, outbox and Central's kv
 * namespace covers every table. */
static int central_db_is_empty(evc_store *store, bool *empty, evc_error *err)
{
    int n = 0;
    int64_t pending = 0;
    int rc = evc_store_user_list(store, central_user_cb, &n, err);
    if (rc == EVC_OK)
        rc = evc_store_cp_list(store, central_cp_cb, &n, err);
    if (rc == EVC_OK)
        rc = evc_store_event_list(store, 0, 1, central_event_cb, &n, err);
    if (rc == EVC_OK)
        rc = evc_store_outbox_pending(store, &pending, err);
    if (rc == EVC_OK)
        rc = evc_store_kv_list(store, "central", central_kv_cb, &n, err);
    *empty = n == 0 && pending == 0;
    return rc;
}

/* Hashes first (slow at production cost) so the write lock is held only for
 * the inserts. */
typedef struct central_seed_hashes {
    char user[sizeof central_seed_users / sizeof *central_seed_users][EVC_PASSWORD_HASH_MAX];
    char cp[sizeof central_seed_cps / sizeof *central_seed_cps][EVC_PASSWORD_HASH_MAX];
} central_seed_hashes;

static int central_hash_seed(central_seed_hashes *h, evc_password_cost cost, evc_error *err)
{
    int rc = EVC_OK;
    for (size_t i = 0; rc == EVC_OK && i < sizeof central_seed_users / sizeof *central_seed_users;
         i++)
        rc = evc_password_hash(central_seed_users[i].password, cost, h->user[i], err);
    for (size_t i = 0; rc == EVC_OK && i < sizeof central_seed_cps / sizeof *central_seed_cps;
         i++) {
        char secret[64];
        snprintf(secret, sizeof secret, "secret-%s", central_seed_cps[i].id);
        /* Typed demo secrets: evc_proof_cp_hash keeps argon2id for them. */
        rc = evc_proof_cp_hash(secret, cost, h->cp[i], err);
    }
    return rc;
}

static int central_seed(evc_store *store, const central_seed_hashes *h, evc_error *err)
{
    int rc = EVC_OK;
    for (size_t i = 0; rc == EVC_OK && i < sizeof central_seed_users / sizeof *central_seed_users;
         i++) {
        const central_seed_user *su = &central_seed_users[i];
        evc_user u;
        memset(&u, 0, sizeof u);
        snprintf(u.id, sizeof u.id, "%s", su->id);
        u.role = su->role;
        u.balance_cents = su->balance_cents;
        memcpy(u.password_hash, h->user[i], sizeof u.password_hash);
        rc = evc_store_user_insert(store, &u, err);
    }
    for (size_t i = 0; rc == EVC_OK && i < sizeof central_seed_cps / sizeof *central_seed_cps;
         i++) {
        const central_seed_cp *sc = &central_seed_cps[i];
        evc_charging_point cp;
        memset(&cp, 0, sizeof cp);
        snprintf(cp.id, sizeof cp.id, "%s", sc->id);
        snprintf(cp.location, sizeof cp.location, "%s", sc->location);
        cp.price_cents_per_kwh = sc->price_cents_per_kwh;
        cp.max_w = sc->max_w;
        cp.admin_state = EVC_CP_IN_SERVICE;
        memcpy(cp.secret_hash, h->cp[i], sizeof cp.secret_hash);
        rc = evc_store_cp_insert(store, &cp, err);
    }
    return rc;
}

int central_init_db_cost(evc_store *store, bool seed, bool force, evc_password_cost cost,
                         evc_error *err)
{
    central_seed_hashes hashes;
    int rc = seed ? central_hash_seed(&hashes, cost, err) : EVC_OK;
    if (rc != EVC_OK)
        return rc;
    if ((rc = evc_store_begin(store, err)) != EVC_OK)
        return rc;
    bool empty = false;
    rc = central_db_is_empty(store, &empty, err);
    if (rc == EVC_OK && !empty && !force)
        rc = evc_error_set(err, EVC_EEXIST, "init-db: the database already holds data; "
                           "nothing was changed (use --force to wipe it)");
    if (rc == EVC_OK && !empty)
        rc = evc_store_wipe(store, err);
    if (rc == EVC_OK && seed)
        rc = central_seed(store, &hashes, err);
    if (rc == EVC_OK)
        rc = evc_store_commit(store, err);
    if (rc != EVC_OK)
        evc_store_rollback(store, NULL); /* also after a failed commit (busy) */
    return rc;
}

int central_init_db(evc_store *store, bool seed, bool force, evc_error *err)
{
    return central_init_db_cost(store, seed, force, EVC_PASSWORD_COST_INTERACTIVE, err);
}
