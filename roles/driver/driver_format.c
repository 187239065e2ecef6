/* driver_format.c: stdout lines of the driver (see driver_format.h). */
#include "driver_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Splits |v| into a whole part and a fraction of `digits` decimals. Works on
 * the magnitude as uint64 so that INT64_MIN does not overflow. */
static char *fixed(int64_t v, unsigned scale, int digits, char *buf, size_t cap)
{
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(buf, cap, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "", mag / scale, digits,
             mag % scale);
    return buf;
}

char *driver_fmt_eur(int64_t cents, char *buf, size_t cap)
{
    return fixed(cents, 100, 2, buf, cap);
}

char *driver_fmt_kwh(int64_t wh, char *buf, size_t cap) { return fixed(wh, 1000, 3, buf, cap); }

char *driver_fmt_kw(int64_t w, char *buf, size_t cap)
{
    uint64_t mag = w < 0 ? (uint64_t)0 - (uint64_t)w : (uint64_t)w;
    uint64_t centi = mag / 10 + (mag % 10 >= 5 ? 1 : 0); /* hundredths of a kW */
    snprintf(buf, cap, "%s%" PRIu64 ".%02" PRIu64, w < 0 && centi ? "-" : "", centi / 100,
             centi % 100);
    return buf;
}

char *driver_fmt_time(int64_t ms, char *buf, size_t cap)
{
    /* Year 9999 ends at 253402300800 s: beyond that gmtime's output would
     * not fit the format. */
    if (ms < 0 || ms / 1000 >= INT64_C(253402300800)) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm) || strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, cap, "-");
    return buf;
}

char *driver_fmt_duration(int64_t seconds, char *buf, size_t cap)
{
    if (seconds < 0)
        seconds = 0;
    snprintf(buf, cap, "%" PRId64 ":%02" PRId64 ":%02" PRId64, seconds / 3600,
             seconds / 60 % 60, seconds % 60);
    return buf;
}

const char *driver_reason_text(const char *reason)
{
    /* Every code CENTRAL or an engine may put in a reason (docs/PROTOCOL.md,
     * M3): denials, ends of a supply, the engine's refusals. */
    static const struct {
        const char *code, *text;
    } T[] = {
        {"unknown_driver", "unknown driver"},
        {"not_authenticated", "wrong or missing password"},
        {"unknown_cp", "unknown charging point"},
        {"cp_busy", "charging point busy with another supply"},
        {"cp_stopped", "charging point out of order (stopped by the operator)"},
        {"cp_broken", "charging point broken (fault)"},
        {"cp_disconnected", "charging point disconnected"},
        {"driver_busy", "you already have a supply in progress"},
        {"balance_too_low", "balance below the minimum"},
        {"cp_refused", "the charging point refused"},
        {"cp_no_answer", "the charging point did not answer"},
        {"unplugged", "vehicle unplugged"},
        {"fault", "charging point fault"},
        {"stopped", "stopped by the operator"},
        {"reset", "the charging point was reset by the operator"},
        {"monitor_lost", "charging point monitor lost"},
        {"engine_restart", "the charging point restarted"},
        {"not_plugged", "vehicle not plugged in in time"},
        {"cancelled", "cancelled by CENTRAL"},
        {"balance_floor", "stopped: your balance reached its limit"},
        {"driver_stop", "stopped by the driver"},
        {"no_free_cp", "no free charging point"},
        {"unknown_session", "no supply of yours has that session id"},
        {"session_ended", "that supply has already ended"},
        {"no_cp_id", "the charging point is not set up yet"},
        {"no_monitor", "the charging point's monitor is not connected"},
        {"engine_ko", "the charging point is broken (fault)"},
        {"busy", "the charging point is busy"},
        {"refused", "refused"},
    };
    for (size_t i = 0; reason && i < sizeof T / sizeof T[0]; i++)
        if (strcmp(reason, T[i].code) == 0)
            return T[i].text;
    return NULL;
}

char *driver_fmt_reason(const char *reason, const char *text, char *buf, size_t cap)
{
    char r[DRIVER_TEXT_MAX], t[DRIVER_TEXT_MAX];
    driver_sanitize(r, sizeof r, reason ? reason : "");
    driver_sanitize(t, sizeof t, text ? text : "");
    /* CENTRAL falls back to the code when it has no sentence for it: a text
     * equal to the code says nothing more, so the driver's own words win. */
    if (!*t || strcmp(t, r) == 0) {
        const char *mine = driver_reason_text(r);
        snprintf(t, sizeof t, "%s", mine ? mine : "");
    }
    if (*r && *t && strcmp(t, r) != 0)
        snprintf(buf, cap, "%s (%s)", r, t);
    else if (*r)
        snprintf(buf, cap, "%s", r);
    else
        snprintf(buf, cap, "%s", t);
    return buf;
}

/* ": reason (words)", ": reason", ": text" or "" */
static void why(const char *reason, const char *text, char *buf, size_t cap)
{
    char w[2 * DRIVER_TEXT_MAX + 4];
    driver_fmt_reason(reason, text, w, sizeof w);
    if (*w)
        snprintf(buf, cap, ": %s", w);
    else
        buf[0] = '\0';
}

const char *driver_cp_state_text(const char *state)
{
    static const struct {
        const char *state, *text;
    } T[] = {
        {"ACTIVATED", "Available"},      {"SUPPLYING", "Supplying"},
        {"STOPPED", "Out of Order"},     {"BROKEN", "Broken (fault)"},
        {"DISCONNECTED", "Disconnected"},
    };
    for (size_t i = 0; state && i < sizeof T / sizeof T[0]; i++)
        if (strcmp(state, T[i].state) == 0)
            return T[i].text;
    return NULL;
}

bool driver_cp_usable(const char *state)
{
    /* Only an ACTIVATED CP accepts a request (F4); a SUPPLYING one is busy. */
    return state && strcmp(state, "ACTIVATED") == 0;
}

char *driver_fmt_step(const char *step, const char *cp_id, const char *reason, const char *text,
                      char *buf, size_t cap)
{
    char cp[DRIVER_ID_MAX + 1], st[DRIVER_TEXT_MAX], w[2 * DRIVER_TEXT_MAX + 8];
    driver_sanitize(cp, sizeof cp, cp_id && *cp_id ? cp_id : "?");
    driver_sanitize(st, sizeof st, step ? step : "");
    why(reason, text, w, sizeof w);
    if (strcmp(st, "received") == 0)
        snprintf(buf, cap, "Request for %s received by CENTRAL", cp);
    else if (strcmp(st, "checking") == 0)
        snprintf(buf, cap, "CENTRAL is checking the request for %s", cp);
    else if (strcmp(st, "authorised") == 0)
        snprintf(buf, cap, "Authorised at %s", cp);
    else if (strcmp(st, "denied") == 0)
        snprintf(buf, cap, "Denied at %s%s", cp, w);
    else if (strcmp(st, "plug_in") == 0)
        snprintf(buf, cap, "Plug in your vehicle at %s", cp);
    else if (strcmp(st, "supplying") == 0)
        snprintf(buf, cap, "Supplying at %s", cp);
    else if (strcmp(st, "interrupted") == 0)
        snprintf(buf, cap, "Interrupted at %s%s", cp, w);
    else if (strcmp(st, "ended") == 0)
        snprintf(buf, cap, "Ended at %s%s", cp, w);
    else if (strcmp(st, "stopping") == 0)
        snprintf(buf, cap, "Stopping the supply at %s at your request", cp);
    else
        snprintf(buf, cap, "Step %s at %s%s", *st ? st : "?", cp, w);
    return buf;
}

char *driver_fmt_telemetry(const char *cp_id, int64_t w, int64_t wh, int64_t cents, char *buf,
                           size_t cap)
{
    char cp[DRIVER_ID_MAX + 1], kw[32], kwh[32], eur[32];
    driver_sanitize(cp, sizeof cp, cp_id && *cp_id ? cp_id : "?");
    snprintf(buf, cap, "Supplying at %s: %s kW, %s kWh, EUR %s", cp,
             driver_fmt_kw(w, kw, sizeof kw), driver_fmt_kwh(wh, kwh, sizeof kwh),
             driver_fmt_eur(cents, eur, sizeof eur));
    return buf;
}

char *driver_fmt_ticket(const driver_ticket *t, char *buf, size_t cap)
{
    char cp[DRIVER_ID_MAX + 1], reason[2 * DRIVER_TEXT_MAX + 4], sid[DRIVER_SESSION_MAX];
    char kwh[32], eur[32], price[32], start[32], end[32], dur[32], bal[48];
    driver_sanitize(cp, sizeof cp, *t->cp_id ? t->cp_id : "?");
    if (*t->reason)
        driver_fmt_reason(t->reason, NULL, reason, sizeof reason);
    else
        snprintf(reason, sizeof reason, "-");
    driver_sanitize(sid, sizeof sid, t->session_id);
    if (t->has_balance) {
        char e[32];
        snprintf(bal, sizeof bal, "EUR %s", driver_fmt_eur(t->balance_cents, e, sizeof e));
    } else {
        snprintf(bal, sizeof bal, "unknown");
    }
    snprintf(buf, cap,
             "Ticket %s: %s kWh, EUR %s at EUR %s/kWh, start %s, end %s, duration %s, "
             "reason %s, balance %s, session %s",
             cp, driver_fmt_kwh(t->wh, kwh, sizeof kwh), driver_fmt_eur(t->cents, eur, sizeof eur),
             driver_fmt_eur(t->price_cents_per_kwh, price, sizeof price),
             driver_fmt_time(t->started_at, start, sizeof start),
             driver_fmt_time(t->ended_at, end, sizeof end),
             driver_fmt_duration(t->duration_s, dur, sizeof dur), reason, bal, sid);
    return buf;
}

char *driver_fmt_summary(unsigned ok, unsigned denied, unsigned failed, int64_t wh, int64_t cents,
                         char *buf, size_t cap)
{
    char kwh[32], eur[32];
    snprintf(buf, cap, "Summary: %u ok, %u denied, %u failed, %s kWh, EUR %s", ok, denied, failed,
             driver_fmt_kwh(wh, kwh, sizeof kwh), driver_fmt_eur(cents, eur, sizeof eur));
    return buf;
}

void driver_sanitize(char *dst, size_t cap, const char *src)
{
    if (cap == 0)
        return;
    size_t i = 0;
    for (; src && src[i] && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    dst[i] = '\0';
}

char *driver_fmt_count(size_t n, const char *one, const char *many, char *buf, size_t cap)
{
    snprintf(buf, cap, "%zu %s", n, n == 1 ? one : many);
    return buf;
}
