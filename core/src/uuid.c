/* uuid.c: UUIDv4 from libsodium's randombytes_buf, through a pool per
 * thread. Every message carries a fresh id: with one getrandom call per id,
 * the system calls alone were a visible share of Central at thousands of
 * messages a second (issue 14). The pool keeps the bytes' quality (they
 * are the OS CSPRNG's, each used once) and only batches the reads. */
#include "evc/uuid.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define POOL_BYTES 4096

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status = -1;

typedef struct rand_pool {
    size_t pos;   /* bytes before pos are used (and wiped) */
    unsigned gen; /* fork generation the bytes were read in */
    unsigned char bytes[POOL_BYTES];
} rand_pool;

static pthread_key_t pool_key;
static bool pool_key_ok;
/* Bumped in a forked child: the parent's pool, copied into the child, must
 * not give the child the ids the parent will give. */
static atomic_uint fork_gen;

static void pool_free(void *p)
{
    sodium_memzero(p, sizeof(rand_pool));
    free(p);
}

static void after_fork_in_child(void) { atomic_fetch_add(&fork_gen, 1); }

static void sodium_start(void)
{
    sodium_status = sodium_init(); /* 0 first time, 1 if another user did it, -1 failure */
    pool_key_ok = pthread_key_create(&pool_key, pool_free) == 0 &&
                  pthread_atfork(NULL, NULL, after_fork_in_child) == 0;
}

/* The whole pool in one system call: libsodium reads 256 bytes per call.
 * Its randombytes_buf stays the fallback (a kernel without getrandom). */
static void fill(unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            break;
    }
    if (got < len)
        randombytes_buf(buf + got, len - got);
}

/* n (<= POOL_BYTES) random bytes from this thread's pool; straight from
 * libsodium when the pool cannot be had (no key, no memory). */
static void random_bytes(unsigned char *out, size_t n)
{
    rand_pool *p = pool_key_ok ? pthread_getspecific(pool_key) : NULL;
    if (!p && pool_key_ok) {
        p = malloc(sizeof *p);
        if (p && pthread_setspecific(pool_key, p) != 0) {
            free(p);
            p = NULL;
        }
        if (p)
            p->pos = POOL_BYTES; /* empty: filled below */
    }
    if (!p) {
        randombytes_buf(out, n);
        return;
    }
    unsigned gen = atomic_load(&fork_gen);
    if (p->pos + n > POOL_BYTES || p->gen != gen) {
        fill(p->bytes, POOL_BYTES);
        p->pos = 0;
        p->gen = gen;
    }
    memcpy(out, p->bytes + p->pos, n);
    sodium_memzero(p->bytes + p->pos, n); /* a later memory leak shows no past id */
    p->pos += n;
}

int evc_uuid_generate(char out[EVC_UUID_STR_SIZE], evc_error *err)
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    pthread_once(&sodium_once, sodium_start);
    if (sodium_status < 0)
        return evc_error_set(err, EVC_EIO, "uuid: libsodium failed to initialise (sodium_init)");
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10xx */
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[b[i] >> 4];
        out[k++] = hex[b[i] & 0x0f];
    }
    out[k] = '\0';
    return EVC_OK;
}

bool evc_uuid_valid(const char *s)
{
    if (!s)
        return false;
    for (int i = 0; i < EVC_UUID_STR_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false; /* also stops at the NUL of a short string */
        }
    }
    return s[EVC_UUID_STR_LEN] == '\0';
}
