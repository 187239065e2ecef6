/* driver_fsm_cmd.c: user commands and read-only views of the FSM. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "driver_fsm_internal.h"

const char *driver_req_state_name(driver_req_state s)
{
    switch (s) {
    case DRIVER_REQ_IDLE: return "idle";
    case DRIVER_REQ_QUEUED: return "waiting for CENTRAL";
    case DRIVER_REQ_SENT: return "sent";
    case DRIVER_REQ_ACTIVE: return "in progress";
    case DRIVER_REQ_ENDING: return "ended, waiting for the ticket";
    }
    return "?";
}

driver_cmd_rc driver_fsm_cmd_request(driver_fsm *f, uint64_t now, const char *cp_id)
{
    char shown[DRIVER_ID_MAX + 1];
    driver_sanitize(shown, sizeof shown, cp_id ? cp_id : "");
    bool any = cp_id && (strcmp(cp_id, DRIVER_ANY_CP) == 0 || strcmp(cp_id, "any") == 0);
    if (!any && !evc_id_valid(cp_id)) {
        driver_fsm_say(f, DRIVER_LINE_BAD,
                       "Invalid CP id '%s' (expected letters, digits, '_', '.', '-', at most 64)",
                       shown);
        return DRIVER_CMD_INVALID;
    }
    if (f->state != DRIVER_REQ_IDLE) {
        driver_fsm_say(f, DRIVER_LINE_WARN, "A request is already in progress at %s (%s)",
                       driver_fsm_cp_words(f->cp_id), driver_req_state_name(f->state));
        return DRIVER_CMD_BUSY;
    }
    if (f->run_active) {
        driver_fsm_say(f, DRIVER_LINE_WARN,
                       "The services file is running (%zu left); request %s when it ends",
                       f->nservices - f->next_service, any ? DRIVER_ANY_WORDS : shown);
        return DRIVER_CMD_RUNNING;
    }
    /* Same path as a services-file entry, without the wait afterwards. */
    driver_fsm_request_make(f, now, any ? DRIVER_ANY_CP : cp_id, false);
    driver_fsm_pump(f, now);
    return f->state == DRIVER_REQ_IDLE ? DRIVER_CMD_FAILED : DRIVER_CMD_OK;
}

driver_cmd_rc driver_fsm_cmd_stop(driver_fsm *f, uint64_t now)
{
    (void)now;
    const char *cp = driver_fsm_cp_words(f->cp_id);
    switch (f->state) {
    case DRIVER_REQ_IDLE:
        driver_fsm_say(f, DRIVER_LINE_WARN, "No supply in progress to stop");
        return DRIVER_CMD_NONE;
    case DRIVER_REQ_QUEUED:
        driver_fsm_say(f, DRIVER_LINE_WARN,
                       "The request for %s is not sent yet (waiting for CENTRAL); nothing to stop",
                       cp);
        return DRIVER_CMD_NONE;
    case DRIVER_REQ_ENDING:
        driver_fsm_say(f, DRIVER_LINE_WARN,
                       "The supply at %s has already ended; waiting for the ticket", cp);
        return DRIVER_CMD_NONE;
    case DRIVER_REQ_SENT:
    case DRIVER_REQ_ACTIVE:
        break;
    }
    if (!f->alive) {
        driver_fsm_say(f, DRIVER_LINE_WARN, "CENTRAL is not reachable now; try stop again later");
        return DRIVER_CMD_AWAY;
    }
    if (f->ops.send(f->ops.arg, DRIVER_SEND_STOP, f->cp_id, f->session_id) != EVC_OK) {
        driver_fsm_say(f, DRIVER_LINE_BAD, "Could not ask CENTRAL to stop the supply at %s", cp);
        return DRIVER_CMD_FAILED;
    }
    driver_fsm_say(f, DRIVER_LINE_INFO, "Asked CENTRAL to stop the supply at %s (session %s)", cp,
                   f->session_id);
    return DRIVER_CMD_OK;
}

void driver_fsm_cmd_list(driver_fsm *f, uint64_t now)
{
    (void)now;
    f->list_wanted = true;
    if (!f->alive) {
        driver_fsm_say(f, DRIVER_LINE_WARN, "CENTRAL is not reachable now; try list again later");
        f->list_wanted = false;
        return;
    }
    if (f->ops.send(f->ops.arg, DRIVER_SEND_LIST, NULL, NULL) != EVC_OK) {
        driver_fsm_say(f, DRIVER_LINE_BAD, "Could not ask CENTRAL for the list of CPs");
        f->list_wanted = false;
    }
}

void driver_fsm_cmd_status(driver_fsm *f, uint64_t now)
{
    char eur[32], bal[40] = "unknown", req[160] = "none", run[80] = "none";
    if (f->balance_known)
        snprintf(bal, sizeof bal, "EUR %s", driver_fmt_eur(f->balance_cents, eur, sizeof eur));
    if (f->state != DRIVER_REQ_IDLE)
        snprintf(req, sizeof req, "%s %s", f->cp_id, driver_req_state_name(f->state));
    if (f->run_active)
        snprintf(run, sizeof run, "%zu of %zu done", f->next_service, f->nservices);
    else if (f->nservices)
        snprintf(run, sizeof run, "finished");
    const char *auth = !f->ever_answered ? "not yet"
                       : f->auth_ok      ? "yes"
                                         : f->auth_reason;
    driver_fsm_say(f, DRIVER_LINE_INFO,
                   "Status: driver %s, CENTRAL %s, authenticated %s, balance %s, request %s, "
                   "services %s",
                   f->driver_id, f->alive ? "connected" : "unreachable", auth, bal, req, run);
    (void)now;
}

void driver_fsm_cmd_history(driver_fsm *f)
{
    char eur[32], count[48];
    driver_fmt_count(f->ntickets, "ticket", "tickets", count, sizeof count);
    if (f->balance_known)
        driver_fsm_say(f, DRIVER_LINE_INFO, "History: %s, balance EUR %s", count,
                       driver_fmt_eur(f->balance_cents, eur, sizeof eur));
    else
        driver_fsm_say(f, DRIVER_LINE_INFO, "History: %s, balance unknown", count);
    for (size_t i = 0; i < f->ntickets; i++) {
        char line[DRIVER_LINE_MAX];
        driver_fsm_say(f, DRIVER_LINE_INFO, "  %s",
                       driver_fmt_ticket(&f->tickets[i], line, sizeof line));
    }
}

driver_req_state driver_fsm_state(const driver_fsm *f) { return f->state; }
const char *driver_fsm_session(const driver_fsm *f) { return f->session_id; }
const char *driver_fsm_cp(const driver_fsm *f) { return f->cp_id; }

int driver_fsm_auth(const driver_fsm *f, const char **reason)
{
    if (reason)
        *reason = f->auth_reason;
    return !f->ever_answered ? 0 : f->auth_ok ? 1 : -1;
}

bool driver_fsm_balance(const driver_fsm *f, int64_t *cents)
{
    *cents = f->balance_cents;
    return f->balance_known;
}

size_t driver_fsm_tickets(const driver_fsm *f, const driver_ticket **out)
{
    *out = f->tickets;
    return f->ntickets;
}
bool driver_fsm_central_alive(const driver_fsm *f) { return f->alive; }
bool driver_fsm_run_active(const driver_fsm *f) { return f->run_active; }

size_t driver_fsm_records(const driver_fsm *f, const driver_record **out)
{
    *out = f->records;
    return f->nrecords;
}

/* Totals come from bus data: saturate rather than overflow (UB) on absurd
 * values. */
static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

void driver_fsm_totals(const driver_fsm *f, unsigned *ok, unsigned *denied, unsigned *failed,
                       int64_t *wh, int64_t *cents)
{
    *ok = *denied = *failed = 0;
    *wh = *cents = 0;
    for (size_t i = 0; i < f->nrecords; i++) {
        const driver_record *r = &f->records[i];
        if (!r->counted)
            continue;
        if (r->outcome == DRIVER_OUT_OK) {
            (*ok)++;
            *wh = sat_add(*wh, r->wh);
            *cents = sat_add(*cents, r->cents);
        } else if (r->outcome == DRIVER_OUT_DENIED) {
            (*denied)++;
        } else if (r->outcome == DRIVER_OUT_FAILED) {
            (*failed)++;
        }
    }
}
