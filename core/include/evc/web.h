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

#include "evc/api.h"

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
/* Pattern routes (evc_web_route): '*' segments per pattern, patterns per server. */
#define EVC_WEB_MAX_PARAMS 4
#define EVC_WEB_MAX_PATTERNS 32

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
    /* TLS: PEM certificate (chain) and private key files. Both set = the
     * port speaks only HTTPS/WSS; both NULL/"" = plain HTTP. One without the
     * other, or a file that cannot be read, is EVC_EINVAL naming the path. */
    const char *tls_cert;
    const char *tls_key;
    /* WebSocket subprotocols that channels may require
     * (evc_web_ws_channel_ex), e.g. {"ocpp1.6", NULL}: NULL-terminated, at
     * most EVC_WEB_MAX_SUBPROTOCOLS, copied. NULL = none. libwebsockets
     * must know them when the server starts: a client asking for a
     * subprotocol it does not know is refused before any channel sees it. */
    const char *const *ws_subprotocols;
    /* Client certificates (mutual TLS; needs tls_cert/tls_key): a PEM file
     * of the CA certificate(s) that sign the clients' certificates. Set =
     * the TLS handshake of every connection requires a client certificate
     * that verifies against these CAs only (not the system's CAs): a client
     * without one, or with one from another CA or expired, fails the
     * handshake before any HTTP. The verified certificate's subject
     * CommonName: evc_web_request.tls_peer_cn, evc_web_client_tls_cn.
     * NULL/"" = no client certificate asked for. A file that cannot be read
     * or is not PEM is EVC_EINVAL naming it. Added after ws_subprotocols: a
     * caller built before it (struct_size up to ws_subprotocols) gets NULL. */
    const char *tls_client_ca;
} evc_web_opts;
#define EVC_WEB_MAX_SUBPROTOCOLS 4

/* A request, borrowed by the handler until it returns. Strings are
 * NUL-terminated. `path` is percent-decoded by libwebsockets; `query` is the
 * part after '?' as libwebsockets delivers it: arguments percent-decoded and
 * joined by '&' ("" when none) -- so a value holding an encoded '&' (%26)
 * cannot be told from two arguments: keep such values out of queries. `body` is NULL with body_len 0 for GET; for
 * POST it holds exactly the bytes received (plus a NUL after them). */
typedef struct evc_web_request {
    const char *method; /* "GET", "POST" */
    const char *path;
    const char *query;
    const char *body;
    size_t body_len;
    /* Request headers ("" when absent) and the peer's IP address as text:
     * what a handler or the guard needs for sessions and CSRF checks. */
    const char *cookie;       /* Cookie */
    const char *origin;       /* Origin */
    const char *host;         /* Host */
    const char *content_type; /* Content-Type */
    const char *csrf;         /* X-CSRF-Token */
    const char *authorization; /* Authorization (e.g. "Basic ..."; see
                                  evc_web_basic_auth) */
    const char *peer;         /* e.g. "127.0.0.1" */
    bool tls;                 /* the server runs TLS (cookies get Secure) */
    /* For a pattern route (evc_web_route): the path segments its '*'
     * segments matched, in order, percent-decoded like path, never empty and
     * never holding '/'. Borrowed like the rest; also set for the guard,
     * and for a WebSocket upgrade to a pattern channel
     * (evc_web_ws_channel_ex). nparams 0 for an exact route. */
    size_t nparams;
    const char *params[EVC_WEB_MAX_PARAMS];
    /* With evc_web_opts.tls_client_ca: the subject CommonName of the client
     * certificate the TLS handshake verified, as UTF-8; "" when there is
     * none (no tls_client_ca), or when the subject has no CommonName, more
     * than one, one holding a NUL byte or longer than EVC_WEB_TLS_CN_MAX - 1
     * bytes -- a name that cannot be compared exactly is no name. Never
     * NULL. Borrowed like the rest. */
    const char *tls_peer_cn;
} evc_web_request;
#define EVC_WEB_TLS_CN_MAX 256

/* Route handler. Must call evc_web_respond (or _json) once before returning;
 * a handler that does not gets 500 {"error": "handler gave no response"}.
 * Must not call evc_web_stop. */
typedef void (*evc_web_handler)(const evc_web_request *req, evc_web_response *res, void *arg);

/* Starts the server on `loop`. `opts` and its strings are copied. *out owned
 * by the caller: evc_web_stop. Errors: EVC_EINVAL (bad opts, static_dir not a
 * directory, host name that does not resolve), EVC_EIO naming the address
 * ("web 0.0.0.0:8002: Address already in use"), EVC_ENOMEM. */
EVC_API int evc_web_start(evc_loop *loop, const evc_web_opts *opts, evc_web **out, evc_error *err);

/* The port actually listened on (useful with opts.port 0). */
EVC_API uint16_t evc_web_port(const evc_web *web);

/* Stops the server: disconnects every client, closes libwebsockets' handles
 * (never the loop's other handles), runs the loop briefly until those closes
 * complete, frees everything. Call it before evc_loop_free, from outside the
 * web's own callbacks: after evc_loop_run returned, or from a timer or signal
 * callback. NULL is a no-op. */
EVC_API void evc_web_stop(evc_web *web);

/* Registers handler for `method` ("GET" or "POST") on `path`, which must
 * start with "/api/" (query strings are not part of it). Called on the loop
 * thread with `arg`.
 *
 * Pattern routes: a path segment that is exactly "*" matches any one
 * non-empty segment of a request path ("/api/cps/ * /stop" -- without the
 * spaces, which only keep this comment open -- serves "/api/cps/CP1/stop" but neither "/api/cps/stop" nor
 * "/api/cps/a/b/stop"); the handler finds the matched segments in
 * req->params. At most EVC_WEB_MAX_PARAMS '*' per pattern and
 * EVC_WEB_MAX_PATTERNS patterns per server: one pattern stands for many
 * paths (register "/api/cps/ * /stop" once, not a route per CP) -- it is
 * the handler's job to answer 404 for a segment naming nothing.
 *
 * Which route serves a request: the exact route of its path, else the first
 * pattern, in registration order, that matches the path and has the
 * request's method. A path matched only with other methods gets 405 and an
 * Allow header naming them; a path matched by nothing 404. The guard
 * (evc_web_set_guard) sees every request that found a route, pattern or
 * exact, before its handler.
 *
 * Cost: exact routes are in a hash table (registering and finding one does
 * not grow with their number); each request tries the patterns in turn.
 *
 * EVC_EEXIST if method+path is taken (the same pattern text counts as
 * taken); EVC_EINVAL for a bad method or path, a '*' that is not a whole
 * segment, more than EVC_WEB_MAX_PARAMS of them; EVC_ETOOBIG past
 * EVC_WEB_MAX_PATTERNS patterns; EVC_ENOMEM. */
EVC_API int evc_web_route(evc_web *web, const char *method, const char *path, evc_web_handler handler,
                          void *arg, evc_error *err);

/* Sets the response: status (e.g. 200), content type (NULL = JSON), body of
 * len bytes (copied; NULL with len 0 for none). A second call replaces the
 * first. EVC_ENOMEM, EVC_EINVAL (status outside 100..599). */
EVC_API int evc_web_respond(evc_web_response *res, int status, const char *content_type,
                            const char *body, size_t len);
/* Same with a NUL-terminated JSON text and content type application/json. */
EVC_API int evc_web_respond_json(evc_web_response *res, int status, const char *json);
/* Same with {"error": msg} (msg escaped as a JSON string). */
EVC_API int evc_web_respond_error(evc_web_response *res, int status, const char *msg);
/* Adds a response header (e.g. "set-cookie", "retry-after"; name without
 * ':'), kept across later evc_web_respond calls. At most 4 per response,
 * value at most 512 bytes and without CR/LF: else EVC_EINVAL. */
EVC_API int evc_web_respond_header(evc_web_response *res, const char *name, const char *value);

/* ---- guard: one access check for every route and channel ----------------
 * Called on the loop thread for every request matching a route (before its
 * body is read: req->body is NULL) and for every WebSocket upgrade to a
 * declared channel (res is then a scratch response whose content is not
 * sent). Return true to let it through; false refuses it with the response
 * the guard set (a route) or by closing the upgrade (a channel). Requests
 * that match no route never reach it (404/405 first). */
typedef bool (*evc_web_guard)(const evc_web_request *req, evc_web_response *res, void *arg);
/* Sets (or with NULL removes) the guard. */
EVC_API void evc_web_set_guard(evc_web *web, evc_web_guard guard, void *arg);

/* ---- deferred responses: answer after work on the thread pool ----------
 * A handler calls evc_web_defer instead of responding; the request is then
 * answered when the caller fills evc_web_pending_res(p) and calls
 * evc_web_pending_done(p), later, on the loop thread. If the client went
 * away (or the server stopped) meanwhile, done just frees p. The caller owns
 * p from defer until done, which must be called exactly once. NULL when out
 * of memory (the handler then responds itself). */
typedef struct evc_web_pending evc_web_pending;
EVC_API evc_web_pending *evc_web_defer(evc_web_response *res);
EVC_API evc_web_response *evc_web_pending_res(evc_web_pending *p);
EVC_API void evc_web_pending_done(evc_web_pending *p);

/* ---- helpers for logins (web_auth.c); pure, any thread ------------------ */

/* Copies the value of cookie `name` from a Cookie header into out (cap
 * bytes). False when absent, empty or too long. */
EVC_API bool evc_web_cookie_get(const char *cookie_header, const char *name, char *out, size_t cap);
/* True when Origin names the same host[:port] as Host ("http://h:p" or
 * "https://h:p" vs "h:p", case-insensitive). "null" or garbage: false. */
EVC_API bool evc_web_same_origin(const char *origin, const char *host);
/* True when Content-Type is application/json (parameters such as
 * "; charset=utf-8" allowed). */
EVC_API bool evc_web_is_json(const char *content_type);
/* True when a (normalised) path holds no dot segment, empty segment,
 * backslash, NUL-looking or control byte: what the bridge serves. */
EVC_API bool evc_web_path_ok(const char *path);
/* Decodes an Authorization header "Basic base64(user:password)" (scheme
 * case-insensitive) into user and password (NUL-terminated, cap bytes
 * each). False when the header is absent, of another scheme, not base64, has
 * no ':' or a part does not fit. The password may hold ':' (RFC 7617). */
EVC_API bool evc_web_basic_auth(const char *authorization, char *user, size_t user_cap, char *password,
                        size_t password_cap);
/* Constant-time comparison of two NUL-terminated strings. */
EVC_API bool evc_web_secret_eq(const char *want, const char *got);
/* Copies the top-level string member `key` of the JSON object text into out.
 * False when not JSON, not an object, absent, not a string or too long. */
EVC_API bool evc_web_json_str(const char *json, size_t len, const char *key, char *out, size_t cap);
/* Same for an integer member (a JSON number without fraction or exponent). */
EVC_API bool evc_web_json_int(const char *json, size_t len, const char *key, int64_t *out);

/* Failure throttle: a bounded table of keys (user names, peer addresses).
 * After `limit` failures a key is refused for delay_ms, doubling with every
 * further failure up to max_delay_ms; a success clears the key. An entry is
 * forgotten after max_delay_ms without failures. When the table is full the
 * least recently failed entry is replaced. */
typedef struct evc_web_throttle evc_web_throttle;
EVC_API evc_web_throttle *evc_web_throttle_new(size_t cap, unsigned limit, uint64_t delay_ms,
                                               uint64_t max_delay_ms);
EVC_API void evc_web_throttle_free(evc_web_throttle *t);
/* 0 when key may try now, else the milliseconds until it may. */
EVC_API uint64_t evc_web_throttle_wait(evc_web_throttle *t, const char *key, uint64_t now_ms);
EVC_API void evc_web_throttle_fail(evc_web_throttle *t, const char *key, uint64_t now_ms);
EVC_API void evc_web_throttle_ok(evc_web_throttle *t, const char *key);

/* Login sessions in memory: bounded count, absolute expiry (ttl from the
 * login, not extended by use). Tokens are 256-bit random (libsodium), as 64
 * hex chars; each session has its own CSRF token of the same form. At most
 * per_user sessions of one user (its oldest is replaced), at most cap in all
 * (the oldest is replaced). */
#define EVC_WEB_TOKEN_LEN 64
/* Writes a fresh 256-bit random token as 64 hex chars and a NUL. */
EVC_API void evc_web_token_new(char out[EVC_WEB_TOKEN_LEN + 1]);
typedef struct evc_web_sessions evc_web_sessions;
typedef struct evc_web_session {
    char token[EVC_WEB_TOKEN_LEN + 1];
    char csrf[EVC_WEB_TOKEN_LEN + 1];
    char user[64];
    int role;             /* the caller's meaning (e.g. evc_user_role) */
    uint64_t expires_ms;  /* on the clock given to the calls */
} evc_web_session;
EVC_API evc_web_sessions *evc_web_sessions_new(size_t cap, size_t per_user, uint64_t ttl_ms);
EVC_API void evc_web_sessions_free(evc_web_sessions *s);
/* New session for user; the returned pointer is borrowed until the next
 * call on s. NULL when out of memory or user too long. */
EVC_API const evc_web_session *evc_web_session_create(evc_web_sessions *s, const char *user, int role,
                                                      uint64_t now_ms);
/* Puts back a session saved before a restart (the caller persists tokens:
 * it owns that copy's protection). Same bounds as create; the remaining
 * lifetime is capped at the ttl. False (nothing added) when expired, or
 * when a token or the user is malformed. */
EVC_API bool evc_web_session_restore(evc_web_sessions *s, const evc_web_session *saved, uint64_t now_ms);
/* The live session of token (constant-time compare), NULL when unknown or
 * expired (an expired one is removed). Borrowed until the next call on s. */
EVC_API const evc_web_session *evc_web_session_find(evc_web_sessions *s, const char *token,
                                                    uint64_t now_ms);
/* Ends the session of token; false when there was none. */
EVC_API bool evc_web_session_end(evc_web_sessions *s, const char *token);
EVC_API size_t evc_web_sessions_count(const evc_web_sessions *s);

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
EVC_API int evc_web_ws_channel(evc_web *web, const char *path, evc_web_ws_msg_cb on_message,
                               evc_web_ws_open_cb on_open, void *arg, evc_error *err);

/* Queues text (len bytes, copied once whatever the number of clients) for
 * every client of channel `path`; it is written when each socket can take it.
 * Returns EVC_OK (also with no client), EVC_ENOTFOUND (no such channel),
 * EVC_ETOOBIG (len over ws_queue_bytes), EVC_ENOMEM. */
EVC_API int evc_web_broadcast(evc_web *web, const char *path, const char *text, size_t len);

/* Queues text for one client, while the client pointer is valid: inside
 * on_open / on_message, and for a channel with on_close until on_close
 * returns. Same bounds and errors as broadcast; EVC_ECLOSED once
 * evc_web_ws_close was called for it. */
EVC_API int evc_web_ws_send(evc_web_client *client, const char *text, size_t len);

/* Puts every client of channel `path` through the guard again, with the
 * headers of its upgrade request (e.g. its session cookie), and closes those
 * it refuses now, before anything more is written to them: a session that
 * ended or expired stops receiving. (lws 4.1 drops the close frame on this
 * path: the browser sees 1006 and its reconnect meets the guard.) Returns how many were refused. No guard, unknown
 * channel: 0. Loop thread, not from inside the guard. */
EVC_API size_t evc_web_ws_recheck(evc_web *web, const char *path);

typedef struct evc_web_ws_stats {
    size_t clients;     /* connected now */
    size_t queued_max;  /* longest queue among those clients, in messages */
    uint64_t dropped;   /* messages dropped since start (all clients, ever) */
} evc_web_ws_stats;

/* ---- protocol channels (e.g. OCPP-J): patterns, subprotocol, handles ----
 * A channel declared with evc_web_ws_channel_ex may be a pattern, require a
 * subprotocol and be told when a client goes: its client pointers then stay
 * valid from on_open until on_close returns, so the program may send to a
 * client at any time in between (evc_web_ws_send), not only inside a
 * callback. */
typedef void (*evc_web_ws_close_cb)(evc_web *web, evc_web_client *client, void *arg);

typedef struct evc_web_ws_channel_opts {
    size_t struct_size; /* sizeof(evc_web_ws_channel_opts) */
    /* Exact path, or a pattern whose '*' segments each match one non-empty
     * segment, as evc_web_route ("/ocpp/ *" without the space). An exact
     * channel wins over a pattern; patterns are tried in declaration order.
     * The matched segments: evc_web_client_param, and req->params for the
     * guard. At most EVC_WEB_MAX_PARAMS '*'. */
    const char *path;
    /* Subprotocol the client must ask for (Sec-WebSocket-Protocol); the
     * answer names it. It must be one of evc_web_opts.ws_subprotocols. An
     * upgrade without it is refused (no 101). NULL: the channel takes only
     * clients asking for no subprotocol. */
    const char *subprotocol;
    evc_web_ws_msg_cb on_message; /* optional */
    evc_web_ws_open_cb on_open;   /* optional */
    /* Optional. Called once per client that on_open saw, when its
     * connection ends for any reason (peer, evc_web_ws_close, evc_web_stop);
     * the client pointer is invalid after it returns. */
    evc_web_ws_close_cb on_close;
    void *arg;
} evc_web_ws_channel_opts;

/* Declares a channel as described above (`o` and its strings copied). A
 * channel of evc_web_ws_channel is the same with no pattern, no subprotocol
 * and no on_close. EVC_EINVAL (path not starting with '/', bad '*', an
 * unknown subprotocol), EVC_EEXIST (same path text), EVC_ENOMEM. */
EVC_API int evc_web_ws_channel_ex(evc_web *web, const evc_web_ws_channel_opts *o, evc_error *err);

/* Segment i (from 0) that the channel pattern's '*'s matched for client,
 * percent-decoded, never empty; NULL past the last or for an exact channel.
 * Borrowed as long as the client. */
EVC_API const char *evc_web_client_param(const evc_web_client *client, size_t i);
/* The Authorization header of the client's upgrade request ("" when absent,
 * or when the server has no guard: the headers are kept for the guard's
 * rechecks). Borrowed as long as the client. */
EVC_API const char *evc_web_client_authorization(const evc_web_client *client);
/* The client's IP address as text ("127.0.0.1"), as the guard saw it in
 * req->peer; "" when unknown. Borrowed as long as the client. */
EVC_API const char *evc_web_client_peer(const evc_web_client *client);
/* The client certificate's CommonName, as the guard saw it in
 * req->tls_peer_cn ("" when none). Borrowed as long as the client. */
EVC_API const char *evc_web_client_tls_cn(const evc_web_client *client);
/* One pointer of the caller's own per client (NULL until set): not owned. */
EVC_API void evc_web_client_set_user(evc_web_client *client, void *user);
EVC_API void *evc_web_client_user(const evc_web_client *client);
/* Closes the client once what is queued for it has been written, with
 * WebSocket close status `status` (e.g. 1000, 1008) and a reason (at most
 * 120 bytes; NULL = none). Nothing queued after this call is sent. on_close
 * follows later, from the loop. */
EVC_API void evc_web_ws_close(evc_web_client *client, int status, const char *reason);

/* Statistics of channel `path`: EVC_OK or EVC_ENOTFOUND. */
EVC_API int evc_web_ws_stats_get(const evc_web *web, const char *path, evc_web_ws_stats *out);
/* Connected clients of channel `path` (0 for an unknown channel). */
EVC_API size_t evc_web_ws_clients(const evc_web *web, const char *path);

#ifdef __cplusplus
}
#endif
#endif
