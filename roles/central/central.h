/* central.h: EV_Central's role, as the program skeleton sees it. */
#ifndef CENTRAL_H
#define CENTRAL_H

#include "evc/app.h"

extern const evc_cfg_field central_schema[];

/* One-shot commands (--init-db); see evc_role.command. */
int central_command(evc_app *app);
int central_create(evc_app *app, void **state, evc_error *err);
int central_start(void *state, evc_error *err);
void central_stop(void *state);
void central_destroy(void *state);

#endif
