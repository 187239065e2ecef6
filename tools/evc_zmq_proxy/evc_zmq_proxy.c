/* evc-zmq-proxy: the ZeroMQ bus's meeting point as a program of its own.
 *
 *   evc-zmq-proxy [--hwm N] [--curve-secret-key-file FILE] [HOST:PORT]
 *   evc-zmq-proxy [--hwm N] [--curve-secret-key-file FILE] --xsub EP --xpub EP
 *   evc-zmq-proxy --curve-keygen SECRET_FILE
 *
 * Publishers connect to XSUB (HOST:PORT), subscribers to XPUB (HOST:PORT+1),
 * which is what the ZeroMQ transport plugin derives from transport.endpoint.
 * Runs until SIGINT or SIGTERM. Exit codes: 0 stopped by a signal, 1 cannot
 * bind (the message names the address) or the key file is refused, 2 bad usage.
 * --curve-keygen writes a new secret key (mode 0600) and prints the public key.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmqt_curve.h"
#include "zmqt_proxy.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: evc-zmq-proxy [--hwm N] [--curve-secret-key-file FILE] [HOST:PORT]\n"
            "       evc-zmq-proxy [--hwm N] [--curve-secret-key-file FILE] --xsub EP --xpub EP\n"
            "       evc-zmq-proxy --curve-keygen SECRET_FILE\n"
            "Runs the XSUB/XPUB proxy of the ZeroMQ transport until SIGINT/SIGTERM.\n"
            "  HOST:PORT      publishers' side (XSUB); subscribers' side is PORT+1\n"
            "                 (default 0.0.0.0:5555, so XPUB on 5556)\n"
            "  --xsub, --xpub explicit ZeroMQ endpoints (tcp://host:port, ipc://path)\n"
            "  --hwm N        messages queued per peer before a slow subscriber loses\n"
            "                 messages (0 = unbounded; default 100000)\n"
            "  --curve-secret-key-file FILE\n"
            "                 ZeroMQ CURVE: only CURVE clients that know the matching\n"
            "                 public key can talk to the proxy, encrypted (FILE mode 0600)\n"
            "  --curve-keygen SECRET_FILE\n"
            "                 make a key pair: the secret key goes to the new file\n"
            "                 SECRET_FILE (0600), the public key to stdout; then exit\n");
}

static int parse_hostport(const char *hp, char *xsub, char *xpub, size_t cap)
{
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || colon == hp)
        return -1;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65534)
        return -1;
    int hl = (int)(colon - hp);
    int a = snprintf(xsub, cap, "tcp://%.*s:%ld", hl, hp, port);
    int b = snprintf(xpub, cap, "tcp://%.*s:%ld", hl, hp, port + 1);
    return (a < 0 || b < 0 || (size_t)a >= cap || (size_t)b >= cap) ? -1 : 0;
}

int main(int argc, char **argv)
{
    char xsub[300] = "", xpub[300] = "";
    const char *hostport = NULL;
    long hwm = 100000;
    const char *curve_file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--curve-keygen") == 0 && i + 1 < argc) {
            char pub[ZMQT_Z85_LEN + 1], err[512];
            if (zmqt_curve_keygen_file(argv[i + 1], pub, err, sizeof err) != 0) {
                fprintf(stderr, "evc-zmq-proxy: %s\n", err);
                return 1;
            }
            /* The public key alone on stdout, so that scripts can capture it. */
            printf("%s\n", pub);
            fprintf(stderr, "evc-zmq-proxy: secret key written to %s (mode 0600); the line "
                            "above is the public key (transport.zmq.curve.server_public_key)\n",
                    argv[i + 1]);
            return 0;
        }
        if (strcmp(a, "--curve-secret-key-file") == 0 && i + 1 < argc) {
            curve_file = argv[++i];
            continue;
        }
        if ((strcmp(a, "--xsub") == 0 || strcmp(a, "--xpub") == 0 || strcmp(a, "--hwm") == 0) &&
            i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(a, "--hwm") == 0) {
                char *end = NULL;
                errno = 0;
                hwm = strtol(v, &end, 10);
                if (errno != 0 || *end != '\0' || hwm < 0 || hwm > 1000000000) {
                    fprintf(stderr, "evc-zmq-proxy: --hwm \"%s\": expected 0..1000000000\n", v);
                    return 2;
                }
            } else {
                snprintf(strcmp(a, "--xsub") == 0 ? xsub : xpub, sizeof xsub, "%s", v);
            }
        } else if (a[0] != '-' && hostport == NULL) {
            hostport = a;
        } else {
            fprintf(stderr, "evc-zmq-proxy: unexpected argument \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    if ((xsub[0] != '\0') != (xpub[0] != '\0') || (xsub[0] != '\0' && hostport != NULL)) {
        fprintf(stderr, "evc-zmq-proxy: give HOST:PORT, or both --xsub and --xpub\n");
        return 2;
    }
    if (xsub[0] == '\0' && parse_hostport(hostport ? hostport : "0.0.0.0:5555", xsub, xpub,
                                          sizeof xsub) != 0) {
        fprintf(stderr, "evc-zmq-proxy: \"%s\": expected HOST:PORT with PORT in 1..65534\n",
                hostport);
        return 2;
    }

    /* Block the signals before the proxy's threads exist, so that they are
     * delivered to sigwait here and nowhere else. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    zmqt_proxy *p = NULL;
    char err[512];
    char secret[ZMQT_Z85_LEN + 1], pub[ZMQT_Z85_LEN + 1] = "";
    if (curve_file != NULL) {
        if (!zmqt_curve_available()) {
            fprintf(stderr, "evc-zmq-proxy: --curve-secret-key-file: this libzmq has no CURVE "
                            "support (zmq_has(\"curve\") is false)\n");
            return 1;
        }
        if (zmqt_curve_read_secret_file(curve_file, secret, err, sizeof err) != 0 ||
            zmqt_curve_public_of(secret, pub) != 0) {
            fprintf(stderr, "evc-zmq-proxy: %s\n", err);
            return 1;
        }
    }
    int rc = zmqt_proxy_start_curve(NULL, xsub, xpub, (int)hwm, curve_file ? secret : NULL, &p,
                                    err, sizeof err);
    zmqt_curve_wipe(secret, sizeof secret);
    if (rc != 0) {
        fprintf(stderr, "evc-zmq-proxy: %s\n", err);
        return 1;
    }
    printf("evc-zmq-proxy: publishers -> %s (XSUB), subscribers -> %s (XPUB), hwm %ld%s%s\n",
           zmqt_proxy_xsub(p), zmqt_proxy_xpub(p), hwm, curve_file ? ", CURVE public key " : "",
           pub);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    zmqt_proxy_stop(p);
    printf("evc-zmq-proxy: stopped by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}
