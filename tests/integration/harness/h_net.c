/* h_net.c: free ports, garbage bursts, and Central's HTTP JSON API. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

static int h_bind_port(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Ports are drawn below the kernel's ephemeral range: a port the OS hands
 * out for bind(0) is in that range, and between our check and the program's
 * bind any outgoing connection on the machine may take it as its local end
 * ("Address already in use", seen once under the sanitizer build). The
 * socket is closed at once so that the program under test can bind it (no
 * SO_REUSEADDR needed: it never listened). */
static int h_port_candidate(void)
{
    static unsigned seed;
    static int eph_lo;
    if (!seed) {
        seed = (unsigned)getpid() ^ (unsigned)h_now_ms();
        eph_lo = 32768;
        FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
        if (f) {
            if (fscanf(f, "%d", &eph_lo) != 1 || eph_lo < 11000)
                eph_lo = 32768;
            fclose(f);
        }
    }
    return 10000 + (int)(rand_r(&seed) % (unsigned)(eph_lo - 10000 - 1));
}

static bool h_port_free(int port)
{
    int s = h_bind_port(port);
    if (s < 0)
        return false;
    close(s);
    return true;
}

int h_free_port(void)
{
    for (int tries = 0; tries < 500; tries++) {
        int port = h_port_candidate();
        if (h_port_free(port))
            return port;
    }
    cr_assert_fail("no free loopback port below the ephemeral range");
    return -1;
}

int h_free_port_pair(void)
{
    for (int tries = 0; tries < 500; tries++) {
        int port = h_port_candidate();
        if (h_port_free(port) && h_port_free(port + 1))
            return port;
    }
    cr_assert_fail("no two consecutive free ports found");
    return -1;
}

static int h_connect(int port, int timeout_ms)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    return s;
}

bool h_port_open(int port)
{
    int s = h_connect(port, 500);
    if (s < 0)
        return false;
    close(s);
    return true;
}

static void h_write_all(int s, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(s, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the server may close on garbage: that is its right */
        p += w;
        n -= (size_t)w;
    }
}

void h_garbage_burst(int port, int conns, size_t n)
{
    unsigned char *buf = malloc(n);
    cr_assert(buf != NULL);
    unsigned seed = (unsigned)port * 2654435761u;
    for (int c = 0; c < conns; c++) {
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (unsigned char)(seed >> 16);
        }
        switch (c % 4) {
        case 1: /* frame-looking: STX, a long field run, ETX, bad LRC */
            for (size_t i = 0; i < n; i += 64) {
                buf[i] = 0x02;
                if (i + 40 < n)
                    buf[i + 40] = 0x03;
            }
            break;
        case 2: /* an oversize frame: STX and never an ETX */
            memset(buf, 'A', n);
            buf[0] = 0x02;
            break;
        case 3: /* HTTP-ish nonsense */
            for (size_t i = 0; i + 1 < n; i += 2) {
                buf[i] = (i % 80) ? 'G' : '\r';
                buf[i + 1] = (i % 80) ? 'E' : '\n';
            }
            break;
        default:
            break;
        }
        int s = h_connect(port, 1000);
        if (s < 0)
            continue;
        h_write_all(s, buf, n);
        /* Half the connections leave at once, half wait for the server's
         * reaction (NACKs, an error, a close) for a moment. */
        if (c % 2) {
            struct pollfd pf = {.fd = s, .events = POLLIN};
            char sink[4096];
            if (poll(&pf, 1, 100) > 0) {
                ssize_t r = recv(s, sink, sizeof sink, MSG_DONTWAIT);
                (void)r;
            }
        }
        close(s);
    }
    free(buf);
}

/* ---- HTTP ----------------------------------------------------------------- */

/* Raw response of GET path, NUL-terminated; caller frees. NULL on no answer. */
static char *h_http_get_raw_once(int port, const char *path, size_t *len_out, bool renew);

/* The API needs an admin session (issue 11): GETs carry the harness's admin
 * cookie (h_http.c), logging in again once when Central answers 401 (it was
 * restarted: sessions live in its memory). */
static char *h_http_get_raw(int port, const char *path, size_t *len_out)
{
    char *raw = h_http_get_raw_once(port, path, len_out, false);
    if (raw && strncmp(raw, "HTTP/1.1 401", 12) == 0 && strncmp(path, "/api/health", 11) != 0) {
        free(raw);
        raw = h_http_get_raw_once(port, path, len_out, true);
    }
    return raw;
}

static char *h_http_get_raw_once(int port, const char *path, size_t *len_out, bool renew)
{
    /* /api/health is open: no login before it (tests time it under attack). */
    const char *cookie = strncmp(path, "/api/health", 11) == 0 && path[11] != '/'
                             ? ""
                             : h_http_admin_cookie(port, renew);
    int s = h_connect(port, 2000);
    if (s < 0)
        return NULL;
    char req[768];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: application/json\r\n"
                     "%s%s%sConnection: close\r\n\r\n",
                     path, port, cookie[0] ? "Cookie: " : "", cookie, cookie[0] ? "\r\n" : "");
    h_write_all(s, (unsigned char *)req, (size_t)n);
    size_t cap = 16384, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (cap - len < 4096) {
            cap *= 2;
            char *t = realloc(buf, cap);
            if (!t)
                break;
            buf = t;
        }
        ssize_t r = recv(s, buf + len, cap - len - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        /* Stop early when a Content-Length body is complete (servers that
         * keep the connection open despite Connection: close). */
        buf[len] = '\0';
        char *hend = strstr(buf, "\r\n\r\n");
        if (hend) {
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            if (cl && cl < hend) {
                size_t want = (size_t)strtoul(cl + 17, NULL, 10);
                if (len >= (size_t)(hend + 4 - buf) + want)
                    break;
            }
        }
    }
    close(s);
    if (len == 0) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    *len_out = len;
    return buf;
}

/* Decodes a chunked body in place; returns its length. */
static size_t h_unchunk(char *body)
{
    char *in = body, *out = body;
    for (;;) {
        char *end = NULL;
        unsigned long sz = strtoul(in, &end, 16);
        if (end == in)
            break;
        char *data = strstr(end, "\r\n");
        if (!data || sz == 0)
            break;
        data += 2;
        memmove(out, data, sz);
        out += sz;
        in = data + sz;
        if (strncmp(in, "\r\n", 2) == 0)
            in += 2;
    }
    *out = '\0';
    return (size_t)(out - body);
}

int h_http_status(int port, const char *path)
{
    size_t len = 0;
    char *raw = h_http_get_raw(port, path, &len);
    if (!raw)
        return -1;
    int status = -1;
    if (strncmp(raw, "HTTP/1.", 7) == 0)
        status = atoi(raw + 9);
    free(raw);
    return status;
}

json_t *h_http_get_json(int port, const char *path)
{
    size_t len = 0;
    char *raw = h_http_get_raw(port, path, &len);
    if (!raw)
        return NULL;
    json_t *j = NULL;
    char *body = strstr(raw, "\r\n\r\n");
    if (strncmp(raw, "HTTP/1.", 7) == 0 && atoi(raw + 9) == 200 && body) {
        *body = '\0';
        bool chunked = strcasestr(raw, "Transfer-Encoding: chunked") != NULL;
        body += 4;
        size_t blen = chunked ? h_unchunk(body) : strlen(body);
        json_error_t jerr;
        j = json_loadb(body, blen, 0, &jerr);
        if (!j)
            fprintf(stderr, "harness: GET %s: bad JSON (%s at %d): %.200s\n", path, jerr.text,
                    jerr.position, body);
    }
    free(raw);
    return j;
}

/* ---- JSON helpers --------------------------------------------------------- */

const char *h_json_str(const json_t *obj, const char *const names[])
{
    for (int i = 0; names[i]; i++) {
        const json_t *v = json_object_get(obj, names[i]);
        if (json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

int64_t h_json_int(const json_t *obj, const char *const names[], int64_t dflt)
{
    for (int i = 0; names[i]; i++) {
        const json_t *v = json_object_get(obj, names[i]);
        if (json_is_integer(v))
            return (int64_t)json_integer_value(v);
    }
    return dflt;
}

/* The list inside an answer: a top-level array, or the first array member
 * of an object ({"cps": [...]}, {"sessions": [...]}). */
static json_t *h_list_of(json_t *root, const char *name)
{
    if (json_is_array(root))
        return root;
    json_t *v = json_object_get(root, name);
    if (json_is_array(v))
        return v;
    const char *k;
    json_t *m;
    json_object_foreach(root, k, m) if (json_is_array(m)) return m;
    return NULL;
}

static const char *const H_ID_NAMES[] = {"id", "cp_id", NULL};
static const char *const H_STATE_NAMES[] = {"state", "status", NULL};

json_t *h_api_cp(h_env *env, const char *cp_id, json_t **root)
{
    *root = h_http_get_json(env->http_port, "/api/cps");
    json_t *list = *root ? h_list_of(*root, "cps") : NULL;
    size_t i;
    json_t *cp;
    json_array_foreach(list, i, cp)
    {
        const char *id = h_json_str(cp, H_ID_NAMES);
        if (id && strcmp(id, cp_id) == 0)
            return cp;
    }
    return NULL;
}

const char *h_cp_state(h_env *env, const char *cp_id, char *buf, size_t cap)
{
    json_t *root = NULL;
    json_t *cp = h_api_cp(env, cp_id, &root);
    const char *st = cp ? h_json_str(cp, H_STATE_NAMES) : NULL;
    snprintf(buf, cap, "%s", st ? st : "");
    json_decref(root);
    return buf;
}

typedef struct h_state_want {
    const char *cp_id, *state;
} h_state_want;

/* ACTIVATED counts once Central also heard the CP's engine on the bus with
 * its key (engine_on_bus): before, a request gets cp_no_answer, and a test
 * that acts on the engine next would race its key exchange. */
static bool h_state_is(h_env *env, void *arg)
{
    h_state_want *w = arg;
    json_t *root = NULL;
    json_t *cp = h_api_cp(env, w->cp_id, &root);
    const char *st = cp ? h_json_str(cp, H_STATE_NAMES) : NULL;
    json_t *on_bus = cp ? json_object_get(cp, "engine_on_bus") : NULL;
    bool ok = st && strcasecmp(st, w->state) == 0 &&
              (strcasecmp(w->state, "ACTIVATED") != 0 || !on_bus || json_is_true(on_bus));
    json_decref(root);
    return ok;
}

bool h_wait_cp_state(h_env *env, const char *cp_id, const char *state, int timeout_ms)
{
    h_state_want w = {cp_id, state};
    return h_wait_until(h_state_is, env, &w, timeout_ms);
}

json_t *h_api_sessions(h_env *env, json_t **root)
{
    *root = h_http_get_json(env->http_port, "/api/sessions");
    if (!*root)
        return NULL;
    /* {"active": [...], "recent": [...]}: both, in one array kept in root. */
    json_t *active = json_object_get(*root, "active"), *recent = json_object_get(*root, "recent");
    if (json_is_object(*root) && (json_is_array(active) || json_is_array(recent))) {
        json_t *all = json_array();
        if (json_is_array(active))
            json_array_extend(all, active);
        if (json_is_array(recent))
            json_array_extend(all, recent);
        json_object_set_new(*root, "_all", all);
        return all;
    }
    return h_list_of(*root, "sessions");
}
