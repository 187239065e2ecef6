/* evc/log.h: structured logging for the core, plugins and roles.
 *
 * Every line carries a level, a component ("core", "zmq", "central", ...) and,
 * when known, the CP id, driver id and correlation id it concerns. Two formats:
 * text (human) and JSON lines (one object per line, for log shippers). Output
 * goes to stderr. All functions are thread-safe (each line is one write(2)).
 */
#ifndef EVC_LOG_H
#define EVC_LOG_H

#include <stdarg.h>

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
void evc_log_set_level(evc_log_level level);
evc_log_level evc_log_get_level(void);
void evc_log_set_format(evc_log_format format);
/* Redirects output to fd (default 2). The fd stays owned by the caller. */
void evc_log_set_fd(int fd);

/* Parses "error|warn|info|debug|trace" (case-insensitive); returns 0 or -1. */
int evc_log_level_parse(const char *name, evc_log_level *out);
const char *evc_log_level_name(evc_log_level level);

/* True when a line at `level` would be written: use to skip costly formatting. */
int evc_log_enabled(evc_log_level level);

/* Writes one line. `component` must not be NULL; `ids` may be NULL. */
void evc_log(evc_log_level level, const char *component, const evc_log_ids *ids,
             const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void evc_logv(evc_log_level level, const char *component, const evc_log_ids *ids,
              const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));

#define EVC_LOGE(comp, ...) evc_log(EVC_LOG_ERROR, (comp), NULL, __VA_ARGS__)
#define EVC_LOGW(comp, ...) evc_log(EVC_LOG_WARN, (comp), NULL, __VA_ARGS__)
#define EVC_LOGI(comp, ...) evc_log(EVC_LOG_INFO, (comp), NULL, __VA_ARGS__)
#define EVC_LOGD(comp, ...) evc_log(EVC_LOG_DEBUG, (comp), NULL, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
