/* Unit tests of the web bridge's client certificates (evc_web_opts
 * .tls_client_ca): real TLS over 127.0.0.1 with certificates made by the
 * openssl program for each test. The client is OpenSSL in a thread (blocking
 * calls), the server the test's loop on the main thread. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "evc/loop.h"
#include "evc/web.h"

static evc_loop *loop;
static char dir[] = "/tmp/evc-web-tls-XXXXXX";

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[1200];
    snprintf(full, sizeof full, "cd %s && { %s; } >/dev/null 2>&1", dir, cmd);
    cr_assert_eq(system(full), 0, "failed: %s", cmd);
}

/* A CA (name.key, name.pem). */
static void make_ca(const char *name)
{
    sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
       "-subj /CN=%s -keyout %s.key -out %s.pem",
       name, name, name);
}

/* A certificate with subject `subj` signed by CA `ca` (name.key, name.pem). */
static void make_cert(const char *name, const char *subj, const char *ca, const char *ext)
{
    sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '%s' "
       "-keyout %s.key -out %s.csr && printf '%%s\\n' '%s' > %s.ext && "
       "openssl x509 -req -in %s.csr -CA %s.pem -CAkey %s.key -CAcreateserial -days 2 "
       "-extfile %s.ext -out %s.pem",
       subj, name, name, ext, name, name, ca, ca, name, name);
}

static void setup(void)
{
    evc_error err;
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
    cr_assert(mkdtemp(dir), "mkdtemp");
    make_ca("ca");
    make_ca("other");
    make_cert("server", "/CN=localhost", "ca", "subjectAltName=IP:127.0.0.1");
    make_cert("cp1", "/CN=CP1", "ca", "extendedKeyUsage=clientAuth");
    make_cert("cp1other", "/CN=CP1", "other", "extendedKeyUsage=clientAuth");
    /* Two CommonNames, and an O whose text form holds "/CN=": neither may
     * pass for a CP id. */
    make_cert("twocn", "/CN=CP1/CN=CP2", "ca", "extendedKeyUsage=clientAuth");
    make_cert("trick", "/O=x\\/CN=CP2", "ca", "extendedKeyUsage=clientAuth");
}

static void teardown(void)
{
    evc_loop_free(loop);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(web_tls, .init = setup, .fini = teardown, .timeout = 60);

static const char *const subprotocols[] = {"ocpp1.6", NULL};

static char *path_of(const char *name, const char *ext)
{
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s.%s", dir, name, ext);
    return b;
}

typedef struct side {
    int guard_calls, opened;
    char guard_cn[EVC_WEB_TLS_CN_MAX];
    char client_cn[EVC_WEB_TLS_CN_MAX];
} side;

static bool guard(const evc_web_request *req, evc_web_response *res, void *arg)
{
    (void)res;
    side *s = arg;
    s->guard_calls++;
    cr_assert_not_null(req->tls_peer_cn, "never NULL");
    snprintf(s->guard_cn, sizeof s->guard_cn, "%s", req->tls_peer_cn);
    return true;
}

static void on_open(evc_web *web, evc_web_client *c, void *arg)
{
    (void)web;
    side *s = arg;
    s->opened++;
    snprintf(s->client_cn, sizeof s->client_cn, "%s", evc_web_client_tls_cn(c));
}

static evc_web *start(side *s, const char *client_ca)
{
    char cert[256], key[256];
    snprintf(cert, sizeof cert, "%s", path_of("server", "pem"));
    snprintf(key, sizeof key, "%s", path_of("server", "key"));
    evc_web_opts o = {.struct_size = sizeof o, .host = "127.0.0.1",
                      .ws_subprotocols = subprotocols, .tls_cert = cert, .tls_key = key,
                      .tls_client_ca = client_ca};
    evc_web *web = NULL;
    evc_error err;
    cr_assert_eq(evc_web_start(loop, &o, &web, &err), EVC_OK, "start: %s", err.msg);
    evc_web_set_guard(web, guard, s);
    evc_web_ws_channel_opts co = {.struct_size = sizeof co, .path = "/ocpp/*",
                                  .subprotocol = "ocpp1.6", .on_open = on_open, .arg = s};
    cr_assert_eq(evc_web_ws_channel_ex(web, &co, &err), EVC_OK, "%s", err.msg);
    return web;
}

/* ---- the client thread --------------------------------------------------- */

typedef struct client {
    uint16_t port;
    const char *cert, *key; /* NULL = no client certificate */
    int status;             /* HTTP status of the upgrade's answer; -1 = none */
    atomic_bool done;
} client;

static void *client_main(void *arg)
{
    client *c = arg;
    c->status = -1;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    SSL *ssl = NULL;
    int fd = -1;
    char ca[256];
    snprintf(ca, sizeof ca, "%s/ca.pem", dir);
    /* The client checks the server too: only ca signed it. */
    if (!ctx || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1)
        goto out;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (c->cert && (SSL_CTX_use_certificate_file(ctx, c->cert, SSL_FILETYPE_PEM) != 1 ||
                    SSL_CTX_use_PrivateKey_file(ctx, c->key, SSL_FILETYPE_PEM) != 1))
        goto out;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0)
        goto out;
    ssl = SSL_new(ctx);
    if (!ssl || SSL_set_fd(ssl, fd) != 1)
        goto out;
    /* Under TLS 1.3 the server judges the client's certificate after the
     * client's SSL_connect returned: a refusal shows as no answer below. */
    if (SSL_connect(ssl) != 1)
        goto out;
    static const char req[] = "GET /ocpp/CP1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Protocol: ocpp1.6\r\n\r\n";
    if (SSL_write(ssl, req, (int)sizeof req - 1) != (int)sizeof req - 1)
        goto out;
    char buf[512];
    int n = SSL_read(ssl, buf, (int)sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        if (sscanf(buf, "HTTP/1.1 %d", &c->status) != 1)
            c->status = -1;
    }
out:
    if (ssl)
        SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    SSL_CTX_free(ctx);
    atomic_store(&c->done, true);
    return NULL;
}

static bool client_done(void *arg) { return atomic_load(&((client *)arg)->done); }

/* Connects with the client certificate `name` (NULL = none) while the loop
 * runs; returns the HTTP status of the upgrade's answer, -1 for none. */
static int try_upgrade(evc_web *web, const char *name)
{
    char cert[256] = "", key[256] = "";
    if (name) {
        snprintf(cert, sizeof cert, "%s", path_of(name, "pem"));
        snprintf(key, sizeof key, "%s", path_of(name, "key"));
    }
    client c = {.port = evc_web_port(web), .cert = name ? cert : NULL, .key = name ? key : NULL};
    atomic_init(&c.done, false);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, client_main, &c), 0);
    int rc = evc_loop_run_until(loop, client_done, &c, 10000);
    pthread_join(t, NULL);
    cr_assert_eq(rc, EVC_OK, "the client did not finish");
    return c.status;
}

Test(web_tls, good_certificate_reaches_guard_and_client_with_its_cn)
{
    side s = {0};
    evc_web *web = start(&s, path_of("ca", "pem"));
    cr_expect_eq(try_upgrade(web, "cp1"), 101);
    cr_expect_eq(s.guard_calls, 1);
    cr_expect_str_eq(s.guard_cn, "CP1");
    cr_expect_eq(s.opened, 1);
    cr_expect_str_eq(s.client_cn, "CP1");
    evc_web_stop(web);
}

Test(web_tls, no_client_certificate_is_refused_in_the_handshake)
{
    side s = {0};
    evc_web *web = start(&s, path_of("ca", "pem"));
    cr_expect_eq(try_upgrade(web, NULL), -1, "no answer without a client certificate");
    cr_expect_eq(s.guard_calls, 0, "refused before any HTTP");
    cr_expect_eq(s.opened, 0);
    evc_web_stop(web);
}

Test(web_tls, certificate_of_another_ca_is_refused_in_the_handshake)
{
    side s = {0};
    evc_web *web = start(&s, path_of("ca", "pem"));
    cr_expect_eq(try_upgrade(web, "cp1other"), -1, "same CN, another CA");
    cr_expect_eq(s.guard_calls, 0);
    cr_expect_eq(s.opened, 0);
    /* the server still serves a good client after refusing one */
    cr_expect_eq(try_upgrade(web, "cp1"), 101);
    cr_expect_str_eq(s.guard_cn, "CP1");
    evc_web_stop(web);
}

Test(web_tls, ambiguous_subject_gives_no_cn)
{
    side s = {0};
    evc_web *web = start(&s, path_of("ca", "pem"));
    cr_expect_eq(try_upgrade(web, "twocn"), 101, "a valid certificate: the guard decides");
    cr_expect_str_eq(s.guard_cn, "", "two CommonNames: none");
    cr_expect_eq(try_upgrade(web, "trick"), 101);
    cr_expect_eq(s.guard_calls, 2);
    cr_expect_str_eq(s.guard_cn, "", "\"/CN=\" inside another attribute is no CommonName");
    evc_web_stop(web);
}

Test(web_tls, without_client_ca_no_certificate_asked_and_no_cn)
{
    side s = {0};
    evc_web *web = start(&s, NULL);
    cr_expect_eq(try_upgrade(web, "cp1"), 101);
    cr_expect_eq(try_upgrade(web, NULL), 101);
    cr_expect_eq(s.guard_calls, 2);
    cr_expect_str_eq(s.guard_cn, "");
    cr_expect_str_eq(s.client_cn, "");
    evc_web_stop(web);
}

Test(web_tls, bad_client_ca_options)
{
    evc_web *web = NULL;
    evc_error err;
    char cert[256], key[256], missing[300];
    snprintf(cert, sizeof cert, "%s", path_of("server", "pem"));
    snprintf(key, sizeof key, "%s", path_of("server", "key"));
    snprintf(missing, sizeof missing, "%s/nope.pem", dir);
    evc_web_opts o = {.struct_size = sizeof o, .host = "127.0.0.1",
                      .tls_client_ca = path_of("ca", "pem")};
    cr_expect_eq(evc_web_start(loop, &o, &web, &err), EVC_EINVAL, "a client CA without TLS");
    cr_expect(strstr(err.msg, "tls_client_ca"), "%s", err.msg);
    o.tls_cert = cert;
    o.tls_key = key;
    o.tls_client_ca = missing;
    cr_expect_eq(evc_web_start(loop, &o, &web, &err), EVC_EINVAL);
    cr_expect(strstr(err.msg, missing), "names the file: %s", err.msg);
    o.tls_client_ca = path_of("cp1", "ext");
    cr_expect_eq(evc_web_start(loop, &o, &web, &err), EVC_EINVAL, "not PEM");
    cr_expect(strstr(err.msg, "not a PEM file"), "%s", err.msg);
}

Test(web_tls, caller_built_before_tls_client_ca_still_starts)
{
    /* Its struct ends at ws_subprotocols: what follows is not read. */
    struct {
        evc_web_opts o;
    } big;
    memset(&big, 0x5a, sizeof big); /* garbage where tls_client_ca would be */
    evc_web_opts *o = &big.o;
    memset(o, 0, offsetof(evc_web_opts, tls_client_ca));
    o->struct_size = offsetof(evc_web_opts, tls_client_ca);
    o->host = "127.0.0.1";
    evc_web *web = NULL;
    evc_error err;
    cr_expect_eq(evc_web_start(loop, o, &web, &err), EVC_OK, "%s", err.msg);
    evc_web_stop(web);
    o->struct_size = offsetof(evc_web_opts, ws_subprotocols);
    cr_expect_eq(evc_web_start(loop, o, &web, &err), EVC_EINVAL, "shorter than any version");
}
