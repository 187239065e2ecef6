/* cks_outbox.c (group store_outbox of evc-conformance): at-least-once delivery through the outbox. */
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cks.h"

static st_ctx C;
static void setup(void) { st_setup(&C); st_open_ok(&C, "default"); }
static void teardown(void) { st_teardown(&C); }

typedef struct claimed {
    int n;
    int64_t ids[16];
    int64_t attempts[16];
    char payloads[256];
} claimed;

static int on_claim(void *arg, const evc_outbox_msg *m)
{
    claimed *c = arg;
    c->ids[c->n] = m->id;
    c->attempts[c->n] = m->attempts;
    c->n++;
    strncat(c->payloads, m->payload, m->payload_len);
    strcat(c->payloads, "|");
    ck_assert_str_eq(m->topic, "driver-events");
    return 0;
}

static void add3(void)
{
    evc_error err = {0};
    const char *p[] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++)
        ck_assert_eq(evc_store_outbox_add(C.store, "driver-events", "driver1", p[i],
                                          strlen(p[i]), NULL, &err), EVC_OK, "%s", err.msg);
}

static void claim_ack_retry(void)
{
    evc_error err = {0};
    add3();
    int64_t pending = 0;
    ck_assert_eq(evc_store_outbox_pending(C.store, &pending, &err), EVC_OK);
    ck_assert_eq(pending, 3);

    int64_t now = 1000000;
    claimed a = {0};
    ck_assert_eq(evc_store_outbox_claim(C.store, now, 5000, 2, on_claim, &a, &err), EVC_OK,
                 "%s", err.msg);
    ck_assert_eq(a.n, 2);
    ck_assert_str_eq(a.payloads, "one|two|", "oldest first");
    ck_assert_eq(a.attempts[0], 1);

    claimed b = {0};
    ck_assert_eq(evc_store_outbox_claim(C.store, now, 5000, 10, on_claim, &b, &err), EVC_OK);
    ck_assert_eq(b.n, 1, "leased messages are not handed out twice");
    ck_assert_str_eq(b.payloads, "three|");

    ck_assert_eq(evc_store_outbox_ack(C.store, a.ids[0], &err), EVC_OK);
    ck_assert_eq(evc_store_outbox_ack(C.store, a.ids[0], &err), EVC_ENOTFOUND);
    ck_assert_eq(evc_store_outbox_retry(C.store, a.ids[1], now + 100, "bus down", &err), EVC_OK);

    claimed c = {0};
    ck_assert_eq(evc_store_outbox_claim(C.store, now + 50, 5000, 10, on_claim, &c, &err),
                 EVC_OK);
    ck_assert_eq(c.n, 0, "retry waits for its next attempt time");
    ck_assert_eq(evc_store_outbox_claim(C.store, now + 100, 5000, 10, on_claim, &c, &err),
                 EVC_OK);
    ck_assert_eq(c.n, 1);
    ck_assert_str_eq(c.payloads, "two|");
    ck_assert_eq(c.attempts[0], 2);
    ck_assert_eq(evc_store_outbox_pending(C.store, &pending, &err), EVC_OK);
    ck_assert_eq(pending, 2);
}

static void a_crashed_claimer_releases_its_messages_when_the_lease_ends(void)
{
    add3();
    st_close(&C);
    int64_t now = 5000000;
    pid_t pid = fork();
    ck_assert_geq(pid, 0);
    if (pid == 0) {
        st_ctx k;
        st_attach(&k, C.db);
        evc_error err = {0};
        claimed got = {0};
        if (st_open(&k, "default", &err) != EVC_OK ||
            evc_store_outbox_claim(k.store, now, 30000, 10, on_claim, &got, &err) != EVC_OK ||
            got.n != 3)
            _exit(1);
        kill(getpid(), SIGKILL); /* dies holding the lease, never acks */
        _exit(2);
    }
    int status = 0;
    ck_assert_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "child status %d", status);

    st_open_ok(&C, "default");
    evc_error err = {0};
    claimed during = {0};
    ck_assert_eq(evc_store_outbox_claim(C.store, now + 29999, 30000, 10, on_claim, &during, &err),
                 EVC_OK, "%s", err.msg);
    ck_assert_eq(during.n, 0, "still leased by the dead process");
    claimed after = {0};
    ck_assert_eq(evc_store_outbox_claim(C.store, now + 30000, 30000, 10, on_claim, &after, &err),
                 EVC_OK);
    ck_assert_eq(after.n, 3, "claimable again once the lease ran out");
    ck_assert_str_eq(after.payloads, "one|two|three|");
    ck_assert_eq(after.attempts[0], 2);
    for (int i = 0; i < 3; i++)
        ck_assert_eq(evc_store_outbox_ack(C.store, after.ids[i], &err), EVC_OK);
    int64_t pending = -1;
    ck_assert_eq(evc_store_outbox_pending(C.store, &pending, &err), EVC_OK);
    ck_assert_eq(pending, 0);
}

#define T(fn, text) {"store_outbox." #fn, text, setup, fn, teardown, 30}
static const ck_check checks[] = {
    T(claim_ack_retry,
      "outbox: oldest first, a leased message is not handed out twice, ack removes, retry waits its time"),
    T(a_crashed_claimer_releases_its_messages_when_the_lease_ends,
      "outbox: messages claimed by a process that died are claimable again when the lease ends"),
};
const ck_group ck_store_outbox_checks = {checks, sizeof checks / sizeof checks[0]};
