/* rawclient.h: test-only HTTP/1.1 and WebSocket client on raw sockets.
 *
 * The server runs on the test's own loop thread, so the client never blocks:
 * it sends (small requests fit the socket buffer) and then reads with
 * MSG_DONTWAIT from the condition of evc_loop_run_until.
 */
#ifndef RAWCLIENT_H
#define RAWCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evc/loop.h"

typedef struct rc_conn {
    int fd;
    unsigned char *buf; /* bytes received and not consumed */
    size_t len, cap;
    bool eof;
} rc_conn;

typedef struct rc_http_resp {
    int status;
    char headers[4096]; /* raw header block, NUL-terminated */
    char *body;         /* malloc'd, NUL-terminated; caller frees */
    size_t body_len;
} rc_http_resp;

/* Connects to 127.0.0.1:port. rcvbuf > 0 sets SO_RCVBUF first. */
int rc_connect(rc_conn *c, uint16_t port, int rcvbuf);
void rc_close(rc_conn *c);
int rc_send(rc_conn *c, const void *data, size_t len);
/* Reads whatever is available without blocking. */
void rc_pump(rc_conn *c);
void rc_consume(rc_conn *c, size_t n);

/* Sends `req` and runs the loop until a whole response arrived (timeout 5 s).
 * Returns 0 or -1. */
int rc_http(evc_loop *loop, rc_conn *c, const char *req, size_t req_len, rc_http_resp *out);
/* Value of header `name` (case-insensitive) copied into dst; false if absent. */
bool rc_header(const rc_http_resp *r, const char *name, char *dst, size_t cap);

/* WebSocket handshake on path; checks 101 and Sec-WebSocket-Accept. 0 / -1. */
int rc_ws_open(evc_loop *loop, rc_conn *c, uint16_t port, const char *path, int rcvbuf);
/* Same with extra request header lines (each ending in CRLF; NULL = none).
 * Returns 0 on 101, else the HTTP status (or -1 when the connection just
 * closed). proto (proto_cap bytes, may be NULL) gets the answer's
 * Sec-WebSocket-Protocol ("" when none). */
int rc_ws_open_ex(evc_loop *loop, rc_conn *c, uint16_t port, const char *path,
                  const char *extra_headers, int rcvbuf, char *proto, size_t proto_cap);
/* Sends one masked text frame. */
int rc_ws_send_text(rc_conn *c, const char *text, size_t len);
/* Takes one complete frame from the buffer if there is one: returns 1 and
 * sets *opcode, a malloc'd payload (NUL-terminated) and its length; 0 if
 * incomplete. */
int rc_ws_take(rc_conn *c, int *opcode, char **payload, size_t *len);

/* SHA-1 and base64, for Sec-WebSocket-Accept. */
void rc_sha1(const void *data, size_t len, unsigned char out[20]);
void rc_base64(const unsigned char *in, size_t len, char *out);

#endif
