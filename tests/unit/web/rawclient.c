/* rawclient.c: see rawclient.h. */
#include "rawclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- SHA-1 (FIPS 180-1), base64 ----------------------------------------- */

static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++)
        w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6;
        }
        uint32_t t = rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rol(b, 30);
        b = a;
        a = t;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void rc_sha1(const void *data, size_t len, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    const unsigned char *p = data;
    size_t n = len;
    while (n >= 64) {
        sha1_block(h, p);
        p += 64;
        n -= 64;
    }
    unsigned char tail[128] = {0};
    memcpy(tail, p, n);
    tail[n] = 0x80;
    size_t tl = n + 9 <= 64 ? 64 : 128;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        tail[tl - 1 - i] = (unsigned char)(bits >> (8 * i));
    sha1_block(h, tail);
    if (tl == 128)
        sha1_block(h, tail + 64);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++)
            out[4 * i + j] = (unsigned char)(h[i] >> (24 - 8 * j));
}

void rc_base64(const unsigned char *in, size_t len, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

/* ---- sockets ------------------------------------------------------------ */

int rc_connect(rc_conn *c, uint16_t port, int rcvbuf)
{
    memset(c, 0, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Loopback connect completes in the kernel's backlog, without the
     * server's loop having to run. */
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

void rc_close(rc_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
}

int rc_send(rc_conn *c, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void rc_pump(rc_conn *c)
{
    for (;;) {
        if (c->cap - c->len < 65536) {
            size_t ncap = c->cap ? c->cap * 2 : 131072;
            unsigned char *nb = realloc(c->buf, ncap + 1);
            if (!nb)
                return;
            c->buf = nb;
            c->cap = ncap;
            c->buf[c->len] = '\0';
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, MSG_DONTWAIT);
        if (n > 0) {
            c->len += (size_t)n;
            c->buf[c->len] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            c->eof = true;
        return;
    }
}

void rc_consume(rc_conn *c, size_t n)
{
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
    c->buf[c->len] = '\0';
}

/* ---- HTTP --------------------------------------------------------------- */

typedef struct http_wait {
    rc_conn *c;
    size_t hdr_end; /* 0 until the header block is complete */
    long long clen; /* -1: read to EOF */
} http_wait;

static bool http_ready(void *arg)
{
    http_wait *w = arg;
    rc_pump(w->c);
    if (!w->hdr_end && w->c->buf) {
        char *e = strstr((char *)w->c->buf, "\r\n\r\n");
        if (!e)
            return w->c->eof;
        w->hdr_end = (size_t)(e - (char *)w->c->buf) + 4;
        char *cl = strcasestr((char *)w->c->buf, "\r\ncontent-length:");
        w->clen = cl && cl < e ? atoll(cl + 17) : -1;
        if (strncmp((char *)w->c->buf + 8, " 101 ", 5) == 0)
            w->clen = 0; /* switching protocols: WebSocket frames follow */
    }
    if (!w->hdr_end)
        return w->c->eof;
    if (w->clen >= 0 && w->c->len >= w->hdr_end + (size_t)w->clen)
        return true;
    return w->c->eof;
}

int rc_http(evc_loop *loop, rc_conn *c, const char *req, size_t req_len, rc_http_resp *out)
{
    memset(out, 0, sizeof *out);
    if (rc_send(c, req, req_len) != 0)
        return -1;
    http_wait w = {.c = c};
    if (evc_loop_run_until(loop, http_ready, &w, 5000) != EVC_OK || !w.hdr_end)
        return -1;
    if (sscanf((char *)c->buf, "HTTP/1.%*d %d", &out->status) != 1)
        return -1;
    size_t hl = w.hdr_end < sizeof out->headers ? w.hdr_end : sizeof out->headers - 1;
    memcpy(out->headers, c->buf, hl);
    out->headers[hl] = '\0';
    size_t blen = w.clen >= 0 ? (size_t)w.clen : c->len - w.hdr_end;
    if (c->len < w.hdr_end + blen)
        return -1;
    out->body = malloc(blen + 1);
    memcpy(out->body, c->buf + w.hdr_end, blen);
    out->body[blen] = '\0';
    out->body_len = blen;
    rc_consume(c, w.hdr_end + blen);
    return 0;
}

bool rc_header(const rc_http_resp *r, const char *name, char *dst, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *h = p + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ')
                h++;
            size_t n = strcspn(h, "\r\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(dst, h, n);
            dst[n] = '\0';
            return true;
        }
    }
    return false;
}

/* ---- WebSocket ---------------------------------------------------------- */

int rc_ws_open_ex(evc_loop *loop, rc_conn *c, uint16_t port, const char *path,
                  const char *extra_headers, int rcvbuf, char *proto, size_t proto_cap)
{
    if (proto && proto_cap)
        proto[0] = '\0';
    if (rc_connect(c, port, rcvbuf) != 0)
        return -1;
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     path, port, key, extra_headers ? extra_headers : "");
    rc_http_resp r;
    if (rc_http(loop, c, req, (size_t)n, &r) != 0)
        return -1;
    free(r.body);
    if (r.status != 101)
        return r.status > 0 ? r.status : -1;
    char cat[128], got[64], want[64];
    unsigned char dig[20];
    snprintf(cat, sizeof cat, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    rc_sha1(cat, strlen(cat), dig);
    rc_base64(dig, 20, want);
    if (!rc_header(&r, "sec-websocket-accept", got, sizeof got) || strcmp(got, want) != 0)
        return -1;
    if (proto && proto_cap)
        rc_header(&r, "sec-websocket-protocol", proto, proto_cap);
    return 0;
}

int rc_ws_open(evc_loop *loop, rc_conn *c, uint16_t port, const char *path, int rcvbuf)
{
    return rc_ws_open_ex(loop, c, port, path, NULL, rcvbuf, NULL, 0) == 0 ? 0 : -1;
}

int rc_ws_send_text(rc_conn *c, const char *text, size_t len)
{
    unsigned char *f = malloc(len + 14);
    size_t h = 0;
    f[h++] = 0x81;
    if (len < 126) {
        f[h++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        f[h++] = 0x80 | 126;
        f[h++] = (unsigned char)(len >> 8);
        f[h++] = (unsigned char)len;
    } else {
        f[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            f[h++] = (unsigned char)((uint64_t)len >> (8 * i));
    }
    const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};
    memcpy(f + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++)
        f[h + i] = (unsigned char)text[i] ^ mask[i % 4];
    int rc = rc_send(c, f, h + len);
    free(f);
    return rc;
}

int rc_ws_take(rc_conn *c, int *opcode, char **payload, size_t *len)
{
    if (c->len < 2)
        return 0;
    const unsigned char *b = c->buf;
    size_t h = 2;
    uint64_t n = b[1] & 0x7f;
    if (n == 126) {
        if (c->len < 4)
            return 0;
        n = (uint64_t)b[2] << 8 | b[3];
        h = 4;
    } else if (n == 127) {
        if (c->len < 10)
            return 0;
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | b[2 + i];
        h = 10;
    }
    if (c->len < h + n)
        return 0;
    *opcode = b[0] & 0x0f;
    *payload = malloc(n + 1);
    memcpy(*payload, b + h, n);
    (*payload)[n] = '\0';
    *len = n;
    rc_consume(c, h + n);
    return 1;
}
