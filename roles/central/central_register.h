/* central_register.h: POST /api/cps, registering a CP from the admin
 * dashboard (central_register.c, docs/WEB.md). Loop thread. */
#ifndef CENTRAL_REGISTER_H
#define CENTRAL_REGISTER_H

#include "central_int.h"
#include "evc/web.h"

typedef struct central_register central_register;

/* Adds the route on web (borrowed). *out owned by the caller:
 * central_register_free, after evc_web_stop. */
int central_register_start(central *c, evc_web *web, central_register **out, evc_error *err);
void central_register_free(central_register *r);

#endif
