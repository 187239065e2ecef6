/* zmqt_curve.h: ZeroMQ CURVE keys for the transport -- Z85 checks, private
 * key files and key generation.
 *
 * Shared by the plugin, the evc-zmq-proxy program (its --curve-keygen and
 * --curve-secret-key-file) and the tests; depends on libzmq and libc only,
 * like zmqt_proxy.c, so the tool does not need the core.
 *
 * Keys are handled as Z85 text: 40 characters for 32 bytes, plus the NUL
 * (ZMQT_Z85_LEN + 1 bytes), which is what ZMQ_CURVE_*KEY accept as well. */
#ifndef ZMQT_CURVE_H
#define ZMQT_CURVE_H

#include <stdbool.h>
#include <stddef.h>

#define ZMQT_Z85_LEN 40

/* true when this libzmq was built with CURVE (libsodium or tweetnacl). */
bool zmqt_curve_available(void);

/* true when `z85` is exactly 40 Z85 characters that decode to 32 bytes. */
bool zmqt_curve_key_valid(const char *z85);

/* Writes the public key belonging to the secret key `secret_z85` to `pub`
 * (ZMQT_Z85_LEN + 1 bytes). 0, or -1 when the secret is not a valid key. */
int zmqt_curve_public_of(const char *secret_z85, char *pub);

/* Reads a secret key file: one Z85 key, surrounding whitespace ignored. The
 * file must be a regular file that neither group nor others can read or
 * write (mode 0600 or 0400): a key anyone on the host can read protects
 * nothing. On success writes the key to `out` (ZMQT_Z85_LEN + 1 bytes) and
 * returns 0; else -1 with a one-line message naming `path` in errbuf. The
 * buffers holding the key on the way are wiped. */
int zmqt_curve_read_secret_file(const char *path, char *out, char *errbuf, size_t errcap);

/* Generates a key pair (zmq_curve_keypair) and writes the secret key to a NEW
 * file `path` with mode 0600 (refuses an existing file: never overwrites a
 * key in use). Writes the public key to `pub` (ZMQT_Z85_LEN + 1 bytes).
 * The public key never contains '$' (the config loader's substitution
 * character), so it can be pasted into YAML as it is.
 * 0, or -1 with a message naming `path` in errbuf. */
int zmqt_curve_keygen_file(const char *path, char *pub, char *errbuf, size_t errcap);

/* Overwrites `n` bytes of a key buffer in a way the compiler keeps. */
void zmqt_curve_wipe(void *p, size_t n);

#endif
