/* kt_harness.c: see kt_harness.h. */
#include "kt_harness.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evc/plugin.h"

void kt_unique(char *buf, size_t cap, const char *prefix)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, cap, "%s-%d-%u-%lld%09ld", prefix, (int)getpid(), counter++,
             (long long)ts.tv_sec, ts.tv_nsec);
}

static char *kt_strndup(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

static int kt_dispatch(void *arg, const evc_message *m)
{
    kt_node *n = arg;
    n->attempts++;
    if (n->handler) {
        int rc = n->handler(n, m);
        if (rc != EVC_OK)
            return rc;
    }
    if (n->n_msgs == n->cap_msgs) {
        size_t cap = n->cap_msgs ? n->cap_msgs * 2 : 256;
        kt_msg *v = realloc(n->msgs, cap * sizeof *v);
        if (!v)
            return EVC_ENOMEM;
        n->msgs = v;
        n->cap_msgs = cap;
    }
    kt_msg *k = &n->msgs[n->n_msgs++];
    k->topic = strdup(m->topic);
    k->key = strdup(m->key);
    k->payload = kt_strndup(m->payload, m->payload_len);
    k->len = m->payload_len;
    k->partition = m->partition;
    k->offset = m->offset;
    return EVC_OK;
}

static void kt_outcome(void *arg, uint64_t token, evc_outcome_status st, const char *detail)
{
    kt_node *n = arg;
    if (st >= 1 && st <= 3)
        n->outcome[st]++;
    if (token == 0 || token > n->max_token) {
        n->bad_tokens++;
        return;
    }
    if (n->token_seen[token]++)
        n->dup_outcomes++;
}

int kt_open(kt_node *n, const char *endpoint, const char *group, const char *yaml,
            uint64_t max_token, evc_error *err)
{
    memset(n, 0, sizeof *n);
    int rc;
    n->max_token = max_token;
    n->token_seen = calloc(max_token + 1, 1);
    const char *path = EVC_TEST_BINARY_DIR "/plugins/evc_transport_kafka.so";
    n->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!n->dl)
        return evc_error_set(err, EVC_EPLUGIN, "%s", dlerror());
    evc_plugin_query_fn q = (evc_plugin_query_fn)dlsym(n->dl, EVC_PLUGIN_ENTRY_NAME);
    const evc_plugin_descriptor *d = q ? q(EVC_ABI_MAJOR, EVC_ABI_MINOR) : NULL;
    if (!d)
        return evc_error_set(err, EVC_EPLUGIN, "%s: no descriptor", path);
    n->ops = d->ops;
    if ((rc = evc_loop_new(&n->loop, err)) != EVC_OK)
        return rc;
    evc_host_sink sink = {.arg = n, .outcome = kt_outcome, .dispatch = kt_dispatch};
    if ((rc = evc_host_new(n->loop, "kafka", &sink, &n->host, err)) != EVC_OK)
        return rc;
    if ((rc = evc_cfg_load_string("<test>", yaml, strlen(yaml), &n->cfg, err)) != EVC_OK)
        return rc;
    evc_transport_params p = {
        .struct_size = sizeof p,
        .endpoint = endpoint,
        .client_id = "kafka-test",
        .group_id = group,
        .config = *yaml ? evc_cfg_root(n->cfg) : NULL,
    };
    return n->ops->create(n->host, &p, &n->t, err);
}

void kt_close(kt_node *n)
{
    if (n->ops && n->t)
        n->ops->destroy(n->t);
    n->t = NULL;
    if (n->host)
        evc_host_free(n->host);
    if (n->loop)
        evc_loop_free(n->loop);
    evc_cfg_free(n->cfg);
    for (size_t i = 0; i < n->n_msgs; i++) {
        free(n->msgs[i].topic);
        free(n->msgs[i].key);
        free(n->msgs[i].payload);
    }
    free(n->msgs);
    free(n->token_seen);
    if (n->dl)
        dlclose(n->dl);
    memset(n, 0, sizeof *n);
}

bool kt_wait(kt_node *n, bool (*cond)(void *), void *arg, uint64_t timeout_ms)
{
    return evc_loop_run_until(n->loop, cond, arg, timeout_ms) == EVC_OK;
}

typedef struct kt_count {
    kt_node *n;
    uint64_t want;
} kt_count;

static bool kt_have_msgs(void *arg)
{
    kt_count *c = arg;
    return c->n->n_msgs >= c->want;
}

bool kt_wait_msgs(kt_node *n, size_t count, uint64_t timeout_ms)
{
    kt_count c = {n, count};
    return kt_wait(n, kt_have_msgs, &c, timeout_ms);
}

uint64_t kt_outcomes(const kt_node *n)
{
    return n->outcome[1] + n->outcome[2] + n->outcome[3];
}

static bool kt_have_outcomes(void *arg)
{
    kt_count *c = arg;
    return kt_outcomes(c->n) >= c->want;
}

bool kt_wait_outcomes(kt_node *n, uint64_t count, uint64_t timeout_ms)
{
    kt_count c = {n, count};
    return kt_wait(n, kt_have_outcomes, &c, timeout_ms);
}

static bool kt_false(void *arg)
{
    return false;
}

int kt_publish(kt_node *n, const char *topic, const char *key, const char *payload,
               uint64_t token, evc_error *err)
{
    evc_message m = {.topic = topic, .key = key, .payload = payload,
                     .payload_len = strlen(payload), .partition = -1, .offset = -1};
    for (int i = 0; i < 10000; i++) {
        int rc = n->ops->publish(n->t, &m, token, err);
        if (rc != EVC_EAGAIN)
            return rc;
        kt_wait(n, kt_false, NULL, 5); /* let delivery reports drain the queue */
    }
    return EVC_EAGAIN;
}

pid_t kt_spawn_line(char *const argv[], char *line, size_t cap, uint64_t timeout_ms)
{
    int fds[2];
    line[0] = '\0';
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    /* fork + exec rather than posix_spawn so that the child dies with the
     * test (PR_SET_PDEATHSIG) even when an assertion ends the test before it
     * reaps the child. Only async-signal-safe calls before exec. */
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        fprintf(stderr, "fork for %s: %s\n", argv[0], strerror(errno));
        return -1;
    }
    size_t len = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long waited = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (waited >= (long)timeout_ms)
            break;
        struct pollfd pf = {.fd = fds[0], .events = POLLIN};
        if (poll(&pf, 1, (int)(timeout_ms - (uint64_t)waited)) <= 0)
            break;
        char ch;
        ssize_t r = read(fds[0], &ch, 1);
        if (r <= 0)
            break;
        if (ch == '\n') {
            line[len] = '\0';
            close(fds[0]);
            return pid;
        }
        if (len + 1 < cap)
            line[len++] = ch;
    }
    close(fds[0]);
    line[len] = '\0';
    return pid; /* caller checks the line */
}
