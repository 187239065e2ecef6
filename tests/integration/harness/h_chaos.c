/* h_chaos.c: helpers for long scenarios that kill and restart programs many
 * times (tests/integration/chaos): restart a program in the slot of its dead
 * predecessor, keep every generation's output, read any SQLite file (the
 * engines' own stores) and find a session's lines in every log. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A program restarted forty times would need forty slots of the fixed
 * procs[] array (H_MAX_PROCS): its dead generations are archived instead. */
void h_proc_retire(h_env *env, h_proc *old, int run)
{
    (void)env;
    cr_assert(!h_alive(old), "h_proc_retire: %s is still running", old->name);
    char out[PATH_MAX], err[PATH_MAX];
    snprintf(out, sizeof out, "%.*s.run%d.out", (int)(strlen(old->out) - 4), old->out, run);
    snprintf(err, sizeof err, "%.*s.run%d.err", (int)(strlen(old->err) - 4), old->err, run);
    /* A missing file (never written) is not an error: nothing to keep. */
    if (rename(old->out, out) == 0)
        snprintf(old->out, sizeof old->out, "%s", out);
    if (rename(old->err, err) == 0)
        snprintf(old->err, sizeof old->err, "%s", err);
}

h_proc *h_proc_take_slot(h_env *env, h_proc *old, h_proc *fresh)
{
    cr_assert(env->nprocs > 0 && fresh == &env->procs[env->nprocs - 1],
              "h_proc_take_slot: %s is not the process spawned last", fresh->name);
    cr_assert(old != fresh && !h_alive(old), "h_proc_take_slot: %s is still running", old->name);
    *old = *fresh;
    memset(fresh, 0, sizeof *fresh);
    env->nprocs--;
    if (env->central == fresh)
        env->central = old;
    return old;
}

int64_t h_sqlite_int(const char *path, const char *sql, int64_t dflt)
{
    sqlite3 *db = NULL;
    int64_t v = dflt;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "harness: open %s: %s\n", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return dflt;
    }
    /* The owner (a running engine) writes in WAL mode: readers never block
     * it, but a checkpoint may hold the lock for a moment. */
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "harness: %s on %s: %s\n", sql, path, sqlite3_errmsg(db));
    } else if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int h_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int h_grep_logs(const h_env *env, const char *needle, int max_lines)
{
    DIR *d = opendir(env->dir);
    if (!d)
        return 0;
    /* Sorted names: a program's generations (name.out, name.run1.out ...)
     * come out together. */
    char *names[512];
    int nn = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && nn < (int)(sizeof names / sizeof names[0])) {
        size_t l = strlen(de->d_name);
        if (l > 4 && (strcmp(de->d_name + l - 4, ".out") == 0 ||
                      strcmp(de->d_name + l - 4, ".err") == 0))
            names[nn++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof names[0], h_name_cmp);
    int shown = 0;
    for (int i = 0; i < nn; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", env->dir, names[i]);
        FILE *f = fopen(path, "r");
        char line[1024];
        while (f && shown < max_lines && fgets(line, sizeof line, f)) {
            /* Debug lines (the scenarios log at debug) are mostly the
             * outbox's re-sends, one a second: they would fill the budget
             * before the story of the session. */
            if (!strstr(line, needle) || strstr(line, " DEBUG "))
                continue;
            fprintf(stderr, "  %s: %s%s", names[i], line, strchr(line, '\n') ? "" : "\n");
            shown++;
        }
        if (f)
            fclose(f);
        free(names[i]);
    }
    return shown;
}
