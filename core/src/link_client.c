/* link_client.c: clients that connect and reconnect with a backoff. See
 * evc/link.h for the contract; the structures are in link_internal.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "evc/link.h"
#include "evc/proof.h"
#include "link_internal.h"

static void on_connected(uv_connect_t *req, int status)
{
    evc_link *l = req->data;
    free(req);
    evc_link_client *c = l->client;
    if (status != 0 || c->closing) {
        char reason[400];
        snprintf(reason, sizeof reason, "cannot connect to %s:%u: %s", c->host, c->port,
                 status ? uv_strerror(status) : "closing");
        if (!c->closing && c->h.on_connect_failed)
            c->h.on_connect_failed(reason, c->backoff, c->arg);
        evc_link_close(l, reason); /* not open: no on_close; schedules a retry */
        return;
    }
    c->backoff = c->backoff_min;
    link_go(l);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    evc_link_client *c = req->data;
    c->resolving = false;
    if (c->closing) {
        uv_freeaddrinfo(res);
        link_client_maybe_free(c);
        return;
    }
    char reason[400];
    if (status != 0 || !res) {
        snprintf(reason, sizeof reason, "cannot resolve %s: %s", c->host, uv_strerror(status));
        goto failed;
    }
    evc_link *l = link_new(c->loop, &c->h, c->arg);
    uv_connect_t *cr = malloc(sizeof *cr);
    if (!l || !cr) {
        free(cr);
        if (l)
            evc_link_close(l, "out of memory");
        snprintf(reason, sizeof reason, "cannot connect to %s:%u: out of memory", c->host, c->port);
        goto failed;
    }
    l->client = c;
    l->ack_hook = c->ack_hook;
    c->link = l;
    cr->data = l;
    int rc = uv_tcp_connect(cr, &l->tcp, res->ai_addr, on_connected);
    uv_freeaddrinfo(res);
    if (rc != 0) {
        free(cr);
        snprintf(reason, sizeof reason, "cannot connect to %s:%u: %s", c->host, c->port,
                 uv_strerror(rc));
        if (c->h.on_connect_failed)
            c->h.on_connect_failed(reason, c->backoff, c->arg);
        evc_link_close(l, reason);
    }
    return;
failed:
    uv_freeaddrinfo(res);
    if (c->h.on_connect_failed)
        c->h.on_connect_failed(reason, c->backoff, c->arg);
    link_client_schedule(c);
}

static void client_attempt(uv_timer_t *t)
{
    evc_link_client *c = t->data;
    char port[8];
    snprintf(port, sizeof port, "%u", c->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    c->gai.data = c;
    if (uv_getaddrinfo(evc_loop_native(c->loop), &c->gai, on_resolved, c->host, port, &hints) == 0)
        c->resolving = true;
    else
        link_client_schedule(c);
}

/* Arms the next attempt after the current backoff plus up to half of it at
 * random, then doubles it. The jitter is for a restarted server: without
 * it every client of a killed Central retried at the same instants, the
 * listen queue overflowed and TCP's own SYN retries (1 s, 3 s) made the
 * tail; with it 10,000 monitors were back in 1.6 s instead of 3.8-4.2 s
 * (docs/PERFORMANCE.md). Drawn from the system's generator: rand()
 * unseeded would give every process the same "random" delays. */
void link_client_schedule(evc_link_client *c)
{
    if (c->closing)
        return;
    uint32_t r;
    evc_proof_random((uint8_t *)&r, sizeof r);
    uint64_t delay = c->backoff + r % (c->backoff * c->jitter_pct / 100 + 1);
    c->backoff = c->backoff * 2 > c->backoff_max ? c->backoff_max : c->backoff * 2;
    uv_timer_start(&c->timer, client_attempt, delay, 0);
}

int evc_link_connect(evc_loop *loop, const char *host, uint16_t port,
                     const evc_link_client_opts *opts, const evc_link_handlers *h, void *arg,
                     evc_link_client **out, evc_error *err)
{
    *out = NULL;
    if (!host || !*host || strlen(host) >= sizeof((evc_link_client *)0)->host || port == 0)
        return evc_error_set(err, EVC_EINVAL, "bad address %s:%u", host ? host : "", port);
    evc_link_client *c = calloc(1, sizeof *c);
    if (!c)
        return evc_error_set(err, EVC_ENOMEM, "out of memory");
    c->loop = loop;
    c->h = *h;
    c->arg = arg;
    snprintf(c->host, sizeof c->host, "%s", host);
    c->port = port;
    c->backoff_min = opts && opts->backoff_min_ms ? opts->backoff_min_ms : 250;
    c->backoff_max = opts && opts->backoff_max_ms ? opts->backoff_max_ms : 5000;
    if (c->backoff_max < c->backoff_min)
        c->backoff_max = c->backoff_min;
    c->backoff = c->backoff_min;
    c->jitter_pct = 50;
    uv_timer_init(evc_loop_native(loop), &c->timer);
    c->timer.data = c;
    uv_timer_start(&c->timer, client_attempt, 0, 0);
    *out = c;
    return EVC_OK;
}

evc_link *evc_link_client_link(evc_link_client *c)
{
    return c->link && c->link->open && !c->link->closing ? c->link : NULL;
}

static void on_timer_closed(uv_handle_t *h)
{
    evc_link_client *c = h->data;
    c->timer_closed = true;
    link_client_maybe_free(c);
}

void link_client_maybe_free(evc_link_client *c)
{
    if (c->closing && c->timer_closed && !c->resolving && !c->link)
        free(c);
}

void evc_link_client_close(evc_link_client *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    uv_timer_stop(&c->timer);
    if (c->resolving)
        uv_cancel((uv_req_t *)&c->gai);
    if (c->link)
        evc_link_close(c->link, "closed by this side");
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}
