/* zmqt_curve.c: CURVE key checks, key files, key generation (zmqt_curve.h). */
#include "zmqt_curve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

static void zmqt_curve_errf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void zmqt_curve_errf(char *buf, size_t cap, const char *fmt, ...)
{
    if (buf == NULL || cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

void zmqt_curve_wipe(void *p, size_t n)
{
    /* A volatile pointer stops the store from being removed as dead. */
    volatile unsigned char *v = p;
    while (n-- > 0)
        *v++ = 0;
}

bool zmqt_curve_available(void) { return zmq_has("curve") != 0; }

bool zmqt_curve_key_valid(const char *z85)
{
    if (z85 == NULL || strlen(z85) != ZMQT_Z85_LEN)
        return false;
    uint8_t raw[32];
    bool ok = zmq_z85_decode(raw, z85) != NULL;
    zmqt_curve_wipe(raw, sizeof raw);
    return ok;
}

int zmqt_curve_public_of(const char *secret_z85, char *pub)
{
    if (!zmqt_curve_key_valid(secret_z85))
        return -1;
    return zmq_curve_public(pub, secret_z85) == 0 ? 0 : -1;
}

int zmqt_curve_read_secret_file(const char *path, char *out, char *errbuf, size_t errcap)
{
    /* O_NOFOLLOW: the mode checked must be the key file's own, not that of
     * whatever a symlink points to later. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        zmqt_curve_errf(errbuf, errcap, "curve secret key file %s: cannot open: %s", path,
                        strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        zmqt_curve_errf(errbuf, errcap, "curve secret key file %s: not a regular file", path);
        close(fd);
        return -1;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        zmqt_curve_errf(errbuf, errcap,
                        "curve secret key file %s: mode %04o lets group or others read it; "
                        "refused (chmod 600 %s)",
                        path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int rerr = errno;
    close(fd);
    if (n < 0) {
        zmqt_curve_errf(errbuf, errcap, "curve secret key file %s: read: %s", path,
                        strerror(rerr));
        return -1;
    }
    buf[n] = '\0';
    char *s = buf, *e = buf + n;
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        *--e = '\0';
    int rc = -1;
    if (!zmqt_curve_key_valid(s))
        zmqt_curve_errf(errbuf, errcap,
                        "curve secret key file %s: expected one Z85 key of %d characters "
                        "(as written by evc-zmq-proxy --curve-keygen)",
                        path, ZMQT_Z85_LEN);
    else {
        memcpy(out, s, ZMQT_Z85_LEN + 1);
        rc = 0;
    }
    zmqt_curve_wipe(buf, sizeof buf);
    return rc;
}

int zmqt_curve_keygen_file(const char *path, char *pub, char *errbuf, size_t errcap)
{
    if (!zmqt_curve_available()) {
        zmqt_curve_errf(errbuf, errcap, "this libzmq has no CURVE support (zmq_has(\"curve\"))");
        return -1;
    }
    char secret[ZMQT_Z85_LEN + 1];
    /* A public key without '$' goes into YAML as it is: the config loader
     * substitutes ${NAME} and $$ in every value. About 6 pairs in 10 qualify,
     * so the loop ends after a few rounds. */
    int tries = 0;
    do {
        if (zmq_curve_keypair(pub, secret) != 0) {
            zmqt_curve_errf(errbuf, errcap, "zmq_curve_keypair: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
    } while (strchr(pub, '$') != NULL && ++tries < 1000);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        zmqt_curve_errf(errbuf, errcap, "curve secret key file %s: cannot create: %s%s", path,
                        strerror(errno),
                        errno == EEXIST ? " (never overwritten: remove it first)" : "");
        zmqt_curve_wipe(secret, sizeof secret);
        return -1;
    }
    secret[ZMQT_Z85_LEN] = '\n';
    ssize_t w = write(fd, secret, ZMQT_Z85_LEN + 1);
    int werr = errno;
    zmqt_curve_wipe(secret, sizeof secret);
    if (close(fd) != 0 && w == ZMQT_Z85_LEN + 1) {
        w = -1;
        werr = errno;
    }
    if (w != ZMQT_Z85_LEN + 1) {
        zmqt_curve_errf(errbuf, errcap, "curve secret key file %s: write: %s", path,
                        strerror(werr));
        unlink(path);
        return -1;
    }
    return 0;
}
