/* web_internal.h: shared state of web.c (lifecycle, lws callback),
 * web_http.c (JSON routes) and web_ws.c (WebSocket channels). */
#ifndef EVC_WEB_INTERNAL_H
#define EVC_WEB_INTERNAL_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/web.h"

#define WEB_LOG "web"
/* The lws protocol of HTTP and of channels without a subprotocol. */
#define WEB_PROTOCOL "evc"

/* One message queued for one or more WebSocket clients: written once with
 * LWS_PRE bytes of head room, shared by reference count. */
typedef struct web_msg {
    size_t refs;
    size_t len;
    unsigned char data[]; /* LWS_PRE + len */
} web_msg;

typedef struct web_channel {
    char *path;
    size_t nwild;      /* '*' segments: a pattern channel when > 0 */
    char *subprotocol; /* required subprotocol, NULL = none */
    evc_web_ws_msg_cb on_message;
    evc_web_ws_open_cb on_open;
    evc_web_ws_close_cb on_close;
    void *arg;
    evc_web_client *clients; /* doubly linked list */
    size_t nclients;
    uint64_t dropped;
} web_channel;

struct evc_web_client {
    evc_web *web;
    web_channel *ch;
    struct lws *wsi;
    evc_web_client *prev, *next;
    web_msg **q; /* ring of web->q_msgs entries */
    size_t qhead, qlen, qbytes;
    char *rx; /* message being reassembled from fragments */
    size_t rx_len;
    /* The upgrade request's headers, kept so that evc_web_ws_recheck can put
     * the client through the guard again (its session may have ended). */
    struct web_pss *hdr;
    bool doomed; /* refused by a recheck: closed at its next writable */
    bool gone;   /* lws closed it (its on_close runs): nothing is written any more */
    /* evc_web_ws_close: closed once the queue is written, with this status */
    bool closing;
    int close_status;
    char close_reason[124];
    /* segments matched by a pattern channel's '*'s (pointing into pbuf) */
    const char *params[EVC_WEB_MAX_PARAMS];
    size_t nparams;
    char *pbuf;
    void *user; /* evc_web_client_set_user */
    char peer[64]; /* the peer's IP address at the upgrade ("" if unknown) */
    char tls_cn[EVC_WEB_TLS_CN_MAX]; /* verified client certificate's CN, "" */
};

enum { WEB_M_GET, WEB_M_POST, WEB_NMETHODS };

/* One path of the route table (web_route.c): exact, or a pattern with nwild
 * '*' segments; a handler (NULL = none) per method. */
typedef struct web_route {
    char *path;
    size_t nwild;
    evc_web_handler handler[WEB_NMETHODS];
    void *arg[WEB_NMETHODS];
} web_route;

/* What web_route_find found for a request. pbuf (malloc'd, owned by whoever
 * takes the hit: web_pss) holds the NUL-terminated segments params point at. */
typedef struct web_hit {
    evc_web_handler handler;
    void *arg;
    const char *params[EVC_WEB_MAX_PARAMS];
    size_t nparams;
    char *pbuf;
    char allow[16]; /* the path's methods when the request's is not among them */
} web_hit;

#define WEB_RES_HEADERS 4
struct evc_web_response {
    int status;
    bool set;
    char *ctype;
    unsigned char *buf; /* LWS_PRE + len */
    size_t len;
    char *hdr[WEB_RES_HEADERS]; /* "name:" and value, malloc'd pairs */
    char *hval[WEB_RES_HEADERS];
    size_t nhdr;
};

/* A response deferred by a handler (evc_web_defer). pss is NULL once the
 * connection closed: evc_web_pending_done then only frees. */
struct evc_web_pending {
    struct web_pss *pss;
    struct lws *wsi;
    evc_web_response res;
};

enum web_pss_kind { PSS_NONE = 0, PSS_HTTP, PSS_WS };

/* libwebsockets' per-connection user data (zeroed by lws). One HTTP/1.1
 * connection carries several transactions: http_reset between them. */
typedef struct web_pss {
    enum web_pss_kind kind;
    /* request headers for evc_web_request (malloc'd, "" when absent) */
    char *cookie, *origin, *host, *ctype, *csrf, *authz;
    char peer[64];
    char tls_cn[EVC_WEB_TLS_CN_MAX]; /* web_tls_peer_cn */
    evc_web_pending *pending; /* deferred answer outstanding */
    bool deferred;            /* handler deferred: waiting for pending_done */
    bool ready;               /* pending_done filled res: send on writable */
    /* HTTP */
    struct lws *wsi; /* set while a transaction runs (for evc_web_defer) */
    /* the route's handler (copied: the table may grow meanwhile) and the
     * segments its '*'s matched (pointing into pbuf, malloc'd) */
    evc_web_handler handler;
    void *harg;
    const char *params[EVC_WEB_MAX_PARAMS];
    size_t nparams;
    char *pbuf;
    bool routed;
    char method[8];
    char *path;
    char *query;
    char *body;
    size_t body_len;
    bool close_after; /* body not read: the connection cannot be reused */
    bool responding;
    size_t sent;
    char allow[16];
    evc_web_response res;
    /* WebSocket */
    evc_web_client *client;
} web_pss;

struct evc_web {
    evc_loop *loop;
    struct lws_context *ctx;
    struct lws_vhost *vh;
    uint16_t port;
    size_t max_body, q_msgs, q_bytes;
    char *host;
    char *static_dir;
    char *tls_cert, *tls_key;
    char *tls_client_ca; /* NULL = no client certificates */
    evc_web_guard guard;
    void *guard_arg;
    struct lws_http_mount mount_api, mount_static;
    /* protocols[0] "evc" (HTTP and channels without a subprotocol), then
     * one per evc_web_opts.ws_subprotocols, then a zeroed terminator. */
    struct lws_protocols protocols[EVC_WEB_MAX_SUBPROTOCOLS + 2];
    char *subprotocols[EVC_WEB_MAX_SUBPROTOCOLS];
    size_t nsubprotocols;
    /* exact routes (dense array) and their hash index: slots hold a routes
     * index + 1, 0 = empty; nslots a power of two, at most half full */
    web_route *routes;
    size_t nroutes, caproutes;
    size_t *slots;
    size_t nslots;
    web_route patterns[EVC_WEB_MAX_PATTERNS];
    size_t npatterns;
    web_channel **channels;
    size_t nchannels, capchannels;
};

/* web.c: the lws protocol callback dispatches to these. Each returns what the
 * lws callback must return (non-zero closes the connection). */
int web_http_begin(evc_web *web, struct lws *wsi, web_pss *pss);
int web_http_body(evc_web *web, web_pss *pss, const void *in, size_t len);
int web_http_body_done(evc_web *web, struct lws *wsi, web_pss *pss);
int web_http_writable(struct lws *wsi, web_pss *pss);
void web_http_reset(web_pss *pss);
void web_routes_free(evc_web *web);
/* web_route.c: the route for method + path. 1: found (hit's handler, arg,
 * params, pbuf); 0: the path exists with other methods only (hit->allow);
 * -1: no route has this path; -2: out of memory. */
int web_route_find(const evc_web *web, const char *method, const char *path, web_hit *hit);
/* '*' segments of path; -1 when a '*' shares a segment with other bytes. */
int web_count_wild(const char *path);
/* Segment-wise match of pattern pat against path; on a match with params
 * not NULL, the segments are copied NUL-terminated into buf (room for
 * strlen(path) + 1) and pointed at by params. */
bool web_pattern_match(const char *pat, const char *path, char *buf, const char **params);

int web_ws_filter(evc_web *web, struct lws *wsi);
int web_ws_established(evc_web *web, struct lws *wsi, web_pss *pss);
int web_ws_receive(evc_web *web, struct lws *wsi, web_pss *pss, const void *in, size_t len);
int web_ws_writable(struct lws *wsi, web_pss *pss);
void web_ws_closed(evc_web *web, web_pss *pss);
void web_channels_free(evc_web *web);

/* web_http.c: fills req from pss (headers, peer) for a guard call. */
void web_request_fill(const evc_web *web, const web_pss *pss, evc_web_request *req);
/* Reads the headers and peer of wsi into pss; false when out of memory. */
bool web_pss_headers(struct lws *wsi, web_pss *pss);
void web_res_clear(evc_web_response *r);

/* web.c: the CommonName of the client certificate that wsi's TLS handshake
 * verified, into out (EVC_WEB_TLS_CN_MAX bytes); "" when none or not
 * usable (see evc_web_request.tls_peer_cn). */
void web_tls_peer_cn(struct lws *wsi, char out[EVC_WEB_TLS_CN_MAX]);

/* Copies header h of wsi into a malloc'd NUL-terminated string ("" when
 * absent); NULL on allocation failure. */
char *web_hdr_dup(struct lws *wsi, enum lws_token_indexes h);

#endif
