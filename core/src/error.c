/* error.c: the evc_error helpers. */
#include "evc/error.h"

#include <stdio.h>
#include <string.h>

int evc_error_setv(evc_error *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return code;
    err->code = code;
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    if (n >= (int)sizeof err->msg)
        memcpy(err->msg + sizeof err->msg - 4, "...", 4);
    if (err->msg[0] == '\0')
        snprintf(err->msg, sizeof err->msg, "%s", evc_status_name(code));
    return code;
}

int evc_error_set(evc_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evc_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void evc_error_prefix(evc_error *err, const char *fmt, ...)
{
    if (!err)
        return;
    char prefix[EVC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[EVC_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    int n = snprintf(err->msg, sizeof err->msg, "%s: %s", prefix, old);
    if (n >= (int)sizeof err->msg)
        memcpy(err->msg + sizeof err->msg - 4, "...", 4);
}

void evc_error_clear(evc_error *err)
{
    if (!err)
        return;
    err->code = EVC_OK;
    err->msg[0] = '\0';
}

const char *evc_status_name(int code)
{
    switch (code) {
    case EVC_OK: return "EVC_OK";
    case EVC_EINVAL: return "EVC_EINVAL";
    case EVC_ENOMEM: return "EVC_ENOMEM";
    case EVC_EIO: return "EVC_EIO";
    case EVC_ECONFIG: return "EVC_ECONFIG";
    case EVC_EPLUGIN: return "EVC_EPLUGIN";
    case EVC_EAGAIN: return "EVC_EAGAIN";
    case EVC_ENOTFOUND: return "EVC_ENOTFOUND";
    case EVC_EEXIST: return "EVC_EEXIST";
    case EVC_EPROTO: return "EVC_EPROTO";
    case EVC_ETOOBIG: return "EVC_ETOOBIG";
    case EVC_ETIMEDOUT: return "EVC_ETIMEDOUT";
    case EVC_EBUSY: return "EVC_EBUSY";
    case EVC_EFULL: return "EVC_EFULL";
    case EVC_EREADONLY: return "EVC_EREADONLY";
    case EVC_ECORRUPT: return "EVC_ECORRUPT";
    case EVC_ESTATE: return "EVC_ESTATE";
    case EVC_ENOTSUP: return "EVC_ENOTSUP";
    case EVC_ECLOSED: return "EVC_ECLOSED";
    case EVC_ECONFLICT: return "EVC_ECONFLICT";
    default: return "EVC_E?";
    }
}
