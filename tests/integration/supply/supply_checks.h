/* supply_checks.h: assertions shared by the supply scenarios -- billing in
 * the database against itself and against what the engines published. */
#ifndef EVC_IT_SUPPLY_CHECKS_H
#define EVC_IT_SUPPLY_CHECKS_H

#include "harness.h"

/* Writes <dir>/<name> with the given lines (NULL-terminated); returns the
 * path in buf. */
const char *sc_write_services(h_env *env, const char *name, const char *const ids[], char *buf,
                              size_t cap);

/* The database is consistent and agrees with the bus:
 *  - no session left open; `ended` sessions == tickets == expected_tickets
 *    (-1: do not check the number);
 *  - each ticket: Wh and cents equal its session's, cents = (Wh x price +
 *    500) / 1000 with the CP's price; sum of tickets' cents == the sum over
 *    sessions of that formula;
 *  - each driver's balance == its seeded balance minus its tickets;
 *  - each billed session's Wh == the Wh of the engine's supply.ended on
 *    cp-events, its telemetry never exceeded it, and the telemetry's cents
 *    follow the billing formula;
 *  - /api/sessions has no active session. */
void sc_check_billing(h_env *env, int expected_tickets);

/* Every message of the supply `session_id` on the three topics carries it as
 * its correlation id, and the supply's whole story is there: supply.request,
 * cp.authorise, cp.authorise_reply, supply.started, supply.telemetry,
 * supply.ended, supply.update, supply.ticket, supply.end_ack. */
void sc_check_one_correlation(h_env *env, const char *session_id);

#endif
