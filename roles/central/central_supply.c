/* central_supply.c: supply requests (from drivers and from CP menus), their
 * checks (F4), the authorisation round trip with the engine, and the
 * messages Central publishes. Sessions after authorisation (started,
 * telemetry, ended, tickets, sync) are in central_session.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_billing.h"
#include "central_int.h"
#include "central_session.h"
#include "central_trust.h"
#include "evc/log.h"

/* Publishes on central-events sealed by `sealer` (NULL: Central's own seal);
 * takes payload. */
static void publish_sealed(central *c, evc_sealer *sealer, const char *key, const char *type,
                           const char *corr, char *payload)
{
    evc_error err = {0};
    if (!payload) {
        evc_log(EVC_LOG_ERROR, "central", NULL, "%s to %s: payload not built", type, key);
        return;
    }
    int rc = evc_msg_publish_with(c->bus, sealer, c->t_central, key, type, "central", corr,
                                  payload, NULL, NULL, NULL, &err);
    if (rc != EVC_OK) {
        evc_log_ids ids = {.correlation = corr};
        evc_log(EVC_LOG_WARN, "central", &ids, "publish %s to %s: %s", type, key, err.msg);
    }
    free(payload);
}

void central_publish(central *c, const char *key, const char *type, const char *corr,
                     char *payload)
{
    publish_sealed(c, NULL, key, type, corr, payload);
}

void central_publish_to_driver(central *c, const char *driver_id, const char *type,
                               const char *corr, char *payload)
{
    publish_sealed(c, central_relay_sealer(c, driver_id), driver_id, type, corr, payload);
}

void central_send_command(central *c, const char *cp_id, const char *command)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", cp_id);
    evc_payload_str(p, "command", command);
    central_publish(c, cp_id, "cp.command", NULL, evc_payload_finish(p, NULL));
}

void central_send_reset(central *c, const char *cp_id, const char *type)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", cp_id);
    evc_payload_str(p, "command", "reset");
    evc_payload_str(p, "type", type);
    central_publish(c, cp_id, "cp.command", NULL, evc_payload_finish(p, NULL));
}

void central_update(central *c, const char *driver, const char *cp, const char *sid,
                    const char *step, const char *reason, const char *text)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", driver);
    evc_payload_str(p, "cp_id", cp);
    evc_payload_str(p, "session_id", sid);
    evc_payload_str(p, "step", step);
    evc_payload_str(p, "reason", reason);
    evc_payload_str(p, "text", text ? text : "");
    central_publish(c, driver, "supply.update", sid, evc_payload_finish(p, NULL));
}

static const char *session_key(const void *ctx, uint32_t slot)
{
    return ((const central *)ctx)->open[slot].id;
}

static const char *driver_key(const void *ctx, uint32_t slot)
{
    return ((const central *)ctx)->open[slot].driver_id;
}

central_supply *central_supply_find(central *c, const char *id)
{
    uint32_t i;
    return id && central_index_find(&c->supply_ix, id, &i) ? &c->open[i] : NULL;
}

static central_supply *supply_of_driver(central *c, const char *driver)
{
    uint32_t i;
    return driver && central_index_find(&c->driver_ix, driver, &i) ? &c->open[i] : NULL;
}

central_supply *central_supply_add(central *c, const central_supply *s)
{
    if (c->nopen == c->capopen) {
        size_t cap = c->capopen ? c->capopen * 2 : 16;
        central_supply *n = realloc(c->open, cap * sizeof *n);
        if (!n)
            return NULL;
        c->open = n;
        c->capopen = cap;
    }
    if (!c->supply_ix.key_of) {
        central_index_init(&c->supply_ix, session_key, c);
        central_index_init(&c->driver_ix, driver_key, c);
    }
    uint32_t i = (uint32_t)c->nopen;
    central_supply *o = &c->open[i];
    *o = *s;
    bool driver_had = central_index_find(&c->driver_ix, o->driver_id, NULL);
    if (central_index_add(&c->supply_ix, o->id, i) != EVC_OK)
        return NULL;
    if (central_index_add(&c->driver_ix, o->driver_id, i) != EVC_OK ||
        (o->phase == CENTRAL_SUPPLY_REQUESTED &&
         central_deadline_set(&c->supply_due, i, o->deadline_ms) != EVC_OK)) {
        central_index_remove(&c->supply_ix, o->id, i);
        central_index_remove(&c->driver_ix, o->driver_id, i);
        return NULL;
    }
    c->drivers_open += driver_had ? 0 : 1;
    c->nopen++;
    central_cp *cp = central_cp_find(c, o->cp_id);
    if (cp) {
        snprintf(cp->supply_id, sizeof cp->supply_id, "%s", o->id);
        cp->supply_slot = i;
        central_cp_touch(c, cp);
    }
    return o;
}

/* Takes open[i] out of the table and its indexes; the last supply moves to
 * i. Returns the CP whose supply it was (its link cleared), or NULL. */
static central_cp *supply_unlink(central *c, uint32_t i)
{
    central_supply *s = &c->open[i];
    uint32_t last = (uint32_t)c->nopen - 1;
    central_index_remove(&c->supply_ix, s->id, i);
    central_index_remove(&c->driver_ix, s->driver_id, i);
    if (!central_index_find(&c->driver_ix, s->driver_id, NULL))
        c->drivers_open--;
    central_deadline_clear(&c->supply_due, i);
    central_cp *mine = central_cp_find(c, s->cp_id);
    if (mine && mine->supply_slot == i && strcmp(mine->supply_id, s->id) == 0) {
        mine->supply_id[0] = '\0';
        mine->supply_slot = CENTRAL_NO_SLOT;
        central_cp_touch(c, mine);
    } else {
        mine = NULL;
    }
    if (i != last) {
        /* open[last] is still intact while the indexes read its keys. */
        central_supply *m = &c->open[last];
        central_index_rename(&c->supply_ix, m->id, last, i);
        central_index_rename(&c->driver_ix, m->driver_id, last, i);
        central_deadline_move(&c->supply_due, last, i);
        central_cp *cp = central_cp_find(c, m->cp_id);
        if (cp && cp->supply_slot == last)
            cp->supply_slot = i;
        c->open[i] = *m;
    }
    c->nopen--;
    return mine;
}

void central_recent_push(central *c, const central_supply *s)
{
    c->recent[c->recent_next] = *s;
    c->recent_next = (c->recent_next + 1) % CENTRAL_RECENT_MAX;
    if (c->nrecent < CENTRAL_RECENT_MAX)
        c->nrecent++;
    c->panel_dirty = true;
}

void central_supply_close(central *c, central_supply *s, central_supply_phase phase,
                          const char *reason)
{
    s->phase = phase;
    snprintf(s->end_reason, sizeof s->end_reason, "%s", reason ? reason : "");
    if (!s->ended_at)
        s->ended_at = (int64_t)evc_wall_ms();
    central_recent_push(c, s);
    central_cp *cp = supply_unlink(c, (uint32_t)(s - c->open)); /* s is invalid from here */
    if (cp)
        central_cp_refresh(c, cp, phase == CENTRAL_SUPPLY_ENDED ? "supply ended" : "supply denied");
}

/* Denies an open supply (already a REQUESTED session in the store). */
static void supply_deny(central *c, central_supply *s, const char *reason, const char *text)
{
    evc_error err = {0};
    evc_log_ids ids = {.cp = s->cp_id, .driver = s->driver_id, .correlation = s->id};
    if (evc_store_session_set_state(c->store, s->id, EVC_SESSION_DENIED, 0, reason, &err) !=
        EVC_OK)
        evc_log(EVC_LOG_ERROR, "central", &ids, "deny session: %s", err.msg);
    central_update(c, s->driver_id, s->cp_id, s->id, "denied", reason, text);
    central_event(c, "supply.denied", s->id, s->cp_id, s->driver_id, "denied: %s (%s)", reason,
                  text);
    central_say(c, "Supply %s %s @ %s denied: %s (%s)", s->id, s->driver_id, s->cp_id, reason,
                text);
    central_supply_close(c, s, CENTRAL_SUPPLY_DENIED, reason);
}

void central_supply_interrupt(central *c, central_cp *cp, const char *reason)
{
    central_supply *s = central_cp_supply(c, cp);
    if (!s || s->interrupted || s->phase == CENTRAL_SUPPLY_REQUESTED)
        return;
    s->interrupted = true;
    snprintf(s->end_reason, sizeof s->end_reason, "%s", reason);
    central_update(c, s->driver_id, s->cp_id, s->id, "interrupted", reason,
                   central_reason_text(reason));
    central_event(c, "supply.interrupted", s->id, s->cp_id, s->driver_id, "interrupted: %s",
                  reason);
    central_say(c, "Supply %s %s @ %s interrupted: %s (%s)", s->id, s->driver_id, s->cp_id,
                reason, central_reason_text(reason));
}

/* The checks of F4 and, when they pass, cp.authorise. `corr` may be NULL
 * (request at a CP's menu, or a driver app that sent none): a new one. */
void central_supply_request(central *c, const char *driver, const char *cp_id, const char *corr,
                            bool from_cp)
{
    char id[EVC_UUID_STR_SIZE];
    evc_error err = {0};
    if (corr && evc_uuid_valid(corr))
        snprintf(id, sizeof id, "%s", corr);
    else if (evc_uuid_generate(id, &err) != EVC_OK)
        return;
    evc_session old;
    if (central_supply_find(c, id) || evc_store_session_get(c->store, id, &old, NULL) == EVC_OK)
        return; /* the same request again (redelivered): already handled */
    evc_log_ids ids = {.cp = cp_id, .driver = driver, .correlation = id};
    evc_log(EVC_LOG_INFO, "central", &ids, "supply request%s", from_cp ? " at the CP" : "");
    central_update(c, driver, cp_id, id, "received", NULL, "request received");
    central_say(c, "Supply %s %s @ %s: request received%s", id, driver, cp_id,
                from_cp ? " at the CP" : "");
    central_update(c, driver, cp_id, id, "checking", NULL, "checking the request");
    central_say(c, "Supply %s %s @ %s: checking the request", id, driver, cp_id);
    evc_user u;
    central_request_facts f = {.check_authentication = !from_cp,
                               .min_balance_cents = c->min_balance_cents};
    int rc = evc_store_user_get(c->store, driver, &u, &err);
    if (rc != EVC_OK && rc != EVC_ENOTFOUND) {
        evc_log(EVC_LOG_ERROR, "central", &ids, "request: %s", err.msg);
        central_update(c, driver, cp_id, id, "denied", "unknown_driver", "database error");
        return;
    }
    f.driver_known = rc == EVC_OK;
    f.balance_cents = f.driver_known ? u.balance_cents : 0;
    /* A driver's own request reached here sealed by one of its login
     * sessions (on_driver_msg): that is the authentication. */
    f.driver_authenticated = f.driver_known;
    central_cp *cp = central_cp_find(c, cp_id);
    f.cp_known = cp != NULL;
    if (cp) {
        central_cp_refresh(c, cp, "request");
        f.cp_state = cp->state;
        if (cp->state == CENTRAL_CP_ACTIVATED && cp->supply_id[0])
            f.cp_state = CENTRAL_CP_SUPPLYING; /* a request waits for its reply there */
    }
    f.driver_busy = supply_of_driver(c, driver) != NULL;
    const char *reason = central_check_request(&f);
    central_supply s = {0};
    snprintf(s.id, sizeof s.id, "%s", id);
    snprintf(s.driver_id, sizeof s.driver_id, "%s", driver);
    snprintf(s.cp_id, sizeof s.cp_id, "%s", cp_id);
    s.requested_at = (int64_t)evc_wall_ms();
    s.price_cents_per_kwh = cp ? cp->price_cents_per_kwh : 0;
    if (reason) {
        central_update(c, driver, cp_id, id, "denied", reason, central_reason_text(reason));
        central_event(c, "supply.denied", id, cp_id, driver, "denied: %s", reason);
        central_say(c, "Supply %s %s @ %s denied: %s (%s)", id, driver, cp_id, reason,
                    central_reason_text(reason));
        s.phase = CENTRAL_SUPPLY_DENIED;
        s.ended_at = s.requested_at;
        snprintf(s.end_reason, sizeof s.end_reason, "%s", reason);
        central_recent_push(c, &s);
        return;
    }
    evc_session row = {.state = EVC_SESSION_REQUESTED, .requested_ms = s.requested_at};
    snprintf(row.id, sizeof row.id, "%s", id);
    snprintf(row.correlation_id, sizeof row.correlation_id, "%s", id);
    snprintf(row.driver_id, sizeof row.driver_id, "%s", driver);
    snprintf(row.cp_id, sizeof row.cp_id, "%s", cp_id);
    if (evc_store_session_insert(c->store, &row, &err) != EVC_OK) {
        evc_log(EVC_LOG_ERROR, "central", &ids, "session insert: %s", err.msg);
        central_update(c, driver, cp_id, id, "denied", "cp_no_answer", "database error");
        return;
    }
    s.phase = CENTRAL_SUPPLY_REQUESTED;
    s.deadline_ms = evc_loop_now_ms(c->loop) + c->authorise_timeout_ms;
    if (!central_supply_add(c, &s))
        return;
    central_event(c, "supply.requested", id, cp_id, driver, "checks passed; asking the CP");
    central_say(c, "Supply %s %s @ %s: checks passed, asking the CP", id, driver, cp_id);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", cp_id);
    evc_payload_str(p, "session_id", id);
    evc_payload_str(p, "driver_id", driver);
    evc_payload_int(p, "price_cents_per_kwh", s.price_cents_per_kwh);
    /* The engine accepts until this moment of Central's clock only; Central
     * holds the request clock_skew_ms longer, so that an engine whose clock
     * runs behind by up to that much never accepts a request already denied. */
    evc_payload_int(p, "expires_at",
                    s.requested_at + (int64_t)(c->authorise_timeout_ms - c->clock_skew_ms));
    central_publish(c, cp_id, "cp.authorise", id, evc_payload_finish(p, NULL));
}

static void on_authorise_reply(central *c, const evc_envelope *env)
{
    const char *sid = evc_msg_str(env, "session_id");
    central_supply *s = central_supply_find(c, sid);
    bool accepted = false;
    const char *cp_id = evc_msg_str(env, "cp_id");
    if (!cp_id || evc_msg_bool(env, "accepted", &accepted) != 0)
        return; /* malformed: nothing to do */
    if (!s || strcmp(s->cp_id, cp_id) != 0) {
        /* Accepted after Central gave up (a reply slower than the deadline):
         * the engine must not wait for a plug that nobody will bill. */
        if (accepted)
            central_cancel_unheld(c, cp_id, sid, "cp.authorise_reply");
        return;
    }
    if (s->phase != CENTRAL_SUPPLY_REQUESTED)
        return; /* a repeat */
    if (!accepted) {
        const char *why = evc_msg_str(env, "reason");
        char text[160];
        snprintf(text, sizeof text, "the charging point refused: %s", why ? why : "no reason");
        supply_deny(c, s, "cp_refused", text);
        return;
    }
    evc_error err = {0};
    if (evc_store_session_set_state(c->store, s->id, EVC_SESSION_AUTHORISED, 0, NULL, &err) !=
        EVC_OK) {
        evc_log_ids ids = {.correlation = s->id};
        evc_log(EVC_LOG_ERROR, "central", &ids, "authorise session: %s", err.msg);
    }
    s->phase = CENTRAL_SUPPLY_AUTHORISED;
    central_update(c, s->driver_id, s->cp_id, s->id, "authorised", NULL, "supply authorised");
    central_update(c, s->driver_id, s->cp_id, s->id, "plug_in", NULL,
                   "plug your vehicle in at the charging point");
    central_event(c, "supply.authorised", s->id, s->cp_id, s->driver_id, "authorised");
    central_say(c, "Supply %s %s @ %s authorised", s->id, s->driver_id, s->cp_id);
    central_cp *cp = central_cp_find(c, s->cp_id);
    if (cp)
        central_cp_refresh(c, cp, "supply authorised");
}

void central_supply_tick(central *c)
{
    uint64_t now = evc_loop_now_ms(c->loop);
    uint32_t i;
    /* Only requests still waiting: a supply's deadline is set when it opens
     * REQUESTED and left in place when the reply comes (seen here, dropped). */
    while (central_deadline_pop_due(&c->supply_due, now, &i))
        if (i < c->nopen && c->open[i].phase == CENTRAL_SUPPLY_REQUESTED)
            supply_deny(c, &c->open[i], "cp_no_answer", central_reason_text("cp_no_answer"));
}

static void on_list_cps(central *c, const evc_envelope *env)
{
    const char *driver = evc_msg_str(env, "driver_id");
    if (!evc_id_valid(driver))
        return;
    size_t cap = 64 + c->ncps * 400, len = 0;
    char *arr = malloc(cap);
    if (!arr)
        return;
    arr[len++] = '[';
    for (size_t i = 0; i < c->ncps; i++) {
        evc_payload *e = evc_payload_new();
        evc_payload_str(e, "cp_id", c->cps[i].id);
        evc_payload_str(e, "location", c->cps[i].location);
        evc_payload_int(e, "price_cents_per_kwh", c->cps[i].price_cents_per_kwh);
        evc_payload_str(e, "state", central_cp_state_name(c->cps[i].state));
        char *t = evc_payload_finish(e, NULL);
        if (t && len + strlen(t) + 3 < cap)
            len += (size_t)snprintf(arr + len, cap - len, "%s%s", len > 1 ? "," : "", t);
        free(t);
    }
    arr[len++] = ']';
    arr[len] = '\0';
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", driver);
    evc_payload_raw(p, "cps", arr);
    free(arr);
    central_publish(c, driver, "driver.cps", NULL, evc_payload_finish(p, NULL));
}

/* Decodes, drops duplicates and malformed input (counted). NULL: drop.
 * supply.ended is never dropped as a duplicate: an engine's outbox re-sends
 * the very same envelope until it gets its supply.end_ack, and billing is
 * idempotent by session, so a repeat must be acknowledged again. */
static evc_envelope *decode(central *c, const evc_message *m)
{
    evc_envelope *env = NULL;
    evc_error err = {0};
    if (evc_envelope_decode(m->payload, m->payload_len, NULL, &env, &err) != EVC_OK) {
        c->dropped++;
        EVC_LOG_LIMITED(EVC_LOG_WARN, "central", NULL, "malformed message on %s dropped: %s",
                        m->topic, err.msg);
        return NULL;
    }
    if (strcmp(env->type, "supply.ended") != 0 && !evc_msg_dedup_first(c->dedup, env->id)) {
        evc_envelope_free(env);
        return NULL;
    }
    return env;
}

/* A message the seal does not prove to come from the driver (or CP) it
 * names: counted with the malformed ones, never acted on. */
static void unproven(central *c, const evc_envelope *env, const char *who)
{
    c->dropped++;
    evc_log(EVC_LOG_DEBUG, "central", NULL, "%s from %s not sealed by it: dropped", env->type,
            who ? who : "(nobody)");
}

static int on_driver_msg(void *arg, const evc_message *m)
{
    central *c = arg;
    evc_envelope *env = decode(c, m);
    if (!env)
        return EVC_OK;
    const char *t = env->type;
    const char *driver = evc_msg_str(env, "driver_id");
    int rc = EVC_OK;
    if (strcmp(t, "driver.hello") == 0) {
        central_trust_on_hello(c, env);
    } else if (strcmp(t, "driver.login") == 0) {
        central_trust_on_login(c, env);
    } else if (!evc_id_valid(driver) || !central_trust_from_driver(c, driver)) {
        unproven(c, env, driver);
    } else if (central_driver_extra(c, env, driver)) {
        /* any free CP, the driver's stop, its history */
    } else if (strcmp(t, "driver.list_cps") == 0) {
        on_list_cps(c, env);
    } else if (strcmp(t, "supply.request") == 0) {
        const char *cp = evc_msg_str(env, "cp_id");
        if (evc_id_valid(cp))
            central_supply_request(c, driver, cp, env->correlation_id, false);
        else
            c->dropped++;
    } else if (strcmp(t, "driver.sync") == 0) {
        central_session_sync(c, driver);
    } else if (strcmp(t, "supply.ticket_ack") == 0) {
        rc = central_session_ticket_ack(c, driver, evc_msg_str(env, "session_id"));
    }
    evc_envelope_free(env);
    return rc;
}

/* The CP's engine is on the bus with its key (shown as engine_on_bus). */
static void note_engine(central *c, const char *cp_id)
{
    central_cp *cp = central_cp_find(c, cp_id);
    if (cp && !cp->engine_heard) {
        cp->engine_heard = true;
        central_cp_touch(c, cp);
    }
}

static int on_cp_msg(void *arg, const evc_message *m)
{
    central *c = arg;
    evc_envelope *env = decode(c, m);
    if (!env)
        return EVC_OK;
    const char *t = env->type;
    /* Every CP message names its CP; only that CP's key may seal it. */
    const char *cp = evc_msg_str(env, "cp_id");
    int rc = EVC_OK;
    if (strcmp(t, "cp.key_request") == 0) {
        central_trust_on_key_request(c, env);
        evc_envelope_free(env);
        return EVC_OK;
    }
    if (!central_trust_from_cp(c, cp ? cp : env->source)) {
        unproven(c, env, cp ? cp : env->source);
        evc_envelope_free(env);
        return EVC_OK;
    }
    note_engine(c, env->source);
    if (strcmp(t, "cp.authorise_reply") == 0) {
        on_authorise_reply(c, env);
    } else if (strcmp(t, "supply.request") == 0) {
        const char *driver = evc_msg_str(env, "driver_id");
        if (evc_id_valid(driver) && evc_id_valid(cp))
            central_supply_request(c, driver, cp, NULL, true);
        else
            c->dropped++;
    } else if (strcmp(t, "supply.started") == 0) {
        central_session_started(c, env);
    } else if (strcmp(t, "supply.telemetry") == 0) {
        central_session_telemetry(c, env);
    } else if (strcmp(t, "supply.ended") == 0) {
        rc = central_session_ended(c, env);
    } else if (strcmp(t, "cp.hello") == 0 || strcmp(t, "cp.status") == 0) {
        central_session_cp_status(c, env);
    }
    evc_envelope_free(env);
    return rc;
}

static void on_heartbeat(evc_timer *t, void *arg)
{
    central *c = arg;
    evc_payload *p = evc_payload_new();
    evc_payload_int(p, "seq", ++c->hb_seq);
    evc_payload_int(p, "started_at", c->started_at);
    central_publish(c, "central", "central.heartbeat", NULL, evc_payload_finish(p, NULL));
}

int central_supply_start(central *c, evc_error *err)
{
    int rc = central_trust_start(c, err);
    if (rc == EVC_OK)
        rc = central_relay_start(c, err);
    if (rc == EVC_OK)
        rc = central_session_restore(c, err);
    if (rc == EVC_OK)
        rc = evc_bus_subscribe(c->bus, c->t_driver, on_driver_msg, c, err);
    if (rc == EVC_OK)
        rc = evc_bus_subscribe(c->bus, c->t_cp, on_cp_msg, c, err);
    if (rc == EVC_OK)
        rc = evc_loop_timer(c->loop, 0, c->heartbeat_interval_ms, on_heartbeat, c, &c->hb_timer,
                            err);
    return rc;
}
