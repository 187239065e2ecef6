/* lg_provision.c: the simulated CPs and drivers in Central's database
 * (--provision, before Central starts) and the CPs' keys read back from it
 * at run time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "evc/password.h"
#include "evc/store.h"
#include "lg.h"

/* Bulk CPs LG000001.., then one per looping driver LGM001.. */
void lg_cp_name(char *buf, size_t cap, size_t i, size_t nbulk)
{
    if (i < nbulk)
        snprintf(buf, cap, "LG%06zu", i + 1);
    else
        snprintf(buf, cap, "LGM%03zu", i - nbulk + 1);
}

/* Bulk drivers lgd000001.. (one per supplying CP, never logged in: their
 * supplies are requested at the CP's menu), looping drivers lgm001.. */
void lg_driver_name(char *buf, size_t cap, size_t i, bool looping)
{
    snprintf(buf, cap, looping ? "lgm%03zu" : "lgd%06zu", i + 1);
}

long lg_cp_index(const lg *g, const char *id)
{
    if (strncmp(id, "LG", 2) != 0)
        return -1;
    bool loop_cp = id[2] == 'M';
    char *end = NULL;
    unsigned long n = strtoul(id + (loop_cp ? 3 : 2), &end, 10);
    if (!end || *end || n < 1)
        return -1;
    if (loop_cp)
        return n <= g->ndrivers ? (long)(g->ncps + n - 1) : -1;
    return n <= g->ncps ? (long)(n - 1) : -1;
}

static void driver_password(char *buf, size_t cap, const char *id)
{
    snprintf(buf, cap, "lg-pass-%s", id);
}

int lg_provision(lg *g, evc_error *err)
{
    evc_store *st = evc_app_store(g->app);
    const char *cost_name = evc_app_option(g->app, "secret-cost");
    evc_password_cost cost = EVC_PASSWORD_COST_MIN;
    if (cost_name && evc_password_cost_parse(cost_name, &cost, err) != EVC_OK)
        return err->code;
    uint64_t t0 = lg_now_us();
    int rc = evc_store_begin(st, err);
    for (size_t i = 0; rc == EVC_OK && i < g->ncps + g->ndrivers; i++) {
        evc_charging_point cp;
        memset(&cp, 0, sizeof cp);
        lg_cp_name(cp.id, sizeof cp.id, i, g->ncps);
        snprintf(cp.location, sizeof cp.location, "loadgen %zu", i + 1);
        cp.price_cents_per_kwh = 35;
        cp.max_w = 22000;
        cp.admin_state = EVC_CP_IN_SERVICE;
        /* 256 random bits: the secret Central generates for a CP, stored by
         * the fast verifier as Central stores it (or as argon2id at
         * --secret-cost, the path of typed secrets). */
        uint8_t raw[32];
        char secret[65];
        evc_proof_random(raw, sizeof raw);
        evc_hex_encode(raw, sizeof raw, secret);
        rc = cost_name ? evc_password_hash(secret, cost, cp.secret_hash, err)
                       : evc_proof_cp_hash(secret, cost, cp.secret_hash, err);
        if (rc == EVC_OK)
            rc = evc_store_cp_insert(st, &cp, err);
    }
    size_t nbulk = g->nsupplying < g->ncps ? g->nsupplying : g->ncps;
    for (size_t i = 0; rc == EVC_OK && i < nbulk + g->ndrivers; i++) {
        evc_user u;
        memset(&u, 0, sizeof u);
        bool looping = i >= nbulk;
        lg_driver_name(u.id, sizeof u.id, looping ? i - nbulk : i, looping);
        u.role = EVC_ROLE_DRIVER;
        u.balance_cents = 100000000; /* never near the balance floor */
        char pw[96];
        if (looping) {
            driver_password(pw, sizeof pw, u.id);
        } else { /* never logs in: a random password nobody knows */
            uint8_t raw[16];
            evc_proof_random(raw, sizeof raw);
            evc_hex_encode(raw, sizeof raw, pw);
        }
        rc = evc_password_hash(pw, EVC_PASSWORD_COST_MIN, u.password_hash, err);
        if (rc == EVC_OK)
            rc = evc_store_user_insert(st, &u, err);
    }
    if (rc == EVC_OK)
        rc = evc_store_commit(st, err);
    else
        evc_store_rollback(st, NULL);
    if (rc == EVC_OK)
        printf("provisioned %zu CPs (+%zu for looping drivers) and %zu drivers (+%zu looping), "
               "secrets %s%s, in %.2f s\n",
               g->ncps, g->ndrivers, nbulk, g->ndrivers, cost_name ? "as argon2id at cost " : "by the fast verifier",
               cost_name ? evc_password_cost_name(cost) : "",
               (double)(lg_now_us() - t0) / 1e6);
    return rc;
}

/* K of each CP from its stored string: what the real monitor derives from
 * the secret with CHALLENGE's params (and caches per params). The generator
 * cannot afford N argon2id at start, and holding the stored string is
 * enough to prove (docs/SECURITY.md: the database is the root of trust). */
int lg_load_keys(lg *g, evc_error *err)
{
    evc_store *st = evc_app_store(g->app);
    for (size_t i = 0; i < g->ntotal; i++) {
        lg_cp *cp = &g->cps[i];
        evc_charging_point row;
        int rc = evc_store_cp_get(st, cp->id, &row, err);
        if (rc == EVC_OK)
            rc = evc_proof_split(row.secret_hash, NULL, cp->key, err);
        if (rc != EVC_OK) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            return evc_error_set(err, rc, "CP %s: %s (run --provision first)", cp->id, why);
        }
        uint8_t bus_key[32];
        const char *parts[] = {cp->id};
        evc_proof_mac(cp->key, "evc-bus-cp-v1", parts, 1, bus_key);
        rc = evc_sealer_new(cp->id, EVC_SEAL_HMAC_SHA256, bus_key, &cp->sealer, err);
        if (rc != EVC_OK)
            return rc;
    }
    for (size_t i = 0; i < g->ndrivers; i++) {
        lg_driver *d = &g->drivers[i];
        lg_driver_name(d->id, sizeof d->id, i, true);
        lg_cp_name(d->cp, sizeof d->cp, g->ncps + i, g->ncps);
        driver_password(d->password, sizeof d->password, d->id);
    }
    return EVC_OK;
}
