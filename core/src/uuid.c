/* uuid.c: UUIDv4 from libsodium's randombytes_buf. */
#include "evc/uuid.h"

#include <pthread.h>
#include <sodium.h>

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_status = -1;

static void sodium_start(void)
{
    sodium_status = sodium_init(); /* 0 first time, 1 if another user did it, -1 failure */
}

int evc_uuid_generate(char out[EVC_UUID_STR_SIZE], evc_error *err)
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\0';
    pthread_once(&sodium_once, sodium_start);
    if (sodium_status < 0)
        return evc_error_set(err, EVC_EIO, "uuid: libsodium failed to initialise (sodium_init)");
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
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
