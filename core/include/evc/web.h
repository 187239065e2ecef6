/* evc/web.h: the core's web bridge -- HTTP (JSON routes, static files) and
 * WebSocket channels for the live dashboards, on the process's one loop.
 *
 * libwebsockets runs on the evc_loop's libuv loop (foreign loop): no thread,
 * no polling. Three kinds of URL:
 *   - JSON routes under "/api/": evc_web_route. Unknown "/api/..." paths get
 *     404, a known path with another method 405, a body over max_body 413,
 *     all with a JSON body {"error": "..."}.
 *   - WebSocket channels (any path, e.g. "/ws/events"): evc_web_ws_channel;
 *     evc_web_broadcast queues a text for every client of the channel. Each
 *     client's queue is bounded: when full the oldest message is dropped and
 *     counted, so a client that stops reading cannot grow memory.
 *   - Everything else: files under opts.static_dir ("/" -> index.html), or
 *     404 when there is no static_dir.
 *
 * Threads: every function and every callback runs on the loop thread.
 * Ownership: the evc_web belongs to its creator (evc_web_stop); strings
 * passed in are copied unless stated otherwise.
 */
#ifndef EVC_WEB_H
#define EVC_WEB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/error.h"
#include "evc/loop.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evc_web evc_web;
typedef struct evc_web_response evc_web_response;
typedef struct evc_web_client evc_web_client;

#define EVC_WEB_DEFAULT_MAX_BODY (64u * 1024u)
#define EVC_WEB_DEFAULT_QUEUE_MSGS 256u
#define EVC_WEB_DEFAULT_QUEUE_BYTES (4u * 1024u * 1024u)

typedef struct evc_web_opts {
    size_t struct_size;      /* sizeof(evc_web_opts): lets the struct grow */
    const char *host;        /* IP, interface or host name to listen on; NULL/"" = all */
    uint16_t port;           /* 0 = chosen by the OS, see evc_web_port */
    const char *static_dir;  /* served at "/" (index.html for directories); NULL = none */
    size_t max_body;         /* POST body and client WS message bound; 0 = 64 KiB */
    size_t ws_queue_msgs;    /* per-client queued messages bound; 0 = 256 */
    size_t ws_queue_bytes;   /* per-client queued bytes bound; 0 = 4 MiB */
    /* Sends CSP / X-Frame-Options / Referrer-Policy headers (libwebsockets'
     * best practices). The CSP forbids inline <script> and <style>: keep
     * JavaScript and CSS in files. */
    bool security_headers;
    /* When set, POST routes require "Authorization: Bearer <post_token>"
     * (else 401 without calling the handler). GET routes, static files and
     * WebSocket channels stay open. NULL/"" = no check. */
    const char *post_token;
} evc_web_opts;

/* A request, borrowed by the handler until it returns. Strings are
 * NUL-terminated. `path` is percent-decoded by libwebsockets; `query` is the
 * part after '?' as libwebsockets delivers it (arguments percent-decoded and
 * joined by '&'; "" when none). `body` is NULL with body_len 0 for GET; for
 * POST it holds exactly the bytes received (plus a NUL after them). */
typedef struct evc_web_request {
    const char *method; /* "GET", "POST" */
    const char *path;
    const char *query;
    const char *body;
    size_t body_len;
} evc_web_request;

/* Route handler. Must call evc_web_respond (or _json) once before returning;
 * a handler that does not gets 500 {"error": "handler gave no response"}.
 * Must not call evc_web_stop. */
typedef void (*evc_web_handler)(const evc_web_request *req, evc_web_response *res, void *arg);

/* Starts the server on `loop`. `opts` and its strings are copied. *out owned
 * by the caller: evc_web_stop. Errors: EVC_EINVAL (bad opts, static_dir not a
 * directory, host name that does not resolve), EVC_EIO naming the address
 * ("web 0.0.0.0:8002: Address already in use"), EVC_ENOMEM. */
int evc_web_start(evc_loop *loop, const evc_web_opts *opts, evc_web **out, evc_error *err);

/* The port actually listened on (useful with opts.port 0). */
uint16_t evc_web_port(const evc_web *web);

/* Stops the server: disconnects every client, closes libwebsockets' handles
 * (never the loop's other handles), runs the loop briefly until those closes
 * complete, frees everything. Call it before evc_loop_free, from outside the
 * web's own callbacks: after evc_loop_run returned, or from a timer or signal
 * callback. NULL is a no-op. */
void evc_web_stop(evc_web *web);

/* Registers handler for `method` ("GET" or "POST") on an exact `path`, which
 * must start with "/api/" (query strings are not part of it). Called on the
 * loop thread with `arg`. EVC_EEXIST if method+path is taken, EVC_EINVAL for a
 * bad method or path. */
int evc_web_route(evc_web *web, const char *method, const char *path, evc_web_handler handler,
                  void *arg, evc_error *err);

/* Sets the response: status (e.g. 200), content type (NULL = JSON), body of
 * len bytes (copied; NULL with len 0 for none). A second call replaces the
 * first. EVC_ENOMEM, EVC_EINVAL (status outside 100..599). */
int evc_web_respond(evc_web_response *res, int status, const char *content_type,
                    const char *body, size_t len);
/* Same with a NUL-terminated JSON text and content type application/json. */
int evc_web_respond_json(evc_web_response *res, int status, const char *json);
/* Same with {"error": msg} (msg escaped as a JSON string). */
int evc_web_respond_error(evc_web_response *res, int status, const char *msg);

/* A connected WebSocket client, borrowed during the callback it is given to. */
typedef void (*evc_web_ws_open_cb)(evc_web *web, evc_web_client *client, void *arg);
/* A complete text (or binary) message from a client; `data` borrowed until
 * return, NUL-terminated after len bytes. Messages over max_body close the
 * client with status 1009. */
typedef void (*evc_web_ws_msg_cb)(evc_web *web, evc_web_client *client, const char *data,
                                  size_t len, void *arg);

/* Declares a WebSocket channel at `path` (e.g. "/ws/events"). Clients
 * connecting to another path are refused. on_open (e.g. to send a snapshot
 * with evc_web_ws_send) and on_message are optional. EVC_EEXIST, EVC_EINVAL
 * (path not starting with '/'). */
int evc_web_ws_channel(evc_web *web, const char *path, evc_web_ws_msg_cb on_message,
                       evc_web_ws_open_cb on_open, void *arg, evc_error *err);

/* Queues text (len bytes, copied once whatever the number of clients) for
 * every client of channel `path`; it is written when each socket can take it.
 * Returns EVC_OK (also with no client), EVC_ENOTFOUND (no such channel),
 * EVC_ETOOBIG (len over ws_queue_bytes), EVC_ENOMEM. */
int evc_web_broadcast(evc_web *web, const char *path, const char *text, size_t len);

/* Queues text for one client (inside on_open / on_message only, while the
 * client pointer is valid). Same bounds and errors as broadcast. */
int evc_web_ws_send(evc_web_client *client, const char *text, size_t len);

typedef struct evc_web_ws_stats {
    size_t clients;     /* connected now */
    size_t queued_max;  /* longest queue among those clients, in messages */
    uint64_t dropped;   /* messages dropped since start (all clients, ever) */
} evc_web_ws_stats;

/* Statistics of channel `path`: EVC_OK or EVC_ENOTFOUND. */
int evc_web_ws_stats_get(const evc_web *web, const char *path, evc_web_ws_stats *out);
/* Connected clients of channel `path` (0 for an unknown channel). */
size_t evc_web_ws_clients(const evc_web *web, const char *path);

#ifdef __cplusplus
}
#endif
#endif
