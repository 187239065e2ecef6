/* Kafka-only recovery: a consumer SIGKILLed mid-stream and replaced resumes
 * from its group's committed offset (no loss, bounded duplicates), at once
 * with direct assignment and after the dead member's session with the group
 * protocol; and a broker of a 3-broker cluster going down mid-stream loses
 * nothing. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../../tools/evc_conformance/conformance_fixture.h"
#include "kt_harness.h"

#define KT_TOTAL 3000

static bool kt_false(void *arg)
{
    return false;
}

static void kt_pause(kt_node *n, uint64_t ms)
{
    kt_wait(n, kt_false, NULL, ms);
}

static int kt_seq(const evc_message *m)
{
    char buf[16];
    size_t len = m->payload_len < sizeof buf - 1 ? m->payload_len : sizeof buf - 1;
    memcpy(buf, m->payload, len);
    buf[len] = '\0';
    return buf[0] == 'n' ? atoi(buf + 1) : -1;
}

/* Child: appends each handled sequence number to a file, then says OK. */
static int kt_child_handler(kt_node *n, const evc_message *m)
{
    int fd = *(int *)n->user;
    int32_t seq = kt_seq(m);
    return write(fd, &seq, sizeof seq) == (ssize_t)sizeof seq ? EVC_OK : EVC_EIO;
}

static void kt_child(const char *boot, const char *group, const char *topic, int fd,
                     const char *variant)
{
    kt_node n;
    evc_error err;
    if (kt_open(&n, boot, group, evc_conformance_transport_fixture.plugin_yaml(variant), 1, &err) ||
        n.ops->subscribe(n.t, topic, &err) || n.ops->start(n.t, &err)) {
        fprintf(stderr, "child: %s\n", err.msg);
        _exit(3);
    }
    n.handler = kt_child_handler;
    n.user = &fd;
    evc_loop_run(n.loop); /* until SIGKILL */
    _exit(4);
}

typedef struct kt_file {
    int fd;
    off_t want;
} kt_file;

static bool kt_file_has(void *arg)
{
    kt_file *f = arg;
    struct stat st;
    return fstat(f->fd, &st) == 0 && st.st_size >= f->want;
}

/* variant: the fixture's plugin settings of the killed consumer and its
 * replacement; first_within_ms: if not 0, the replacement must have its first
 * message that soon after its start. */
static void kt_kill_and_resume(const char *variant, uint64_t first_within_ms)
{
    char mock[] = EVC_TEST_BINARY_DIR "/bin/evc-kafka-mock";
    char *argv[] = {mock, "--brokers", "1", NULL};
    char boot[512], topic[96], group[96], dir[] = "/tmp/kafka-kill-XXXXXX", path[128], buf[32];
    pid_t mock_pid = kt_spawn_line(argv, boot, sizeof boot, 10000);
    cr_assert(mock_pid > 0 && strchr(boot, ':'), "evc-kafka-mock gave '%s'", boot);
    kt_unique(topic, sizeof topic, "kill");
    kt_unique(group, sizeof group, "g");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/handled", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_APPEND | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);

    /* Fork before this process starts any librdkafka thread. */
    pid_t child = fork();
    cr_assert(child >= 0);
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a failed test */
        kt_child(boot, group, topic, fd, variant);
    }

    kt_node p;
    evc_error err = {0};
    cr_assert_eq(kt_open(&p, boot, NULL, evc_conformance_transport_fixture.plugin_yaml("default"),
                         KT_TOTAL, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(p.ops->start(p.t, &err), EVC_OK, "%s", err.msg);
    int sent = 0;
    bool killed = false;
    kt_file f = {fd, 4};
    while (sent < KT_TOTAL) {
        for (int i = 0; i < 50 && sent < KT_TOTAL; i++, sent++) {
            snprintf(buf, sizeof buf, "n%d", sent);
            char key[16];
            snprintf(key, sizeof key, "cp-%d", sent % 8);
            cr_assert_eq(kt_publish(&p, topic, key, buf, (uint64_t)sent + 1, &err), EVC_OK,
                         "%s", err.msg);
        }
        if (sent == 50) /* the child's group join takes ~3 s: pace from its first message */
            cr_assert(kt_wait(&p, kt_file_has, &f, 20000), "child handled nothing");
        kt_pause(&p, 10);
        f.want = 4 * 1000;
        if (!killed && kt_file_has(&f)) {
            kill(child, SIGKILL); /* mid-stream: the producer is still going */
            int status;
            waitpid(child, &status, 0);
            cr_assert(WIFSIGNALED(status), "child ended by itself: status %d", status);
            killed = true;
        }
    }
    cr_assert(killed, "the child never handled 1000 messages");
    cr_assert(kt_wait_outcomes(&p, KT_TOTAL, 20000));
    cr_expect_eq(p.outcome[EVC_OUTCOME_ACKED], KT_TOTAL);

    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    size_t n_child = (size_t)st.st_size / 4;
    int32_t *by_child = malloc((size_t)st.st_size + 4);
    cr_assert_eq(pread(fd, by_child, (size_t)st.st_size, 0), st.st_size);
    uint8_t *seen = calloc(KT_TOTAL, 1);
    for (size_t i = 0; i < n_child; i++)
        if (by_child[i] >= 0 && by_child[i] < KT_TOTAL)
            seen[by_child[i]] |= 1;

    /* With the group protocol the replacement joins the same group once the
     * dead member's session expires (session.timeout.ms); with direct
     * assignment it reads on at once. */
    kt_node c;
    cr_assert_eq(kt_open(&c, boot, group, evc_conformance_transport_fixture.plugin_yaml(variant), 1,
                         &err),
                 EVC_OK, "%s", err.msg);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(c.ops->subscribe(c.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(c.ops->start(c.t, &err), EVC_OK, "%s", err.msg);
    if (first_within_ms) {
        bool got = kt_wait_msgs(&c, 1, first_within_ms);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        fprintf(stderr, "killed consumer: the replacement's first message after %ld ms\n", ms);
        cr_assert(got,
                  "the replacement got nothing within %llu ms: it waits for the dead member's "
                  "session (45 s) as the group protocol does",
                  (unsigned long long)first_within_ms);
    }
    size_t missing = KT_TOTAL;
    size_t done = 0;
    for (int round = 0; round < 400 && missing > 0; round++) {
        kt_wait_msgs(&c, done + 1, 100);
        for (; done < c.n_msgs; done++) {
            evc_message m = {.payload = c.msgs[done].payload, .payload_len = c.msgs[done].len};
            int s = kt_seq(&m);
            if (s >= 0 && s < KT_TOTAL)
                seen[s] |= 2;
        }
        missing = 0;
        for (int i = 0; i < KT_TOTAL; i++)
            missing += seen[i] == 0;
    }
    size_t dups = 0;
    for (int i = 0; i < KT_TOTAL; i++)
        dups += seen[i] == 3;
    cr_log_info("killed consumer: child handled %zu, replacement %zu, duplicates %zu, missing "
                "%zu",
                n_child, c.n_msgs, dups, missing);
    fprintf(stderr, "killed consumer: child handled %zu, replacement %zu, duplicates %zu\n",
            n_child, c.n_msgs, dups);
    cr_expect_eq(missing, 0, "%zu messages lost", missing);
    /* Resumed from a committed offset, not from the beginning. */
    cr_expect_lt(dups, n_child, "replacement re-handled %zu of the %zu the child had done", dups,
                 n_child);
    free(seen);
    free(by_child);
    kt_close(&c);
    kt_close(&p);
    close(fd);
    unlink(path);
    rmdir(dir);
    kill(mock_pid, SIGTERM);
    waitpid(mock_pid, NULL, 0);
}

/* Direct assignment (the default), the dead member's session at Kafka's
 * default 45 s: a restarted process must not wait for it. 15 s leaves a
 * loaded machine room and still fails the group protocol's 45 s. */
Test(kafka_recovery, killed_consumer_resumes_from_committed_offset)
{
    kt_kill_and_resume("default_session", 15000);
}

Test(kafka_recovery, killed_group_member_resumes_from_committed_offset)
{
    kt_kill_and_resume("group", 0);
}

Test(kafka_recovery, broker_down_mid_stream_loses_nothing)
{
    conformance_peer *peer;
    char boot[512], topic[96], group[96], buf[32], key[16];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 3, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "brokerdown");
    kt_unique(group, sizeof group, "g");
    kt_node n;
    evc_error err = {0};
    cr_assert_eq(kt_open(&n, boot, group, evc_conformance_transport_fixture.plugin_yaml("default"),
                         KT_TOTAL, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->subscribe(n.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(n.ops->start(n.t, &err), EVC_OK, "%s", err.msg);
    int sent = 0;
    while (sent < KT_TOTAL) {
        for (int i = 0; i < 50; i++, sent++) {
            snprintf(buf, sizeof buf, "n%d", sent);
            snprintf(key, sizeof key, "cp-%d", sent % 16);
            cr_assert_eq(kt_publish(&n, topic, key, buf, (uint64_t)sent + 1, &err), EVC_OK,
                         "%s", err.msg);
        }
        if (sent == 50)
            cr_assert(kt_wait_msgs(&n, 1, 20000), "nothing consumed");
        if (sent == 1000)
            cr_assert_eq(evc_conformance_transport_fixture.broker_set_up(peer, 1, false), 0);
        if (sent == 2000)
            cr_assert_eq(evc_conformance_transport_fixture.broker_set_up(peer, 1, true), 0);
        kt_pause(&n, 10);
    }
    cr_assert(kt_wait_outcomes(&n, KT_TOTAL, 30000), "outcomes %llu",
              (unsigned long long)kt_outcomes(&n));
    cr_expect_eq(n.outcome[EVC_OUTCOME_ACKED], KT_TOTAL, "acked %llu not_sent %llu unconf %llu",
                 (unsigned long long)n.outcome[1], (unsigned long long)n.outcome[3],
                 (unsigned long long)n.outcome[2]);
    cr_expect_eq(n.dup_outcomes + n.bad_tokens, 0);
    uint8_t *seen = calloc(KT_TOTAL, 1);
    size_t missing = KT_TOTAL, done = 0, dups = 0;
    for (int round = 0; round < 300 && missing > 0; round++) {
        kt_wait_msgs(&n, done + 1, 100);
        for (; done < n.n_msgs; done++) {
            evc_message m = {.payload = n.msgs[done].payload, .payload_len = n.msgs[done].len};
            int s = kt_seq(&m);
            if (s >= 0 && s < KT_TOTAL && seen[s]++)
                dups++;
        }
        missing = 0;
        for (int i = 0; i < KT_TOTAL; i++)
            missing += seen[i] == 0;
    }
    fprintf(stderr, "broker down: received %zu, duplicates %zu, missing %zu\n", n.n_msgs, dups,
            missing);
    cr_expect_eq(missing, 0, "%zu messages lost", missing);
    free(seen);
    kt_close(&n);
    evc_conformance_transport_fixture.peer_stop(peer);
}

typedef struct kt_lossy {
    kt_node *n;
    uint64_t want;
} kt_lossy;

static bool kt_all_accounted(void *arg)
{
    kt_lossy *l = arg;
    evc_transport_stats st = {.struct_size = sizeof st};
    l->n->ops->stats(l->n->t, &st);
    return l->n->n_msgs + st.lost >= l->want;
}

/* The mock keeps ~5 MB per partition: a consumer that falls 12 MB behind on
 * one partition finds the oldest messages deleted. librdkafka would resume
 * at the earliest offset silently; the plugin counts the gap as lost, so
 * every published message is either handled or counted. */
Test(kafka_recovery, messages_deleted_before_read_are_counted_as_lost)
{
    enum { M = 12000, SIZE = 1000 };
    conformance_peer *peer;
    char boot[512], topic[96], group[96];
    cr_assert_eq(evc_conformance_transport_fixture.peer_start(&peer, 1, boot, sizeof boot), 0);
    kt_unique(topic, sizeof topic, "retention");
    kt_unique(group, sizeof group, "g");
    kt_node c, p;
    evc_error err = {0};
    /* A consumer that prefetches little, so that while its loop does not run
     * it stops fetching and falls behind. */
    cr_assert_eq(kt_open(&c, boot, group,
                         "consumer_properties:\n"
                         "  fetch.wait.max.ms: \"5\"\n"
                         "  queued.max.messages.kbytes: \"256\"\n"
                         "  fetch.max.bytes: \"1048576\"\n"
                         "  max.partition.fetch.bytes: \"131072\"\n",
                         1, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(c.ops->subscribe(c.t, topic, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(c.ops->start(c.t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(kt_open(&p, boot, NULL, evc_conformance_transport_fixture.plugin_yaml("burst"), M + 1,
                         &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_eq(p.ops->start(p.t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(kt_publish(&p, topic, "k", "first", 1, &err), EVC_OK, "%s", err.msg);
    cr_assert(kt_wait_msgs(&c, 1, 20000), "first message not consumed");

    char *big = malloc(SIZE + 1);
    memset(big, 'z', SIZE);
    big[SIZE] = '\0';
    for (uint64_t i = 0; i < M; i++)
        cr_assert_eq(kt_publish(&p, topic, "k", big, i + 2, &err), EVC_OK, "%s", err.msg);
    free(big);
    cr_assert(kt_wait_outcomes(&p, M + 1, 30000));
    cr_assert_eq(p.outcome[EVC_OUTCOME_ACKED], M + 1);

    kt_lossy l = {&c, M + 1};
    bool all = kt_wait(&c, kt_all_accounted, &l, 30000);
    evc_transport_stats st = {.struct_size = sizeof st};
    c.ops->stats(c.t, &st);
    fprintf(stderr, "retention: %d published, %zu handled, %llu counted lost\n", M + 1, c.n_msgs,
            (unsigned long long)st.lost);
    cr_assert(all, "handled %zu + lost %llu != %d published", c.n_msgs,
              (unsigned long long)st.lost, M + 1);
    cr_expect_gt(st.lost, 0, "the mock deleted nothing: the test proves nothing");
    cr_expect_eq(c.n_msgs + st.lost, M + 1, "handled + lost must equal published exactly");
    for (size_t i = 1; i < c.n_msgs; i++)
        cr_expect_gt(c.msgs[i].offset, c.msgs[i - 1].offset);
    kt_close(&p);
    kt_close(&c);
    evc_conformance_transport_fixture.peer_stop(peer);
}
