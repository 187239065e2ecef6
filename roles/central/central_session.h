/* central_session.h: the life of an authorised supply at Central --
 * started, telemetry, ended and billed, tickets and the driver's sync, and
 * the restore of open sessions after a restart (R33). Internal to the role. */
#ifndef CENTRAL_SESSION_H
#define CENTRAL_SESSION_H

#include "central_int.h"

void central_session_started(central *c, const evc_envelope *env);
void central_session_telemetry(central *c, const evc_envelope *env);
/* EVC_OK, or a transient store error (the engine re-sends from its outbox). */
int central_session_ended(central *c, const evc_envelope *env);
void central_session_cp_status(central *c, const evc_envelope *env);
void central_session_sync(central *c, const char *driver);
int central_session_ticket_ack(central *c, const char *driver, const char *session_id);
/* Loads the sessions not ended from the store into the open table. */
int central_session_restore(central *c, evc_error *err);

/* cp_id reported activity (an accepted authorisation, a start, telemetry)
 * for session sid that Central does not hold open at that CP: unless the
 * session has ended and been billed (an old message replayed), tells the CP
 * to cancel it (cp.cancel), so energy flows only under open sessions. `what`
 * names the message, for the log. */
void central_cancel_unheld(central *c, const char *cp_id, const char *sid, const char *what);

/* Shared with central_supply.c. */
void central_update(central *c, const char *driver, const char *cp, const char *sid,
                    const char *step, const char *reason, const char *text);
central_supply *central_supply_add(central *c, const central_supply *s);
void central_recent_push(central *c, const central_supply *s);
/* Moves s from the open table to the recent ring (s is invalid after). */
void central_supply_close(central *c, central_supply *s, central_supply_phase phase,
                          const char *reason);

#endif
