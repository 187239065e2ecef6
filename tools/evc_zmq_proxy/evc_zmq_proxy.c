/* evc-zmq-proxy: the ZeroMQ bus's meeting point as a program of its own.
 *
 *   evc-zmq-proxy [--hwm N] [HOST:PORT]
 *   evc-zmq-proxy [--hwm N] --xsub ENDPOINT --xpub ENDPOINT
 *
 * Publishers connect to XSUB (HOST:PORT), subscribers to XPUB (HOST:PORT+1),
 * which is what the ZeroMQ transport plugin derives from transport.endpoint.
 * Runs until SIGINT or SIGTERM. Exit codes: 0 stopped by a signal, 1 cannot
 * bind (the message names the address), 2 bad usage.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zmqt_proxy.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: evc-zmq-proxy [--hwm N] [HOST:PORT]\n"
            "       evc-zmq-proxy [--hwm N] --xsub ENDPOINT --xpub ENDPOINT\n"
            "Runs the XSUB/XPUB proxy of the ZeroMQ transport until SIGINT/SIGTERM.\n"
            "  HOST:PORT      publishers' side (XSUB); subscribers' side is PORT+1\n"
            "                 (default 0.0.0.0:5555, so XPUB on 5556)\n"
            "  --xsub, --xpub explicit ZeroMQ endpoints (tcp://host:port, ipc://path)\n"
            "  --hwm N        messages queued per peer before a slow subscriber loses\n"
            "                 messages (0 = unbounded; default 100000)\n");
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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
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
    if (zmqt_proxy_start(NULL, xsub, xpub, (int)hwm, &p, err, sizeof err) != 0) {
        fprintf(stderr, "evc-zmq-proxy: %s\n", err);
        return 1;
    }
    printf("evc-zmq-proxy: publishers -> %s (XSUB), subscribers -> %s (XPUB), hwm %ld\n",
           zmqt_proxy_xsub(p), zmqt_proxy_xpub(p), hwm);
    fflush(stdout);

    int sig = 0;
    sigwait(&set, &sig);
    zmqt_proxy_stop(p);
    printf("evc-zmq-proxy: stopped by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}
