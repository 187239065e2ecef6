/* bus.c: the event-bus facade over one transport plugin instance.
 *
 * Tokens: every accepted publish gets the next value of a 64-bit counter and
 * a slot in the table of owed outcomes (bus_pend.c: a ring indexed by token,
 * stragglers in a small hash), so the hot path allocates nothing and stays in
 * cache. The transport's outcome removes the slot and calls the publisher's
 * callback;
 * an outcome for an unknown token, or a second one, is a plugin bug: logged
 * and ignored, so the publisher still sees exactly one outcome.
 *
 * Outcomes never run inside evc_bus_publish: a transport that knows the
 * outcome at once (ZeroMQ) may report it from within its publish op, and
 * a publisher callback re-entering publish there would re-enter the
 * transport. Such outcomes are kept in their slot and delivered from a
 * 0 ms timer on the next loop iteration.
 */
#include "evc/bus.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus_internal.h"
#include "bus_pend.h"
#include "bus_topics.h"
#include "seal_internal.h"
#include "evc/host.h"
#include "evc/log.h"
#include "evc/seal.h"

#define BUS_LOG "bus"

struct evc_bus {
    evc_loop *loop;               /* borrowed */
    const evc_transport_ops *ops; /* borrowed from the plugin */
    evc_transport *t;             /* owned through ops->destroy */
    evc_host_api *host;           /* owned */

    bus_pend pend; /* owed outcomes */

    bool in_publish;
    uint64_t *held; /* tokens whose outcome is held back, in arrival order */
    size_t nheld, held_cap;
    evc_timer *held_timer;

    bus_topics topics;
    uint64_t foreign; /* messages of keys no handler takes, dropped before the seal check */
    bool started;
    bool closing; /* publishes are refused: the transport is going away */

    evc_sealer *sealer;           /* owned; NULL = publishes go unsealed */
    evc_seal_verifier *verifier;  /* owned; NULL = every message is delivered */
    const char *sender;           /* proven sender of the message in dispatch */
    int64_t refused_log_ms[EVC_SEAL_NVERDICTS]; /* last log line per reason */
    uint64_t refused_quiet[EVC_SEAL_NVERDICTS]; /* refused since that line */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *status_name(int s)
{
    switch (s) {
    case EVC_OUTCOME_ACKED: return "ACKED";
    case EVC_OUTCOME_SENT_UNCONFIRMED: return "SENT_UNCONFIRMED";
    case EVC_OUTCOME_NOT_SENT: return "NOT_SENT";
    default: return "?";
    }
}

/* Removes the slot, then calls its callback: the callback may publish. */
static void pend_complete(evc_bus *b, bus_pend_slot *s, evc_outcome_status status,
                          const char *detail)
{
    evc_bus_outcome_cb cb = s->cb;
    void *arg = s->arg;
    bus_pend_remove(&b->pend, s);
    if (cb)
        cb(arg, status, detail);
}

static void deliver_held(evc_bus *b)
{
    /* Callbacks may publish and so append to (and move) held: index it anew
     * each turn. A token already delivered is no longer found. */
    for (size_t i = 0; i < b->nheld; i++) {
        uint64_t token = b->held[i];
        bus_pend_slot *s = bus_pend_find(&b->pend, token);
        if (!s || s->status == 0)
            continue; /* refused after all (plugin bug already logged) */
        char *detail = s->detail;
        s->detail = NULL;
        pend_complete(b, s, (evc_outcome_status)s->status, detail);
        free(detail);
    }
    b->nheld = 0;
}

static void on_held_timer(evc_timer *t, void *arg) { deliver_held(arg); }

static int hold_outcome(evc_bus *b, bus_pend_slot *s, evc_outcome_status status, const char *detail)
{
    if (b->nheld == b->held_cap) {
        size_t ncap = b->held_cap ? b->held_cap * 2 : 16;
        uint64_t *n = realloc(b->held, ncap * sizeof *n);
        if (!n)
            return EVC_ENOMEM;
        b->held = n;
        b->held_cap = ncap;
    }
    s->status = (int)status;
    s->detail = detail ? strdup(detail) : NULL; /* lost detail on ENOMEM: status still exact */
    b->held[b->nheld++] = s->token;
    return EVC_OK;
}

/* ---- host sink: what the transport reports ------------------------------ */

static void sink_outcome(void *arg, uint64_t token, evc_outcome_status status, const char *detail)
{
    evc_bus *b = arg;
    bus_pend_slot *s = bus_pend_find(&b->pend, token);
    if (!s || s->status != 0) {
        EVC_LOGE(BUS_LOG, "transport bug: %s outcome %s for token %llu ignored%s%s",
                 s ? "second" : "unexpected", status_name((int)status), (unsigned long long)token,
                 detail ? ": " : "", detail ? detail : "");
        return;
    }
    if (status != EVC_OUTCOME_ACKED && status != EVC_OUTCOME_SENT_UNCONFIRMED &&
        status != EVC_OUTCOME_NOT_SENT) {
        EVC_LOGE(BUS_LOG, "transport bug: invalid outcome status %d for token %llu, taken as "
                          "NOT_SENT",
                 (int)status, (unsigned long long)token);
        status = EVC_OUTCOME_NOT_SENT;
    }
    if (b->in_publish && hold_outcome(b, s, status, detail) == EVC_OK)
        return;
    pend_complete(b, s, status, detail);
}

/* One line per refusal reason per 10 s, with how many it stands for. */
static void log_refused(evc_bus *b, const evc_message *msg, const evc_seal_opened *o)
{
    int64_t now = wall_ms();
    uint64_t *quiet = &b->refused_quiet[o->verdict];
    int64_t *last = &b->refused_log_ms[o->verdict];
    if (*last != 0 && now - *last < 10000) {
        (*quiet)++;
        return;
    }
    if (*quiet)
        EVC_LOGW(BUS_LOG, "message on '%s' (key '%s', type '%s') refused: %s; %llu more refused "
                          "as %s in the last %lld ms",
                 msg->topic, msg->key, o->type[0] ? o->type : "?",
                 evc_seal_verdict_name(o->verdict), (unsigned long long)*quiet,
                 evc_seal_verdict_name(o->verdict), (long long)(now - *last));
    else
        EVC_LOGW(BUS_LOG, "message on '%s' (key '%s', type '%s') refused: %s", msg->topic,
                 msg->key, o->type[0] ? o->type : "?", evc_seal_verdict_name(o->verdict));
    *quiet = 0;
    *last = now;
}

static int dispatch_opened(evc_bus *b, size_t ti, const evc_message *msg)
{
    evc_seal_opened o;
    evc_seal_verdict vd = evc_seal_open(b->verifier, msg->topic, msg->payload, msg->payload_len,
                                        wall_ms(), &o);
    if (vd == EVC_SEAL_UNKNOWN_KEY && seal_is_relay(msg->payload, msg->payload_len)) {
        /* Central's relay to a driver this process is not (a program that
         * reads every key, the OCPP gateway): someone else's, like a foreign
         * key. A driver that is not logged in yet has no relay key either. */
        b->foreign++;
        return EVC_OK;
    }
    if (vd != EVC_SEAL_OK && vd != EVC_SEAL_UNSIGNED_OK) {
        log_refused(b, msg, &o);
        return EVC_OK; /* refused for good: redelivery would not change it */
    }
    evc_message plain = *msg;
    plain.payload = o.envelope;
    plain.payload_len = o.envelope_len;
    const char *outer = b->sender;
    b->sender = vd == EVC_SEAL_OK ? o.sender : NULL;
    int rc = bus_topics_call(&b->topics, ti, &plain);
    b->sender = outer;
    if (rc != EVC_OK && b->verifier)
        evc_seal_unmark(b->verifier, &o);
    free(o.envelope);
    return rc;
}

static int sink_dispatch(void *arg, const evc_message *msg)
{
    evc_bus *b = arg;
    if (!msg || !msg->topic) {
        EVC_LOGE(BUS_LOG, "transport bug: dispatch of a message without topic");
        return EVC_EINVAL;
    }
    size_t ti = bus_topics_find(&b->topics, msg->topic);
    if (ti == SIZE_MAX) {
        EVC_LOGD(BUS_LOG, "message on unsubscribed topic '%s' ignored", msg->topic);
        return EVC_OK;
    }
    /* Another CP's or driver's message (a transport that cannot filter by
     * key): dropped before the seal check, the expensive part. */
    if (!bus_topics_wants(&b->topics, ti, msg->key)) {
        b->foreign++;
        return EVC_OK;
    }
    if (b->verifier)
        return dispatch_opened(b, ti, msg);
    return bus_topics_call(&b->topics, ti, msg);
}

/* ---- open / close ------------------------------------------------------- */

static bool ops_usable(const evc_transport_ops *ops)
{
    return ops && EVC_HAS_FIELD(ops, create) && EVC_HAS_FIELD(ops, subscribe) &&
           EVC_HAS_FIELD(ops, start) && EVC_HAS_FIELD(ops, publish) &&
           EVC_HAS_FIELD(ops, destroy);
}

static void bus_free(evc_bus *b)
{
    bus_topics_free(&b->topics);
    bus_pend_free(&b->pend);
    free(b->held);
    evc_timer_close(b->held_timer);
    evc_host_free(b->host);
    evc_sealer_free(b->sealer);
    evc_seal_verifier_free(b->verifier);
    free(b);
}

static int bus_open_with(evc_loop *loop, const evc_transport_ops *ops, const char *component,
                         const evc_transport_params *params, evc_bus **out, evc_error *err)
{
    *out = NULL;
    if (!loop || !params)
        return evc_error_set(err, EVC_EINVAL, "bus: a loop and transport params are required");
    if (!ops_usable(ops))
        return evc_error_set(err, EVC_EPLUGIN,
                             "transport '%s': ops table lacks create, subscribe, start, publish "
                             "or destroy",
                             component);
    evc_bus *b = calloc(1, sizeof *b);
    if (!b)
        return evc_error_set(err, EVC_ENOMEM, "bus: out of memory");
    b->loop = loop;
    b->ops = ops;
    evc_host_sink sink = {.arg = b, .outcome = sink_outcome, .dispatch = sink_dispatch};
    int rc = evc_host_new(loop, component, &sink, &b->host, err);
    if (rc == EVC_OK)
        rc = bus_pend_init(&b->pend) == EVC_OK
                 ? EVC_OK
                 : evc_error_set(err, EVC_ENOMEM, "bus: out of memory");
    if (rc == EVC_OK) {
        evc_error_clear(err);
        rc = ops->create(b->host, params, &b->t, err);
        if (rc != EVC_OK && err && err->msg[0] == '\0')
            evc_error_set(err, rc, "transport '%s': create failed (%s)", component,
                          evc_status_name(rc));
        if (rc == EVC_OK && !b->t)
            rc = evc_error_set(err, EVC_EPLUGIN, "transport '%s': create returned no instance",
                               component);
    }
    if (rc != EVC_OK) {
        bus_free(b);
        return rc;
    }
    *out = b;
    return EVC_OK;
}

int evc_bus_open_ops(evc_loop *loop, const evc_transport_ops *ops,
                     const evc_transport_params *params, evc_bus **out, evc_error *err)
{
    return bus_open_with(loop, ops, "transport", params, out, err);
}

int evc_bus_open(evc_loop *loop, evc_plugin *transport, const evc_transport_params *params,
                 evc_bus **out, evc_error *err)
{
    *out = NULL;
    if (!transport)
        return evc_error_set(err, EVC_EINVAL, "bus: no transport plugin given");
    const evc_plugin_descriptor *d = evc_plugin_descriptor_of(transport);
    const char *name = d && d->name ? d->name : "?";
    if (!d || d->kind != EVC_PLUGIN_TRANSPORT)
        return evc_error_set(err, EVC_EPLUGIN, "plugin '%s' (%s) is not a transport plugin",
                             name, evc_plugin_path(transport));
    /* The section is validated here as well as in the programs, so that a
     * program or test opening a bus directly gets the same checks. */
    if (params && d->config_schema) {
        char where[160];
        snprintf(where, sizeof where, "transport.%s", name);
        int rc = evc_cfg_check(EVC_HAS_FIELD(params, config) ? params->config : NULL,
                               d->config_schema, where, err);
        if (rc != EVC_OK)
            return rc;
    }
    return bus_open_with(loop, d->ops, name, params, out, err);
}

void evc_bus_close(evc_bus *b)
{
    if (!b)
        return;
    b->closing = true;
    /* stop reports what is still pending (NOT_SENT at worst) */
    if (EVC_HAS_FIELD(b->ops, stop))
        b->ops->stop(b->t);
    deliver_held(b);
    b->ops->destroy(b->t);
    b->t = NULL;
    deliver_held(b);
    if (b->pend.count > 0) {
        EVC_LOGE(BUS_LOG, "transport bug: %zu publishes had no outcome at close; reported as "
                          "NOT_SENT",
                 b->pend.count);
        for (bus_pend_slot *s; (s = bus_pend_oldest(&b->pend)) != NULL;) {
            free(s->detail);
            s->detail = NULL;
            pend_complete(b, s, EVC_OUTCOME_NOT_SENT, "bus closed");
        }
    }
    bus_free(b);
}

/* ---- roles' API ------------------------------------------------------- */

int evc_bus_subscribe(evc_bus *b, const char *topic, evc_bus_handler handler, void *arg,
                      evc_error *err)
{
    if (!b || !topic || !*topic || !handler)
        return evc_error_set(err, EVC_EINVAL, "subscribe: a topic and a handler are required");
    return bus_topics_add(&b->topics, topic, NULL, 0, handler, arg, b->ops, b->t, err);
}

int evc_bus_subscribe_keys(evc_bus *b, const char *topic, const char *const *keys, size_t n,
                           evc_bus_handler handler, void *arg, evc_error *err)
{
    if (!b || !topic || !*topic || !handler || !keys || n == 0)
        return evc_error_set(err, EVC_EINVAL,
                             "subscribe '%s' by key: a topic, a handler and at least one key "
                             "are required",
                             topic ? topic : "(null)");
    for (size_t i = 0; i < n; i++)
        if (!keys[i] || strlen(keys[i]) > EVC_BUS_KEY_MAX)
            return evc_error_set(err, EVC_EINVAL,
                                 "subscribe '%s' by key: key %zu is %s (at most %d bytes)",
                                 topic, i, keys[i] ? "too long" : "NULL", EVC_BUS_KEY_MAX);
    return bus_topics_add(&b->topics, topic, keys, n, handler, arg, b->ops, b->t, err);
}

int evc_bus_start(evc_bus *b, evc_error *err)
{
    if (!b)
        return evc_error_set(err, EVC_EINVAL, "bus start: no bus");
    if (b->started)
        return evc_error_set(err, EVC_ESTATE, "bus start: already started");
    evc_error_clear(err);
    int rc = b->ops->start(b->t, err);
    if (rc != EVC_OK) {
        if (err && err->msg[0] == '\0')
            evc_error_set(err, rc, "bus start: transport failed to start (%s)",
                          evc_status_name(rc));
        return rc;
    }
    b->started = true;
    return EVC_OK;
}

int evc_bus_publish(evc_bus *b, const char *topic, const char *key, const void *payload,
                    size_t payload_len, evc_bus_outcome_cb cb, void *cb_arg, evc_error *err)
{
    return evc_bus_publish_with(b, NULL, topic, key, payload, payload_len, cb, cb_arg, err);
}

int evc_bus_publish_with(evc_bus *b, evc_sealer *sealer, const char *topic, const char *key,
                         const void *payload, size_t payload_len, evc_bus_outcome_cb cb,
                         void *cb_arg, evc_error *err)
{
    if (!b || !topic || !*topic || (!payload && payload_len > 0))
        return evc_error_set(err, EVC_EINVAL, "publish on '%s': bad arguments",
                             topic ? topic : "(null)");
    if (b->in_publish || b->closing)
        return evc_error_set(err, EVC_ESTATE, "publish on '%s': %s", topic,
                             b->closing ? "bus is closing"
                                        : "called from inside the transport's publish");
    uint64_t token = 0;
    if (bus_pend_add(&b->pend, cb, cb_arg, &token) != EVC_OK)
        return evc_error_set(err, EVC_ENOMEM, "publish on '%s': out of memory", topic);

    char *sealed = NULL;
    size_t sealed_len = 0;
    if (!sealer)
        sealer = b->sealer;
    if (sealer) {
        int src = evc_seal(sealer, topic, payload, payload_len, wall_ms(), &sealed,
                           &sealed_len, err);
        if (src != EVC_OK) {
            bus_pend_remove(&b->pend, bus_pend_find(&b->pend, token));
            return src;
        }
    }
    evc_message msg = {.topic = topic, .key = key ? key : "",
                       .payload = sealed ? sealed : payload,
                       .payload_len = sealed ? sealed_len : payload_len, .partition = -1,
                       .offset = -1};
    evc_error_clear(err);
    b->in_publish = true;
    int rc = b->ops->publish(b->t, &msg, token, err);
    b->in_publish = false;
    free(sealed); /* transports copy what they keep */

    if (rc != EVC_OK) {
        bus_pend_slot *s = bus_pend_find(&b->pend, token);
        if (!s) {
            EVC_LOGE(BUS_LOG, "transport bug: publish on '%s' returned %s after delivering "
                              "its outcome", topic, evc_status_name(rc));
        } else {
            if (s->status != 0)
                EVC_LOGE(BUS_LOG, "transport bug: publish on '%s' returned %s but reported "
                                  "an outcome; outcome dropped", topic, evc_status_name(rc));
            free(s->detail);
            s->detail = NULL;
            bus_pend_remove(&b->pend, s);
        }
        if (err && err->msg[0] == '\0')
            evc_error_set(err, rc, "publish on '%s': %s", topic,
                          rc == EVC_EAGAIN ? "transport is back-pressuring" : "refused");
    }
    if (b->nheld > 0) {
        evc_error e2;
        if (!b->held_timer) {
            if (evc_loop_timer(b->loop, 0, 0, on_held_timer, b, &b->held_timer, &e2) != EVC_OK)
                EVC_LOGE(BUS_LOG, "cannot schedule held outcomes: %s", e2.msg);
        } else {
            evc_timer_restart(b->held_timer, 0, 0);
        }
    }
    return rc;
}

static bool nothing_pending(void *arg) { return ((evc_bus *)arg)->pend.count == 0; }

int evc_bus_flush(evc_bus *b, uint64_t timeout_ms, evc_error *err)
{
    if (!b)
        return evc_error_set(err, EVC_EINVAL, "bus flush: no bus");
    int rc;
    uint64_t t0 = evc_loop_now_ms(b->loop);
    evc_error_clear(err);
    if (EVC_HAS_FIELD(b->ops, flush)) {
        rc = b->ops->flush(b->t, timeout_ms, err);
    } else {
        rc = evc_loop_run_until(b->loop, nothing_pending, b, timeout_ms);
    }
    deliver_held(b);
    if (rc == EVC_OK && b->pend.count > 0) {
        /* the transport flushed but outcomes are still owed */
        uint64_t spent = evc_loop_now_ms(b->loop) - t0;
        rc = evc_loop_run_until(b->loop, nothing_pending, b,
                                spent < timeout_ms ? timeout_ms - spent : 0);
    }
    if (rc != EVC_OK && err && err->msg[0] == '\0')
        evc_error_set(err, rc, "bus flush: %zu publishes still without outcome after %llu ms",
                      b->pend.count, (unsigned long long)timeout_ms);
    return rc;
}

void evc_bus_guarantees(evc_bus *b, evc_transport_guarantees *out)
{
    *out = (evc_transport_guarantees){.struct_size = sizeof *out,
                                      .delivery = EVC_DELIVERY_AT_MOST_ONCE};
    if (EVC_HAS_FIELD(b->ops, guarantees))
        b->ops->guarantees(b->t, out);
}

void evc_bus_stats(evc_bus *b, evc_transport_stats *out)
{
    *out = (evc_transport_stats){.struct_size = sizeof *out};
    if (EVC_HAS_FIELD(b->ops, stats))
        b->ops->stats(b->t, out);
}

bool evc_bus_live(evc_bus *b)
{
    if (!b)
        return false;
    evc_transport_stats s;
    evc_bus_stats(b, &s);
    /* A plugin built before `joined` existed copies less than the struct. */
    if (s.struct_size < offsetof(evc_transport_stats, joined) + sizeof s.joined)
        return true;
    return s.joined > 0;
}

size_t evc_bus_pending(const evc_bus *b) { return b ? b->pend.count : 0; }

uint64_t evc_bus_foreign(const evc_bus *b) { return b ? b->foreign : 0; }

/* ---- seals (evc/seal.h) ------------------------------------------------ */

int evc_bus_seal_with(evc_bus *b, evc_sealer *s, evc_error *err)
{
    if (!b || !s) {
        evc_sealer_free(s);
        return evc_error_set(err, EVC_EINVAL, "bus seal: a bus and a sealer are required");
    }
    evc_sealer_free(b->sealer);
    b->sealer = s;
    return EVC_OK;
}

int evc_bus_verify_with(evc_bus *b, evc_seal_verifier *v, evc_error *err)
{
    if (!b || !v) {
        evc_seal_verifier_free(v);
        return evc_error_set(err, EVC_EINVAL, "bus verify: a bus and a verifier are required");
    }
    evc_seal_verifier_free(b->verifier);
    b->verifier = v;
    return EVC_OK;
}

const char *evc_bus_sender(const evc_bus *b) { return b ? b->sender : NULL; }

const evc_seal_verifier *evc_bus_verifier(const evc_bus *b) { return b ? b->verifier : NULL; }
