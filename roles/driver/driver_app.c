/* driver_app.c: life cycle, outbound messages and stdout of the driver. */
#include "driver_app.h"

#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "evc/uuid.h"

static void out_print(void *arg, driver_line_kind kind, const char *line)
{
    driver_app *a = arg;
    static const char *const colours[] = {"", "\033[32m", "\033[33m", "\033[31m"};
    if (a->colour && kind != DRIVER_LINE_INFO)
        fprintf(a->out, "%s%s\033[0m\n", colours[kind], line);
    else
        fprintf(a->out, "%s\n", line);
    fflush(a->out);
    driver_web_on_line(a, kind, line); /* the page shows the same progress */
}

static const char *send_type(driver_send what)
{
    switch (what) {
    case DRIVER_SEND_HELLO: return "driver.hello";
    case DRIVER_SEND_SYNC: return "driver.sync";
    case DRIVER_SEND_LIST: return "driver.list_cps";
    case DRIVER_SEND_REQUEST: return "supply.request";
    case DRIVER_SEND_ACK: return "supply.ticket_ack";
    case DRIVER_SEND_STOP: return "supply.stop";
    }
    return "?";
}

static int out_send(void *arg, driver_send what, const char *cp_id, const char *session_id)
{
    driver_app *a = arg;
    evc_error err = {0};
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", a->driver_id);
    if (what == DRIVER_SEND_HELLO) {
        driver_login_new_nonce(a);
        evc_payload_str(p, "nonce", a->login_nonce);
    }
    bool supply = what == DRIVER_SEND_REQUEST || what == DRIVER_SEND_ACK ||
                  what == DRIVER_SEND_STOP;
    if (supply) {
        evc_payload_str(p, "cp_id", cp_id);
        evc_payload_str(p, "session_id", session_id);
    }
    char *text = evc_payload_finish(p, &err);
    if (!text) {
        evc_log(EVC_LOG_ERROR, "driver", &(evc_log_ids){.driver = a->driver_id},
                "%s: %s", send_type(what), err.msg);
        return err.code ? err.code : EVC_ENOMEM;
    }
    const char *corr = supply ? session_id : NULL;
    if (what == DRIVER_SEND_HELLO) {
        if (evc_uuid_generate(a->hello_corr, NULL) != EVC_OK)
            a->hello_corr[0] = '\0'; /* then any reply answers it, as before */
        corr = a->hello_corr[0] ? a->hello_corr : NULL;
    }
    int rc = evc_msg_publish(a->bus, a->topic_out, a->driver_id, send_type(what), a->driver_id,
                             corr, text, NULL, NULL, NULL, &err);
    free(text);
    evc_log_ids ids = {.driver = a->driver_id, .cp = cp_id, .correlation = corr};
    if (rc != EVC_OK)
        evc_log(EVC_LOG_WARN, "driver", &ids, "%s not sent: %s", send_type(what), err.msg);
    else
        evc_log(EVC_LOG_INFO, "driver", &ids, "sent %s", send_type(what));
    return rc;
}

static void out_done(void *arg, int exit_code)
{
    driver_app *a = arg;
    if (a->quit)
        a->quit(a->quit_arg, exit_code);
}

static int out_session(void *arg, char out[DRIVER_SESSION_MAX])
{
    return evc_uuid_generate(out, NULL);
}

static void on_tick(evc_timer *t, void *arg)
{
    driver_app *a = arg;
    uint64_t now = evc_loop_now_ms(a->loop);
    if (!driver_fsm_started(a->fsm)) {
        /* The first tick, in the loop's first turn: only now is the loop's
         * clock fresh. Started from driver_app_start, the FSM took the
         * clock of the loop's creation, and a password typed slowly in
         * between (or a slow bus start) counted as CENTRAL's silence:
         * "Unable to connect to CENTRAL" then "CENTRAL is back". */
        a->bus_joining = a->bus && !evc_bus_live(a->bus);
        if (a->bus_joining)
            driver_fsm_bus_joining(a->fsm);
        driver_fsm_start(a->fsm, now);
        return;
    }
    /* Asked only until the bus says yes, not on every tick after. */
    if (a->bus_joining && evc_bus_live(a->bus)) {
        a->bus_joining = false;
        driver_fsm_bus_live(a->fsm, now);
    }
    if (a->in_polled)
        driver_term_poll(a);
    driver_fsm_tick(a->fsm, now);
    driver_history_tick(a, now);
    driver_web_tick(a, now);
}

int driver_app_new(const driver_app_params *p, driver_app **out, evc_error *err)
{
    *out = NULL;
    driver_app *a = calloc(1, sizeof *a);
    if (!a)
        return evc_error_set(err, EVC_ENOMEM, "driver: out of memory");
    a->loop = p->loop;
    a->bus = p->bus;
    a->app = p->app;
    snprintf(a->topic_in, sizeof a->topic_in, "%s", p->topic_in);
    snprintf(a->topic_out, sizeof a->topic_out, "%s", p->topic_out);
    snprintf(a->driver_id, sizeof a->driver_id, "%s", p->fsm.driver_id);
    snprintf(a->password, sizeof a->password, "%s", p->password ? p->password : "");
    a->out = p->out ? p->out : stdout;
    a->colour = p->colour;
    a->in_fd = p->in_fd;
    a->in_is_tty = p->in_is_tty;
    a->quit = p->quit;
    a->quit_arg = p->quit_arg;
    a->request_timeout_ms = p->fsm.request_timeout_ms ? p->fsm.request_timeout_ms : 10000;
    a->web_params = p->web;
    snprintf(a->web_host, sizeof a->web_host, "%s", p->web.host ? p->web.host : "");
    snprintf(a->web_dir, sizeof a->web_dir, "%s", p->web.static_dir ? p->web.static_dir : "");
    a->web_params.host = a->web_host;
    a->web_params.static_dir = a->web_dir;
    driver_fsm_ops ops = {.arg = a, .send = out_send, .print = out_print, .done = out_done,
                          .new_session = out_session};
    a->fsm = driver_fsm_new(&p->fsm, &ops);
    a->dedup = evc_msg_dedup_new(4096);
    if (!a->fsm || !a->dedup) {
        driver_app_free(a);
        return evc_error_set(err, EVC_ENOMEM, "driver: out of memory");
    }
    if (p->services && driver_fsm_set_services(a->fsm, p->services) != EVC_OK) {
        driver_app_free(a);
        return evc_error_set(err, EVC_ENOMEM, "driver: out of memory");
    }
    *out = a;
    return EVC_OK;
}

int driver_app_start(driver_app *a, evc_error *err)
{
    /* Our own messages and Central's broadcast (key "central") only, filtered
     * upstream where the transport can (docs/PROTOCOL.md M3, F11). */
    const char *const keys[] = {a->driver_id, "central"};
    int rc = a->driver_id[0]
                 ? evc_bus_subscribe_keys(a->bus, a->topic_in, keys, 2, driver_inbound, a, err)
                 : evc_bus_subscribe(a->bus, a->topic_in, driver_inbound, a, err);
    if (rc != EVC_OK)
        return rc;
    /* First fire at once: it starts the FSM (see on_tick). */
    rc = evc_loop_timer(a->loop, 0, DRIVER_TICK_MS, on_tick, a, &a->tick, err);
    if (rc != EVC_OK)
        return rc;
    if (a->web_params.port > 0 && (rc = driver_web_start(a, err)) != EVC_OK)
        return rc;
    driver_term_start(a);
    return EVC_OK;
}

void driver_app_stop(driver_app *a)
{
    if (!a)
        return;
    evc_timer_close(a->tick);
    a->tick = NULL;
    driver_term_stop(a);
    driver_web_stop(a);
    driver_history_free(a);
}

void driver_app_free(driver_app *a)
{
    if (!a)
        return;
    driver_web_stop(a);
    driver_history_free(a);
    driver_login_detach(a);
    driver_fsm_free(a->fsm);
    evc_msg_dedup_free(a->dedup);
    explicit_bzero(a->password, sizeof a->password);
    free(a);
}

driver_fsm *driver_app_fsm(driver_app *a) { return a->fsm; }
uint64_t driver_app_malformed(const driver_app *a) { return a->malformed; }
