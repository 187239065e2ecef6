/* evc_bus_open over real loaded plugins: the loopback transport built by the
 * loader tests (build/plugins/evc_transport_loopback.so) end to end, and a
 * store plugin refused as a transport. */
#include <criterion/criterion.h>
#include <string.h>

#include "evc/bus.h"
#include "evc/plugin.h"

static evc_loop *L;

static void setup(void) { cr_assert_eq(evc_loop_new(&L, NULL), EVC_OK); }
static void teardown(void) { evc_loop_free(L); }

TestSuite(bus_plugin, .init = setup, .fini = teardown, .timeout = 30);

typedef struct seen {
    int received, acked, other;
    char last[16];
} seen;

static int on_msg(void *arg, const evc_message *msg)
{
    seen *s = arg;
    s->received++;
    size_t n = msg->payload_len < sizeof s->last - 1 ? msg->payload_len : sizeof s->last - 1;
    memcpy(s->last, msg->payload, n);
    s->last[n] = '\0';
    return EVC_OK;
}

static void on_outcome(void *arg, evc_outcome_status status, const char *detail)
{
    seen *s = arg;
    if (status == EVC_OUTCOME_ACKED)
        s->acked++;
    else
        s->other++;
}

static bool all_in(void *arg)
{
    seen *s = arg;
    return s->received == 3 && s->acked == 3;
}

Test(bus_plugin, loopback_transport_end_to_end)
{
    evc_plugin *p;
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "loopback", NULL, &p, NULL, &err), EVC_OK,
                 "%s", err.msg);
    evc_transport_params params = {.struct_size = sizeof params, .client_id = "test"};
    evc_bus *b;
    cr_assert_eq(evc_bus_open(L, p, &params, &b, &err), EVC_OK, "%s", err.msg);
    seen s = {0};
    cr_assert_eq(evc_bus_subscribe(b, "cp.status", on_msg, &s, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_start(b, &err), EVC_OK, "%s", err.msg);
    const char *payloads[3] = {"one", "two", "three"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(evc_bus_publish(b, "cp.status", "CP1", payloads[i], strlen(payloads[i]),
                                     on_outcome, &s, &err),
                     EVC_OK, "%s", err.msg);
    cr_assert_eq(evc_bus_pending(b), 3);
    cr_assert_eq(evc_loop_run_until(L, all_in, &s, 2000), EVC_OK);
    cr_assert_str_eq(s.last, "three");
    cr_assert_eq(s.other, 0);
    cr_assert_eq(evc_bus_pending(b), 0);
    evc_transport_stats st;
    evc_bus_stats(b, &st);
    cr_assert_eq(st.published, 3);
    evc_bus_close(b);
    evc_plugin_unload(p);
}

Test(bus_plugin, store_plugin_is_not_a_transport)
{
    evc_plugin *p;
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_STORE, "sqlite", NULL, &p, NULL, &err), EVC_OK, "%s",
                 err.msg);
    evc_transport_params params = {.struct_size = sizeof params};
    evc_bus *b = (evc_bus *)1;
    cr_assert_eq(evc_bus_open(L, p, &params, &b, &err), EVC_EPLUGIN);
    cr_assert_null(b);
    cr_assert_not_null(strstr(err.msg, "plugin 'sqlite' ("), "%s", err.msg);
    cr_assert_not_null(strstr(err.msg, "evc_store_sqlite.so) is not a transport plugin"), "%s",
                       err.msg);
    evc_plugin_unload(p);
}
