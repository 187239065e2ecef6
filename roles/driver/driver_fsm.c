/* driver_fsm.c: events and time of the driver's FSM (see driver_fsm.h). */
#include "driver_fsm_internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"

#define LOG_IDS(f, sess) (&(evc_log_ids){.driver = (f)->driver_id, .correlation = (sess)})

void driver_fsm_say(driver_fsm *f, driver_line_kind kind, const char *fmt, ...)
{
    char line[DRIVER_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (f->ops.print)
        f->ops.print(f->ops.arg, kind, line);
}

const char *driver_fsm_cp_words(const char *cp_id)
{
    return cp_id && strcmp(cp_id, DRIVER_ANY_CP) == 0 ? DRIVER_ANY_WORDS : cp_id ? cp_id : "";
}

static void say_line(driver_fsm *f, driver_line_kind kind, const char *line)
{
    if (f->ops.print)
        f->ops.print(f->ops.arg, kind, line);
}

driver_fsm *driver_fsm_new(const driver_fsm_config *cfg, const driver_fsm_ops *ops)
{
    driver_fsm *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->cfg = *cfg;
    snprintf(f->driver_id, sizeof f->driver_id, "%s", cfg->driver_id ? cfg->driver_id : "");
    f->cfg.driver_id = f->driver_id;
    f->ops = *ops;
    return f;
}

void driver_fsm_free(driver_fsm *f)
{
    if (!f)
        return;
    free(f->known);
    free(f->services);
    free(f->records);
    free(f->tickets);
    free(f);
}

int driver_fsm_set_services(driver_fsm *f, const driver_services *s)
{
    for (size_t i = 0; i < s->nproblems; i++)
        say_line(f, DRIVER_LINE_WARN, s->problems[i]);
    free(f->services);
    f->services = NULL;
    if (s->count) {
        f->services = malloc(s->count * sizeof *f->services);
        if (!f->services)
            return EVC_ENOMEM;
        memcpy(f->services, s->entries, s->count * sizeof *f->services);
    }
    f->nservices = s->count;
    f->next_service = 0;
    snprintf(f->services_file, sizeof f->services_file, "%s", s->file);
    f->run_active = true;
    driver_fsm_say(f, DRIVER_LINE_INFO, "Services file %s: %zu CP ids to request", s->file,
                   s->count);
    return EVC_OK;
}

static driver_record *record_find(driver_fsm *f, const char *session)
{
    for (size_t i = f->nrecords; i-- > 0;)
        if (strcmp(f->records[i].session_id, session) == 0)
            return &f->records[i];
    return NULL;
}

static driver_record *record_add(driver_fsm *f, const char *session, const char *cp, bool counted)
{
    driver_record *r = realloc(f->records, (f->nrecords + 1) * sizeof *r);
    if (!r)
        return NULL;
    f->records = r;
    r += f->nrecords++;
    memset(r, 0, sizeof *r);
    snprintf(r->session_id, sizeof r->session_id, "%s", session);
    snprintf(r->cp_id, sizeof r->cp_id, "%s", cp ? cp : "");
    r->counted = counted;
    return r;
}

static bool ticket_seen(const driver_fsm *f, const char *session)
{
    for (size_t i = 0; i < f->ntickets; i++)
        if (strcmp(f->tickets[i].session_id, session) == 0)
            return true;
    return false;
}

static bool cp_known(const driver_fsm *f, const char *cp)
{
    for (size_t i = 0; i < f->nknown; i++)
        if (strcmp(f->known[i], cp) == 0)
            return true;
    return false;
}

/* The current request is over: record its outcome; with a services file,
 * the next one waits wait_between_ms (F12). */
static void finish(driver_fsm *f, uint64_t now, driver_outcome out)
{
    driver_record *r = record_find(f, f->session_id);
    if (r && r->outcome != DRIVER_OUT_OK)
        r->outcome = out;
    evc_log(EVC_LOG_INFO, "driver", LOG_IDS(f, f->session_id), "request at %s ended: %s",
            f->cp_id, out == DRIVER_OUT_OK ? "ok" : out == DRIVER_OUT_DENIED ? "denied" : "failed");
    bool services = f->from_services;
    f->state = DRIVER_REQ_IDLE;
    f->session_id[0] = '\0';
    f->cp_id[0] = '\0';
    f->deadline_ms = 0;
    f->from_services = false;
    if (services || f->run_active) {
        f->next_at_ms = now + f->cfg.wait_between_ms;
        if (f->run_active && f->next_service < f->nservices)
            driver_fsm_say(f, DRIVER_LINE_INFO, "Next request in %" PRIu64 " ms (%zu left)",
                           f->cfg.wait_between_ms, f->nservices - f->next_service);
    }
}

void driver_fsm_request_make(driver_fsm *f, uint64_t now, const char *cp, bool services)
{
    char sid[DRIVER_SESSION_MAX] = "";
    if (!f->ops.new_session || f->ops.new_session(f->ops.arg, sid) != EVC_OK || !*sid) {
        driver_fsm_say(f, DRIVER_LINE_BAD, "Cannot request %s: no correlation id available",
                       driver_fsm_cp_words(cp));
        return;
    }
    if (!record_add(f, sid, cp, true)) {
        driver_fsm_say(f, DRIVER_LINE_BAD, "Cannot request %s: out of memory",
                       driver_fsm_cp_words(cp));
        return;
    }
    snprintf(f->session_id, sizeof f->session_id, "%s", sid);
    snprintf(f->cp_id, sizeof f->cp_id, "%s", cp);
    f->state = DRIVER_REQ_QUEUED;
    f->from_services = services;
    f->service_line = 0;
    f->deadline_ms = f->alive ? now + f->cfg.request_timeout_ms : 0;
    evc_log(EVC_LOG_INFO, "driver", LOG_IDS(f, sid), "request made for %s", cp);
    if (!f->alive || !f->auth_answered)
        driver_fsm_say(f, DRIVER_LINE_WARN, "Waiting for CENTRAL before requesting %s",
                       driver_fsm_cp_words(cp));
}

/* Sends what can be sent now: hello, then a queued request. */
void driver_fsm_pump(driver_fsm *f, uint64_t now)
{
    if (!f->alive)
        return;
    if (f->hello_retry_ms && now >= f->hello_retry_ms) {
        f->hello_retry_ms = 0;
        f->hello_needed = true;
    }
    if (f->hello_needed || (!f->auth_answered && f->hello_sent &&
                            now >= f->hello_sent_ms + f->cfg.request_timeout_ms)) {
        if (!f->hello_needed)
            evc_log(EVC_LOG_WARN, "driver", LOG_IDS(f, NULL),
                    "no driver.auth_reply within %" PRIu64 " ms; sending driver.hello again",
                    f->cfg.request_timeout_ms);
        if (f->ops.send(f->ops.arg, DRIVER_SEND_HELLO, NULL, NULL) == EVC_OK) {
            f->hello_needed = false;
            f->hello_sent = true;
            f->hello_sent_ms = now;
        }
    }
    if (f->state == DRIVER_REQ_QUEUED && f->auth_answered) {
        if (f->ops.send(f->ops.arg, DRIVER_SEND_REQUEST, f->cp_id, f->session_id) == EVC_OK) {
            f->state = DRIVER_REQ_SENT;
            f->deadline_ms = now + f->cfg.request_timeout_ms;
            driver_fsm_say(f, DRIVER_LINE_INFO, "Sent request for %s (session %s)",
                           driver_fsm_cp_words(f->cp_id), f->session_id);
        }
    }
}

/* The services file: next id when idle and the wait is over; summary at
 * the end. */
static void run_step(driver_fsm *f, uint64_t now)
{
    if (!f->run_active || f->state != DRIVER_REQ_IDLE)
        return;
    /* F12's wait is before the next request; the summary needs none. */
    if (f->next_service < f->nservices && now < f->next_at_ms)
        return;
    if (!f->run_begun) {
        /* Begin after CENTRAL answered the hello, and (when the list of CPs
         * is used to skip unknown ids) after driver.cps or a timeout. */
        if (!f->ever_answered)
            return;
        if (f->cfg.skip_unknown_cps && f->auth_ok && !f->cps_known &&
            now < f->auth_answered_ms + f->cfg.request_timeout_ms)
            return;
        f->run_begun = true;
    }
    while (f->next_service < f->nservices) {
        const driver_service *s = &f->services[f->next_service++];
        if (f->cfg.skip_unknown_cps && f->cps_known && !cp_known(f, s->cp_id)) {
            driver_fsm_say(f, DRIVER_LINE_WARN,
                           "%s:%u: unknown CP id '%s' (not listed by CENTRAL); skipped",
                           f->services_file, s->line, s->cp_id);
            continue;
        }
        driver_fsm_request_make(f, now, s->cp_id, true);
        if (f->state == DRIVER_REQ_QUEUED) {
            f->service_line = s->line;
            return;
        }
    }
    unsigned ok, denied, failed;
    int64_t wh, cents;
    driver_fsm_totals(f, &ok, &denied, &failed, &wh, &cents);
    char line[DRIVER_LINE_MAX];
    say_line(f, DRIVER_LINE_INFO, driver_fmt_summary(ok, denied, failed, wh, cents, line,
                                                     sizeof line));
    f->run_active = false;
    if (f->cfg.exit_when_done && f->ops.done)
        f->ops.done(f->ops.arg, 0);
}

static void check_deadline(driver_fsm *f, uint64_t now)
{
    if (!f->alive || !f->deadline_ms || now < f->deadline_ms)
        return;
    switch (f->state) {
    case DRIVER_REQ_QUEUED:
    case DRIVER_REQ_SENT:
        driver_fsm_say(f, DRIVER_LINE_BAD,
                       "No answer from CENTRAL for %s within %" PRIu64 " ms; request failed",
                       driver_fsm_cp_words(f->cp_id), f->cfg.request_timeout_ms);
        finish(f, now, DRIVER_OUT_FAILED);
        break;
    case DRIVER_REQ_ENDING:
        driver_fsm_say(f, DRIVER_LINE_WARN,
                       "No ticket from CENTRAL for %s within %" PRIu64
                       " ms; it will be shown when CENTRAL sends it",
                       driver_fsm_cp_words(f->cp_id), f->cfg.request_timeout_ms);
        finish(f, now, DRIVER_OUT_FAILED);
        break;
    default:
        f->deadline_ms = 0;
        break;
    }
}

void driver_fsm_start(driver_fsm *f, uint64_t now)
{
    f->started = true;
    f->started_ms = now;
    driver_fsm_tick(f, now);
}

bool driver_fsm_started(const driver_fsm *f) { return f->started; }

void driver_fsm_bus_joining(driver_fsm *f) { f->bus_joining = true; }

void driver_fsm_bus_live(driver_fsm *f, uint64_t now)
{
    if (!f->bus_joining)
        return;
    f->bus_joining = false;
    f->bus_live_ms = now;
}

void driver_fsm_tick(driver_fsm *f, uint64_t now)
{
    if (!f->started)
        return;
    uint64_t since = f->ever_seen ? f->last_hb_ms : f->started_ms;
    uint64_t limit = f->cfg.central_timeout_ms;
    if (!f->ever_seen && f->bus_joining)
        limit *= DRIVER_JOIN_FACTOR; /* the bus itself may still be joining */
    else if (!f->ever_seen && f->bus_live_ms > since)
        since = f->bus_live_ms; /* silence counts from when the bus delivers */
    if ((f->alive || !f->ever_seen) && now >= since + limit) {
        if (f->alive)
            evc_log(EVC_LOG_WARN, "driver", LOG_IDS(f, NULL),
                    "no central.heartbeat for %" PRIu64 " ms", now - since);
        f->alive = false;
        f->auth_answered = false;
        if (f->deadline_ms)
            f->deadline_ms = 0; /* paused while CENTRAL is away */
        if (!f->lost_reported) {
            f->lost_reported = true;
            say_line(f, DRIVER_LINE_BAD, "Unable to connect to CENTRAL");
        }
    }
    check_deadline(f, now);
    driver_fsm_pump(f, now);
    run_step(f, now);
    driver_fsm_pump(f, now);
}

void driver_fsm_heartbeat(driver_fsm *f, uint64_t now, int64_t started_at)
{
    bool restarted = started_at > 0 && f->central_started_at > 0 &&
                     started_at != f->central_started_at;
    if (started_at > 0)
        f->central_started_at = started_at;
    f->last_hb_ms = now;
    f->ever_seen = true;
    if (!f->alive || restarted) {
        if (f->lost_reported)
            say_line(f, DRIVER_LINE_GOOD, "CENTRAL is back");
        else if (restarted)
            evc_log(EVC_LOG_INFO, "driver", LOG_IDS(f, NULL),
                    "CENTRAL restarted (started_at changed); authenticating again");
        f->lost_reported = false;
        f->alive = true;
        f->auth_answered = false;
        f->hello_needed = true;
        if (f->state == DRIVER_REQ_QUEUED || f->state == DRIVER_REQ_SENT ||
            f->state == DRIVER_REQ_ENDING)
            f->deadline_ms = now + f->cfg.request_timeout_ms;
    }
    if (f->started)
        driver_fsm_pump(f, now);
}

static void say_authenticated(driver_fsm *f)
{
    char eur[32];
    if (f->balance_known)
        driver_fsm_say(f, DRIVER_LINE_GOOD, "Authenticated as %s (balance EUR %s)",
                       f->driver_id, driver_fmt_eur(f->balance_cents, eur, sizeof eur));
    else
        driver_fsm_say(f, DRIVER_LINE_GOOD, "Authenticated as %s", f->driver_id);
}

/* After a login: the supply in progress and unacknowledged tickets (sync),
 * and the CP list. */
static void send_sync_and_list(driver_fsm *f)
{
    f->ops.send(f->ops.arg, DRIVER_SEND_SYNC, NULL, NULL);
    f->ops.send(f->ops.arg, DRIVER_SEND_LIST, NULL, NULL);
}

void driver_fsm_auth_reply(driver_fsm *f, uint64_t now, bool ok, const char *reason,
                           const int64_t *balance_cents)
{
    if (f->auth_answered) {
        /* Not an answer to a hello of ours still open (a duplicate, the
         * answer to a retried hello): nothing to announce. */
        evc_log(EVC_LOG_DEBUG, "driver", LOG_IDS(f, NULL), "extra driver.auth_reply ignored");
        return;
    }
    if (!ok && reason && strcmp(reason, "busy") == 0) {
        /* Central had too many logins to check at once (a flood, maybe not
         * ours): not a verdict on the password. Ask again shortly. */
        driver_fsm_say(f, DRIVER_LINE_WARN,
                       "CENTRAL is busy checking logins: trying again in a second");
        f->hello_retry_ms = now + DRIVER_BUSY_RETRY_MS;
        return;
    }
    f->auth_answered = true;
    f->ever_answered = true;
    f->auth_ok = ok;
    f->auth_answered_ms = now;
    driver_sanitize(f->auth_reason, sizeof f->auth_reason, reason && *reason ? reason : "refused");
    if (balance_cents) {
        f->balance_cents = *balance_cents;
        f->balance_known = true;
    }
    if (ok) {
        say_authenticated(f);
        send_sync_and_list(f);
    } else {
        char words[2 * DRIVER_TEXT_MAX + 4];
        driver_fsm_say(f, DRIVER_LINE_BAD, "Authentication failed for %s: %s", f->driver_id,
                       driver_fmt_reason(f->auth_reason, NULL, words, sizeof words));
    }
    if (f->started) {
        driver_fsm_pump(f, now);
        run_step(f, now);
        driver_fsm_pump(f, now);
    }
}

void driver_fsm_cps(driver_fsm *f, uint64_t now, const driver_cp *cps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!evc_id_valid(cps[i].cp_id) || cp_known(f, cps[i].cp_id))
            continue;
        char(*k)[DRIVER_ID_MAX + 1] = realloc(f->known, (f->nknown + 1) * sizeof *k);
        if (!k)
            break;
        f->known = k;
        snprintf(f->known[f->nknown++], DRIVER_ID_MAX + 1, "%s", cps[i].cp_id);
    }
    f->cps_known = true;
    if (f->list_wanted) {
        f->list_wanted = false;
        /* CENTRAL lists every CP whatever its state: count only those a
         * request can go to now, and name each state as SPEC section 3. */
        size_t usable = 0;
        for (size_t i = 0; i < n; i++)
            usable += driver_cp_usable(cps[i].state);
        char listed[48];
        driver_fsm_say(f, DRIVER_LINE_INFO, "CPs you can use now: %zu (%s listed)", usable,
                       driver_fmt_count(n, "CP", "CPs", listed, sizeof listed));
        for (size_t i = 0; i < n; i++) {
            char id[DRIVER_ID_MAX + 1], loc[DRIVER_TEXT_MAX], st[40], price[32];
            driver_sanitize(id, sizeof id, cps[i].cp_id ? cps[i].cp_id : "?");
            driver_sanitize(loc, sizeof loc, cps[i].location ? cps[i].location : "");
            const char *words = driver_cp_state_text(cps[i].state);
            driver_sanitize(st, sizeof st, words ? words : cps[i].state ? cps[i].state : "?");
            driver_fsm_say(f, DRIVER_LINE_INFO, "  %-10s %-14s EUR %s/kWh  %s", id, st,
                           driver_fmt_eur(cps[i].price_cents_per_kwh, price, sizeof price), loc);
        }
    }
    if (f->started)
        run_step(f, now), driver_fsm_pump(f, now);
}

/* A message about a session we are not following: adopt it when idle (a
 * supply that runs since before this process started, R32). */
static bool adopt(driver_fsm *f, const char *cp_id, const char *session_id)
{
    if (f->state != DRIVER_REQ_IDLE || !session_id || !*session_id || ticket_seen(f, session_id))
        return false;
    /* A request given up for lack of an answer may still have reached
     * CENTRAL (a slow or restarted CENTRAL): follow it when it shows up. */
    driver_record *r = record_find(f, session_id);
    if (r && r->outcome != DRIVER_OUT_FAILED)
        return false;
    if (!r && !record_add(f, session_id, cp_id, false))
        return false;
    snprintf(f->session_id, sizeof f->session_id, "%s", session_id);
    snprintf(f->cp_id, sizeof f->cp_id, "%s", cp_id ? cp_id : "");
    f->state = DRIVER_REQ_ACTIVE;
    f->from_services = false;
    evc_log(EVC_LOG_INFO, "driver", LOG_IDS(f, session_id), "following supply at %s",
            f->cp_id);
    return true;
}

static bool is_current(const driver_fsm *f, const char *session_id)
{
    return f->state != DRIVER_REQ_IDLE && session_id && strcmp(f->session_id, session_id) == 0;
}

/* A request for any free CP learns its CP from CENTRAL's first message that
 * names one. */
static void learn_cp(driver_fsm *f, const char *cp_id)
{
    if (strcmp(f->cp_id, DRIVER_ANY_CP) != 0 || !evc_id_valid(cp_id))
        return;
    snprintf(f->cp_id, sizeof f->cp_id, "%s", cp_id);
    driver_record *r = record_find(f, f->session_id);
    if (r)
        snprintf(r->cp_id, sizeof r->cp_id, "%s", cp_id);
}

void driver_fsm_update(driver_fsm *f, uint64_t now, const char *cp_id, const char *session_id,
                       const char *step, const char *reason, const char *text)
{
    char line[DRIVER_LINE_MAX];
    step = step ? step : "";
    bool denied = strcmp(step, "denied") == 0;
    bool ending = strcmp(step, "ended") == 0 || strcmp(step, "interrupted") == 0;
    driver_line_kind kind = denied ? DRIVER_LINE_BAD
                            : strcmp(step, "interrupted") == 0 ? DRIVER_LINE_WARN
                            : (strcmp(step, "authorised") == 0 || strcmp(step, "supplying") == 0 ||
                               strcmp(step, "plug_in") == 0)
                                ? DRIVER_LINE_GOOD
                                : DRIVER_LINE_INFO;
    if (strcmp(step, "stop_refused") == 0) {
        /* The answer to a stop that changed nothing: never a supply to
         * follow, whatever the session id it names. */
        char words[2 * DRIVER_TEXT_MAX + 4];
        driver_fsm_say(f, DRIVER_LINE_WARN, "Stop refused by CENTRAL: %s",
                       driver_fmt_reason(reason, text, words, sizeof words));
        return;
    }
    const char *shown = cp_id && *cp_id ? driver_fsm_cp_words(cp_id) : cp_id;
    say_line(f, kind, driver_fmt_step(step, shown, reason, text, line, sizeof line));
    evc_log(EVC_LOG_INFO, "driver", LOG_IDS(f, session_id), "%s at %s%s%s", step,
            cp_id ? cp_id : "?", reason && *reason ? ": " : "", reason ? reason : "");
    if (is_current(f, session_id))
        learn_cp(f, cp_id);
    if (!is_current(f, session_id)) {
        if (denied && session_id) {
            driver_record *r = record_find(f, session_id);
            if (r && r->outcome != DRIVER_OUT_OK)
                r->outcome = DRIVER_OUT_DENIED;
            return;
        }
        if (!adopt(f, cp_id, session_id))
            return;
    }
    if (denied) {
        /* Report an unknown id of the services file where it is written. */
        if (f->from_services && f->service_line && reason && strcmp(reason, "unknown_cp") == 0)
            driver_fsm_say(f, DRIVER_LINE_WARN, "%s:%u: unknown CP id '%s' (CENTRAL: unknown_cp)",
                           f->services_file, f->service_line, f->cp_id);
        finish(f, now, DRIVER_OUT_DENIED);
    } else if (ending) {
        f->state = DRIVER_REQ_ENDING;
        f->deadline_ms = f->alive ? now + f->cfg.request_timeout_ms : 0;
    } else if (f->state != DRIVER_REQ_ENDING) {
        f->state = DRIVER_REQ_ACTIVE;
        f->deadline_ms = 0;
    }
}

void driver_fsm_telemetry(driver_fsm *f, uint64_t now, const char *cp_id, const char *session_id,
                          int64_t w, int64_t wh, int64_t cents)
{
    char line[DRIVER_LINE_MAX];
    say_line(f, DRIVER_LINE_INFO, driver_fmt_telemetry(cp_id, w, wh, cents, line, sizeof line));
    if (!is_current(f, session_id) && !adopt(f, cp_id, session_id))
        return;
    learn_cp(f, cp_id);
    if (f->state == DRIVER_REQ_QUEUED || f->state == DRIVER_REQ_SENT) {
        f->state = DRIVER_REQ_ACTIVE;
        f->deadline_ms = 0;
    }
}

void driver_fsm_ticket(driver_fsm *f, uint64_t now, const driver_ticket *t)
{
    /* Acknowledge every copy: CENTRAL re-sends until it hears the ack. */
    f->ops.send(f->ops.arg, DRIVER_SEND_ACK, t->cp_id, t->session_id);
    if (ticket_seen(f, t->session_id)) {
        evc_log(EVC_LOG_DEBUG, "driver", LOG_IDS(f, t->session_id),
                "ticket already shown; acknowledged again");
        return;
    }
    driver_ticket *n = realloc(f->tickets, (f->ntickets + 1) * sizeof *n);
    if (n) {
        f->tickets = n;
        f->tickets[f->ntickets++] = *t;
    }
    if (t->has_balance) {
        f->balance_cents = t->balance_cents;
        f->balance_known = true;
    }
    char line[DRIVER_LINE_MAX];
    say_line(f, DRIVER_LINE_GOOD, driver_fmt_ticket(t, line, sizeof line));
    driver_record *r = record_find(f, t->session_id);
    if (!r)
        r = record_add(f, t->session_id, t->cp_id, false);
    if (r) {
        r->outcome = DRIVER_OUT_OK;
        r->wh = t->wh;
        r->cents = t->cents;
    }
    if (is_current(f, t->session_id))
        finish(f, now, DRIVER_OUT_OK);
    if (f->started)
        run_step(f, now), driver_fsm_pump(f, now);
}

void driver_fsm_login_ok(driver_fsm *f, uint64_t now, const int64_t *balance_cents)
{
    bool was_ok = f->auth_answered && f->auth_ok;
    f->hello_retry_ms = 0;
    f->auth_answered = true;
    f->ever_answered = true;
    f->auth_ok = true;
    f->auth_answered_ms = now;
    f->auth_reason[0] = '\0';
    if (balance_cents) {
        f->balance_cents = *balance_cents;
        f->balance_known = true;
    }
    if (!was_ok)
        say_authenticated(f);
    /* A new login session: CENTRAL re-sends the supply in progress and the
     * tickets not acknowledged, as after any login. */
    send_sync_and_list(f);
    if (f->started) {
        driver_fsm_pump(f, now);
        run_step(f, now);
        driver_fsm_pump(f, now);
    }
}
