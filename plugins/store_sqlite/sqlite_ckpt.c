/* sqlite_ckpt.c: WAL checkpoints on a thread of their own.
 *
 * Why: SQLite's automatic checkpoint runs inside the commit that pushes the
 * WAL past 1,000 pages, on the committing thread -- here the loop thread.
 * It copies the WAL into the database and fsyncs both (twice fdatasync,
 * 0.5-5 ms each on this project's machine), so every second or two one
 * commit on the loop took 5-10 ms, and every message behind it waited:
 * that was most of request -> authorised's p99 over ZeroMQ
 * (docs/PERFORMANCE.md, 2026-12-03 "request -> authorisation").
 *
 * What: the loop's connection has a WAL hook instead of SQLite's automatic
 * checkpoint; after a commit leaving >= SQLITE_CKPT_PAGES pages in the WAL
 * it wakes this thread, which runs PASSIVE checkpoints on its own connection
 * (the same synchronous setting): they never block the writer (WAL mode:
 * the writer appends while the checkpointer copies what was committed before
 * it started).
 *
 * Durability is unchanged: a commit is in the WAL (and so survives a crash of
 * the process) when sqlite3_step returns, exactly as before; with
 * synchronous NORMAL it reaches the disk at a checkpoint's fsync, now mostly
 * done by this thread; with FULL every commit is fsynced by the writer as
 * before. Only where most of the checkpoint's wait happens changes.
 *
 * The writer starts the WAL over only at a transaction that begins when
 * every frame is copied; a loop that commits every few ms never gives the
 * thread that moment. So the thread copies all but a tail of at most
 * SQLITE_CKPT_TAIL frames, and the loop's hook, between two transactions,
 * copies that tail (PASSIVE on its own connection: a few pages and two
 * syncs of little data); the next transaction starts the WAL over.
 *
 * Bounded: when the thread falls behind (a slow disk) and the WAL reaches
 * SQLITE_CKPT_FORCE_PAGES, the hook checkpoints everything on the loop as
 * SQLite would have, whenever the thread is between rounds. There is no
 * queue: one "due" flag.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_internal.h"

#define SQLITE_CKPT_PAGES 1000        /* SQLite's own wal_autocheckpoint default */
#define SQLITE_CKPT_FORCE_PAGES 16000 /* ~64 MB of 4 KB pages */
#define SQLITE_CKPT_PASSES 8          /* passes a wake-up, to catch up with the writer */
#define SQLITE_CKPT_TAIL 256          /* frames the loop copies itself to finish a round */

struct sqlite_ckpt {
    sqlite3 *db;           /* the thread's connection; owned */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool due, stop;        /* under mu */
    bool busy;             /* under mu: a round of passes is running */
    int copied, seen;      /* under mu: frames copied / in the WAL at the end of the last round */
    int last_rc;           /* under mu: the thread's latest checkpoint result */
    int logged_rc;         /* loop thread: the last result it logged */
};

static void *ckpt_run(void *arg)
{
    sqlite_ckpt *k = arg;
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->due && !k->stop)
            pthread_cond_wait(&k->cv, &k->mu);
        if (k->stop)
            break;
        k->due = false;
        k->busy = true;
        pthread_mutex_unlock(&k->mu);
        /* The writer starts the WAL over only at a transaction that begins
         * when every frame is copied; what it committed during a pass is
         * left for the next one. So pass again until caught up (the passes
         * shrink: each copies what came during the last), a few times at
         * most: a reader of another process holding an old snapshot stops
         * a pass short, and the next commit wakes us anyway. */
        int rc, nlog = 0, nckpt = 0, passes = 0;
        do {
            rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &nlog, &nckpt);
        } while (rc == SQLITE_OK && nlog - nckpt > SQLITE_CKPT_TAIL / 2 &&
                 ++passes < SQLITE_CKPT_PASSES);
        pthread_mutex_lock(&k->mu);
        k->last_rc = rc;
        k->busy = false;
        k->copied = rc == SQLITE_OK ? nckpt : 0;
        k->seen = rc == SQLITE_OK ? nlog : 0;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

/* Loop thread, after every commit of the loop's connection (no transaction
 * open: the moment SQLite's own checkpoint runs). */
static int ckpt_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    sqlite_store *s = arg;
    sqlite_ckpt *k = s->ckpt;
    if (pages < SQLITE_CKPT_PAGES)
        return SQLITE_OK;
    pthread_mutex_lock(&k->mu);
    bool busy = k->busy;
    /* `seen` > pages: the WAL was started over since the last round. */
    bool tail = !busy && k->seen <= pages && pages - k->copied <= SQLITE_CKPT_TAIL;
    if (!busy && !tail && pages < SQLITE_CKPT_FORCE_PAGES) {
        k->due = true;
        pthread_cond_signal(&k->cv);
    }
    int rc = k->last_rc;
    pthread_mutex_unlock(&k->mu);
    if (tail || (!busy && pages >= SQLITE_CKPT_FORCE_PAGES)) {
        /* The thread has copied all but the last few frames (or, at the
         * bound, cannot keep up): copy the rest here, between two
         * transactions, so that the next one starts the WAL over -- with a
         * loop that commits every few ms (a batch always open at thousands
         * of CPs) the thread alone never sees the WAL fully copied at such a
         * moment, and the WAL would grow. A tail is a few pages and two
         * syncs of little data, where SQLite's own checkpoint copied and
         * synced 1,000 pages here. */
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&k->mu);
        k->seen = k->copied = 0;
        pthread_mutex_unlock(&k->mu);
    }
    /* A failing checkpoint (disk full, I/O error) is said once per change of
     * cause: the commits still succeed, the WAL grows until it is fixed. */
    if (rc != k->logged_rc && (rc & 0xff) != SQLITE_BUSY) {
        k->logged_rc = rc;
        if (rc != SQLITE_OK)
            s->host->log(s->host->host, EVC_LOG_WARN, NULL,
                         "database %s: background WAL checkpoint failed: %s (the WAL grows "
                         "until it succeeds)", s->path, sqlite3_errstr(rc));
    }
    return SQLITE_OK;
}

int sqlite_ckpt_start(sqlite_store *s, evc_error *err)
{
    /* A library built without threads (SQLITE_THREADSAFE=0) must not be
     * entered from two threads: keep its own checkpoints on the loop. */
    if (s->read_only || s->ckpt || !sqlite3_threadsafe())
        return EVC_OK;
    sqlite_ckpt *k = calloc(1, sizeof *k);
    if (!k)
        return evc_error_set(err, EVC_ENOMEM, "database %s: checkpointer: out of memory",
                             s->path);
    int rc = sqlite3_open_v2(s->path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", s->sync_full ? "FULL" : "NORMAL");
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(k->db, sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(k->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int code = evc_error_set(err, EVC_EIO, "database %s: opening the checkpoint "
                                 "connection: %s", s->path,
                                 k->db ? sqlite3_errmsg(k->db) : sqlite3_errstr(rc));
        sqlite3_close(k->db);
        free(k);
        return code;
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    /* Thread creation is the barrier that hands k->db over to the thread. */
    if (pthread_create(&k->thread, NULL, ckpt_run, k) != 0) {
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->cv);
        sqlite3_close(k->db);
        free(k);
        /* Not fatal: SQLite's own checkpoint on the loop, as before. */
        s->host->log(s->host->host, EVC_LOG_WARN, NULL,
                     "database %s: no checkpoint thread (checkpoints stay on the loop)",
                     s->path);
        return EVC_OK;
    }
    s->ckpt = k;
    /* Replaces SQLite's default hook (the automatic checkpoint). */
    sqlite3_wal_hook(s->db, ckpt_hook, s);
    return EVC_OK;
}

void sqlite_ckpt_stop(sqlite_store *s)
{
    sqlite_ckpt *k = s->ckpt;
    if (!k)
        return;
    /* Back to SQLite's own checkpointing for what the loop still commits. */
    sqlite3_wal_autocheckpoint(s->db, SQLITE_CKPT_PAGES);
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    sqlite3_close(k->db);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
    s->ckpt = NULL;
}
