/* Unit tests of the bus facade over an in-process fake transport. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_internal.h"
#include "evc/log.h"
#include "fake_transport.h"

static evc_loop *L;
static evc_bus *B;
static evc_transport_ops OPS;
static FILE *LOG; /* captured log lines */

static void setup(void)
{
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&L, &err), EVC_OK, "%s", err.msg);
    LOG = tmpfile();
    cr_assert_not_null(LOG);
    evc_log_set_fd(fileno(LOG));
    FAKE.has_flush = true;
}

static void open_bus(void)
{
    evc_error err = {0};
    OPS = fake_ops();
    evc_transport_params params = {.struct_size = sizeof params, .endpoint = "fake:1"};
    cr_assert_eq(evc_bus_open_ops(L, &OPS, &params, &B, &err), EVC_OK, "%s", err.msg);
    cr_assert(FAKE.created);
}

static void teardown(void)
{
    evc_bus_close(B);
    B = NULL;
    evc_loop_free(L);
    L = NULL;
    evc_log_set_fd(2);
    fclose(LOG);
}

/* Everything logged so far (static buffer). */
static const char *logged(void)
{
    static char buf[16384];
    fflush(LOG);
    size_t n = (size_t)pread(fileno(LOG), buf, sizeof buf - 1, 0);
    buf[n == (size_t)-1 ? 0 : n] = '\0';
    return buf;
}

TestSuite(bus, .init = setup, .fini = teardown, .timeout = 30);

typedef struct out_rec {
    int calls;
    int status;
    char detail[64];
} out_rec;

static void on_outcome(void *arg, evc_outcome_status status, const char *detail)
{
    out_rec *r = arg;
    r->calls++;
    r->status = (int)status;
    snprintf(r->detail, sizeof r->detail, "%s", detail ? detail : "(null)");
}

static bool never(void *arg) { return false; }
static bool pending_zero(void *arg) { return evc_bus_pending(B) == 0; }

static int publish(const char *topic, out_rec *r)
{
    evc_error err = {0};
    return evc_bus_publish(B, topic, "CP1", "{}", 2, r ? on_outcome : NULL, r, &err);
}

Test(bus, publish_gets_exactly_one_outcome_with_its_callback)
{
    open_bus();
    out_rec r[3] = {0};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(publish("cp.telemetry", &r[i]), EVC_OK);
    cr_assert_eq(FAKE.npub, 3);
    cr_assert_str_eq(FAKE.pub[0].topic, "cp.telemetry");
    cr_assert_str_eq(FAKE.pub[0].key, "CP1");
    cr_assert_eq(FAKE.pub[0].len, 2);
    cr_assert_neq(FAKE.pub[0].token, FAKE.pub[1].token);
    cr_assert_eq(evc_bus_pending(B), 3);

    fake_outcome(1, EVC_OUTCOME_ACKED, "offset 7");
    cr_assert_eq(r[1].calls, 1);
    cr_assert_eq(r[1].status, EVC_OUTCOME_ACKED);
    cr_assert_str_eq(r[1].detail, "offset 7");
    cr_assert_eq(r[0].calls + r[2].calls, 0);
    fake_outcome(0, EVC_OUTCOME_NOT_SENT, NULL);
    fake_outcome(2, EVC_OUTCOME_SENT_UNCONFIRMED, NULL);
    cr_assert_eq(r[0].status, EVC_OUTCOME_NOT_SENT);
    cr_assert_str_eq(r[0].detail, "(null)");
    cr_assert_eq(r[2].status, EVC_OUTCOME_SENT_UNCONFIRMED);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(r[i].calls, 1);
    cr_assert_eq(evc_bus_pending(B), 0);
}

Test(bus, eagain_passes_through_without_outcome)
{
    open_bus();
    out_rec r = {0};
    FAKE.publish_rc = EVC_EAGAIN;
    evc_error err = {0};
    cr_assert_eq(evc_bus_publish(B, "t", "k", "x", 1, on_outcome, &r, &err), EVC_EAGAIN);
    cr_assert_str_eq(err.msg, "fake: queue full for topic 't'");
    cr_assert_eq(evc_bus_pending(B), 0);
    FAKE.publish_rc = EVC_OK;
    cr_assert_eq(evc_bus_flush(B, 100, &err), EVC_OK, "%s", err.msg);
    evc_bus_close(B);
    B = NULL;
    cr_assert_eq(r.calls, 0, "an EAGAIN publish got an outcome");
}

Test(bus, duplicate_and_unknown_outcomes_are_ignored_and_logged)
{
    open_bus();
    out_rec r = {0};
    cr_assert_eq(publish("t", &r), EVC_OK);
    fake_outcome(0, EVC_OUTCOME_ACKED, NULL);
    fake_outcome(0, EVC_OUTCOME_NOT_SENT, NULL); /* second outcome */
    fake_outcome_token(FAKE.pub[0].token + 1000, EVC_OUTCOME_ACKED, NULL); /* unknown */
    fake_outcome_token(0, EVC_OUTCOME_ACKED, NULL);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.status, EVC_OUTCOME_ACKED);
    cr_assert_eq(evc_bus_pending(B), 0);
    const char *log = logged();
    char want[96];
    snprintf(want, sizeof want, "for token %llu ignored",
             (unsigned long long)(FAKE.pub[0].token + 1000));
    cr_assert_not_null(strstr(log, want), "log: %s", log);
    snprintf(want, sizeof want, "NOT_SENT for token %llu ignored",
             (unsigned long long)FAKE.pub[0].token);
    cr_assert_not_null(strstr(log, want), "log: %s", log);
}

Test(bus, invalid_status_is_reported_as_not_sent)
{
    open_bus();
    out_rec r = {0};
    cr_assert_eq(publish("t", &r), EVC_OK);
    fake_outcome(0, (evc_outcome_status)42, NULL);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.status, EVC_OUTCOME_NOT_SENT);
    cr_assert_not_null(strstr(logged(), "invalid outcome status 42"));
}

Test(bus, pending_counts_outcomes_not_yet_arrived)
{
    open_bus();
    cr_assert_eq(evc_bus_pending(B), 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(publish("t", NULL), EVC_OK); /* no callback: still tracked */
    cr_assert_eq(evc_bus_pending(B), 5);
    fake_outcome(3, EVC_OUTCOME_ACKED, NULL);
    fake_outcome(0, EVC_OUTCOME_ACKED, NULL);
    cr_assert_eq(evc_bus_pending(B), 3);
    cr_assert_null(strstr(logged(), "transport bug"));
}

/* ---- dispatch ----------------------------------------------------------- */

static char ORDER[32];

typedef struct hdl {
    char id;
    int rc;
} hdl;

static int handler(void *arg, const evc_message *msg)
{
    hdl *h = arg;
    size_t n = strlen(ORDER);
    ORDER[n] = h->id;
    ORDER[n + 1] = '\0';
    cr_assert_str_eq(msg->key, "CP1");
    return h->rc;
}

Test(bus, dispatch_routes_by_topic_to_handlers_in_order)
{
    open_bus();
    hdl h1 = {'1', EVC_OK}, h2 = {'2', EVC_OK}, h3 = {'3', EVC_OK};
    evc_error err = {0};
    cr_assert_eq(evc_bus_subscribe(B, "a", handler, &h1, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(B, "b", handler, &h3, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(B, &err), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(B, "a", handler, &h2, &err), EVC_OK); /* after start */
    cr_assert_eq(FAKE.nsubscribed, 2, "transport asked once per topic");
    cr_assert_str_eq(FAKE.subscribed[0], "a");
    cr_assert_str_eq(FAKE.subscribed[1], "b");

    cr_assert_eq(fake_dispatch("a", "x"), EVC_OK);
    cr_assert_str_eq(ORDER, "12");
    ORDER[0] = '\0';
    cr_assert_eq(fake_dispatch("b", "x"), EVC_OK);
    cr_assert_str_eq(ORDER, "3");
    ORDER[0] = '\0';
    cr_assert_eq(fake_dispatch("c", "x"), EVC_OK);
    cr_assert_str_eq(ORDER, "");
}

Test(bus, failing_handler_stops_chain_and_reports_not_handled)
{
    open_bus();
    hdl h1 = {'1', EVC_OK}, h2 = {'2', EVC_EIO}, h3 = {'3', EVC_OK};
    cr_assert_eq(evc_bus_subscribe(B, "a", handler, &h1, NULL), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(B, "a", handler, &h2, NULL), EVC_OK);
    cr_assert_eq(evc_bus_subscribe(B, "a", handler, &h3, NULL), EVC_OK);
    cr_assert_eq(fake_dispatch("a", "x"), EVC_EIO);
    cr_assert_str_eq(ORDER, "12");
}

Test(bus, subscribe_refused_by_transport_is_not_registered)
{
    open_bus();
    hdl h1 = {'1', EVC_OK};
    evc_error err = {0};
    FAKE.subscribe_rc = EVC_EINVAL;
    cr_assert_eq(evc_bus_subscribe(B, "bad", handler, &h1, &err), EVC_EINVAL);
    cr_assert_str_eq(err.msg, "fake: topic 'bad' refused");
    cr_assert_eq(fake_dispatch("bad", "x"), EVC_OK);
    cr_assert_str_eq(ORDER, "");
    FAKE.subscribe_rc = EVC_OK;
    cr_assert_eq(evc_bus_subscribe(B, "bad", handler, &h1, &err), EVC_OK);
    cr_assert_eq(FAKE.nsubscribed, 1);
    cr_assert_eq(evc_bus_subscribe(B, "", handler, &h1, &err), EVC_EINVAL);
    cr_assert_eq(evc_bus_subscribe(B, "x", NULL, &h1, &err), EVC_EINVAL);
}

/* ---- close, flush, reentrancy ------------------------------------------- */

Test(bus, close_reports_pending_outcomes_once)
{
    open_bus();
    out_rec r[3] = {0};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(publish("t", &r[i]), EVC_OK);
    fake_outcome(1, EVC_OUTCOME_ACKED, NULL);
    evc_bus_close(B);
    B = NULL;
    cr_assert(FAKE.stopped && FAKE.destroyed);
    cr_assert_eq(r[1].status, EVC_OUTCOME_ACKED);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(r[i].calls, 1, "publish %d got %d outcomes", i, r[i].calls);
    cr_assert_eq(r[0].status, EVC_OUTCOME_NOT_SENT);
    cr_assert_str_eq(r[0].detail, "stopped");
    cr_assert_null(strstr(logged(), "transport bug"));
}

Test(bus, close_covers_a_transport_that_forgets_outcomes)
{
    open_bus();
    FAKE.stop_forgets = true;
    out_rec r[40] = {0};
    for (int i = 0; i < 40; i++)
        cr_assert_eq(publish("t", &r[i]), EVC_OK);
    evc_bus_close(B);
    B = NULL;
    for (int i = 0; i < 40; i++) {
        cr_assert_eq(r[i].calls, 1);
        cr_assert_eq(r[i].status, EVC_OUTCOME_NOT_SENT);
        cr_assert_str_eq(r[i].detail, "bus closed");
    }
    cr_assert_not_null(strstr(logged(), "40 publishes had no outcome at close"));
}

static bool called(void *arg) { return ((out_rec *)arg)->calls > 0; }

Test(bus, outcome_inside_publish_is_delivered_after_it_returns)
{
    open_bus();
    out_rec r = {0};
    FAKE.outcome_inside_publish = EVC_OUTCOME_SENT_UNCONFIRMED;
    cr_assert_eq(publish("t", &r), EVC_OK);
    cr_assert_eq(r.calls, 0, "outcome ran inside evc_bus_publish");
    cr_assert_eq(evc_bus_pending(B), 1);
    fake_outcome(0, EVC_OUTCOME_ACKED, NULL); /* a second one while held: ignored */
    cr_assert_eq(evc_loop_run_until(L, called, &r, 2000), EVC_OK);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.status, EVC_OUTCOME_SENT_UNCONFIRMED);
    cr_assert_str_eq(r.detail, "inside");
    cr_assert_eq(evc_bus_pending(B), 0);
    cr_assert_eq(evc_loop_run_until(L, never, NULL, 30), EVC_ETIMEDOUT);
    cr_assert_eq(r.calls, 1);
}

typedef struct chain {
    int left;
    int outcomes;
} chain;

static void republish(void *arg, evc_outcome_status status, const char *detail)
{
    chain *c = arg;
    c->outcomes++;
    if (c->left-- > 0)
        cr_assert_eq(evc_bus_publish(B, "t", "", "x", 1, republish, c, NULL), EVC_OK);
}

Test(bus, outcome_callback_may_publish_again)
{
    open_bus();
    FAKE.outcome_inside_publish = EVC_OUTCOME_SENT_UNCONFIRMED;
    chain c = {.left = 5};
    cr_assert_eq(evc_bus_publish(B, "t", NULL, NULL, 0, republish, &c, NULL), EVC_OK);
    cr_assert_eq(evc_bus_flush(B, 2000, NULL), EVC_OK);
    cr_assert_eq(evc_loop_run_until(L, pending_zero, NULL, 2000), EVC_OK);
    cr_assert_eq(c.outcomes, 6);
    cr_assert_eq(FAKE.npub, 6);
}

Test(bus, flush_waits_for_outcomes)
{
    open_bus();
    out_rec r = {0};
    cr_assert_eq(publish("t", &r), EVC_OK);
    evc_error err = {0};
    cr_assert_eq(evc_bus_flush(B, 1000, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(r.calls, 1);
    cr_assert_eq(r.status, EVC_OUTCOME_ACKED);
}

Test(bus, flush_without_flush_op_times_out_with_message)
{
    FAKE.has_flush = false;
    open_bus();
    static out_rec r; /* its outcome comes at close, in teardown */
    cr_assert_eq(publish("t", &r), EVC_OK);
    evc_error err = {0};
    cr_assert_eq(evc_bus_flush(B, 50, &err), EVC_ETIMEDOUT);
    cr_assert_not_null(strstr(err.msg, "1 publishes still without outcome"), "%s", err.msg);
}

static void ack_first(evc_timer *t, void *arg)
{
    fake_outcome(0, EVC_OUTCOME_ACKED, NULL);
    evc_timer_close(t);
}

Test(bus, flush_without_flush_op_runs_the_loop)
{
    FAKE.has_flush = false;
    open_bus();
    out_rec r = {0};
    cr_assert_eq(publish("t", &r), EVC_OK);
    evc_timer *t;
    cr_assert_eq(evc_loop_timer(L, 10, 0, ack_first, NULL, &t, NULL), EVC_OK);
    evc_error err = {0};
    cr_assert_eq(evc_bus_flush(B, 2000, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(r.calls, 1);
}

/* ~10k tokens with outcomes out of order exercise growth and deletion. */
Test(bus, many_publishes_out_of_order_outcomes)
{
    open_bus();
    enum { N = 10000 };
    static out_rec r[N];
    for (int i = 0; i < N; i++)
        cr_assert_eq(publish("t", &r[i]), EVC_OK);
    cr_assert_eq(evc_bus_pending(B), N);
    /* a permutation: i * 7919 mod N (7919 is prime, coprime with N) */
    for (size_t i = 0; i < N; i++) {
        size_t j = (i * 7919u) % N;
        fake_outcome(j, EVC_OUTCOME_ACKED, NULL);
        cr_assert_eq(r[j].calls, 1, "publish %zu", j);
        cr_assert_eq(evc_bus_pending(B), N - 1 - i);
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(r[i].calls, 1);
    cr_assert_null(strstr(logged(), "transport bug"));
}

/* ---- open errors, guarantees, stats ------------------------------------- */

Test(bus, create_failure_returns_its_status_and_message)
{
    FAKE.create_rc = EVC_ECONFIG;
    OPS = fake_ops();
    evc_transport_params params = {.struct_size = sizeof params, .endpoint = "nowhere"};
    evc_error err = {0};
    cr_assert_eq(evc_bus_open_ops(L, &OPS, &params, &B, &err), EVC_ECONFIG);
    cr_assert_null(B);
    cr_assert_str_eq(err.msg, "fake.yaml:3:5: endpoint 'nowhere' is not valid");
}

Test(bus, ops_without_publish_are_refused)
{
    OPS = fake_ops();
    OPS.publish = NULL;
    evc_transport_params params = {.struct_size = sizeof params};
    evc_error err = {0};
    cr_assert_eq(evc_bus_open_ops(L, &OPS, &params, &B, &err), EVC_EPLUGIN);
    cr_assert_null(B);
    cr_assert_str_neq(err.msg, "");
    OPS = fake_ops();
    OPS.struct_size = offsetof(evc_transport_ops, publish); /* publish beyond its size */
    cr_assert_eq(evc_bus_open_ops(L, &OPS, &params, &B, &err), EVC_EPLUGIN);
    cr_assert_eq(evc_bus_open(L, NULL, &params, &B, &err), EVC_EINVAL);
}

Test(bus, guarantees_and_stats_pass_through_or_default)
{
    open_bus();
    cr_assert_eq(publish("t", NULL), EVC_OK);
    evc_transport_guarantees g;
    evc_bus_guarantees(B, &g);
    cr_assert_eq(g.delivery, EVC_DELIVERY_AT_LEAST_ONCE);
    cr_assert(g.per_key_order);
    evc_transport_stats st;
    evc_bus_stats(B, &st);
    cr_assert_eq(st.published, 1);
    cr_assert_eq(st.struct_size, sizeof st);
    evc_bus_close(B);

    memset(&FAKE, 0, sizeof FAKE); /* megabytes: not through the stack */
    OPS = fake_ops();
    OPS.guarantees = NULL;
    OPS.stats = NULL;
    evc_transport_params params = {.struct_size = sizeof params};
    cr_assert_eq(evc_bus_open_ops(L, &OPS, &params, &B, NULL), EVC_OK);
    evc_bus_guarantees(B, &g);
    cr_assert_eq(g.delivery, EVC_DELIVERY_AT_MOST_ONCE);
    cr_assert(!g.per_key_order && !g.durable && !g.replay && !g.redelivery);
    evc_bus_stats(B, &st);
    cr_assert_eq(st.published, 0);
}

Test(bus, bad_publish_arguments)
{
    open_bus();
    evc_error err = {0};
    cr_assert_eq(evc_bus_publish(B, "", "k", "x", 1, NULL, NULL, &err), EVC_EINVAL);
    cr_assert_eq(evc_bus_publish(B, NULL, "k", "x", 1, NULL, NULL, &err), EVC_EINVAL);
    cr_assert_eq(evc_bus_publish(B, "t", "k", NULL, 1, NULL, NULL, &err), EVC_EINVAL);
    cr_assert_eq(FAKE.npub, 0);
    cr_assert_eq(evc_bus_start(B, &err), EVC_OK);
    cr_assert_eq(evc_bus_start(B, &err), EVC_ESTATE);
}
