/* web_http.c: JSON routes under /api/ -- request parsing, body collection
 * (bounded), handler call, response writing on writable callbacks.
 *
 * A response is headers (written at once) plus a body written in chunks of
 * WEB_CHUNK bytes from LWS_CALLBACK_HTTP_WRITEABLE, so a large answer never
 * makes lws buffer more than one chunk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "web_internal.h"

#define WEB_CHUNK 16384
#define WEB_JSON "application/json"

static const struct {
    enum lws_token_indexes tok;
    const char *name;
} web_methods[] = {
    {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
    {WSI_TOKEN_HEAD_URI, "HEAD"},     {WSI_TOKEN_PUT_URI, "PUT"},
    {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_PATCH_URI, "PATCH"},
    {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
};

/* ---- responses ---------------------------------------------------------- */

/* The body and status only: headers added by evc_web_respond_header stay. */
static void res_body_clear(evc_web_response *r)
{
    free(r->ctype);
    free(r->buf);
    r->ctype = NULL;
    r->buf = NULL;
    r->len = 0;
    r->status = 0;
    r->set = false;
}

void web_res_clear(evc_web_response *r)
{
    res_body_clear(r);
    for (size_t i = 0; i < r->nhdr; i++) {
        free(r->hdr[i]);
        free(r->hval[i]);
    }
    memset(r, 0, sizeof *r);
}

int evc_web_respond_header(evc_web_response *res, const char *name, const char *value)
{
    if (!res || !name || !value || !name[0] || res->nhdr >= WEB_RES_HEADERS ||
        strlen(name) > 64 || strlen(value) > 512 || strpbrk(name, ":\r\n ") ||
        strpbrk(value, "\r\n"))
        return EVC_EINVAL;
    size_t nl = strlen(name);
    char *n = malloc(nl + 2);
    char *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return EVC_ENOMEM;
    }
    memcpy(n, name, nl);
    memcpy(n + nl, ":", 2); /* lws wants the colon in the name */
    res->hdr[res->nhdr] = n;
    res->hval[res->nhdr] = v;
    res->nhdr++;
    return EVC_OK;
}

int evc_web_respond(evc_web_response *res, int status, const char *content_type,
                    const char *body, size_t len)
{
    if (!res || status < 100 || status > 599 || (len && !body))
        return EVC_EINVAL;
    char *ct = strdup(content_type ? content_type : WEB_JSON);
    unsigned char *buf = malloc(LWS_PRE + len + 1);
    if (!ct || !buf) {
        free(ct);
        free(buf);
        return EVC_ENOMEM;
    }
    if (len)
        memcpy(buf + LWS_PRE, body, len);
    res_body_clear(res);
    res->status = status;
    res->ctype = ct;
    res->buf = buf;
    res->len = len;
    res->set = true;
    return EVC_OK;
}

int evc_web_respond_json(evc_web_response *res, int status, const char *json)
{
    if (!json)
        return EVC_EINVAL;
    return evc_web_respond(res, status, WEB_JSON, json, strlen(json));
}

int evc_web_respond_error(evc_web_response *res, int status, const char *msg)
{
    if (!msg)
        msg = "";
    /* {"error":"..."}: worst case 6 bytes per input byte. Non-ASCII bytes
     * become '?' so that any input yields valid JSON. */
    size_t cap = strlen(msg) * 6 + 16;
    char *j = malloc(cap);
    if (!j)
        return EVC_ENOMEM;
    size_t n = (size_t)snprintf(j, cap, "{\"error\":\"");
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p == '"' || *p == '\\') {
            j[n++] = '\\';
            j[n++] = (char)*p;
        } else if (*p < 0x20) {
            n += (size_t)snprintf(j + n, cap - n, "\\u%04x", *p);
        } else {
            j[n++] = *p < 0x80 ? (char)*p : '?';
        }
    }
    memcpy(j + n, "\"}", 3);
    int rc = evc_web_respond(res, status, WEB_JSON, j, n + 2);
    free(j);
    return rc;
}

/* Error response built by the server itself (not a handler). */
static void web_fail(web_pss *pss, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void web_fail(web_pss *pss, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (evc_web_respond_error(&pss->res, status, msg) != EVC_OK)
        res_body_clear(&pss->res); /* web_send answers 500 without a body */
}

/* ---- transaction state -------------------------------------------------- */

void web_http_reset(web_pss *pss)
{
    if (pss->pending)
        pss->pending->pss = NULL; /* its owner learns at pending_done */
    free(pss->path);
    free(pss->query);
    free(pss->body);
    free(pss->cookie);
    free(pss->origin);
    free(pss->host);
    free(pss->ctype);
    free(pss->csrf);
    if (pss->authz) /* may hold a Basic password: wiped, not just freed */
        explicit_bzero(pss->authz, strlen(pss->authz));
    free(pss->authz);
    free(pss->pbuf);
    web_res_clear(&pss->res);
    memset(pss, 0, sizeof *pss);
}

/* X-CSRF-Token is not among lws's known headers: a custom one. */
static char *web_custom_dup(struct lws *wsi, const char *name)
{
    int nlen = (int)strlen(name);
    int n = lws_hdr_custom_length(wsi, name, nlen);
    char *s = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (!s)
        return NULL;
    s[0] = '\0';
    if (n > 0 && lws_hdr_custom_copy(wsi, s, n + 1, name, nlen) < 0)
        s[0] = '\0';
    return s;
}

bool web_pss_headers(struct lws *wsi, web_pss *pss)
{
    pss->cookie = web_hdr_dup(wsi, WSI_TOKEN_HTTP_COOKIE);
    pss->origin = web_hdr_dup(wsi, WSI_TOKEN_ORIGIN);
    pss->host = web_hdr_dup(wsi, WSI_TOKEN_HOST);
    pss->ctype = web_hdr_dup(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);
    pss->csrf = web_custom_dup(wsi, "x-csrf-token:");
    pss->authz = web_hdr_dup(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (!lws_get_peer_simple(wsi, pss->peer, sizeof pss->peer))
        pss->peer[0] = '\0';
    web_tls_peer_cn(wsi, pss->tls_cn);
    return pss->cookie && pss->origin && pss->host && pss->ctype && pss->csrf && pss->authz;
}

void web_request_fill(const evc_web *web, const web_pss *pss, evc_web_request *req)
{
    memset(req, 0, sizeof *req);
    req->method = pss->method;
    req->path = pss->path ? pss->path : "";
    req->query = pss->query ? pss->query : "";
    req->cookie = pss->cookie ? pss->cookie : "";
    req->origin = pss->origin ? pss->origin : "";
    req->host = pss->host ? pss->host : "";
    req->content_type = pss->ctype ? pss->ctype : "";
    req->csrf = pss->csrf ? pss->csrf : "";
    req->authorization = pss->authz ? pss->authz : "";
    req->peer = pss->peer;
    req->tls_peer_cn = pss->tls_cn;
    req->tls = web->tls_cert != NULL;
    req->nparams = pss->nparams;
    memcpy(req->params, pss->params, sizeof req->params);
}

/* Writes the status line and headers, then waits for writable to send the
 * body (also an empty one: the transaction ends there). */
static int web_send(struct lws *wsi, web_pss *pss)
{
    evc_web_response *r = &pss->res;
    if (!r->set) {
        r->status = 500;
        r->len = 0;
    }
    unsigned char hb[LWS_PRE + 1024];
    unsigned char *start = hb + LWS_PRE, *p = start, *end = hb + sizeof hb - 1;
    if (lws_add_http_common_headers(wsi, (unsigned)r->status, r->ctype ? r->ctype : WEB_JSON,
                                    (lws_filepos_t)r->len, &p, end))
        return -1;
    static const char nostore[] = "no-store";
    if (lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)nostore, (int)sizeof nostore - 1, &p,
                                    end))
        return -1;
    if (pss->allow[0] &&
        lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
                                    (const unsigned char *)pss->allow, (int)strlen(pss->allow),
                                    &p, end))
        return -1;
    for (size_t i = 0; i < r->nhdr; i++)
        if (lws_add_http_header_by_name(wsi, (const unsigned char *)r->hdr[i],
                                        (const unsigned char *)r->hval[i],
                                        (int)strlen(r->hval[i]), &p, end))
            return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end))
        return -1;
    pss->responding = true;
    pss->sent = 0;
    lws_callback_on_writable(wsi);
    return 0;
}

int web_http_writable(struct lws *wsi, web_pss *pss)
{
    if (pss->kind == PSS_HTTP && pss->ready && !pss->responding) {
        pss->ready = false;
        return web_send(wsi, pss);
    }
    if (pss->kind != PSS_HTTP || !pss->responding)
        return 0;
    evc_web_response *r = &pss->res;
    size_t left = r->len - pss->sent;
    if (left > 0) {
        size_t n = left > WEB_CHUNK ? WEB_CHUNK : left;
        bool final = n == left;
        /* The LWS_PRE bytes before a later chunk are body already sent, so
         * lws may write its framing there. */
        if (lws_write(wsi, r->buf + LWS_PRE + pss->sent, n,
                      final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
            return -1;
        pss->sent += n;
        if (!final) {
            lws_callback_on_writable(wsi);
            return 0;
        }
    }
    bool close = pss->close_after;
    web_http_reset(pss);
    if (close)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Calls the route's handler; returns what the lws callback returns. */
static int web_call(evc_web *web, struct lws *wsi, web_pss *pss)
{
    evc_web_request req;
    web_request_fill(web, pss, &req);
    req.body = pss->body ? pss->body : (strcmp(pss->method, "POST") == 0 ? "" : NULL);
    req.body_len = pss->body_len;
    pss->res.set = false;
    pss->handler(&req, &pss->res, pss->harg);
    if (pss->deferred)
        return 0; /* evc_web_pending_done answers */
    if (!pss->res.set)
        web_fail(pss, 500, "handler of %s %s gave no response", pss->method, pss->path);
    return web_send(wsi, pss);
}

/* ---- deferred responses ------------------------------------------------- */

evc_web_pending *evc_web_defer(evc_web_response *res)
{
    /* Only a handler's own response, which lives inside its connection's
     * web_pss, can be deferred. */
    web_pss *pss = res ? (web_pss *)(void *)((char *)res - offsetof(web_pss, res)) : NULL;
    if (!pss || pss->kind != PSS_HTTP || !pss->routed || pss->deferred || !pss->wsi)
        return NULL;
    evc_web_pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->pss = pss;
    p->wsi = pss->wsi;
    pss->pending = p;
    pss->deferred = true;
    return p;
}

evc_web_response *evc_web_pending_res(evc_web_pending *p) { return p ? &p->res : NULL; }

void evc_web_pending_done(evc_web_pending *p)
{
    if (!p)
        return;
    web_pss *pss = p->pss;
    if (pss) {
        /* Hand the response over to the connection; written on writable. */
        web_res_clear(&pss->res);
        pss->res = p->res;
        memset(&p->res, 0, sizeof p->res);
        if (!pss->res.set) {
            if (evc_web_respond_error(&pss->res, 500, "deferred request gave no response") !=
                EVC_OK)
                res_body_clear(&pss->res);
        }
        pss->pending = NULL;
        pss->deferred = false;
        pss->ready = true;
        lws_callback_on_writable(p->wsi);
    }
    web_res_clear(&p->res);
    free(p);
}

/* The query's arguments joined by '&'. lws keeps one fragment per argument
 * (percent-decoded) and lws_hdr_copy would join them with ','; its total
 * length counts one separator between fragments, so '&' fits the same. */
static char *web_query_dup(struct lws *wsi)
{
    int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    size_t cap = (total > 0 ? (size_t)total : 0) + 1, n = 0;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; total > 0; i++) {
        size_t at = n + (i > 0);
        if (at >= cap - 1)
            break;
        int r = lws_hdr_copy_fragment(wsi, s + at, (int)(cap - at), WSI_TOKEN_HTTP_URI_ARGS, i);
        if (r < 0)
            break; /* no fragment i: the end */
        if (i > 0)
            s[n] = '&';
        n = at + (size_t)r;
    }
    s[n] = '\0';
    return s;
}

static bool is_api_path(const char *p)
{
    return strncmp(p, "/api/", 5) == 0 || strcmp(p, "/api") == 0;
}

int web_http_begin(evc_web *web, struct lws *wsi, web_pss *pss)
{
    web_http_reset(pss);
    pss->kind = PSS_HTTP;
    enum lws_token_indexes tok = WSI_TOKEN_GET_URI;
    const char *method = NULL;
    for (size_t i = 0; i < sizeof web_methods / sizeof web_methods[0]; i++) {
        if (lws_hdr_total_length(wsi, web_methods[i].tok) > 0) {
            tok = web_methods[i].tok;
            method = web_methods[i].name;
            break;
        }
    }
    snprintf(pss->method, sizeof pss->method, "%s", method ? method : "?");
    pss->wsi = wsi;
    pss->path = web_hdr_dup(wsi, tok);
    pss->query = web_query_dup(wsi);
    if (!pss->path || !pss->query || !web_pss_headers(wsi, pss)) {
        web_fail(pss, 500, "out of memory");
        return web_send(wsi, pss);
    }
    /* lws 4.1 already removed dot segments while parsing (docs/WEB.md):
     * this refuses whatever might still look like one. */
    if (!evc_web_path_ok(pss->path)) {
        web_fail(pss, 400, "bad request path");
        return web_send(wsi, pss);
    }
    if (!is_api_path(pss->path)) {
        web_fail(pss, 404, "not found: %s", pss->path);
        return web_send(wsi, pss);
    }
    web_hit hit;
    int found = web_route_find(web, pss->method, pss->path, &hit);
    if (found != 1) {
        if (found == 0) {
            snprintf(pss->allow, sizeof pss->allow, "%s", hit.allow);
            web_fail(pss, 405, "method %s not allowed on %s", pss->method, pss->path);
        } else if (found == -1) {
            web_fail(pss, 404, "no such API route: %s %s", pss->method, pss->path);
        } else {
            web_fail(pss, 500, "out of memory");
        }
        return web_send(wsi, pss);
    }
    pss->handler = hit.handler;
    pss->harg = hit.arg;
    pss->pbuf = hit.pbuf; /* pss owns it now: web_http_reset */
    pss->nparams = hit.nparams;
    memcpy(pss->params, hit.params, sizeof pss->params);
    pss->routed = true;
    bool post = strcmp(pss->method, "POST") == 0;
    char cl[32] = "";
    if (post && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
        lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    unsigned long long n = strtoull(cl, NULL, 10);
    if (web->guard) {
        evc_web_request req;
        web_request_fill(web, pss, &req);
        if (!web->guard(&req, &pss->res, web->guard_arg)) {
            pss->close_after = n > 0; /* the body stays unread */
            if (!pss->res.set)
                web_fail(pss, 403, "refused");
            return web_send(wsi, pss);
        }
        res_body_clear(&pss->res); /* a guard that let it through answers nothing */
    }
    if (post) {
        if (n > web->max_body) {
            /* The body stays unread: answer and close. */
            pss->close_after = true;
            web_fail(pss, 413, "request body of %llu bytes exceeds the limit of %zu bytes on %s",
                     n, web->max_body, pss->path);
            return web_send(wsi, pss);
        }
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
            /* lws 4.1 does not decode chunked request bodies. */
            pss->close_after = true;
            web_fail(pss, 411, "chunked request body not supported on %s: send Content-Length",
                     pss->path);
            return web_send(wsi, pss);
        }
        if (n > 0)
            return 0; /* LWS_CALLBACK_HTTP_BODY* follow */
    }
    return web_call(web, wsi, pss);
}

int web_http_body(evc_web *web, web_pss *pss, const void *in, size_t len)
{
    if (pss->kind != PSS_HTTP || !pss->routed || pss->responding)
        return 0;
    /* Content-Length was checked against max_body; lws delivers no more. */
    if (pss->body_len + len > web->max_body)
        return -1;
    char *nb = realloc(pss->body, pss->body_len + len + 1);
    if (!nb)
        return -1;
    memcpy(nb + pss->body_len, in, len);
    pss->body = nb;
    pss->body_len += len;
    nb[pss->body_len] = '\0';
    return 0;
}

int web_http_body_done(evc_web *web, struct lws *wsi, web_pss *pss)
{
    if (pss->kind != PSS_HTTP || !pss->routed || pss->responding)
        return 0;
    if (!pss->body && !(pss->body = calloc(1, 1)))
        return -1;
    return web_call(web, wsi, pss);
}

void evc_web_set_guard(evc_web *web, evc_web_guard guard, void *arg)
{
    if (!web)
        return;
    web->guard = guard;
    web->guard_arg = arg;
}
