/* web_ws.c: WebSocket channels -- clients per channel, bounded per-client
 * queues of shared messages, writes on writable callbacks.
 *
 * A broadcast copies the text once into a reference-counted web_msg and puts
 * a reference in every client's ring. A ring is bounded in messages and in
 * bytes; when full the oldest entry is dropped (and counted), so a client
 * that stops reading costs at most that bound. A queue entry is never in
 * flight: lws_write either sends it or keeps the unsent tail itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "web_internal.h"

/* The channel declared with this path text (exact or pattern). */
static web_channel *channel_find(const evc_web *web, const char *path)
{
    for (size_t i = 0; i < web->nchannels; i++)
        if (strcmp(web->channels[i]->path, path) == 0)
            return web->channels[i];
    return NULL;
}

/* The channel serving a request path: the exact one, else the first pattern
 * in declaration order that matches it. */
static web_channel *channel_serving(const evc_web *web, const char *path)
{
    for (size_t i = 0; i < web->nchannels; i++)
        if (!web->channels[i]->nwild && strcmp(web->channels[i]->path, path) == 0)
            return web->channels[i];
    for (size_t i = 0; i < web->nchannels; i++)
        if (web->channels[i]->nwild && web_pattern_match(web->channels[i]->path, path, NULL, NULL))
            return web->channels[i];
    return NULL;
}

static web_msg *msg_new(const char *text, size_t len)
{
    web_msg *m = malloc(sizeof *m + LWS_PRE + len + 1);
    if (!m)
        return NULL;
    m->refs = 0;
    m->len = len;
    if (len)
        memcpy(m->data + LWS_PRE, text, len);
    m->data[LWS_PRE + len] = '\0';
    return m;
}

static void msg_unref(web_msg *m)
{
    if (--m->refs == 0)
        free(m);
}

static web_msg *client_pop(evc_web_client *c)
{
    web_msg *m = c->q[c->qhead];
    c->qhead = (c->qhead + 1) % c->web->q_msgs;
    c->qlen--;
    c->qbytes -= m->len;
    return m;
}

static void client_push(evc_web_client *c, web_msg *m)
{
    const evc_web *web = c->web;
    while (c->qlen > 0 && (c->qlen >= web->q_msgs || c->qbytes + m->len > web->q_bytes)) {
        msg_unref(client_pop(c));
        c->ch->dropped++;
    }
    c->q[(c->qhead + c->qlen) % web->q_msgs] = m;
    m->refs++;
    c->qlen++;
    c->qbytes += m->len;
    lws_callback_on_writable(c->wsi);
}

int evc_web_broadcast(evc_web *web, const char *path, const char *text, size_t len)
{
    if (!web || !path || (len && !text))
        return EVC_EINVAL;
    web_channel *ch = channel_find(web, path);
    if (!ch)
        return EVC_ENOTFOUND;
    if (len > web->q_bytes)
        return EVC_ETOOBIG;
    if (!ch->clients)
        return EVC_OK;
    web_msg *m = msg_new(text, len);
    if (!m)
        return EVC_ENOMEM;
    for (evc_web_client *c = ch->clients; c; c = c->next)
        client_push(c, m);
    return EVC_OK;
}

int evc_web_ws_send(evc_web_client *client, const char *text, size_t len)
{
    if (!client || (len && !text))
        return EVC_EINVAL;
    if (client->closing)
        return EVC_ECLOSED;
    if (len > client->web->q_bytes)
        return EVC_ETOOBIG;
    if (client->qlen == 0 && !client->doomed && !client->gone &&
        !lws_partial_buffered(client->wsi)) {
        /* Nothing is waiting ahead of it: written now, as lws_write from the
         * WRITEABLE callback would. Asking for POLLOUT first cost two
         * epoll_ctl calls and a loop turn per message, the largest part of
         * the OCPP gateway's CPU per call (bench_ocpp's profile). What the
         * socket does not take lws keeps and sends on POLLOUT itself, and
         * until then lws_partial_buffered routes later messages to the queue,
         * so the order holds. */
        unsigned char *buf = malloc(LWS_PRE + len + 1);
        if (!buf)
            return EVC_ENOMEM;
        if (len)
            memcpy(buf + LWS_PRE, text, len);
        int n = lws_write(client->wsi, buf + LWS_PRE, len, LWS_WRITE_TEXT);
        free(buf);
        if (n < 0) {
            client->doomed = true; /* closed at its writable, as a recheck's refusal */
            lws_callback_on_writable(client->wsi);
            return EVC_ECLOSED;
        }
        return EVC_OK;
    }
    web_msg *m = msg_new(text, len);
    if (!m)
        return EVC_ENOMEM;
    client_push(client, m);
    return EVC_OK;
}

/* ---- lws callbacks ------------------------------------------------------ */

/* The channel of wsi's request path, when the subprotocol lws bound the
 * connection to is the one the channel requires. *pathp (malloc'd, the
 * caller frees) gets the path when pathp is not NULL. */
static web_channel *channel_of(evc_web *web, struct lws *wsi, char **pathp)
{
    char *path = web_hdr_dup(wsi, WSI_TOKEN_GET_URI);
    if (!path)
        return NULL;
    web_channel *ch = channel_serving(web, path);
    const struct lws_protocols *pr = lws_get_protocol(wsi);
    const char *got = pr && pr->name ? pr->name : WEB_PROTOCOL;
    const char *want = ch && ch->subprotocol ? ch->subprotocol : WEB_PROTOCOL;
    if (!ch) {
        EVC_LOGD(WEB_LOG, "websocket to %s refused: no such channel", path);
    } else if (strcmp(got, want) != 0) {
        EVC_LOGD(WEB_LOG, "websocket to %s refused: subprotocol %s, the channel requires %s",
                 path, got, want);
        ch = NULL;
    }
    if (pathp && ch)
        *pathp = path;
    else
        free(path);
    return ch;
}

int web_ws_filter(evc_web *web, struct lws *wsi)
{
    char *path = NULL;
    web_channel *ch = channel_of(web, wsi, &path);
    if (!ch)
        return 1;
    if (!web->guard) {
        free(path);
        return 0;
    }
    /* The upgrade request through the same guard as the routes, with the
     * segments a pattern channel matched. */
    web_pss tmp;
    memset(&tmp, 0, sizeof tmp);
    snprintf(tmp.method, sizeof tmp.method, "GET");
    tmp.path = path;
    bool ok = web_pss_headers(wsi, &tmp);
    if (ok && ch->nwild) {
        ok = (tmp.pbuf = malloc(strlen(path) + 1)) != NULL;
        if (ok)
            web_pattern_match(ch->path, path, tmp.pbuf, tmp.params);
        tmp.nparams = ch->nwild;
    }
    if (ok) {
        evc_web_request req;
        web_request_fill(web, &tmp, &req);
        ok = web->guard(&req, &tmp.res, web->guard_arg);
        if (!ok)
            EVC_LOGD(WEB_LOG, "websocket to %s refused by the guard", tmp.path);
    }
    web_http_reset(&tmp);
    return ok ? 0 : 1;
}

int web_ws_established(evc_web *web, struct lws *wsi, web_pss *pss)
{
    char *path = NULL;
    web_channel *ch = channel_of(web, wsi, &path);
    if (!ch)
        return -1;
    evc_web_client *c = calloc(1, sizeof *c);
    if (!c || !(c->q = calloc(web->q_msgs, sizeof *c->q))) {
        free(c);
        free(path);
        return -1;
    }
    c->web = web;
    c->ch = ch;
    c->wsi = wsi;
    if (ch->nwild) {
        /* the segments stay with the client: the path buffer holds them */
        web_pattern_match(ch->path, path, path, c->params);
        c->nparams = ch->nwild;
        c->pbuf = path;
    } else {
        free(path);
    }
    if (!lws_get_peer_simple(wsi, c->peer, sizeof c->peer))
        c->peer[0] = '\0';
    web_tls_peer_cn(wsi, c->tls_cn);
    /* The headers are still attached while ESTABLISHED runs: keep what
     * the guard looks at (no guard: nothing to keep). */
    if (web->guard) {
        c->hdr = calloc(1, sizeof *c->hdr);
        if (!c->hdr) {
            free(c->pbuf);
            free(c->q);
            free(c);
            return -1;
        }
        snprintf(c->hdr->method, sizeof c->hdr->method, "GET");
        c->hdr->path = web_hdr_dup(wsi, WSI_TOKEN_GET_URI);
        web_pss_headers(wsi, c->hdr);
    }
    c->next = ch->clients;
    if (ch->clients)
        ch->clients->prev = c;
    ch->clients = c;
    ch->nclients++;
    pss->kind = PSS_WS;
    pss->client = c;
    if (ch->on_open)
        ch->on_open(web, c, ch->arg);
    return 0;
}

int web_ws_receive(evc_web *web, struct lws *wsi, web_pss *pss, const void *in, size_t len)
{
    evc_web_client *c = pss->kind == PSS_WS ? pss->client : NULL;
    if (!c)
        return -1;
    if (c->rx_len + len > web->max_body) {
        static const char why[] = "message too big";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)why,
                         sizeof why - 1);
        return -1;
    }
    char *nb = realloc(c->rx, c->rx_len + len + 1);
    if (!nb)
        return -1;
    if (len)
        memcpy(nb + c->rx_len, in, len);
    c->rx = nb;
    c->rx_len += len;
    nb[c->rx_len] = '\0';
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0)
        return 0;
    char *msg = c->rx;
    size_t n = c->rx_len;
    c->rx = NULL;
    c->rx_len = 0;
    if (c->ch->on_message && !c->closing)
        c->ch->on_message(web, c, msg, n, c->ch->arg);
    free(msg);
    return 0;
}

int web_ws_writable(struct lws *wsi, web_pss *pss)
{
    evc_web_client *c = pss->kind == PSS_WS ? pss->client : NULL;
    if (c && c->doomed) {
        /* lws 4.1 does not send this reason from WRITEABLE (the socket is
         * closed without a close frame); kept for a version that does. */
        static const char why[] = "access ended";
        lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)why,
                         sizeof why - 1);
        return -1;
    }
    if (c && c->closing && c->qlen == 0) {
        lws_close_reason(wsi, (enum lws_close_status)c->close_status,
                         (unsigned char *)c->close_reason, strlen(c->close_reason));
        return -1;
    }
    if (!c || c->qlen == 0)
        return 0;
    web_msg *m = client_pop(c);
    int n = lws_write(wsi, m->data + LWS_PRE, m->len, LWS_WRITE_TEXT);
    msg_unref(m);
    if (n < 0)
        return -1;
    if (c->qlen > 0 || c->closing)
        lws_callback_on_writable(wsi);
    return 0;
}

static void client_free(evc_web_client *c)
{
    while (c->qlen > 0)
        msg_unref(client_pop(c));
    free(c->q);
    free(c->rx);
    free(c->pbuf);
    if (c->hdr) {
        web_http_reset(c->hdr);
        free(c->hdr);
    }
    free(c);
}

size_t evc_web_ws_recheck(evc_web *web, const char *path)
{
    web_channel *ch = web ? channel_find(web, path) : NULL;
    if (!ch || !web->guard)
        return 0;
    size_t refused = 0;
    for (evc_web_client *c = ch->clients; c; c = c->next) {
        if (c->doomed || !c->hdr)
            continue;
        evc_web_request req;
        web_request_fill(web, c->hdr, &req);
        if (web->guard(&req, &c->hdr->res, web->guard_arg))
            continue;
        c->doomed = true;
        refused++;
        lws_callback_on_writable(c->wsi);
    }
    return refused;
}

void web_ws_closed(evc_web *web, web_pss *pss)
{
    evc_web_client *c = pss->kind == PSS_WS ? pss->client : NULL;
    if (!c)
        return;
    web_channel *ch = c->ch;
    c->gone = true;
    /* Still listed, so that what on_close does (a send that now fails,
     * a stats call) finds a consistent channel. */
    if (ch->on_close)
        ch->on_close(web, c, ch->arg);
    if (c->prev)
        c->prev->next = c->next;
    else
        ch->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ch->nclients--;
    client_free(c);
    pss->client = NULL;
    pss->kind = PSS_NONE;
}

/* ---- channel table ------------------------------------------------------ */

int evc_web_ws_channel_ex(evc_web *web, const evc_web_ws_channel_opts *o, evc_error *err)
{
    if (!web || !o || o->struct_size < sizeof *o)
        return evc_error_set(err, EVC_EINVAL, "web channel: bad arguments");
    const char *path = o->path;
    if (!path || path[0] != '/' || strchr(path, '?'))
        return evc_error_set(err, EVC_EINVAL, "web channel %s: path must start with '/'",
                             path ? path : "(null)");
    int nwild = web_count_wild(path);
    if (nwild < 0 || nwild > EVC_WEB_MAX_PARAMS)
        return evc_error_set(err, EVC_EINVAL, "web channel %s: each '*' must be a whole "
                                              "segment, at most %d of them",
                             path, EVC_WEB_MAX_PARAMS);
    const char *sp = NULL;
    for (size_t i = 0; o->subprotocol && i < web->nsubprotocols; i++)
        if (strcmp(web->subprotocols[i], o->subprotocol) == 0)
            sp = web->subprotocols[i];
    if (o->subprotocol && !sp)
        return evc_error_set(err, EVC_EINVAL, "web channel %s: subprotocol %s is not among "
                                              "the server's (evc_web_opts.ws_subprotocols)",
                             path, o->subprotocol);
    if (channel_find(web, path))
        return evc_error_set(err, EVC_EEXIST, "web channel %s: already declared", path);
    if (web->nchannels == web->capchannels) {
        size_t ncap = web->capchannels ? web->capchannels * 2 : 8;
        web_channel **n = realloc(web->channels, ncap * sizeof *n);
        if (!n)
            return evc_error_set(err, EVC_ENOMEM, "web channel %s: out of memory", path);
        web->channels = n;
        web->capchannels = ncap;
    }
    web_channel *ch = calloc(1, sizeof *ch);
    if (!ch || !(ch->path = strdup(path)) || (sp && !(ch->subprotocol = strdup(sp)))) {
        if (ch)
            free(ch->path);
        free(ch);
        return evc_error_set(err, EVC_ENOMEM, "web channel %s: out of memory", path);
    }
    ch->nwild = (size_t)nwild;
    ch->on_message = o->on_message;
    ch->on_open = o->on_open;
    ch->on_close = o->on_close;
    ch->arg = o->arg;
    web->channels[web->nchannels++] = ch;
    return EVC_OK;
}

int evc_web_ws_channel(evc_web *web, const char *path, evc_web_ws_msg_cb on_message,
                       evc_web_ws_open_cb on_open, void *arg, evc_error *err)
{
    if (path && strchr(path, '*'))
        return evc_error_set(err, EVC_EINVAL, "web channel %s: patterns need "
                                              "evc_web_ws_channel_ex", path);
    evc_web_ws_channel_opts o = {.struct_size = sizeof o, .path = path,
                                 .on_message = on_message, .on_open = on_open, .arg = arg};
    return evc_web_ws_channel_ex(web, &o, err);
}

const char *evc_web_client_param(const evc_web_client *client, size_t i)
{
    return client && i < client->nparams ? client->params[i] : NULL;
}

const char *evc_web_client_authorization(const evc_web_client *client)
{
    return client && client->hdr && client->hdr->authz ? client->hdr->authz : "";
}

const char *evc_web_client_peer(const evc_web_client *client)
{
    return client ? client->peer : "";
}

const char *evc_web_client_tls_cn(const evc_web_client *client)
{
    return client ? client->tls_cn : "";
}

void evc_web_client_set_user(evc_web_client *client, void *user)
{
    if (client)
        client->user = user;
}

void *evc_web_client_user(const evc_web_client *client) { return client ? client->user : NULL; }

void evc_web_ws_close(evc_web_client *client, int status, const char *reason)
{
    if (!client || client->closing)
        return;
    client->closing = true;
    client->close_status = status;
    snprintf(client->close_reason, sizeof client->close_reason, "%s", reason ? reason : "");
    lws_callback_on_writable(client->wsi);
}

void web_channels_free(evc_web *web)
{
    for (size_t i = 0; i < web->nchannels; i++) {
        web_channel *ch = web->channels[i];
        /* Normally empty: lws_context_destroy closed every client. */
        while (ch->clients) {
            evc_web_client *c = ch->clients;
            ch->clients = c->next;
            client_free(c);
        }
        free(ch->path);
        free(ch->subprotocol);
        free(ch);
    }
    free(web->channels);
    web->channels = NULL;
    web->nchannels = web->capchannels = 0;
}

int evc_web_ws_stats_get(const evc_web *web, const char *path, evc_web_ws_stats *out)
{
    const web_channel *ch = web && path ? channel_find(web, path) : NULL;
    if (!ch || !out)
        return EVC_ENOTFOUND;
    memset(out, 0, sizeof *out);
    out->clients = ch->nclients;
    out->dropped = ch->dropped;
    for (const evc_web_client *c = ch->clients; c; c = c->next)
        if (c->qlen > out->queued_max)
            out->queued_max = c->qlen;
    return EVC_OK;
}

size_t evc_web_ws_clients(const evc_web *web, const char *path)
{
    const web_channel *ch = web && path ? channel_find(web, path) : NULL;
    return ch ? ch->nclients : 0;
}
