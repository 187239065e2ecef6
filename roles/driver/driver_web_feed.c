/* driver_web_feed.c: the driver page's live feed (WebSocket /ws/driver) and
 * its supply routes (docs/WEB.md "The driver dashboard"):
 *
 *   POST /api/request {"cp_id"}   a CP id, or "*" for any free CP
 *   POST /api/stop                end the current supply (supply.stop)
 *   GET  /api/history?before=&before_session_id=&limit=
 *                                 a page of CENTRAL's history (driver.history)
 *
 * The feed: a snapshot on connect, then each supply step, telemetry, ticket
 * and stdout line as the app gets them, a status when it changes and a tick
 * every second. The same app serves the terminal and the services file:
 * what they start shows here too. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver_web.h"
#include "evc/log.h"

#define LIST_EVERY_MS 3000 /* driver.list_cps while someone watches */

static bool watched(const driver_web *w)
{
    return evc_web_ws_clients(w->web, DRIVER_WEB_CHANNEL) > 0;
}

void driver_web_push(driver_web *w, char *json)
{
    if (json && watched(w)) {
        int rc = evc_web_broadcast(w->web, DRIVER_WEB_CHANNEL, json, strlen(json));
        if (rc != EVC_OK)
            evc_log(EVC_LOG_WARN, "driver", &(evc_log_ids){.driver = w->a->driver_id},
                    "page update not queued (%s)", evc_status_name(rc));
    }
    free(json);
}

static void reply(evc_web_response *res, int status, char *json)
{
    if (json)
        evc_web_respond_json(res, status, json);
    else
        evc_web_respond_error(res, 500, "out of memory");
    free(json);
}

/* ---- JSON ------------------------------------------------------------------ */

static char *ticket_json(const driver_ticket *t)
{
    char words[2 * DRIVER_TEXT_MAX + 4];
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "session_id", t->session_id);
    evc_payload_str(p, "cp_id", t->cp_id);
    evc_payload_int(p, "wh", t->wh);
    evc_payload_int(p, "cents", t->cents);
    evc_payload_int(p, "price_cents_per_kwh", t->price_cents_per_kwh);
    evc_payload_int(p, "started_at", t->started_at > 0 ? t->started_at : 0);
    evc_payload_int(p, "ended_at", t->ended_at > 0 ? t->ended_at : 0);
    evc_payload_int(p, "duration_s", t->duration_s);
    evc_payload_str(p, "reason", t->reason);
    evc_payload_str(p, "reason_words", driver_fmt_reason(t->reason, NULL, words, sizeof words));
    if (t->has_balance)
        evc_payload_int(p, "balance_cents", t->balance_cents);
    else
        evc_payload_raw(p, "balance_cents", "null");
    return evc_payload_finish(p, NULL);
}

static char *step_json(const driver_web_supply *s, const driver_web_step *st)
{
    char line[DRIVER_LINE_MAX], words[2 * DRIVER_TEXT_MAX + 4];
    const char *cp = strcmp(s->cp_id, DRIVER_ANY_CP) == 0 ? DRIVER_ANY_WORDS : s->cp_id;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "step", st->step);
    evc_payload_str(p, "reason", st->reason[0] ? st->reason : NULL);
    evc_payload_str(p, "text", st->text);
    evc_payload_str(p, "reason_words",
                    st->reason[0] ? driver_fmt_reason(st->reason, st->text, words, sizeof words)
                                  : NULL);
    evc_payload_str(p, "line", driver_fmt_step(st->step, cp, st->reason, st->text, line,
                                               sizeof line));
    evc_payload_int(p, "ts", st->ts);
    return evc_payload_finish(p, NULL);
}

static char *json_list(char **items, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++)
        len += items[i] ? strlen(items[i]) + 1 : 0;
    char *out = malloc(len);
    size_t at = 0;
    if (out)
        out[at++] = '[';
    for (size_t i = 0; i < n; i++) {
        if (out && items[i]) {
            if (at > 1)
                out[at++] = ',';
            size_t k = strlen(items[i]);
            memcpy(out + at, items[i], k);
            at += k;
        }
        free(items[i]);
    }
    if (out) {
        out[at++] = ']';
        out[at] = '\0';
    }
    return out;
}

static char *supply_json(driver_web *w)
{
    if (!w->has_sup)
        return strdup("null");
    driver_web_supply *s = &w->sup;
    char *steps[DRIVER_WEB_STEPS];
    for (size_t i = 0; i < s->nsteps; i++)
        steps[i] = step_json(s, &s->steps[i]);
    char *steps_json = json_list(steps, s->nsteps);
    char **pts = calloc(s->npts ? s->npts : 1, sizeof *pts);
    size_t first = s->npts < DRIVER_WEB_POINTS ? 0 : s->pt_next;
    for (size_t i = 0; pts && i < s->npts; i++) {
        size_t k = (first + i) % DRIVER_WEB_POINTS;
        char b[48];
        snprintf(b, sizeof b, "[%lld,%lld]", (long long)s->pt_t[k], (long long)s->pt_w[k]);
        pts[i] = strdup(b);
    }
    char *power = pts ? json_list(pts, s->npts) : NULL;
    free(pts);
    bool current = strcmp(driver_fsm_session(w->a->fsm), s->session_id) == 0;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "session_id", s->session_id);
    evc_payload_str(p, "cp_id", s->cp_id);
    evc_payload_str(p, "state", current ? driver_req_state_name(driver_fsm_state(w->a->fsm))
                                        : "ended");
    evc_payload_raw(p, "steps", steps_json ? steps_json : "[]");
    evc_payload_int(p, "w", s->w);
    evc_payload_int(p, "wh", s->wh);
    evc_payload_int(p, "cents", s->cents);
    evc_payload_int(p, "requested_at", s->requested_at);
    evc_payload_int(p, "started_at", s->started_at);
    evc_payload_bool(p, "ended", s->ended);
    char *t = s->has_ticket ? ticket_json(&s->ticket) : NULL;
    evc_payload_raw(p, "ticket", t ? t : "null");
    evc_payload_raw(p, "power", power ? power : "[]");
    free(t);
    free(steps_json);
    free(power);
    return evc_payload_finish(p, NULL);
}

char *driver_web_status_json(driver_web *w)
{
    driver_fsm *f = w->a->fsm;
    const char *reason = NULL;
    int auth = driver_fsm_auth(f, &reason);
    int64_t bal = 0;
    bool has_bal = driver_fsm_balance(f, &bal);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "status");
    evc_payload_bool(p, "central_connected", driver_fsm_central_alive(f));
    evc_payload_str(p, "auth", auth > 0 ? "ok" : auth < 0 ? "refused" : "pending");
    evc_payload_str(p, "auth_reason", auth < 0 ? reason : NULL);
    if (has_bal)
        evc_payload_int(p, "balance_cents", bal);
    else
        evc_payload_raw(p, "balance_cents", "null");
    driver_req_state st = driver_fsm_state(f);
    evc_payload_str(p, "request_state", driver_req_state_name(st));
    evc_payload_str(p, "request_cp", st == DRIVER_REQ_IDLE ? NULL : driver_fsm_cp(f));
    evc_payload_str(p, "request_session", st == DRIVER_REQ_IDLE ? NULL : driver_fsm_session(f));
    evc_payload_bool(p, "services_running", driver_fsm_run_active(f));
    return evc_payload_finish(p, NULL);
}

static char *typed(const char *type, const char *key, char *json)
{
    if (!json)
        return NULL;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", type);
    evc_payload_raw(p, key, json);
    free(json);
    return evc_payload_finish(p, NULL);
}

static char *snapshot_json(driver_web *w)
{
    const driver_ticket *t;
    size_t n = driver_fsm_tickets(w->a->fsm, &t);
    size_t k = n < DRIVER_WEB_TICKETS ? n : DRIVER_WEB_TICKETS;
    char *items[DRIVER_WEB_TICKETS];
    for (size_t i = 0; i < k; i++)
        items[i] = ticket_json(&t[n - 1 - i]); /* newest first */
    char *tickets = json_list(items, k);
    char *lines[DRIVER_WEB_LINES];
    size_t first = w->nlines < DRIVER_WEB_LINES ? 0 : w->line_next;
    for (size_t i = 0; i < w->nlines; i++) {
        const driver_web_line *l = &w->lines[(first + i) % DRIVER_WEB_LINES];
        evc_payload *p = evc_payload_new();
        evc_payload_int(p, "kind", l->kind);
        evc_payload_int(p, "ts", l->ts);
        evc_payload_str(p, "text", l->text);
        lines[i] = evc_payload_finish(p, NULL);
    }
    char *lines_json = json_list(lines, w->nlines);
    char *status = driver_web_status_json(w), *supply = supply_json(w);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "snapshot");
    evc_payload_int(p, "now", (int64_t)evc_wall_ms());
    evc_payload_str(p, "driver_id", w->a->driver_id);
    evc_payload_raw(p, "status", status ? status : "null");
    evc_payload_raw(p, "cps", w->cps ? w->cps : "null");
    evc_payload_raw(p, "supply", supply ? supply : "null");
    evc_payload_raw(p, "tickets", tickets ? tickets : "[]");
    evc_payload_raw(p, "lines", lines_json ? lines_json : "[]");
    free(status);
    free(supply);
    free(tickets);
    free(lines_json);
    return evc_payload_finish(p, NULL);
}

static void on_open(evc_web *web, evc_web_client *client, void *arg)
{
    char *s = snapshot_json(arg);
    if (s)
        evc_web_ws_send(client, s, strlen(s));
    free(s);
}

/* ---- hooks from the app ----------------------------------------------------------- */

void driver_web_on_line(driver_app *a, driver_line_kind kind, const char *line)
{
    driver_web *w = a->web;
    if (!w)
        return;
    driver_web_line *l = &w->lines[w->line_next];
    l->kind = (int)kind;
    l->ts = (int64_t)evc_wall_ms();
    snprintf(l->text, sizeof l->text, "%s", line);
    w->line_next = (w->line_next + 1) % DRIVER_WEB_LINES;
    if (w->nlines < DRIVER_WEB_LINES)
        w->nlines++;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "line");
    evc_payload_int(p, "kind", l->kind);
    evc_payload_int(p, "ts", l->ts);
    evc_payload_str(p, "text", l->text);
    driver_web_push(w, evc_payload_finish(p, NULL));
}

/* The supply the page follows is the FSM's current one: a message of
 * another session (an old ticket re-sent) does not replace it. */
static driver_web_supply *supply_for(driver_web *w, const char *cp, const char *sid)
{
    if (!sid)
        return NULL;
    if (w->has_sup && strcmp(w->sup.session_id, sid) == 0)
        return &w->sup;
    if (strcmp(driver_fsm_session(w->a->fsm), sid) != 0)
        return NULL;
    memset(&w->sup, 0, sizeof w->sup);
    w->has_sup = true;
    snprintf(w->sup.session_id, sizeof w->sup.session_id, "%s", sid);
    snprintf(w->sup.cp_id, sizeof w->sup.cp_id, "%s", cp && *cp ? cp : driver_fsm_cp(w->a->fsm));
    w->sup.requested_at = (int64_t)evc_wall_ms();
    return &w->sup;
}

static void push_supply(driver_web *w)
{
    driver_web_push(w, typed("supply", "supply", supply_json(w)));
}

void driver_web_on_update(driver_app *a, const char *cp, const char *sid, const char *step,
                          const char *reason, const char *text)
{
    driver_web *w = a->web;
    if (!w || !step)
        return;
    if (strcmp(step, "stop_refused") == 0) {
        char words[2 * DRIVER_TEXT_MAX + 4];
        evc_payload *p = evc_payload_new();
        evc_payload_str(p, "type", "notice");
        evc_payload_str(p, "level", "warn");
        char msg[2 * DRIVER_TEXT_MAX + 40];
        snprintf(msg, sizeof msg, "Stop refused: %s",
                 driver_fmt_reason(reason, text, words, sizeof words));
        evc_payload_str(p, "text", msg);
        driver_web_push(w, evc_payload_finish(p, NULL));
        return;
    }
    driver_web_supply *s = supply_for(w, cp, sid);
    if (!s)
        return;
    if (evc_id_valid(cp) && strcmp(s->cp_id, cp) != 0)
        snprintf(s->cp_id, sizeof s->cp_id, "%s", cp); /* any free CP: the one picked */
    if (s->nsteps == DRIVER_WEB_STEPS) {
        memmove(&s->steps[0], &s->steps[1], (DRIVER_WEB_STEPS - 1) * sizeof s->steps[0]);
        s->nsteps--;
    }
    driver_web_step *st = &s->steps[s->nsteps++];
    driver_sanitize(st->step, sizeof st->step, step);
    driver_sanitize(st->reason, sizeof st->reason, reason ? reason : "");
    driver_sanitize(st->text, sizeof st->text, text ? text : "");
    st->ts = (int64_t)evc_wall_ms();
    if (strcmp(step, "supplying") == 0 && !s->started_at)
        s->started_at = st->ts;
    if (strcmp(step, "denied") == 0 || strcmp(step, "ended") == 0 ||
        strcmp(step, "interrupted") == 0)
        s->ended = strcmp(step, "interrupted") != 0 || s->ended;
    if (strcmp(step, "ended") == 0 || strcmp(step, "denied") == 0)
        s->w = 0;
    push_supply(w);
}

void driver_web_on_telemetry(driver_app *a, const char *cp, const char *sid, int64_t w_,
                             int64_t wh, int64_t cents)
{
    driver_web *w = a->web;
    driver_web_supply *s = w ? supply_for(w, cp, sid) : NULL;
    if (!s)
        return;
    int64_t now = (int64_t)evc_wall_ms();
    if (evc_id_valid(cp) && strcmp(s->cp_id, cp) != 0)
        snprintf(s->cp_id, sizeof s->cp_id, "%s", cp);
    if (!s->started_at)
        s->started_at = now;
    s->w = w_;
    s->wh = wh;
    s->cents = cents;
    s->pt_t[s->pt_next] = now;
    s->pt_w[s->pt_next] = w_;
    s->pt_next = (s->pt_next + 1) % DRIVER_WEB_POINTS;
    if (s->npts < DRIVER_WEB_POINTS)
        s->npts++;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "telemetry");
    evc_payload_str(p, "session_id", s->session_id);
    evc_payload_str(p, "cp_id", s->cp_id);
    evc_payload_int(p, "w", w_);
    evc_payload_int(p, "wh", wh);
    evc_payload_int(p, "cents", cents);
    evc_payload_int(p, "ts", now);
    evc_payload_int(p, "started_at", s->started_at);
    driver_web_push(w, evc_payload_finish(p, NULL));
}

void driver_web_on_ticket(driver_app *a, const driver_ticket *t)
{
    driver_web *w = a->web;
    if (!w)
        return;
    if (w->has_sup && strcmp(w->sup.session_id, t->session_id) == 0) {
        w->sup.has_ticket = true;
        w->sup.ticket = *t;
        w->sup.ended = true;
        w->sup.w = 0;
        w->sup.wh = t->wh;
        w->sup.cents = t->cents;
    }
    driver_web_push(w, typed("ticket", "ticket", ticket_json(t)));
    driver_web_push(w, driver_web_status_json(w)); /* the balance moved */
    w->next_list_ms = 0; /* the CP is free again: the tiles say so at the next second */
}

void driver_web_on_cps(driver_app *a, const evc_envelope *env)
{
    driver_web *w = a->web;
    json_t *root = w ? evc_envelope_payload_json(env) : NULL;
    json_t *arr = root ? json_object_get(root, "cps") : NULL;
    if (!json_is_array(arr))
        return;
    /* Add the state's words (SPEC section 3) the page shows. */
    json_t *copy = json_deep_copy(arr);
    size_t i;
    json_t *o;
    json_array_foreach(copy, i, o)
    {
        const char *words = driver_cp_state_text(json_string_value(json_object_get(o, "state")));
        if (json_is_object(o) && words)
            json_object_set_new(o, "state_text", json_string(words));
    }
    char *text = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (!text)
        return;
    bool same = w->cps && strcmp(w->cps, text) == 0;
    free(w->cps);
    w->cps = text;
    if (!same)
        driver_web_push(w, typed("cps", "cps", strdup(text)));
}

static void ask_list(driver_web *w)
{
    driver_app *a = w->a;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", a->driver_id);
    char *text = evc_payload_finish(p, NULL);
    evc_error err = {0};
    if (text)
        evc_msg_publish(a->bus, a->topic_out, a->driver_id, "driver.list_cps", a->driver_id,
                        NULL, text, NULL, NULL, NULL, &err);
    free(text);
}

void driver_web_tick(driver_app *a, uint64_t now)
{
    driver_web *w = a->web;
    if (!w)
        return;
    driver_web_login_tick(w, now);
    if (now < w->next_tick_ms)
        return;
    w->next_tick_ms = now + 1000;
    driver_web_recheck(w); /* a cookie that expired ends its feed within a second */
    if (!watched(w))
        return;
    char *status = driver_web_status_json(w);
    if (status && (!w->status || strcmp(status, w->status) != 0)) {
        free(w->status);
        w->status = strdup(status);
        driver_web_push(w, strdup(status));
    }
    free(status);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "type", "tick");
    evc_payload_int(p, "now", (int64_t)evc_wall_ms());
    driver_web_push(w, evc_payload_finish(p, NULL));
    if (now >= w->next_list_ms && driver_fsm_central_alive(a->fsm) &&
        driver_fsm_auth(a->fsm, NULL) > 0) {
        w->next_list_ms = now + LIST_EVERY_MS;
        ask_list(w);
    }
}

/* ---- routes ----------------------------------------------------------------------- */

static const char *cmd_error(driver_cmd_rc rc, int *status)
{
    *status = 409;
    switch (rc) {
    case DRIVER_CMD_OK: *status = 202; return NULL;
    case DRIVER_CMD_INVALID: *status = 400; return "invalid CP id";
    case DRIVER_CMD_BUSY: return "a request is already in progress";
    case DRIVER_CMD_RUNNING: return "the services file is running; request when it ends";
    case DRIVER_CMD_NONE: return "no supply in progress to stop";
    case DRIVER_CMD_AWAY: *status = 503; return "Unable to connect to CENTRAL";
    case DRIVER_CMD_FAILED: *status = 500; return "could not be sent";
    }
    return "refused";
}

static void answer_cmd(driver_web *w, evc_web_response *res, driver_cmd_rc rc)
{
    int status;
    const char *e = cmd_error(rc, &status);
    if (e) {
        evc_web_respond_error(res, status, e);
        return;
    }
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "session_id", driver_fsm_session(w->a->fsm));
    evc_payload_str(p, "cp_id", driver_fsm_cp(w->a->fsm));
    evc_payload_str(p, "state", driver_req_state_name(driver_fsm_state(w->a->fsm)));
    reply(res, 202, evc_payload_finish(p, NULL));
}

static void post_request(const evc_web_request *req, evc_web_response *res, void *arg)
{
    driver_web *w = arg;
    char cp[DRIVER_ID_MAX + 1];
    if (!evc_web_json_str(req->body, req->body_len, "cp_id", cp, sizeof cp)) {
        evc_web_respond_error(res, 400, "body must be {\"cp_id\": \"CP_001\"} (or \"*\")");
        return;
    }
    driver_cmd_rc rc = driver_fsm_cmd_request(w->a->fsm, evc_loop_now_ms(w->a->loop), cp);
    answer_cmd(w, res, rc);
    driver_web_push(w, driver_web_status_json(w));
}

static void post_stop(const evc_web_request *req, evc_web_response *res, void *arg)
{
    driver_web *w = arg;
    answer_cmd(w, res, driver_fsm_cmd_stop(w->a->fsm, evc_loop_now_ms(w->a->loop)));
}

/* ?before=...&before_session_id=...&limit=... (arguments joined by '&'). */
static void query_arg(const char *q, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t len = strcspn(p + n + 1, "&");
            if (len < cap)
                snprintf(out, cap, "%.*s", (int)len, p + n + 1);
            return;
        }
    }
}

static void history_done(void *arg, const json_t *payload)
{
    evc_web_pending *pd = arg;
    evc_web_response *res = evc_web_pending_res(pd);
    if (!payload) {
        evc_web_respond_error(res, 504, "no answer from CENTRAL");
    } else {
        json_t *out = json_object();
        json_t *list = json_deep_copy(json_object_get(payload, "tickets"));
        size_t i;
        json_t *o;
        json_array_foreach(list, i, o)
        {
            char words[2 * DRIVER_TEXT_MAX + 4];
            const char *r = json_string_value(json_object_get(o, "reason"));
            if (json_is_object(o))
                json_object_set_new(o, "reason_words",
                                    json_string(driver_fmt_reason(r, NULL, words, sizeof words)));
        }
        json_object_set_new(out, "tickets", list ? list : json_array());
        json_t *bf = json_object_get(payload, "before");
        json_object_set_new(out, "more", json_boolean(json_is_true(json_object_get(payload, "more"))));
        json_object_set_new(out, "before",
                            json_integer(json_is_integer(bf) ? json_integer_value(bf) : 0));
        json_t *e = json_object_get(payload, "error");
        if (json_is_string(e))
            json_object_set(out, "error", e);
        char *text = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        reply(res, 200, text);
    }
    evc_web_pending_done(pd);
}

static void get_history(const evc_web_request *req, evc_web_response *res, void *arg)
{
    driver_web *w = arg;
    char b[24], sid[DRIVER_SESSION_MAX], l[8];
    query_arg(req->query, "before", b, sizeof b);
    query_arg(req->query, "before_session_id", sid, sizeof sid);
    query_arg(req->query, "limit", l, sizeof l);
    long long before = b[0] ? strtoll(b, NULL, 10) : 0, limit = l[0] ? strtoll(l, NULL, 10) : 20;
    if (!driver_fsm_central_alive(w->a->fsm)) {
        evc_web_respond_error(res, 503, "Unable to connect to CENTRAL");
        return;
    }
    if (driver_fsm_auth(w->a->fsm, NULL) <= 0) {
        evc_web_respond_error(res, 503, "EV_Driver is not logged in to CENTRAL yet");
        return;
    }
    evc_web_pending *pd = evc_web_defer(res);
    if (!pd) {
        evc_web_respond_error(res, 500, "out of memory");
        return;
    }
    evc_error err = {0};
    if (driver_history_ask(w->a, before, sid, limit < 1 ? 1 : limit > 50 ? 50 : limit,
                           history_done, pd, &err) != EVC_OK) {
        evc_web_respond_error(evc_web_pending_res(pd), 503, "Unable to connect to CENTRAL");
        evc_web_pending_done(pd);
    }
}

int driver_web_feed_start(driver_web *w, evc_error *err)
{
    int rc = evc_web_ws_channel(w->web, DRIVER_WEB_CHANNEL, NULL, on_open, w, err);
    if (rc == EVC_OK)
        rc = evc_web_route(w->web, "POST", "/api/request", post_request, w, err);
    if (rc == EVC_OK)
        rc = evc_web_route(w->web, "POST", "/api/stop", post_stop, w, err);
    if (rc == EVC_OK)
        rc = evc_web_route(w->web, "GET", "/api/history", get_history, w, err);
    return rc;
}

void driver_web_feed_free(driver_web *w)
{
    free(w->cps);
    free(w->status);
    w->cps = w->status = NULL;
}
