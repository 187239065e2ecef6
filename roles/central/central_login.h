/* central_login.h: the admin login of Central's HTTP API (issue 11).
 *
 * POST /api/login checks a user's password (argon2id, on the thread pool)
 * and starts a session kept in memory: cookie evc_session (256-bit random,
 * HttpOnly, SameSite=Strict) plus a CSRF token for state changes. The guard
 * installed on the web bridge lets through only GET /api/health and
 * POST /api/login without a session; every other route and WebSocket channel
 * needs one (401), an admin's for everything but /api/session and
 * /api/logout (403), and on POST the X-CSRF-Token of the session, an Origin
 * (when sent) naming the Host, and a JSON Content-Type when one is sent.
 * Failed logins are throttled per user and per peer address (429).
 */
#ifndef CENTRAL_LOGIN_H
#define CENTRAL_LOGIN_H

#include "central_int.h"
#include "evc/web.h"

typedef struct central_login central_login;

/* Creates the login state (reads central.http_session_ttl_s from the
 * config), registers /api/login, /api/logout, /api/session on web and sets
 * the guard. *out owned by the caller: central_login_free, after
 * evc_web_stop (the routes and guard point at it). */
int central_login_start(central *c, evc_web *web, central_login **out, evc_error *err);
/* Frees; password checks still on the pool then answer nobody. NULL ok. */
void central_login_free(central_login *l);

#endif
