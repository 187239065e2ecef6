/* log.c: one line per call, written with a single write(2) so that lines
 * from several threads never interleave. */
#include "evc/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int g_level = EVC_LOG_INFO;
static _Atomic int g_format = EVC_LOG_TEXT;
static _Atomic int g_fd = 2;

static const char *const LEVEL_NAMES[] = {"error", "warn", "info", "debug", "trace"};

void evc_log_set_level(evc_log_level level) { atomic_store(&g_level, (int)level); }
evc_log_level evc_log_get_level(void) { return (evc_log_level)atomic_load(&g_level); }
void evc_log_set_format(evc_log_format format) { atomic_store(&g_format, (int)format); }
void evc_log_set_fd(int fd) { atomic_store(&g_fd, fd); }
int evc_log_enabled(evc_log_level level) { return (int)level <= atomic_load(&g_level); }

int evc_log_level_parse(const char *name, evc_log_level *out)
{
    for (int i = 0; i <= EVC_LOG_TRACE; i++) {
        if (name && strcasecmp(name, LEVEL_NAMES[i]) == 0) {
            *out = (evc_log_level)i;
            return 0;
        }
    }
    if (name && strcasecmp(name, "warning") == 0) {
        *out = EVC_LOG_WARN;
        return 0;
    }
    return -1;
}

const char *evc_log_level_name(evc_log_level level)
{
    return (level >= EVC_LOG_ERROR && level <= EVC_LOG_TRACE) ? LEVEL_NAMES[level] : "?";
}

/* Appends s to buf as the body of a JSON string (without quotes). */
static size_t json_escape(char *buf, size_t cap, size_t n, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        } else {
            buf[n++] = (char)c;
        }
    }
    return n;
}

static size_t append(char *buf, size_t cap, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t cap, size_t n, const char *fmt, ...)
{
    if (n >= cap)
        return n;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
    if (w < 0)
        return n;
    return (size_t)w >= cap - n ? cap - 1 : n + (size_t)w;
}

void evc_logv(evc_log_level level, const char *component, const evc_log_ids *ids,
              const char *fmt, va_list ap)
{
    if (!evc_log_enabled(level))
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));

    const char *cp = ids && ids->cp ? ids->cp : NULL;
    const char *drv = ids && ids->driver ? ids->driver : NULL;
    const char *corr = ids && ids->correlation ? ids->correlation : NULL;

    char line[4096];
    size_t n = 0;
    const size_t cap = sizeof line - 1; /* room for the newline */
    if (atomic_load(&g_format) == EVC_LOG_JSON) {
        n = append(line, cap, n, "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"", when,
                   evc_log_level_name(level));
        n = json_escape(line, cap, n, component ? component : "?");
        n = append(line, cap, n, "\"");
        const char *keys[3] = {"cp", "driver", "correlation_id"};
        const char *vals[3] = {cp, drv, corr};
        for (int i = 0; i < 3; i++) {
            if (!vals[i])
                continue;
            n = append(line, cap, n, ",\"%s\":\"", keys[i]);
            n = json_escape(line, cap, n, vals[i]);
            n = append(line, cap, n, "\"");
        }
        n = append(line, cap, n, ",\"msg\":\"");
        n = json_escape(line, cap, n, msg);
        n = append(line, cap, n, "\"}");
    } else {
        char upper[8];
        const char *ln = evc_log_level_name(level);
        size_t i = 0;
        for (; ln[i] && i < sizeof upper - 1; i++)
            upper[i] = (char)(ln[i] - 32);
        upper[i] = '\0';
        n = append(line, cap, n, "%s %-5s %s", when, upper, component ? component : "?");
        if (cp)
            n = append(line, cap, n, " cp=%s", cp);
        if (drv)
            n = append(line, cap, n, " driver=%s", drv);
        if (corr)
            n = append(line, cap, n, " corr=%s", corr);
        n = append(line, cap, n, ": %s", msg);
    }
    line[n++] = '\n';
    ssize_t w = write(atomic_load(&g_fd), line, n);
    (void)w; /* nowhere left to report a failed log write */
}

void evc_log(evc_log_level level, const char *component, const evc_log_ids *ids,
             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evc_logv(level, component, ids, fmt, ap);
    va_end(ap);
}

/* ---- rate-limited lines ------------------------------------------------ */

static pthread_mutex_t g_rate_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint32_t g_rate_burst = EVC_LOG_DEFAULT_BURST;
static _Atomic uint64_t g_rate_period_ms = EVC_LOG_DEFAULT_PERIOD_MS;

void evc_log_set_rate_limit(uint32_t burst, uint64_t period_ms)
{
    atomic_store(&g_rate_burst, burst ? burst : EVC_LOG_DEFAULT_BURST);
    atomic_store(&g_rate_period_ms, period_ms ? period_ms : EVC_LOG_DEFAULT_PERIOD_MS);
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* +1: 0 means "never used" in evc_log_rate. */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + 1u;
}

int evc_log_limited(evc_log_rate *rate, evc_log_level level, const char *component,
                    const evc_log_ids *ids, const char *fmt, ...)
{
    if (!evc_log_enabled(level))
        return 0;
    uint64_t now = mono_ms();
    uint64_t period = atomic_load(&g_rate_period_ms);
    uint64_t summary = 0, summary_ms = 0;
    int write_it;
    pthread_mutex_lock(&g_rate_mu);
    if (rate->period_start_ms == 0 || now - rate->period_start_ms >= period) {
        summary = rate->suppressed;
        summary_ms = rate->period_start_ms ? now - rate->period_start_ms : 0;
        rate->suppressed = 0;
        rate->written = 0;
        rate->period_start_ms = now;
    }
    write_it = rate->written < atomic_load(&g_rate_burst);
    if (write_it)
        rate->written++;
    else
        rate->suppressed++;
    pthread_mutex_unlock(&g_rate_mu);
    if (summary)
        evc_log(level, component, NULL,
                "%llu similar messages suppressed in the last %llu s (like: \"%s\")",
                (unsigned long long)summary, (unsigned long long)(summary_ms / 1000), fmt);
    if (!write_it)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    evc_logv(level, component, ids, fmt, ap);
    va_end(ap);
    return 1;
}
