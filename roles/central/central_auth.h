/* central_auth.h: password and CP-secret checks off Central's event loop.
 *
 * argon2id costs about 120 ms of CPU per check: run on the loop, 40 bad
 * AUTH frames froze Central for 8.6 s (issue 11 finding 6). Each check is
 * a job on libuv's thread pool (evc_loop_work); its result comes back on
 * the loop thread through job->done. Bounds: at most auth_queue_max jobs
 * pending in Central (further requests are refused at once as busy), and
 * the callers allow one job per monitor link and per driver id.
 *
 * Threads: every function here runs on the loop thread; only the argon2
 * call runs on a pool thread, on the job's own copies. */
#ifndef CENTRAL_AUTH_H
#define CENTRAL_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "central_int.h"

#define CENTRAL_AUTH_QUEUE_DEFAULT 32 /* auth_queue_max 0 (tests) */

typedef enum central_auth_mode {
    CENTRAL_AUTH_VERIFY = 0, /* secret against hash -> ok */
    CENTRAL_AUTH_HASH,       /* secret -> hash (registration) */
} central_auth_mode;

typedef enum central_auth_kind {
    CENTRAL_AUTH_MONITOR = 0, /* AUTH frame of a monitor link */
    CENTRAL_AUTH_DRIVER,      /* driver.hello on the bus */
} central_auth_kind;

typedef struct central_auth_job central_auth_job;
/* Runs on the loop thread with the result, only while Central runs and the
 * work ran; the job is freed after it returns. */
typedef void (*central_auth_done_fn)(central *c, central_auth_job *job);

struct central_auth_job {
    central *c;                       /* NULL once Central stopped: done only frees */
    central_auth_mode mode;
    central_auth_kind kind;
    evc_password_cost cost;           /* HASH */
    char hash[EVC_PASSWORD_HASH_MAX]; /* VERIFY: the stored hash; HASH: the result */
    char *secret;                     /* owned copy, wiped and freed with the job */
    bool ok;                          /* VERIFY: matched; HASH: hashed */
    central_auth_done_fn done;
    /* The requester, looked up again in done (it may be gone by then). */
    void *owner;                      /* MONITOR: central_link_ctx, NULL once its link closed */
    char id[EVC_STORE_ID_MAX];        /* CP or driver id */
    char corr[EVC_STORE_ID_MAX];      /* DRIVER: the hello's correlation id, "" none */
    char location[EVC_STORE_TEXT_MAX];/* registration of a new CP */
    int64_t price;                    /* registration; -1 = known CP adopting a secret */
    struct central_auth_job *prev, *next; /* c->auth_jobs */
};

/* A job with copies of `hash` (may be NULL for HASH) and `secret`. NULL when
 * out of memory. */
central_auth_job *central_auth_new(central *c, central_auth_mode mode, central_auth_kind kind,
                                   const char *id, const char *hash, const char *secret,
                                   central_auth_done_fn done);
/* Queues the job. EVC_EAGAIN when auth_queue_max jobs are pending (or the
 * pool's bound is reached): the caller refuses as busy and frees the job
 * with central_auth_free. On EVC_OK the job belongs to the queue. */
int central_auth_submit(central *c, central_auth_job *job, evc_error *err);
void central_auth_free(central_auth_job *job);
/* A driver.hello of this driver is being checked. */
bool central_auth_driver_pending(central *c, const char *driver_id);
/* Detaches every pending job (Central stops; done then only frees). */
void central_auth_stop(central *c);

#endif
