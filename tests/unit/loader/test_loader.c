/* test_loader.c: each case of the broken-plugin corpus is refused with its
 * exact one-line message and refusal (exit code); the good plugin loads and
 * moves a message; create/start failures surface the plugin's message. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/host.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/transport.h"
#include "fake_host.h"
#include "test_util.h"

static void init_env(void) { unsetenv("EVC_PLUGIN_DIR"); }

TestSuite(loader, .init = init_env);

/* Loads transport "zmq" with --plugin-dir at the case's directory and checks
 * the refusal, its exit code and the exact message. */
static void expect_refused(const char *c, evc_plugin_refusal want, int exit_code,
                           const char *want_msg)
{
    evc_plugin_search s = {.cli_dir = corpus_dir(c)};
    evc_plugin *p = (evc_plugin *)(void *)&s; /* must be reset to NULL */
    evc_plugin_refusal why = EVC_REFUSE_NONE;
    evc_error err = {0};
    int rc = evc_plugin_load(EVC_PLUGIN_TRANSPORT, "zmq", &s, &p, &why, &err);
    cr_assert_eq(rc, EVC_EPLUGIN, "%s: rc %d (%s)", c, rc, err.msg);
    cr_assert_eq(err.code, EVC_EPLUGIN);
    cr_assert_null(p);
    cr_assert_eq(why, want, "%s: refusal %s, expected %s", c, evc_plugin_refusal_name(why),
                 evc_plugin_refusal_name(want));
    cr_assert_eq(evc_plugin_refusal_exit_code(why), exit_code);
    cr_assert_str_eq(err.msg, want_msg);
    cr_assert_null(strchr(err.msg, '\n'), "one line");
}

#define FILE_OF(c) corpus_file(c)

Test(loader, not_so)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want,
             "plugin %s: not a loadable shared object: invalid ELF header", FILE_OF("not_so"));
    expect_refused("not_so", EVC_REFUSE_NOT_SO, 22, want);
}

Test(loader, no_entry)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want,
             "plugin %s: no evc_plugin_query symbol (not an EVC plugin, or the entry is not "
             "exported with EVC_PLUGIN_EXPORT)",
             FILE_OF("no_entry"));
    expect_refused("no_entry", EVC_REFUSE_NO_ENTRY, 23, want);
}

Test(loader, declined)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want,
             "plugin %s: declined this host (ABI 1.%d): evc_plugin_query returned NULL",
             FILE_OF("declined"), EVC_ABI_MINOR);
    expect_refused("declined", EVC_REFUSE_DECLINED, 24, want);
}

Test(loader, bad_magic)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want, "plugin %s: bad magic 0x12345678 (expected 0x45564350)",
             FILE_OF("bad_magic"));
    expect_refused("bad_magic", EVC_REFUSE_BAD_MAGIC, 25, want);
}

Test(loader, bad_pointer_is_refused_not_a_crash)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want, "plugin %s: descriptor pointer 0x10 is not readable memory",
             FILE_OF("bad_pointer"));
    expect_refused("bad_pointer", EVC_REFUSE_BAD_MAGIC, 25, want);
}

Test(loader, major_mismatch)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want,
             "plugin %s: built for ABI 2.%d, this host is 1.%d (the major version must "
             "match: rebuild the plugin against this SDK)",
             FILE_OF("major_mismatch"), EVC_ABI_MINOR, EVC_ABI_MINOR);
    expect_refused("major_mismatch", EVC_REFUSE_MAJOR, 26, want);
}

Test(loader, newer_minor)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want, "plugin %s: needs host ABI 1.%d, this host is 1.%d",
             FILE_OF("newer_minor"), EVC_ABI_MINOR + 3, EVC_ABI_MINOR);
    expect_refused("newer_minor", EVC_REFUSE_MINOR, 27, want);
}

Test(loader, short_descriptor)
{
    char want[PATH_MAX + 256];
    /* The corpus descriptor is the 12-byte header alone; the 1.0 descriptor
     * is sizeof(evc_plugin_descriptor) as this SDK (1.0) declares it. */
    snprintf(want, sizeof want,
             "plugin %s: descriptor struct_size 12 is smaller than the ABI 1.0 descriptor "
             "(%zu bytes)",
             FILE_OF("short_descriptor"), sizeof(evc_plugin_descriptor));
    expect_refused("short_descriptor", EVC_REFUSE_SHORT, 28, want);
}

Test(loader, short_ops)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want,
             "plugin %s: transport ops struct_size %zu is smaller than the ABI 1.0 minimum "
             "(%zu bytes)",
             FILE_OF("short_ops"), sizeof(uint32_t) + sizeof(void *) + 4 /* padding */,
             offsetof(evc_transport_ops, stats) + sizeof(void *) /* the 1.0 table ends there */);
    expect_refused("short_ops", EVC_REFUSE_SHORT, 28, want);
}

Test(loader, wrong_kind)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want, "plugin %s: is a store plugin, expected a transport plugin",
             FILE_OF("wrong_kind"));
    expect_refused("wrong_kind", EVC_REFUSE_KIND, 29, want);
}

Test(loader, wrong_name)
{
    char want[PATH_MAX + 256];
    snprintf(want, sizeof want,
             "plugin %s: calls itself 'kafka', expected 'zmq' (a plugin named N must be the "
             "file evc_transport_N.so)",
             FILE_OF("wrong_name"));
    expect_refused("wrong_name", EVC_REFUSE_KIND, 29, want);
}

Test(loader, missing_lists_every_directory_searched)
{
    char cli[PATH_MAX];
    snprintf(cli, sizeof cli, "%s", corpus_dir("missing")); /* never created */
    evc_plugin_search s = {.cli_dir = cli};
    setenv("EVC_PLUGIN_DIR", corpus_dir("good"), 1);
    char env_dir[PATH_MAX];
    snprintf(env_dir, sizeof env_dir, "%s", corpus_dir("good"));
    evc_plugin *p = NULL;
    evc_plugin_refusal why = EVC_REFUSE_NONE;
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "nosuch", &s, &p, &why, &err),
                 EVC_EPLUGIN);
    cr_assert_null(p);
    cr_assert_eq(why, EVC_REFUSE_MISSING);
    cr_assert_eq(evc_plugin_refusal_exit_code(why), 21);
    char want[5 * PATH_MAX + 256];
    snprintf(want, sizeof want,
             "plugin 'nosuch' (evc_transport_nosuch.so) not found; searched: "
             "%s (no such directory), %s, %s/plugins, %s/lib/evc/plugins (no such directory)",
             cli, env_dir, build_dir(), build_dir());
    cr_assert_str_eq(err.msg, want);
}

/* ---- plugins that load: the good one, and ops that fail ---------------- */

static const evc_plugin_descriptor *load_ok(const char *c, evc_plugin **p)
{
    evc_plugin_search s = {.cli_dir = corpus_dir(c)};
    evc_plugin_refusal why = EVC_REFUSE_MINOR;
    evc_error err = {0};
    int rc = evc_plugin_load(EVC_PLUGIN_TRANSPORT, "zmq", &s, p, &why, &err);
    cr_assert_eq(rc, EVC_OK, "%s: %s", c, err.msg);
    cr_assert_eq(why, EVC_REFUSE_NONE);
    cr_assert_str_eq(evc_plugin_path(*p), corpus_file(c));
    return evc_plugin_descriptor_of(*p);
}

Test(loader, create_fails_reports_the_plugins_message)
{
    evc_plugin *p = NULL;
    const evc_transport_ops *ops = load_ok("create_fails", &p)->ops;
    fake_host fh;
    fake_host_init(&fh);
    evc_transport_params params = {.struct_size = sizeof params, .endpoint = "tcp://127.0.0.1:1"};
    evc_transport *t = (evc_transport *)(void *)&fh;
    evc_error err = {0};
    cr_assert_eq(ops->create(&fh.api, &params, &t, &err), EVC_ECONFIG);
    cr_assert_null(t);
    cr_assert_str_eq(err.msg,
                     "create_fails: endpoint 'tcp://127.0.0.1:1' rejected (this plugin always "
                     "fails create)");
    /* What the app does with it. */
    cr_assert_eq(evc_plugin_refusal_exit_code(EVC_REFUSE_CREATE), 30);
    cr_assert_str_eq(evc_plugin_refusal_name(EVC_REFUSE_CREATE), "create");
    evc_plugin_unload(p);
}

Test(loader, start_fails_reports_the_plugins_message)
{
    evc_plugin *p = NULL;
    const evc_transport_ops *ops = load_ok("start_fails", &p)->ops;
    fake_host fh;
    fake_host_init(&fh);
    evc_transport_params params = {.struct_size = sizeof params, .endpoint = "tcp://10.0.0.9:7"};
    evc_transport *t = NULL;
    evc_error err = {0};
    cr_assert_eq(ops->create(&fh.api, &params, &t, &err), EVC_OK, "%s", err.msg);
    cr_assert_not_null(t);
    cr_assert_eq(ops->start(t, &err), EVC_EIO);
    cr_assert_str_eq(err.msg,
                     "start_fails: cannot connect to 'tcp://10.0.0.9:7' (this plugin always "
                     "fails start)");
    cr_assert_eq(evc_plugin_refusal_exit_code(EVC_REFUSE_START), 31);
    cr_assert_str_eq(evc_plugin_refusal_name(EVC_REFUSE_START), "start");
    ops->destroy(t);
    evc_plugin_unload(p);
}

static bool outcomes_at_least(void *arg)
{
    fake_host *fh = arg;
    return fh->n_outcomes >= 3;
}

Test(loader, good_loopback_delivers_to_subscribers_and_acks)
{
    evc_plugin *p = NULL;
    const evc_plugin_descriptor *d = load_ok("good", &p);
    cr_assert_eq(d->magic, EVC_PLUGIN_MAGIC);
    cr_assert_eq(d->kind, EVC_PLUGIN_TRANSPORT);
    cr_assert_str_eq(d->name, "zmq");
    cr_assert_str_eq(d->version, "1.0.0");
    const evc_transport_ops *ops = d->ops;
    cr_assert(EVC_HAS_FIELD(ops, stats));

    fake_host fh;
    fake_host_init(&fh);
    evc_transport_params params = {.struct_size = sizeof params, .endpoint = "loopback"};
    evc_transport *t = NULL;
    evc_error err = {0};
    cr_assert_eq(ops->create(&fh.api, &params, &t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(ops->subscribe(t, "cp.telemetry", &err), EVC_OK);
    evc_message m = {.topic = "cp.telemetry", .key = "CP1", .payload = "hello", .payload_len = 5};
    cr_assert_eq(ops->publish(t, &m, 1, &err), EVC_ESTATE, "publish before start is refused");
    cr_assert_eq(ops->start(t, &err), EVC_OK);

    cr_assert_eq(ops->publish(t, &m, 11, &err), EVC_OK, "%s", err.msg);
    evc_message other = {.topic = "not.subscribed", .key = "", .payload = "x", .payload_len = 1};
    cr_assert_eq(ops->publish(t, &other, 12, &err), EVC_OK);
    m.payload = "again";
    cr_assert_eq(ops->publish(t, &m, 13, &err), EVC_OK);
    cr_assert_eq(fh.n_outcomes, 0, "outcomes come later, never inside publish");

    cr_assert_eq(ops->flush(t, 1000, &err), EVC_OK, "%s", err.msg);
    cr_assert(outcomes_at_least(&fh));
    cr_assert_eq(fh.n_outcomes, 3);
    uint64_t tokens[] = {11, 12, 13};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(fh.outcomes[i].token, tokens[i]);
        cr_assert_eq(fh.outcomes[i].status, EVC_OUTCOME_ACKED);
    }
    cr_assert_eq(fh.n_dispatched, 2, "only the subscribed topic is dispatched");
    cr_assert_str_eq(fh.dispatched[0].topic, "cp.telemetry");
    cr_assert_str_eq(fh.dispatched[0].key, "CP1");
    cr_assert_eq(fh.dispatched[0].payload_len, 5);
    cr_assert_arr_eq(fh.dispatched[0].payload, "hello", 5);
    cr_assert_arr_eq(fh.dispatched[1].payload, "again", 5);

    /* Stop with a message queued: its outcome is NOT_SENT, exactly once. */
    cr_assert_eq(ops->publish(t, &m, 14, &err), EVC_OK);
    ops->stop(t);
    ops->stop(t);
    cr_assert_eq(fh.n_outcomes, 4);
    cr_assert_eq(fh.outcomes[3].token, 14);
    cr_assert_eq(fh.outcomes[3].status, EVC_OUTCOME_NOT_SENT);

    evc_transport_stats st = {.struct_size = sizeof st};
    ops->stats(t, &st);
    cr_assert_eq(st.published, 4);
    cr_assert_eq(st.acked, 3);
    cr_assert_eq(st.not_sent, 1);
    cr_assert_eq(st.received, 2);
    evc_transport_guarantees g = {.struct_size = sizeof g};
    ops->guarantees(t, &g);
    cr_assert_eq(g.delivery, EVC_DELIVERY_AT_MOST_ONCE);
    cr_assert(g.per_key_order);
    cr_assert_not(g.durable);
    ops->destroy(t);
    evc_plugin_unload(p);
}

/* ---- the loopback plugin on the real loop and host table --------------- */

typedef struct real_sink {
    int outcomes, acked, dispatched;
    char last_payload[16];
} real_sink;

static void real_outcome(void *arg, uint64_t token, evc_outcome_status status, const char *detail)
{
    real_sink *s = arg;
    s->outcomes++;
    if (status == EVC_OUTCOME_ACKED)
        s->acked++;
}

static int real_dispatch(void *arg, const evc_message *msg)
{
    real_sink *s = arg;
    s->dispatched++;
    size_t n = msg->payload_len < sizeof s->last_payload - 1 ? msg->payload_len
                                                             : sizeof s->last_payload - 1;
    memcpy(s->last_payload, msg->payload, n);
    s->last_payload[n] = '\0';
    return EVC_OK;
}

static bool two_outcomes(void *arg) { return ((real_sink *)arg)->outcomes == 2; }

Test(loader, good_loopback_on_the_real_loop)
{
    evc_plugin *p = NULL;
    const evc_transport_ops *ops = load_ok("good", &p)->ops;
    evc_loop *loop = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
    real_sink rs = {0};
    evc_host_sink sink = {.arg = &rs, .outcome = real_outcome, .dispatch = real_dispatch};
    evc_host_api *host = NULL;
    cr_assert_eq(evc_host_new(loop, "zmq", &sink, &host, &err), EVC_OK, "%s", err.msg);
    evc_transport_params params = {.struct_size = sizeof params, .endpoint = "loopback"};
    evc_transport *t = NULL;
    cr_assert_eq(ops->create(host, &params, &t, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(ops->subscribe(t, "driver.requests", &err), EVC_OK);
    cr_assert_eq(ops->start(t, &err), EVC_OK);
    evc_message m = {.topic = "driver.requests", .key = "D1", .payload = "charge", .payload_len = 6};
    cr_assert_eq(ops->publish(t, &m, 1, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(ops->publish(t, &m, 2, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_loop_run_until(loop, two_outcomes, &rs, 2000), EVC_OK);
    cr_assert_eq(rs.acked, 2);
    cr_assert_eq(rs.dispatched, 2);
    cr_assert_str_eq(rs.last_payload, "charge");
    ops->destroy(t);
    evc_host_free(host);
    evc_loop_free(loop);
    evc_plugin_unload(p);
}
