/* evc-kafka-mock: librdkafka's mock Kafka cluster as a program, for tests and
 * the Kafka demo. It speaks the Kafka protocol on loopback TCP, so the Kafka
 * transport plugin, kcat and any Kafka client can use it. Not a broker for
 * production: it keeps about 5 MB per partition and nothing on disk.
 *
 *   evc-kafka-mock [--brokers N] [--listen IPV4] [--bootstrap-file F]
 *                  [--topic NAME[:PARTITIONS]]...
 *
 * Prints the bootstrap address ("127.0.0.1:PORT,...") as the first line of
 * stdout, flushed, optionally writes it to F (atomically, via rename), and
 * runs until SIGINT or SIGTERM. Exit codes: 0 after a signal, 2 usage,
 * 1 when the cluster cannot start or the file cannot be written. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MOCK_MAX_TOPICS 64

/* --listen: librdkafka's mock API (2.0.2 and later) has no way to choose the
 * brokers' address: each broker binds 127.0.0.1 port 0 and advertises what
 * getsockname() then returns. A cluster other hosts can reach (the three-host
 * test, a Kafka demo across machines) needs another address, so this program
 * defines bind() itself (exported: ENABLE_EXPORTS in CMakeLists.txt), and the
 * dynamic linker resolves librdkafka's call to it before libc's. While the
 * cluster is being created (mock_rebind_addr non-zero) a loopback, port-0
 * IPv4 bind becomes a bind to the --listen address; every other bind, and
 * every bind outside that window, passes through unchanged. */
static _Atomic uint32_t mock_rebind_addr; /* network order; 0 = off */

typedef int (*mock_bind_fn)(int, const struct sockaddr *, socklen_t);

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    static mock_bind_fn real_bind;
    if (!real_bind) {
        /* POSIX guarantees dlsym's pointer converts to a function pointer;
         * memcpy says so without a cast ISO C does not define. */
        void *sym = dlsym(RTLD_NEXT, "bind");
        if (sym)
            memcpy(&real_bind, &sym, sizeof real_bind);
    }
    if (!real_bind) {
        errno = ENOSYS;
        return -1;
    }
    uint32_t to = atomic_load(&mock_rebind_addr);
    if (to && addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in sin;
        memcpy(&sin, addr, sizeof sin);
        if (sin.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && sin.sin_port == 0) {
            sin.sin_addr.s_addr = to;
            return real_bind(fd, (const struct sockaddr *)&sin, sizeof sin);
        }
    }
    return real_bind(fd, addr, len);
}

static void mock_usage(FILE *f)
{
    fprintf(f,
            "usage: evc-kafka-mock [--brokers N] [--listen IPV4] [--bootstrap-file FILE] "
            "[--topic NAME[:PARTITIONS]]...\n"
            "  --brokers N            brokers in the mock cluster (1..32, default 1)\n"
            "  --listen IPV4          brokers listen on (and advertise) this address\n"
            "                         instead of 127.0.0.1, for clients on other hosts\n"
            "  --bootstrap-file FILE  also write the bootstrap address to FILE\n"
            "  --topic NAME[:P]       create a topic with P partitions (default 4) at start\n"
            "Prints the bootstrap address on the first line of stdout and runs until\n"
            "SIGINT/SIGTERM.\n");
}

static int mock_write_file(const char *path, const char *text)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return -1;
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int ok = f && fprintf(f, "%s\n", text) > 0;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(tmp, path) != 0)
        ok = 0;
    if (!ok) {
        fprintf(stderr, "evc-kafka-mock: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : -1;
}

static int mock_parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    int brokers = 1;
    const char *file = NULL;
    const char *topics[MOCK_MAX_TOPICS];
    int n_topics = 0;
    struct in_addr listen_addr = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            mock_usage(stdout);
            return 0;
        } else if (strcmp(a, "--brokers") == 0 && i + 1 < argc) {
            if (mock_parse_int(argv[++i], 1, 32, &brokers) != 0) {
                fprintf(stderr, "evc-kafka-mock: --brokers wants 1..32, got '%s'\n", argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--listen") == 0 && i + 1 < argc) {
            if (inet_pton(AF_INET, argv[++i], &listen_addr) != 1 ||
                listen_addr.s_addr == 0) {
                fprintf(stderr,
                        "evc-kafka-mock: --listen wants one IPv4 address the other hosts "
                        "reach (the brokers advertise it; not 0.0.0.0), got '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (strcmp(a, "--bootstrap-file") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(a, "--topic") == 0 && i + 1 < argc && n_topics < MOCK_MAX_TOPICS) {
            topics[n_topics++] = argv[++i];
        } else {
            fprintf(stderr, "evc-kafka-mock: unknown or incomplete argument '%s'\n", a);
            mock_usage(stderr);
            return 2;
        }
    }

    /* Signals are taken with sigwait: block them before librdkafka starts
     * its threads, which inherit the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    char es[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "4", es, sizeof es) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "evc-kafka-mock: %s\n", es);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    /* The mock cluster needs a client handle to live in; this producer
     * never produces. */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, es, sizeof es);
    if (!rk) {
        fprintf(stderr, "evc-kafka-mock: %s\n", es);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    atomic_store(&mock_rebind_addr, listen_addr.s_addr);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    atomic_store(&mock_rebind_addr, 0);
    if (!mc) {
        fprintf(stderr, "evc-kafka-mock: cannot start a mock cluster of %d brokers\n", brokers);
        rd_kafka_destroy(rk);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < n_topics && rc == 0; i++) {
        char name[256];
        int parts = 4;
        snprintf(name, sizeof name, "%s", topics[i]);
        char *colon = strrchr(name, ':');
        if (colon) {
            *colon = '\0';
            if (mock_parse_int(colon + 1, 1, 1000, &parts) != 0 || !*name) {
                fprintf(stderr, "evc-kafka-mock: bad --topic '%s' (NAME[:1..1000])\n",
                        topics[i]);
                rc = 2;
                break;
            }
        }
        rd_kafka_resp_err_t e =
            rd_kafka_mock_topic_create(mc, name, parts, brokers < 3 ? brokers : 3);
        if (e) {
            fprintf(stderr, "evc-kafka-mock: topic %s: %s\n", name, rd_kafka_err2str(e));
            rc = 1;
        }
    }
    const char *boot = rd_kafka_mock_cluster_bootstraps(mc);
    if (rc == 0) {
        printf("%s\n", boot);
        fflush(stdout);
        if (file && mock_write_file(file, boot) != 0)
            rc = 1;
    }
    if (rc == 0) {
        fprintf(stderr, "evc-kafka-mock: %d broker(s) at %s; SIGINT/SIGTERM stops\n", brokers,
                boot);
        int sig = 0;
        sigwait(&set, &sig);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    if (file && rc != 2)
        unlink(file);
    return rc;
}
