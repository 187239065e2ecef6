/* chaos_checks.h: the ledger of a randomised crash run, checked against the
 * database and against what the engines themselves reported on the bus
 * (issue 10). Each check that fails prints what it saw -- which session,
 * driver and CP, the numbers, and that session's lines from every program's
 * logs -- and counts as one failure; the caller asserts the total is 0, so
 * one run shows every loss at once. */
#ifndef EVC_IT_CHAOS_CHECKS_H
#define EVC_IT_CHAOS_CHECKS_H

#include "harness.h"

typedef struct cc_balance {
    char driver[64];
    int64_t cents;
} cc_balance;

/* Every driver's balance (users with role 'driver') into out[0..cap);
 * returns how many. Read before the first supply. */
int cc_read_balances(h_env *env, cc_balance *out, int cap);

/* The engine of cp_id's own store (<dir>/<cp_id>-engine.db): no journal
 * (kv cp_engine/journal), nothing in the outbox, no outbox mapping left
 * (kv namespace cp_engine.outbox). Returns the number of failures. */
int cc_check_engine_store(h_env *env, const char *cp_id);

/* Central's ledger against itself, the initial balances and the engines'
 * reports in cp_events (every envelope published on cp-events):
 *  - no session open; every `ended` session has its ticket;
 *  - one ticket per session, each (Wh x its price + 500) / 1000 cents and
 *    equal to its session's Wh and cents;
 *  - every supply.ended of one session says the same Wh; a supply reported
 *    with energy (> 0 Wh) has its ticket with exactly that energy (and a 0 Wh
 *    report that was billed was billed 0 Wh);
 *  - every session with telemetry showing energy has a ticket, and no
 *    telemetry showed more energy than was billed;
 *  - each driver's balance = initial - the sum of their tickets.
 * Returns the number of failures. */
int cc_check_ledger(h_env *env, json_t *cp_events, const cc_balance *initial, int ndrivers);

#endif
