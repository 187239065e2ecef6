/* addr.c: host:port parsing. */
#include "evc/addr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_port(const char *s, uint16_t *out)
{
    if (!*s)
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 1 || v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

int evc_addr_parse(const char *text, int allow_port_only, evc_addr *out, evc_error *err)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return evc_error_set(err, EVC_EINVAL, "empty address (expected host:port)");
    const char *colon;
    const char *host = text;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return evc_error_set(err, EVC_EINVAL, "bad address '%s' (expected [v6addr]:port)", text);
        host = text + 1;
        hlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon) {
            if (allow_port_only && parse_port(text, &out->port) == 0)
                return EVC_OK;
            return evc_error_set(err, EVC_EINVAL, "bad address '%s' (expected host:port)", text);
        }
        if (memchr(text, ':', (size_t)(colon - text)))
            return evc_error_set(err, EVC_EINVAL,
                                 "bad address '%s' (write IPv6 addresses as [addr]:port)", text);
        hlen = (size_t)(colon - text);
    }
    if (hlen == 0 || hlen >= sizeof out->host)
        return evc_error_set(err, EVC_EINVAL, "bad address '%s' (host missing or too long)", text);
    if (parse_port(colon + 1, &out->port) != 0)
        return evc_error_set(err, EVC_EINVAL, "bad address '%s' (port must be 1-65535)", text);
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    return EVC_OK;
}

int evc_addr_from_cfg(const evc_cfg_node *node, const char *key, int allow_port_only,
                      evc_addr *out, evc_error *err)
{
    char where[512];
    evc_cfg_pos_format(evc_cfg_node_pos(node), where, sizeof where);
    const char *text = evc_cfg_scalar(node);
    if (!text)
        return evc_error_set(err, EVC_ECONFIG, "%s: key '%s' must be an address host:port",
                             where, key);
    evc_error inner = {0};
    if (evc_addr_parse(text, allow_port_only, out, &inner) != EVC_OK)
        return evc_error_set(err, EVC_ECONFIG, "%s: key '%s': %s", where, key, inner.msg);
    return EVC_OK;
}
