/* central_admin.c: registering a charging point by hand (--add-cp). */
#include "central_admin.h"

#include <stdio.h>
#include <string.h>

#include "evc/proof.h"


bool central_cp_id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int central_add_cp(evc_store *store, const central_cp_spec *spec, evc_password_cost cost,
                   bool *created, evc_error *err)
{
    if (!central_cp_id_ok(spec->id))
        return evc_error_set(err, EVC_EINVAL,
                             "CP id '%s' is not valid (1 to 64 of A-Z a-z 0-9 _ . -)",
                             spec->id ? spec->id : "");
    if (!spec->secret || !*spec->secret)
        return evc_error_set(err, EVC_EINVAL, "CP %s: a secret is required (--secret-file)",
                             spec->id);
    evc_charging_point cp;
    evc_error lookup = {0};
    int rc = evc_store_cp_get(store, spec->id, &cp, &lookup);
    if (rc != EVC_OK && rc != EVC_ENOTFOUND)
        return evc_error_set(err, rc, "%s", lookup.msg);
    *created = rc == EVC_ENOTFOUND;
    if (*created) {
        if (spec->price_cents_per_kwh < 0)
            return evc_error_set(err, EVC_EINVAL, "CP %s is new: --price-cents is required",
                                 spec->id);
        memset(&cp, 0, sizeof cp);
        snprintf(cp.id, sizeof cp.id, "%s", spec->id);
        snprintf(cp.location, sizeof cp.location, "%s", "Unknown location");
        cp.max_w = CENTRAL_DEFAULT_MAX_W;
        cp.admin_state = EVC_CP_IN_SERVICE;
    }
    if (spec->location)
        snprintf(cp.location, sizeof cp.location, "%s", spec->location);
    if (spec->price_cents_per_kwh >= 0)
        cp.price_cents_per_kwh = spec->price_cents_per_kwh;
    if (spec->max_w > 0)
        cp.max_w = spec->max_w;
    /* A generated secret (64+ hex digits) gets the fast verifier, so that
     * its CP reconnects without argon2 anywhere; a typed one keeps argon2id. */
    rc = evc_proof_cp_hash(spec->secret, cost, cp.secret_hash, err);
    if (rc != EVC_OK)
        return rc;
    if (*created)
        return evc_store_cp_insert(store, &cp, err);
    /* The store's update writes location, price and power only; the secret
     * has its own call. Without it, --add-cp on a known CP (a rotation, or
     * the seeded CP_001 given a real secret) said "updated" and kept the old
     * secret, and the CP's monitor was denied BAD_SECRET. */
    rc = evc_store_cp_update(store, &cp, err);
    return rc == EVC_OK ? evc_store_cp_set_secret(store, cp.id, cp.secret_hash, err) : rc;
}
