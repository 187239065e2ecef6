/* evc/error.h: status codes and the error struct every fallible SDK call fills.
 *
 * Convention: a function returns an int status (EVC_OK == 0 on success, a
 * negative EVC_E* on failure) and, when given a non-NULL evc_error, writes a
 * human-readable message naming the thing at fault (file:line:column, CP id,
 * peer address, plugin file). The message is complete on its own: callers
 * print it as is, they do not prepend context that is already there.
 */
#ifndef EVC_ERROR_H
#define EVC_ERROR_H

#include "evc/api.h"

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum evc_status {
    EVC_OK = 0,
    EVC_EINVAL = -1,      /* bad argument or malformed input */
    EVC_ENOMEM = -2,      /* allocation failed */
    EVC_EIO = -3,         /* operating-system or library I/O failure */
    EVC_ECONFIG = -4,     /* configuration invalid */
    EVC_EPLUGIN = -5,     /* plugin refused at load (see evc_plugin_refusal) */
    EVC_EAGAIN = -6,      /* back-pressure: try again later, nothing was accepted */
    EVC_ENOTFOUND = -7,   /* unknown id / key / row */
    EVC_EEXIST = -8,      /* already exists / duplicate */
    EVC_EPROTO = -9,      /* protocol violation by a peer (bad frame, bad envelope) */
    EVC_ETOOBIG = -10,    /* a size bound was exceeded */
    EVC_ETIMEDOUT = -11,  /* a deadline passed */
    EVC_EBUSY = -12,      /* resource locked by someone else (e.g. database busy) */
    EVC_EFULL = -13,      /* storage full */
    EVC_EREADONLY = -14,  /* storage is read-only */
    EVC_ECORRUPT = -15,   /* storage or data is corrupt */
    EVC_ESTATE = -16,     /* call not valid in the object's current state */
    EVC_ENOTSUP = -17,    /* operation not supported by this plugin */
    EVC_ECLOSED = -18,    /* peer or resource closed */
    EVC_ECONFLICT = -19,  /* concurrent update conflict / version mismatch */
};

#define EVC_ERROR_MSG_MAX 768

/* Filled by a failing call. Stack-allocate it; it owns no heap memory. */
typedef struct evc_error {
    int code;                       /* one of enum evc_status */
    char msg[EVC_ERROR_MSG_MAX];    /* NUL-terminated, never empty when code != 0 */
} evc_error;

/* Sets err (if non-NULL) to code and a printf-formatted message; returns code
 * so that callers can write `return evc_error_set(err, EVC_EINVAL, ...)`. The
 * message is truncated (with "...") when longer than EVC_ERROR_MSG_MAX-1. */
EVC_API int evc_error_set(evc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
EVC_API int evc_error_setv(evc_error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Prefixes err->msg with a printf-formatted context and ": ", keeping the code.
 * Used when a lower layer's message lacks the outer context. No-op on NULL. */
EVC_API void evc_error_prefix(evc_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to {EVC_OK, ""}. No-op on NULL. */
EVC_API void evc_error_clear(evc_error *err);

/* Short constant name of a status ("EVC_EAGAIN"); never NULL. */
EVC_API const char *evc_status_name(int code);

#ifdef __cplusplus
}
#endif
#endif
