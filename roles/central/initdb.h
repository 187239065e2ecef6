/* initdb.h: `EV_Central --init-db [--seed] [--force] --db PATH`.
 *
 * central_init_db prepares the database behind an open, started store:
 *   - the schema is already created/migrated by evc_store_start;
 *   - a database holding any user, CP, session, ticket, event, outbox or kv
 *     row is refused with EVC_EEXIST unless `force`, which wipes every row
 *     first (the schema stays);
 *   - with `seed`, inserts the seed data of SPEC.md section 7 (see
 *     docs/DATABASE.md, "Seed data"): users driver1/pass123 (EUR 150.00),
 *     driver2/pass456 (EUR 200.00), admin/admin123 (administrator), and CPs
 *     CP_001..CP_010, each with a location, a price, a maximum power and the
 *     secret "secret-CP_0NN". Passwords and secrets are stored as argon2id
 *     hashes, never in clear.
 * The hashes are computed first; the check, wipe and inserts then happen in
 * one transaction: on any error nothing is changed.
 * Loop thread; `store` borrowed.
 */
#ifndef CENTRAL_INITDB_H
#define CENTRAL_INITDB_H

#include <stdbool.h>

#include "evc/error.h"
#include "evc/password.h"
#include "evc/store.h"

/* Uses EVC_PASSWORD_COST_INTERACTIVE (about 1.6 s for the 13 seed hashes on
 * the 2-core test machine). */
int central_init_db(struct evc_store *store, bool seed, bool force, evc_error *err);

/* Same with an explicit hashing cost (config `password_cost`; `min` is for
 * tests only). */
int central_init_db_cost(struct evc_store *store, bool seed, bool force,
                         evc_password_cost cost, evc_error *err);

#endif
