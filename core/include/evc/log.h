/* evc/log.h: structured logging for the core, plugins and roles.
 *
 * Every line carries a level, a component ("core", "zmq", "central", ...) and,
 * when known, the CP id, driver id and correlation id it concerns. Two formats:
 * text (human) and JSON lines (one object per line, for log shippers). Output
 * goes to stderr. All functions are thread-safe (each line is one write(2)).
 */
#ifndef EVC_LOG_H
#define EVC_LOG_H

#include "evc/api.h"

#include <stdarg.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum evc_log_level {
    EVC_LOG_ERROR = 0,
    EVC_LOG_WARN = 1,
    EVC_LOG_INFO = 2,
    EVC_LOG_DEBUG = 3,
    EVC_LOG_TRACE = 4,
} evc_log_level;

typedef enum evc_log_format { EVC_LOG_TEXT = 0, EVC_LOG_JSON = 1 } evc_log_format;

/* Ids a line concerns. Any field may be NULL. Borrowed for the call only. */
typedef struct evc_log_ids {
    const char *cp;
    const char *driver;
    const char *correlation;
} evc_log_ids;

/* Process-wide settings; call from main before starting threads. */
EVC_API void evc_log_set_level(evc_log_level level);
EVC_API evc_log_level evc_log_get_level(void);
EVC_API void evc_log_set_format(evc_log_format format);
/* Redirects output to fd (default 2). The fd stays owned by the caller. */
EVC_API void evc_log_set_fd(int fd);

/* Parses "error|warn|info|debug|trace" (case-insensitive); returns 0 or -1. */
EVC_API int evc_log_level_parse(const char *name, evc_log_level *out);
EVC_API const char *evc_log_level_name(evc_log_level level);

/* True when a line at `level` would be written: use to skip costly formatting. */
EVC_API int evc_log_enabled(evc_log_level level);

/* Writes one line. `component` must not be NULL; `ids` may be NULL. */
EVC_API void evc_log(evc_log_level level, const char *component, const evc_log_ids *ids,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
EVC_API void evc_logv(evc_log_level level, const char *component, const evc_log_ids *ids,
                      const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

/* ---- rate-limited lines ------------------------------------------------
 * For sites that log once per bad input (a malformed frame, a refused
 * message): a flood of bad input must not become a flood of log lines. Each
 * site keeps its own evc_log_rate (usually a static at the call site, see
 * EVC_LOG_LIMITED). Per period, the first `burst` lines of the site are
 * written; the rest are counted, and the first line of the site in a later
 * period is preceded by one "N similar messages suppressed" line quoting the
 * site's format. Suppressed lines cost no formatting. Thread-safe (one
 * process-wide mutex around the counters). */
typedef struct evc_log_rate {
    uint64_t period_start_ms; /* CLOCK_MONOTONIC; 0 = never used */
    uint32_t written;         /* lines written in the current period */
    uint64_t suppressed;      /* lines counted, not written, since the last summary */
} evc_log_rate;
#define EVC_LOG_RATE_INIT {0, 0, 0}
#define EVC_LOG_DEFAULT_BURST 10
#define EVC_LOG_DEFAULT_PERIOD_MS 10000

/* Process-wide burst and period of every rate-limited site; 0 = default. */
EVC_API void evc_log_set_rate_limit(uint32_t burst, uint64_t period_ms);

/* Writes one line like evc_log unless `rate` already wrote `burst` lines in
 * this period. Returns 1 when the line was written, 0 when counted only (or
 * below the log level). `rate` must not be NULL; owned by the caller and
 * must outlive the call. */
EVC_API int evc_log_limited(evc_log_rate *rate, evc_log_level level, const char *component,
                            const evc_log_ids *ids, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A rate-limited line with its own static counter at this call site. */
#define EVC_LOG_LIMITED(level, comp, ids, ...)                                                   \
    do {                                                                                         \
        static evc_log_rate evc_log_rate_site_ = EVC_LOG_RATE_INIT;                              \
        evc_log_limited(&evc_log_rate_site_, (level), (comp), (ids), __VA_ARGS__);               \
    } while (0)

#define EVC_LOGE(comp, ...) evc_log(EVC_LOG_ERROR, (comp), NULL, __VA_ARGS__)
#define EVC_LOGW(comp, ...) evc_log(EVC_LOG_WARN, (comp), NULL, __VA_ARGS__)
#define EVC_LOGI(comp, ...) evc_log(EVC_LOG_INFO, (comp), NULL, __VA_ARGS__)
#define EVC_LOGD(comp, ...) evc_log(EVC_LOG_DEBUG, (comp), NULL, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
