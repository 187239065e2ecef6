/* central_admin.h: `EV_Central --add-cp`, registering a charging point by
 * hand, for deployments whose registration policy is `closed`. */
#ifndef CENTRAL_ADMIN_H
#define CENTRAL_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "evc/error.h"
#include "evc/password.h"
#include "evc/store.h"

#define CENTRAL_DEFAULT_MAX_W 22000 /* a new CP's power bound (money checks) */

/* True for a valid CP id: [A-Za-z0-9_.-]{1,64}. */
bool central_cp_id_ok(const char *id);

typedef struct central_cp_spec {
    const char *id;       /* [A-Za-z0-9_.-]{1,64} */
    const char *location; /* free text; NULL keeps the stored one (or "Unknown location") */
    int64_t price_cents_per_kwh; /* < 0 keeps the stored one (new CP: required) */
    int64_t max_w;        /* <= 0 keeps the stored one (new CP: 22000) */
    const char *secret;   /* clear text, hashed here with argon2id; never stored as is */
} central_cp_spec;

/* Inserts the CP, or updates location, price, power and secret of an existing
 * one (its admin state and history stay). *created tells which. All strings
 * borrowed for the call. EVC_EINVAL naming the bad field; store errors as
 * they come. Loop thread. */
int central_add_cp(evc_store *store, const central_cp_spec *spec, evc_password_cost cost,
                   bool *created, evc_error *err);

#endif
