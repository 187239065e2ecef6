/* Unit tests of the host-API table (evc_host_new). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "evc/host.h"

static evc_loop *HL;

static void hsetup(void) { cr_assert_eq(evc_loop_new(&HL, NULL), EVC_OK); }
static void hteardown(void) { evc_loop_free(HL); }

TestSuite(host, .init = hsetup, .fini = hteardown, .timeout = 20);

typedef struct sink_rec {
    int outcomes, dispatches;
    uint64_t token;
    int status;
    const char *detail;
    const char *topic;
} sink_rec;

static void rec_outcome(void *arg, uint64_t token, evc_outcome_status status, const char *detail)
{
    sink_rec *r = arg;
    r->outcomes++;
    r->token = token;
    r->status = (int)status;
    r->detail = detail;
}

static int rec_dispatch(void *arg, const evc_message *msg)
{
    sink_rec *r = arg;
    r->dispatches++;
    r->topic = msg->topic;
    return EVC_EIO;
}

Test(host, routes_outcomes_and_messages_to_the_sink)
{
    sink_rec r = {0};
    evc_host_sink sink = {.arg = &r, .outcome = rec_outcome, .dispatch = rec_dispatch};
    evc_host_api *api;
    evc_error err = {0};
    cr_assert_eq(evc_host_new(HL, "zmq", &sink, &api, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(api->struct_size, sizeof(evc_host_api));
    api->deliver_outcome(api->host, 42, EVC_OUTCOME_ACKED, "ok");
    cr_assert_eq(r.outcomes, 1);
    cr_assert_eq(r.token, 42);
    cr_assert_eq(r.status, EVC_OUTCOME_ACKED);
    cr_assert_str_eq(r.detail, "ok");
    evc_message m = {.topic = "cp.status", .key = "", .payload = "", .partition = -1,
                     .offset = -1};
    cr_assert_eq(api->dispatch(api->host, &m), EVC_EIO, "the sink's answer is passed back");
    cr_assert_eq(r.dispatches, 1);
    cr_assert_str_eq(r.topic, "cp.status");
    evc_host_free(api);
}

Test(host, without_sink_drops_and_reports_handled)
{
    evc_host_api *api;
    cr_assert_eq(evc_host_new(HL, "zmq", NULL, &api, NULL), EVC_OK);
    api->deliver_outcome(api->host, 1, EVC_OUTCOME_ACKED, NULL);
    evc_message m = {.topic = "t", .key = "", .payload = "", .partition = -1, .offset = -1};
    cr_assert_eq(api->dispatch(api->host, &m), EVC_OK);
    evc_host_free(api);
    evc_host_free(NULL);
}

Test(host, log_lines_carry_the_component)
{
    FILE *f = tmpfile();
    evc_log_set_fd(fileno(f));
    evc_host_api *api;
    char comp[16];
    strcpy(comp, "kafka");
    cr_assert_eq(evc_host_new(HL, comp, NULL, &api, NULL), EVC_OK);
    strcpy(comp, "XXXXX"); /* copied, not borrowed */
    evc_log_ids ids = {.cp = "CP7"};
    api->log(api->host, EVC_LOG_WARN, &ids, "broker %s down", "b1");
    evc_log_set_fd(2);
    char buf[512] = {0};
    cr_assert_gt(pread(fileno(f), buf, sizeof buf - 1, 0), 0);
    cr_assert_not_null(strstr(buf, "WARN  kafka cp=CP7: broker b1 down"), "%s", buf);
    fclose(f);
    evc_host_free(api);
}

static void count_timer(evc_timer *t, void *arg)
{
    (*(int *)arg)++;
    evc_timer_close(t);
}

static void count_post(void *arg) { (*(int *)arg) += 10; }

static bool reached_11(void *arg) { return *(int *)arg == 11; }

static void on_w(evc_watch *w, int fd, unsigned ev, void *arg)
{
    *(unsigned *)arg = ev;
}

static bool nonzero(void *arg) { return *(unsigned *)arg != 0; }

Test(host, loop_functions_act_on_the_bound_loop)
{
    evc_host_api *api;
    cr_assert_eq(evc_host_new(HL, "fake", NULL, &api, NULL), EVC_OK);
    int n = 0;
    evc_timer *t;
    uint64_t t0 = api->now_ms(api->host);
    cr_assert_eq(api->timer_start(api->host, 5, 0, count_timer, &n, &t, NULL), EVC_OK);
    cr_assert_eq(api->post(api->host, count_post, &n), EVC_OK);
    cr_assert_eq(api->run_until(api->host, reached_11, &n, 2000), EVC_OK);
    cr_assert_geq(api->now_ms(api->host), t0 + 5);
    cr_assert_gt(api->wall_ms(api->host), 1600000000000ull);

    int p[2];
    cr_assert_eq(pipe(p), 0);
    unsigned ev = 0;
    evc_watch *w;
    cr_assert_eq(api->watch_fd(api->host, p[1], EVC_WATCH_READ, on_w, &ev, &w, NULL), EVC_OK);
    cr_assert_eq(api->watch_set_events(w, EVC_WATCH_WRITE), EVC_OK);
    cr_assert_eq(api->run_until(api->host, nonzero, &ev, 2000), EVC_OK);
    cr_assert_eq(ev, EVC_WATCH_WRITE);
    api->unwatch_fd(w);
    evc_timer *t2;
    cr_assert_eq(api->timer_start(api->host, 1000, 0, count_timer, &n, &t2, NULL), EVC_OK);
    api->timer_stop(t2);
    close(p[0]);
    close(p[1]);
    evc_host_free(api);
}

Test(host, requires_a_component)
{
    evc_host_api *api = (evc_host_api *)1;
    evc_error err = {0};
    cr_assert_eq(evc_host_new(HL, "", NULL, &api, &err), EVC_EINVAL);
    cr_assert_null(api);
    cr_assert_str_neq(err.msg, "");
}
