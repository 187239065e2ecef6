/* h_http.c: HTTP requests with any method, headers and body to Central's API
 * over a real TCP socket, the admin login (cookie + CSRF token) the harness's
 * GETs carry, and restarting Central with an edited config (harness.h). */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "../../common/proc.h"

static int h_http_connect(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

static bool h_http_complete(const char *buf, size_t len)
{
    const char *hend = strstr(buf, "\r\n\r\n");
    if (!hend)
        return false;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (!cl || cl > hend)
        return false; /* read to EOF */
    return len >= (size_t)(hend + 4 - buf) + strtoul(cl + 17, NULL, 10);
}

int h_http_request(int port, const char *method, const char *path, const char *headers,
                   const char *body, h_http_resp *out)
{
    memset(out, 0, sizeof *out);
    out->status = -1;
    int s = h_http_connect(port);
    if (s < 0)
        return -1;
    size_t blen = body ? strlen(body) : 0;
    size_t cap = 1024 + strlen(path) + (headers ? strlen(headers) : 0) + blen;
    char *req = malloc(cap);
    int n = snprintf(req, cap,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, port, headers ? headers : "", blen, body ? body : "");
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(s, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(req);
    size_t rcap = 8192, len = 0;
    char *buf = malloc(rcap);
    buf[0] = '\0';
    int64_t deadline = h_now_ms() + 10000;
    while (!h_http_complete(buf, len) && h_now_ms() < deadline) {
        struct pollfd p = {.fd = s, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (rcap - len < 2048)
            buf = realloc(buf, rcap *= 2);
        ssize_t r = recv(s, buf + len, rcap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
    }
    close(s);
    char *hend = strstr(buf, "\r\n\r\n");
    if (strncmp(buf, "HTTP/1.", 7) != 0 || !hend) {
        free(buf);
        return -1;
    }
    out->status = atoi(buf + 9);
    size_t hl = (size_t)(hend - buf);
    if (hl >= sizeof out->headers)
        hl = sizeof out->headers - 1;
    memcpy(out->headers, buf, hl);
    out->headers[hl] = '\0';
    out->body = strdup(hend + 4);
    free(buf);
    return 0;
}

void h_http_resp_free(h_http_resp *r)
{
    free(r->body);
    r->body = NULL;
}

bool h_http_resp_header(const h_http_resp *r, const char *name, char *dst, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->headers, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r\n");
            if (vl >= cap)
                vl = cap - 1;
            memcpy(dst, v, vl);
            dst[vl] = '\0';
            return true;
        }
    }
    return false;
}

int h_http_login(int port, const char *user, const char *password, h_http_session *out)
{
    memset(out, 0, sizeof *out);
    json_t *b = json_pack("{ssss}", "user", user, "password", password);
    char *body = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    h_http_resp r;
    int rc = h_http_request(port, "POST", "/api/login", "Content-Type: application/json\r\n",
                            body, &r);
    free(body);
    if (rc != 0)
        return -1;
    char sc[256];
    if (r.status == 200 && h_http_resp_header(&r, "set-cookie", sc, sizeof sc)) {
        size_t n = strcspn(sc, ";");
        snprintf(out->cookie, sizeof out->cookie, "%.*s", (int)n, sc);
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(out->csrf, sizeof out->csrf, "%s", h_jstr(j, "csrf_token"));
        json_decref(j);
    }
    int status = r.status;
    h_http_resp_free(&r);
    return status;
}

/* One admin session per Central port: the harness's GETs carry it. */
#define H_HTTP_PORTS 16
static struct {
    int port;
    h_http_session s;
} h_admin[H_HTTP_PORTS];

const char *h_http_admin_cookie(int port, bool renew)
{
    int slot = -1;
    for (int i = 0; i < H_HTTP_PORTS; i++)
        if (h_admin[i].port == port || (slot < 0 && h_admin[i].port == 0))
            slot = i;
    if (slot < 0)
        slot = port % H_HTTP_PORTS;
    if (h_admin[slot].port == port && h_admin[slot].s.cookie[0] && !renew)
        return h_admin[slot].s.cookie;
    h_admin[slot].port = port;
    if (h_http_login(port, "admin", "admin123", &h_admin[slot].s) != 200)
        h_admin[slot].s.cookie[0] = '\0';
    return h_admin[slot].s.cookie;
}

static void h_edit(char *text, size_t cap, const char *from, const char *to)
{
    char *p = strstr(text, from);
    if (!p)
        return;
    size_t fl = strlen(from), tl = strlen(to), rest = strlen(p + fl);
    cr_assert(strlen(text) - fl + tl < cap, "config too long");
    memmove(p + tl, p + fl, rest + 1);
    memcpy(p, to, tl);
}

h_proc *h_restart_central_with(h_env *env, const char *from, const char *to, const char *append)
{
    /* h_start_central writes <dir>/central.yaml, whose last section is
     * central's: edit it, then start Central again on the same files. */
    if (env->central)
        h_stop(env->central, 5000);
    char path[PATH_MAX + 64], port[16];
    snprintf(path, sizeof path, "%s/central.yaml", env->dir);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "%s: %s", path, strerror(errno));
    static char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    if (from && to)
        h_edit(text, sizeof text, from, to);
    f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    if (append)
        fputs(append, f);
    fclose(f);
    snprintf(port, sizeof port, "%d", env->central_port);
    char *argv[] = {(char *)proc_bin("EV_Central"), "--config", path, port, env->bus, env->db,
                    NULL};
    env->central = h_spawn(env, "central-2", argv, NULL);
    return env->central;
}
