/* central.h: EV_Central's role, as the program skeleton sees it. */
#ifndef CENTRAL_H
#define CENTRAL_H

#include "evc/app.h"

extern const evc_cfg_field central_schema[];

/* One-shot commands (--init-db); see evc_role.command. */
int central_command(evc_app *app);
/* evc_role.default_database: store.database (default evcharging.db) into
 * buf, noting whether that file exists before the store opens it;
 * central_command refuses a database that did not (issue 9 item 7). */
void central_database_path(evc_app *app, char *buf, size_t cap);
int central_create(evc_app *app, void **state, evc_error *err);
int central_start(void *state, evc_error *err);
void central_stop(void *state);
void central_destroy(void *state);

#endif
