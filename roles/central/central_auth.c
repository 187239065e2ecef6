/* central_auth.c: password and CP-secret checks on libuv's thread pool.
 * See central_auth.h. */
#include "central_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"

central_auth_job *central_auth_new(central *c, central_auth_mode mode, central_auth_kind kind,
                                   const char *id, const char *hash, const char *secret,
                                   central_auth_done_fn done)
{
    central_auth_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->secret = strdup(secret ? secret : "");
    if (!j->secret) {
        free(j);
        return NULL;
    }
    j->c = c;
    j->mode = mode;
    j->kind = kind;
    j->cost = c->password_cost;
    j->done = done;
    j->price = -1;
    snprintf(j->id, sizeof j->id, "%s", id ? id : "");
    if (hash)
        snprintf(j->hash, sizeof j->hash, "%s", hash);
    return j;
}

/* No secret left in freed memory; volatile so the stores are not elided. */
static void wipe(char *s)
{
    for (volatile char *p = s; *p; p++)
        *p = 0;
}

void central_auth_free(central_auth_job *j)
{
    if (!j)
        return;
    wipe(j->secret);
    free(j->secret);
    free(j);
}

/* Pool thread: touches only the job's own copies. */
static void auth_work(void *arg)
{
    central_auth_job *j = arg;
    if (j->mode == CENTRAL_AUTH_VERIFY) {
        j->ok = evc_password_verify(j->hash, j->secret);
    } else {
        evc_error err = {0};
        j->ok = evc_password_hash(j->secret, j->cost, j->hash, &err) == EVC_OK;
    }
}

static void auth_done(void *arg, bool ran)
{
    central_auth_job *j = arg;
    central *c = j->c;
    if (c) {
        if (j->prev)
            j->prev->next = j->next;
        else
            c->auth_jobs = j->next;
        if (j->next)
            j->next->prev = j->prev;
        c->nauth--;
        if (ran)
            j->done(c, j);
    }
    central_auth_free(j);
}

int central_auth_submit(central *c, central_auth_job *j, evc_error *err)
{
    size_t max = c->auth_queue_max ? c->auth_queue_max : CENTRAL_AUTH_QUEUE_DEFAULT;
    if (c->nauth >= max)
        return evc_error_set(err, EVC_EAGAIN, "%zu password checks pending (auth_queue_max)",
                             c->nauth);
    int rc = evc_loop_work(c->loop, auth_work, auth_done, j, err);
    if (rc != EVC_OK)
        return rc;
    j->next = c->auth_jobs;
    if (j->next)
        j->next->prev = j;
    c->auth_jobs = j;
    c->nauth++;
    return EVC_OK;
}

bool central_auth_driver_pending(central *c, const char *driver_id)
{
    for (central_auth_job *j = c->auth_jobs; j; j = j->next)
        if (j->kind == CENTRAL_AUTH_DRIVER && strcmp(j->id, driver_id) == 0)
            return true;
    return false;
}

void central_auth_stop(central *c)
{
    for (central_auth_job *j = c->auth_jobs; j; j = j->next)
        j->c = NULL;
    c->auth_jobs = NULL;
    c->nauth = 0;
}
