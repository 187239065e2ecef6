/* test_uuid_pool.c: ids come from a per-thread pool of OS randomness
 * (issue 14). What must hold whatever the pooling: a forked child never
 * repeats the ids of its parent (the pool is copied by fork), and threads
 * never share bytes. */
#include <criterion/criterion.h>
#include <evc/uuid.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

Test(uuid_pool, a_forked_child_does_not_repeat_its_parents_ids)
{
    char id[EVC_UUID_STR_SIZE];
    cr_assert_eq(evc_uuid_generate(id, NULL), EVC_OK); /* the pool is full now */
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        char mine[4][EVC_UUID_STR_SIZE];
        for (int i = 0; i < 4; i++)
            evc_uuid_generate(mine[i], NULL);
        ssize_t w = write(p[1], mine, sizeof mine);
        _exit(w == (ssize_t)sizeof mine ? 0 : 1);
    }
    close(p[1]);
    char parent[4][EVC_UUID_STR_SIZE], child[4][EVC_UUID_STR_SIZE];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(evc_uuid_generate(parent[i], NULL), EVC_OK);
    size_t got = 0;
    while (got < sizeof child) {
        ssize_t n = read(p[0], (char *)child + got, sizeof child - got);
        cr_assert(n > 0, "the child wrote %zu bytes", got);
        got += (size_t)n;
    }
    int status = 0;
    waitpid(pid, &status, 0);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            cr_expect_str_neq(parent[i], child[j], "parent and child both made %s", parent[i]);
    close(p[0]);
}

enum { PER_THREAD = 2000, THREADS = 4 };
static char ids[THREADS][PER_THREAD][EVC_UUID_STR_SIZE];

static void *make_ids(void *arg)
{
    char (*mine)[EVC_UUID_STR_SIZE] = arg;
    for (int i = 0; i < PER_THREAD; i++)
        if (evc_uuid_generate(mine[i], NULL) != EVC_OK)
            return (void *)1;
    return NULL;
}

static int cmp(const void *a, const void *b) { return strcmp(a, b); }

Test(uuid_pool, threads_never_share_ids)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, make_ids, ids[i]), 0);
    for (int i = 0; i < THREADS; i++) {
        void *rc;
        pthread_join(t[i], &rc);
        cr_assert_null(rc);
    }
    qsort(ids, THREADS * PER_THREAD, EVC_UUID_STR_SIZE, cmp);
    char(*all)[EVC_UUID_STR_SIZE] = ids[0];
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        cr_assert_str_neq(all[i - 1], all[i], "%s made twice", all[i]);
    for (int i = 0; i < THREADS * PER_THREAD; i++)
        cr_assert(evc_uuid_valid(all[i]), "%s", all[i]);
}
