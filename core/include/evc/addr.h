/* evc/addr.h: "host:port" addresses as written in configs and arguments. */
#ifndef EVC_ADDR_H
#define EVC_ADDR_H

#include "evc/api.h"

#include <stdint.h>

#include "evc/config.h"
#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evc_addr {
    char host[256]; /* name or IPv4/IPv6 literal, without brackets */
    uint16_t port;  /* 1..65535 */
} evc_addr;

/* Parses "host:port", "[v6]:port" or, when allow_port_only, "port" (host
 * left empty). EVC_EINVAL with a message quoting the text on failure. */
EVC_API int evc_addr_parse(const char *text, int allow_port_only, evc_addr *out, evc_error *err);

/* Same for a config node; the message starts with the node's
 * file:line:column and names `key`. */
EVC_API int evc_addr_from_cfg(const evc_cfg_node *node, const char *key, int allow_port_only,
                              evc_addr *out, evc_error *err);

#ifdef __cplusplus
}
#endif
#endif
