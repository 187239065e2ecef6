/* test_wal.c: Central's database is checkpointed by the store's background
 * thread (plugins/store_sqlite/sqlite_ckpt.c, issue 14: the automatic
 * checkpoint held the loop 5-10 ms). What a user would check on disk: the
 * data written reaches the database file without the loop doing anything,
 * and the -wal file is reused rather than growing with every write. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fixture.h"

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* About one 4 KiB page a row: `n` commits of ~1,500 pages in all. */
static void write_rows(fx_store *f, int first, int n)
{
    static char value[3000];
    memset(value, 'v', sizeof value);
    for (int i = first; i < first + n; i++) {
        char key[32];
        snprintf(key, sizeof key, "k%06d", i);
        evc_error err = {0};
        cr_assert_eq(evc_store_kv_put(f->store, "walt", key, value, sizeof value, &err), EVC_OK,
                     "%s", err.msg);
    }
}

/* Waits (deadline 20 s, no loop turn: nothing here runs on the loop) until
 * the database file is larger than `than` bytes. */
static long long wait_db_above(const char *db, long long than)
{
    uint64_t end = mono_ms() + 20000;
    long long sz;
    while ((sz = file_size(db)) <= than && mono_ms() < end) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL); /* polling a file: nothing to wait on */
    }
    return sz;
}

/* The WAL header's checkpoint sequence number and salts (bytes 12..23):
 * SQLite changes them each time it starts the file over. */
static int wal_header(const char *wal, unsigned char out[12])
{
    FILE *fp = fopen(wal, "rb");
    if (!fp)
        return -1;
    unsigned char h[24];
    size_t n = fread(h, 1, sizeof h, fp);
    fclose(fp);
    if (n != sizeof h)
        return -1;
    memcpy(out, h + 12, 12);
    return 0;
}

Test(wal, checkpointed_in_the_background_and_reused)
{
    fx_store f;
    fx_store_open(&f);
    char wal[320];
    snprintf(wal, sizeof wal, "%s-wal", f.db);
    long long db0 = file_size(f.db);
    cr_assert_gt(db0, 0);
    /* Past the 1,000-page threshold: the thread copies it into the file.
     * Rows go in key order, so the last pages (the highest numbers) are in
     * the last frames: the file holds them once everything is copied. */
    write_rows(&f, 0, 1500);
    long long db1 = wait_db_above(f.db, db0 + 1400LL * 4096);
    cr_assert_gt(db1, db0 + 1400LL * 4096,
                 "the database file did not receive the WAL's pages (%lld -> %lld bytes): no "
                 "checkpoint", db0, db1);
    /* Once everything is copied, a following write starts the WAL over (a
     * new header) instead of growing it. One row at a time, a few ms apart,
     * 500 rows at most (~2,000 pages: far below the loop's own bound). */
    unsigned char h1[12], h2[12];
    cr_assert_eq(wal_header(wal, h1), 0, "no WAL header in %s", wal);
    int i = 0;
    bool restarted = false;
    uint64_t end = mono_ms() + 20000;
    while (!restarted && i < 500 && mono_ms() < end) {
        write_rows(&f, 1500 + i++, 1);
        restarted = wal_header(wal, h2) == 0 && memcmp(h1, h2, sizeof h1) != 0;
        if (!restarted) {
            struct timespec ts = {0, 2 * 1000000L};
            nanosleep(&ts, NULL); /* the thread's turn: what we wait on is in a file */
        }
    }
    cr_assert(restarted, "the WAL was never started over after %d more rows: not reused", i);
    /* And the rows are there, read back through the store. */
    char buf[3000];
    size_t len = 0;
    evc_error err = {0};
    char key[32];
    snprintf(key, sizeof key, "k%06d", 1500 + i - 1);
    cr_assert_eq(evc_store_kv_get(f.store, "walt", key, buf, sizeof buf, &len, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert_eq(len, sizeof buf);
    fx_store_close(&f);
}
