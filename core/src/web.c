/* web.c: evc_web lifecycle (libwebsockets on the evc_loop's libuv loop) and
 * the one lws protocol callback, which dispatches to web_http.c / web_ws.c.
 *
 * One protocol serves HTTP and every WebSocket channel: browsers connect
 * without a subprotocol, which lws binds to protocols[0]; the channel is then
 * chosen by the request path. "/api" is a callback mount so that it wins over
 * the static "/" mount.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <uv.h>

#include "evc/log.h"
#include "web_internal.h"


#define WEB_STOP_DRAIN_MS 2000

/* Extensions lws 4.1 does not all know; unknown ones would get 415. */
static const struct lws_protocol_vhost_options web_mimes[] = {
    {&web_mimes[1], NULL, ".js", "text/javascript"},
    {&web_mimes[2], NULL, ".mjs", "text/javascript"},
    {&web_mimes[3], NULL, ".css", "text/css"},
    {&web_mimes[4], NULL, ".svg", "image/svg+xml"},
    {&web_mimes[5], NULL, ".json", "application/json"},
    {&web_mimes[6], NULL, ".ico", "image/x-icon"},
    {&web_mimes[7], NULL, ".html", "text/html"},
    {&web_mimes[8], NULL, ".txt", "text/plain"},
    {&web_mimes[9], NULL, ".png", "image/png"},
    {&web_mimes[10], NULL, ".map", "application/json"},
    {&web_mimes[11], NULL, ".woff2", "font/woff2"},
    {NULL, NULL, ".wasm", "application/wasm"},
};

char *web_hdr_dup(struct lws *wsi, enum lws_token_indexes h)
{
    int n = lws_hdr_total_length(wsi, h);
    if (n < 0)
        n = 0;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    s[0] = '\0';
    if (n > 0 && lws_hdr_copy(wsi, s, n + 1, h) < 0)
        s[0] = '\0';
    return s;
}

/* A client certificate OpenSSL did not verify (x509_ctx: its
 * X509_STORE_CTX): the operator needs to see why a charger cannot connect;
 * rate-limited, a flood of bad handshakes must not flood the log. (A client
 * sending no certificate fails before this: not logged.) */
static void web_cert_refused(void *x509_ctx)
{
    X509_STORE_CTX *xs = x509_ctx;
    X509 *cert = xs ? X509_STORE_CTX_get_current_cert(xs) : NULL;
    char subject[256] = "?";
    if (cert)
        X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    int e = xs ? X509_STORE_CTX_get_error(xs) : X509_V_ERR_UNSPECIFIED;
    EVC_LOG_LIMITED(EVC_LOG_WARN, WEB_LOG, NULL, "TLS client certificate %s refused: %s", subject,
                    X509_verify_cert_error_string(e));
}

static int web_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
    /* Client certificate check (tls_client_ca): lws may call this with no
     * wsi, and its default answer (0) would accept any certificate, also
     * one OpenSSL could not verify: pass OpenSSL's verdict (len) on. */
    if (reason == LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION) {
        if (!len)
            web_cert_refused(user);
        return len ? 0 : 1;
    }
    struct lws_context *ctx = lws_get_context(wsi);
    evc_web *web = ctx ? lws_context_user(ctx) : NULL;
    web_pss *pss = user;
    if (!pss || !web) /* context- and vhost-level events: lws defaults */
        return lws_callback_http_dummy(wsi, reason, user, in, len);

    switch (reason) {
    case LWS_CALLBACK_HTTP:
        return web_http_begin(web, wsi, pss);
    case LWS_CALLBACK_HTTP_BODY:
        return web_http_body(web, pss, in, len);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return web_http_body_done(web, wsi, pss);
    case LWS_CALLBACK_HTTP_WRITEABLE:
        return web_http_writable(wsi, pss);
    case LWS_CALLBACK_CLOSED_HTTP:
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
        if (pss->kind == PSS_HTTP)
            web_http_reset(pss);
        return 0;

    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        return web_ws_filter(web, wsi);
    case LWS_CALLBACK_ESTABLISHED:
        /* The upgraded connection may still hold the HTTP fields. */
        if (pss->kind == PSS_HTTP)
            web_http_reset(pss);
        return web_ws_established(web, wsi, pss);
    case LWS_CALLBACK_RECEIVE:
        return web_ws_receive(web, wsi, pss, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return web_ws_writable(wsi, pss);
    case LWS_CALLBACK_CLOSED:
        web_ws_closed(web, pss);
        return 0;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void web_lws_log(int level, const char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        n--;
    /* One line per WebSocket upgrade the guard refused: a flood of them
     * would flood the log; web_ws_filter logs them at debug level. */
    if (strstr(line, "User code denied connection"))
        return;
    evc_log(level & LLL_ERR ? EVC_LOG_ERROR : EVC_LOG_WARN, WEB_LOG, NULL, "libwebsockets: %.*s",
            (int)n, line);
}

/* ---- stop --------------------------------------------------------------- */

static void count_closing(uv_handle_t *h, void *arg)
{
    if (uv_is_closing(h))
        (*(unsigned *)arg)++;
}

/* True once no handle of the loop is waiting for its close callback: lws
 * closes all of its handles in the first lws_context_destroy. */
static bool no_closing_handles(void *arg)
{
    unsigned n = 0;
    uv_walk(arg, count_closing, &n);
    return n == 0;
}

/* PLATFORM-NOTES recipe for a foreign loop: destroy (closes lws's handles,
 * never ours), let the loop run the close callbacks, destroy again (frees). */
static void web_ctx_destroy(evc_web *web)
{
    if (!web->ctx)
        return;
    lws_context_destroy(web->ctx);
    uv_loop_t *uv = evc_loop_native(web->loop);
    if (evc_loop_run_until(web->loop, no_closing_handles, uv, WEB_STOP_DRAIN_MS) != EVC_OK) {
        /* Freeing now would leave libuv a close callback into freed
         * memory: leak the context instead. */
        EVC_LOGE(WEB_LOG, "stop: handles still closing after %d ms; libwebsockets context "
                          "leaked on purpose",
                 WEB_STOP_DRAIN_MS);
        web->ctx = NULL;
        web->vh = NULL;
        return;
    }
    lws_context_destroy(web->ctx);
    web->ctx = NULL;
    web->vh = NULL;
}

void evc_web_stop(evc_web *web)
{
    if (!web)
        return;
    web_ctx_destroy(web);
    web_routes_free(web);
    web_channels_free(web);
    free(web->host);
    free(web->static_dir);
    free(web->tls_cert);
    free(web->tls_key);
    free(web->tls_client_ca);
    for (size_t i = 0; i < web->nsubprotocols; i++)
        free(web->subprotocols[i]);
    free(web);
}

/* ---- start -------------------------------------------------------------- */

/* lws says only "failed to bind": try the same bind ourselves to name the
 * cause (address in use, not an address of this host...). */
static int web_bind_error(const evc_web *web, const char *iface, evc_error *err)
{
    const char *host = web->host ? web->host : "0.0.0.0";
    const char *addr = iface ? iface : "0.0.0.0";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(web->port);
        sl = sizeof *s4;
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(web->port);
        sl = sizeof *s6;
    } else {
        return evc_error_set(err, EVC_EIO, "web %s:%u: cannot listen on interface %s (see log)",
                             host, web->port, addr);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return evc_error_set(err, EVC_EIO, "web %s:%u: socket: %s", host, web->port,
                             strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, (struct sockaddr *)&ss, sl);
    int e = errno;
    close(fd);
    if (rc != 0)
        return evc_error_set(err, EVC_EIO, "web %s:%u: %s", host, web->port, strerror(e));
    return evc_error_set(err, EVC_EIO, "web %s:%u: libwebsockets could not listen (see log)",
                         host, web->port);
}

/* What lws gets as "iface": an IP literal or an interface name pass as they
 * are; a host name is resolved here (lws 4.1 does not), IPv4 first. */
static int web_resolve(const char *host, char *out, size_t cap, evc_error *err)
{
    unsigned char tmp[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, tmp) == 1 || inet_pton(AF_INET6, host, tmp) == 1 ||
        if_nametoindex(host) != 0) {
        snprintf(out, cap, "%s", host);
        return EVC_OK;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0)
        return evc_error_set(err, EVC_EINVAL, "web host %s: %s", host, gai_strerror(rc));
    const struct addrinfo *pick = res;
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next)
        if (ai->ai_family == AF_INET) {
            pick = ai;
            break;
        }
    const void *a = pick->ai_family == AF_INET
                        ? (const void *)&((struct sockaddr_in *)pick->ai_addr)->sin_addr
                        : (const void *)&((struct sockaddr_in6 *)pick->ai_addr)->sin6_addr;
    const char *ok = inet_ntop(pick->ai_family, a, out, (socklen_t)cap);
    freeaddrinfo(res);
    if (!ok)
        return evc_error_set(err, EVC_EINVAL, "web host %s: cannot use its address", host);
    return EVC_OK;
}

/* struct_size of a caller that knows tls_client_ca; older callers stop at
 * ws_subprotocols. */
#define WEB_OPTS_SIZE_CA (offsetof(evc_web_opts, tls_client_ca) + sizeof(const char *))
#define WEB_OPTS_SIZE_MIN (offsetof(evc_web_opts, ws_subprotocols) + sizeof(const char *const *))

static int web_copy_opts(evc_web *web, const evc_web_opts *o, evc_error *err)
{
    web->port = o->port;
    web->max_body = o->max_body ? o->max_body : EVC_WEB_DEFAULT_MAX_BODY;
    web->q_msgs = o->ws_queue_msgs ? o->ws_queue_msgs : EVC_WEB_DEFAULT_QUEUE_MSGS;
    web->q_bytes = o->ws_queue_bytes ? o->ws_queue_bytes : EVC_WEB_DEFAULT_QUEUE_BYTES;
    if (web->max_body > (size_t)INT_MAX / 2)
        return evc_error_set(err, EVC_EINVAL, "web: max_body %zu too large", web->max_body);
    if (o->host && o->host[0] && !(web->host = strdup(o->host)))
        return evc_error_set(err, EVC_ENOMEM, "web: out of memory");
    bool has_cert = o->tls_cert && o->tls_cert[0], has_key = o->tls_key && o->tls_key[0];
    if (has_cert != has_key)
        return evc_error_set(err, EVC_EINVAL, "web: TLS needs both a certificate and a key "
                                              "file (only the %s is set)",
                             has_cert ? "certificate" : "key");
    /* A caller built before tls_client_ca has a shorter struct. */
    const char *ca = o->struct_size >= WEB_OPTS_SIZE_CA ? o->tls_client_ca : NULL;
    bool has_ca = ca && ca[0];
    if (has_ca && !has_cert)
        return evc_error_set(err, EVC_EINVAL, "web: tls_client_ca %s needs tls_cert and "
                                              "tls_key (client certificates are a TLS feature)",
                             ca);
    if (has_cert) {
        /* lws only logs an unreadable file: name it here. */
        const char *files[3] = {o->tls_cert, o->tls_key, has_ca ? ca : NULL};
        const char *what[3] = {"certificate", "key", "client CA"};
        for (int i = 0; i < 3 && files[i]; i++) {
            FILE *f = fopen(files[i], "r");
            char line[64] = "";
            if (!f)
                return evc_error_set(err, EVC_EINVAL, "web: TLS %s %s: %s", what[i], files[i],
                                     strerror(errno));
            bool pem = false;
            while (!pem && fgets(line, sizeof line, f))
                pem = strncmp(line, "-----BEGIN ", 11) == 0;
            fclose(f);
            if (!pem)
                return evc_error_set(err, EVC_EINVAL, "web: TLS %s %s: not a PEM file",
                                     what[i], files[i]);
        }
        if (!(web->tls_cert = strdup(o->tls_cert)) || !(web->tls_key = strdup(o->tls_key)) ||
            (has_ca && !(web->tls_client_ca = strdup(ca))))
            return evc_error_set(err, EVC_ENOMEM, "web: out of memory");
    }
    for (size_t i = 0; o->ws_subprotocols && o->ws_subprotocols[i]; i++) {
        const char *sp = o->ws_subprotocols[i];
        if (i == EVC_WEB_MAX_SUBPROTOCOLS || !sp[0] || strcmp(sp, WEB_PROTOCOL) == 0)
            return evc_error_set(err, EVC_EINVAL, "web: subprotocol \"%s\" refused (empty, "
                                                  "reserved or more than %d)",
                                 sp, EVC_WEB_MAX_SUBPROTOCOLS);
        if (!(web->subprotocols[i] = strdup(sp)))
            return evc_error_set(err, EVC_ENOMEM, "web: out of memory");
        web->nsubprotocols = i + 1;
    }
    if (o->static_dir && o->static_dir[0]) {
        char real[PATH_MAX];
        struct stat st;
        errno = 0;
        if (!realpath(o->static_dir, real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
            return evc_error_set(err, EVC_EINVAL, "web: static_dir %s: %s", o->static_dir,
                                 errno ? strerror(errno) : "not a directory");
        if (!(web->static_dir = strdup(real)))
            return evc_error_set(err, EVC_ENOMEM, "web: out of memory");
    }
    return EVC_OK;
}

static void web_fill_protocols_mounts(evc_web *web)
{
    web->protocols[0] = (struct lws_protocols){
        .name = WEB_PROTOCOL,
        .callback = web_callback,
        .per_session_data_size = sizeof(web_pss),
        .rx_buffer_size = 0,
    };
    /* The same callback and per-connection data for every subprotocol: the
     * channel, found by path, checks which one the client got. The entry
     * after the last stays zeroed: the terminator. */
    for (size_t i = 0; i < web->nsubprotocols; i++) {
        web->protocols[i + 1] = web->protocols[0];
        web->protocols[i + 1].name = web->subprotocols[i];
    }
    web->mount_api = (struct lws_http_mount){
        .mountpoint = "/api",
        .mountpoint_len = 4,
        .origin = WEB_PROTOCOL,
        .origin_protocol = LWSMPRO_CALLBACK,
    };
    if (web->static_dir) {
        web->mount_static = (struct lws_http_mount){
            .mountpoint = "/",
            .mountpoint_len = 1,
            .origin = web->static_dir,
            .def = "index.html",
            .origin_protocol = LWSMPRO_FILE,
            .extra_mimetypes = web_mimes,
        };
        web->mount_api.mount_next = &web->mount_static;
    }
}

int evc_web_start(evc_loop *loop, const evc_web_opts *opts, evc_web **out, evc_error *err)
{
    if (out)
        *out = NULL;
    if (!loop || !opts || !out || opts->struct_size < WEB_OPTS_SIZE_MIN)
        return evc_error_set(err, EVC_EINVAL, "web: bad arguments (struct_size %zu, want %zu)",
                             opts ? opts->struct_size : 0, sizeof(evc_web_opts));
    evc_web *web = calloc(1, sizeof *web);
    if (!web)
        return evc_error_set(err, EVC_ENOMEM, "web: out of memory");
    web->loop = loop;
    int rc = web_copy_opts(web, opts, err);
    if (rc != EVC_OK) {
        evc_web_stop(web);
        return rc;
    }
    web_fill_protocols_mounts(web);

    lws_set_log_level(LLL_ERR | LLL_WARN, web_lws_log);
    char iface[INET6_ADDRSTRLEN + IF_NAMESIZE];
    if (web->host && (rc = web_resolve(web->host, iface, sizeof iface, err)) != EVC_OK) {
        evc_web_stop(web);
        return rc;
    }
    void *foreign[1] = {evc_loop_native(loop)};
    struct lws_context_creation_info ci;
    memset(&ci, 0, sizeof ci);
    ci.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
    if (web->tls_cert)
        ci.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    ci.foreign_loops = foreign;
    ci.user = web;
    ci.port = CONTEXT_PORT_NO_LISTEN;
    web->ctx = lws_create_context(&ci);
    if (!web->ctx) {
        evc_web_stop(web);
        return evc_error_set(err, EVC_EIO,
                             "web: libwebsockets context failed (libuv event plugin: is the "
                             "package libwebsockets-evlib-uv installed?)");
    }

    struct lws_context_creation_info vi;
    memset(&vi, 0, sizeof vi);
    vi.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    /* lws 4.1 with IPv6 puts an IPv4 address into its IPv6 socket wrongly
     * and ends up listening on every interface: an IPv4 host gets an IPv4
     * socket. */
    struct in_addr a4;
    if (web->host && inet_pton(AF_INET, iface, &a4) == 1)
        vi.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    if (opts->security_headers)
        vi.options |= LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
    vi.port = web->port;
    vi.iface = web->host ? iface : NULL;
    vi.protocols = web->protocols;
    vi.mounts = &web->mount_api;
    vi.vhost_name = "evc";
    /* lws 4.1 decides per vhost from this vhost's own options. */
    if (web->tls_cert)
        vi.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    /* HTTP/1.1 only: over h2, lws 4.1 does not give custom headers
     * (X-CSRF-Token) to lws_hdr_custom_copy. */
    vi.alpn = "http/1.1";
    vi.ssl_cert_filepath = web->tls_cert;
    vi.ssl_private_key_filepath = web->tls_key;
    if (web->tls_client_ca) {
        /* Only the operator's CA: a certificate some public CA signed for
         * anyone must not pass. */
        vi.options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT |
                      LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
        vi.ssl_ca_filepath = web->tls_client_ca;
    }
    web->vh = lws_create_vhost(web->ctx, &vi);
    /* An address lws cannot bind still gives a vhost, listening nowhere. */
    int port = web->vh ? lws_get_vhost_listen_port(web->vh) : 0;
    if (!web->vh && web->tls_cert) {
        rc = evc_error_set(err, EVC_EINVAL, "web: TLS certificate %s / key %s%s%s refused by "
                                            "libwebsockets (see log: a key not matching the "
                                            "certificate?)",
                           web->tls_cert, web->tls_key,
                           web->tls_client_ca ? " / client CA " : "",
                           web->tls_client_ca ? web->tls_client_ca : "");
        evc_web_stop(web);
        return rc;
    }
    if (port <= 0 || port > 65535) {
        rc = web_bind_error(web, web->host ? iface : NULL, err);
        evc_web_stop(web);
        return rc;
    }
    web->port = (uint16_t)port;
    EVC_LOGI(WEB_LOG, "listening on %s:%u (%s%s)%s%s", web->host ? web->host : "*", web->port,
             web->tls_cert ? "https" : "http",
             web->tls_client_ca ? ", client certificates required" : "",
             web->static_dir ? ", static files from " : "",
             web->static_dir ? web->static_dir : "");
    *out = web;
    return EVC_OK;
}

uint16_t evc_web_port(const evc_web *web) { return web ? web->port : 0; }

/* Read with OpenSSL itself rather than lws_tls_peer_cert_info, whose text
 * form of the subject would let another attribute's value pass for the
 * CommonName: exactly one CN entry, its UTF-8 bytes, no NUL inside. */
void web_tls_peer_cn(struct lws *wsi, char out[EVC_WEB_TLS_CN_MAX])
{
    out[0] = '\0';
    SSL *ssl = wsi && lws_is_ssl(wsi) ? lws_get_ssl(wsi) : NULL;
    /* X509_V_OK also when the client sent no certificate: the certificate
     * itself must be there too. */
    X509 *x = ssl && SSL_get_verify_result(ssl) == X509_V_OK ? SSL_get0_peer_certificate(ssl)
                                                             : NULL;
    const X509_NAME *name = x ? X509_get_subject_name(x) : NULL;
    int i = name ? X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
    if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
        return;
    const ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char *u = NULL;
    int n = d ? ASN1_STRING_to_UTF8(&u, d) : -1;
    if (n > 0 && n < EVC_WEB_TLS_CN_MAX && !memchr(u, 0, (size_t)n)) {
        memcpy(out, u, (size_t)n);
        out[n] = '\0';
    }
    OPENSSL_free(u);
}
