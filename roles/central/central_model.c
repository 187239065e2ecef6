/* central_model.c: see central_model.h. */
#include "central_model.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

central_cp_state central_derive_state(const central_cp_facts *f, uint64_t now_ms,
                                      uint64_t timeout_ms)
{
    if (!f->heard || now_ms - f->last_hb_ms > timeout_ms)
        return CENTRAL_CP_DISCONNECTED;
    if (f->health != CENTRAL_HEALTH_OK || f->fault_reported)
        return CENTRAL_CP_BROKEN;
    if (f->stopped)
        return CENTRAL_CP_STOPPED;
    if (f->has_supply)
        return CENTRAL_CP_SUPPLYING;
    return CENTRAL_CP_ACTIVATED;
}

const char *central_cp_state_name(central_cp_state st)
{
    switch (st) {
    case CENTRAL_CP_DISCONNECTED: return "DISCONNECTED";
    case CENTRAL_CP_BROKEN: return "BROKEN";
    case CENTRAL_CP_STOPPED: return "STOPPED";
    case CENTRAL_CP_SUPPLYING: return "SUPPLYING";
    case CENTRAL_CP_ACTIVATED: return "ACTIVATED";
    }
    return "?";
}

const char *central_cp_state_text(central_cp_state st)
{
    return st == CENTRAL_CP_STOPPED ? "Out of Order" : central_cp_state_name(st);
}

const char *central_cp_state_color(central_cp_state st)
{
    /* A coloured block (background, bold light text; black on orange), in
     * the dashboard's colours (web/shared/evc.css) as near as the 256-colour
     * palette gets: colour is never only the text's. */
    switch (st) {
    case CENTRAL_CP_ACTIVATED: return "\x1b[1;97;48;5;28m";    /* green */
    case CENTRAL_CP_SUPPLYING: return "\x1b[1;97;48;5;22m";    /* dark green */
    case CENTRAL_CP_STOPPED: return "\x1b[1;30;48;5;208m";     /* orange */
    case CENTRAL_CP_BROKEN: return "\x1b[1;97;48;5;160m";      /* red */
    case CENTRAL_CP_DISCONNECTED: return "\x1b[1;97;48;5;241m"; /* grey */
    }
    return "";
}

int central_health_parse(const char *text, central_health *out)
{
    if (!text)
        return -1;
    if (strcmp(text, "OK") == 0)
        *out = CENTRAL_HEALTH_OK;
    else if (strcmp(text, "KO") == 0)
        *out = CENTRAL_HEALTH_KO;
    else if (strcmp(text, "UNREACHABLE") == 0)
        *out = CENTRAL_HEALTH_UNREACHABLE;
    else
        return -1;
    return 0;
}

const char *central_health_name(central_health h)
{
    return h == CENTRAL_HEALTH_OK ? "OK" : h == CENTRAL_HEALTH_KO ? "KO" : "UNREACHABLE";
}

const char *central_check_request(const central_request_facts *f)
{
    if (!f->driver_known)
        return "unknown_driver";
    if (f->check_authentication && !f->driver_authenticated)
        return "not_authenticated";
    if (!f->cp_known)
        return "unknown_cp";
    switch (f->cp_state) {
    case CENTRAL_CP_DISCONNECTED: return "cp_disconnected";
    case CENTRAL_CP_BROKEN: return "cp_broken";
    case CENTRAL_CP_STOPPED: return "cp_stopped";
    case CENTRAL_CP_SUPPLYING: return "cp_busy";
    case CENTRAL_CP_ACTIVATED: break;
    }
    if (f->driver_busy)
        return "driver_busy";
    if (f->balance_cents < f->min_balance_cents)
        return "balance_too_low";
    return NULL;
}

const char *central_reason_text(const char *reason)
{
    static const struct {
        const char *reason, *text;
    } texts[] = {
        {"unknown_driver", "unknown driver"},
        {"not_authenticated", "driver not authenticated: wrong or missing password"},
        {"unknown_cp", "unknown charging point"},
        {"cp_disconnected", "charging point disconnected"},
        {"cp_broken", "charging point broken (fault)"},
        {"cp_stopped", "charging point out of order (stopped by the operator)"},
        {"cp_busy", "charging point busy with another supply"},
        {"driver_busy", "driver already has a supply in progress"},
        {"balance_too_low", "balance below the minimum"},
        {"cp_refused", "the charging point refused"},
        {"cp_no_answer", "the charging point did not answer"},
        {"fault", "charging point fault"},
        {"monitor_lost", "charging point monitor lost"},
        {"stopped", "stopped by the operator"},
        {"reset", "the charging point was reset by the operator"},
        {"cancelled", "cancelled by CENTRAL"},
        {"balance_floor", "stopped: your balance reached its limit"},
        {"driver_stop", "stopped by the driver"},
        {"no_free_cp", "no free charging point"},
        {"unknown_session", "no supply of yours has that session id"},
        {"session_ended", "that supply has already ended"},
    };
    for (size_t i = 0; reason && i < sizeof texts / sizeof *texts; i++)
        if (strcmp(texts[i].reason, reason) == 0)
            return texts[i].text;
    return reason ? reason : "";
}

/* Next blank-separated word of *p into w (cap bytes); false at the end. A
 * word longer than cap is reported by leaving w truncated and *toolong set. */
static bool next_word(const char **p, char *w, size_t cap, bool *toolong)
{
    const char *s = *p;
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    if (!*s)
        return false;
    size_t n = 0;
    while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') {
        if (n + 1 < cap)
            w[n++] = *s;
        else
            *toolong = true;
        s++;
    }
    w[n] = '\0';
    *p = s;
    return true;
}

void central_cmd_parse(const char *line, central_cmd *out)
{
    memset(out, 0, sizeof *out);
    const char *p = line ? line : "";
    char verb[16], arg[66], extra[8];
    bool toolong = false;
    if (!next_word(&p, verb, sizeof verb, &toolong)) {
        out->kind = CENTRAL_CMD_EMPTY;
        return;
    }
    bool has_arg = next_word(&p, arg, sizeof arg, &toolong);
    bool has_extra = next_word(&p, extra, sizeof extra, &toolong);
    bool stop = strcasecmp(verb, "stop") == 0, resume = strcasecmp(verb, "resume") == 0;
    if (stop || resume) {
        out->kind = stop ? CENTRAL_CMD_STOP : CENTRAL_CMD_RESUME;
        if (!has_arg || has_extra) {
            out->kind = CENTRAL_CMD_ERROR;
            snprintf(out->error, sizeof out->error, "usage: %s <CP_ID>|all", stop ? "stop" : "resume");
        } else if (strcasecmp(arg, "all") == 0) {
            out->all = true;
        } else if (toolong || !evc_id_valid(arg)) {
            out->kind = CENTRAL_CMD_ERROR;
            snprintf(out->error, sizeof out->error, "not a CP id: %.64s", arg);
        } else {
            snprintf(out->target, sizeof out->target, "%.64s", arg);
        }
        return;
    }
    if (strcasecmp(verb, "reset") == 0) {
        /* One CP at a time: a reset of every charger at once is not an
         * operator's slip the terminal should make one word away. */
        out->kind = CENTRAL_CMD_RESET;
        out->hard = has_extra && strcasecmp(extra, "hard") == 0;
        if (!has_arg || strcasecmp(arg, "all") == 0 ||
            next_word(&p, verb, sizeof verb, &toolong) ||
            (has_extra && !out->hard && strcasecmp(extra, "soft") != 0)) {
            out->kind = CENTRAL_CMD_ERROR;
            snprintf(out->error, sizeof out->error, "usage: reset <CP_ID> [soft|hard]");
        } else if (toolong || !evc_id_valid(arg)) {
            out->kind = CENTRAL_CMD_ERROR;
            snprintf(out->error, sizeof out->error, "not a CP id: %.64s", arg);
        } else {
            snprintf(out->target, sizeof out->target, "%.64s", arg);
        }
        return;
    }
    central_cmd_kind k = CENTRAL_CMD_ERROR;
    if (strcasecmp(verb, "list") == 0)
        k = CENTRAL_CMD_LIST;
    else if (strcasecmp(verb, "help") == 0 || strcmp(verb, "?") == 0)
        k = CENTRAL_CMD_HELP;
    else if (strcasecmp(verb, "quit") == 0 || strcasecmp(verb, "exit") == 0)
        k = CENTRAL_CMD_QUIT;
    if (k == CENTRAL_CMD_ERROR || toolong) {
        out->kind = CENTRAL_CMD_ERROR;
        snprintf(out->error, sizeof out->error, "unknown command: %.15s (type help)", verb);
    } else if (has_arg) {
        out->kind = CENTRAL_CMD_ERROR;
        snprintf(out->error, sizeof out->error, "%s takes no argument", verb);
    } else {
        out->kind = k;
    }
}

void central_fmt_eur(char *buf, size_t cap, int64_t cents)
{
    const char *sign = cents < 0 ? "-" : "";
    uint64_t a = cents < 0 ? (uint64_t)0 - (uint64_t)cents : (uint64_t)cents;
    snprintf(buf, cap, "%s%llu.%02llu", sign, (unsigned long long)(a / 100),
             (unsigned long long)(a % 100));
}

size_t central_panel_line(char *buf, size_t cap, const central_panel_cp *cp, bool color)
{
    char price[32], loc[33];
    central_fmt_eur(price, sizeof price, cp->price_cents_per_kwh);
    snprintf(loc, sizeof loc, "%s", cp->location ? cp->location : "");
    const char *name = central_cp_state_text(cp->state);
    /* In colour the state is a block one blank wider on each side. */
    int n = color ? snprintf(buf, cap, "%-8s  %-32s  %s EUR/kWh %s %-12s \x1b[0m", cp->id, loc,
                             price, central_cp_state_color(cp->state), name)
                  : snprintf(buf, cap, "%-8s  %-32s  %s EUR/kWh  %-12s", cp->id, loc, price, name);
    if (n >= 0 && (size_t)n < cap && cp->waiting_for_plug && !cp->supplying &&
        cp->state == CENTRAL_CP_SUPPLYING) {
        n += snprintf(buf + n, cap - (size_t)n, "  " CENTRAL_WAITING_FOR_PLUG "  %s",
                      cp->driver_id ? cp->driver_id : "");
    } else if (n >= 0 && (size_t)n < cap && cp->supplying && cp->state == CENTRAL_CP_SUPPLYING) {
        char eur[32];
        central_fmt_eur(eur, sizeof eur, cp->cents);
        int64_t dw = (cp->w + 50) / 100; /* tenths of kW, rounded */
        n += snprintf(buf + n, cap - (size_t)n, "  %lld.%lld kW  %s EUR  %s",
                      (long long)(dw / 10), (long long)(dw % 10), eur,
                      cp->driver_id ? cp->driver_id : "");
    }
    /* Plain lines end without trailing blanks (the padded state may be last). */
    size_t len = n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
    if (!color)
        while (len > 0 && buf[len - 1] == ' ')
            buf[--len] = '\0';
    return len;
}
