/* central_links.c: the framed TCP server where CP monitors authenticate
 * (AUTH -> CHALLENGE -> PROOF or REGISTER -> AUTH_OK / AUTH_DENIED, the
 * exchange itself in central_cpauth.c) and send heartbeats (HB) carrying
 * their engine's health. docs/PROTOCOL.md section M1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central.h"
#include "central_cpauth.h"
#include "central_int.h"
#include "central_trust.h"
#include "evc/log.h"

/* What Central knows about one monitor link; owned by the link's data,
 * freed in on_close. Holds the CP id, not a pointer: the CP table grows. */
typedef struct central_link_ctx {
    central *c;  /* NULL once Central stopped: a late on_close only frees */
    evc_link *link; /* borrowed; valid until on_close, which frees this context */
    central_cpauth auth;   /* the challenge in progress (central_cpauth.c) */
    bool authed;
    char cp_id[EVC_STORE_ID_MAX];
    struct central_link_ctx *prev, *next; /* c->links */
} central_link_ctx;

static void link_reply(evc_link *link, const char *op, const char *a, const char *b,
                       const char *d)
{
    evc_frame_field f[3];
    size_t n = 0;
    f[n++] = EVC_FRAME_STR(a);
    if (b)
        f[n++] = EVC_FRAME_STR(b);
    if (d)
        f[n++] = EVC_FRAME_STR(d);
    evc_error err = {0};
    if (evc_link_send(link, op, f, n, &err) != EVC_OK)
        evc_log(EVC_LOG_WARN, "central", NULL, "monitor %s: cannot send %s: %s",
                evc_link_peer(link), op, err.msg);
}

static void deny(central *c, evc_link *link, const char *cp_id, const char *code,
                 const char *text)
{
    evc_log_ids ids = {.cp = cp_id};
    evc_log(EVC_LOG_WARN, "central", &ids, "monitor %s denied: %s (%s)", evc_link_peer(link),
            code, text);
    central_say(c, "CP %s denied from %s: %s", cp_id && *cp_id ? cp_id : "?",
                evc_link_peer(link), text);
    link_reply(link, "AUTH_DENIED", cp_id ? cp_id : "", code, text);
}

static const char *field(const evc_frame_event *ev, size_t i)
{
    return i < ev->nfields ? ev->fields[i].data : NULL;
}

/* Replies of the exchange in central_cpauth.c. */
void central_links_deny(central *c, evc_link *link, const char *cp_id, const char *code,
                        const char *text)
{
    deny(c, link, cp_id, code, text);
}

void central_links_accept(central *c, evc_link *link, const evc_charging_point *row,
                          const char *ok_mac)
{
    central_link_ctx *x = evc_link_data(link);
    const char *id = row->id;
    central_cp *cp = x ? central_cp_add(c, row) : NULL;
    if (!cp) {
        deny(c, link, id, "BAD_REQUEST", "out of memory");
        return;
    }
    if (x->authed && strcmp(x->cp_id, id) != 0) {
        deny(c, link, id, "BAD_REQUEST", "this link already speaks for another CP");
        return;
    }
    if (cp->link && cp->link != link) {
        central_link_ctx *old = evc_link_data(cp->link);
        if (old)
            old->authed = false; /* its close must not disconnect the CP */
        evc_link_close(cp->link, "replaced by a new connection of the same CP");
        central_say(c, "CP %s: new monitor connection from %s replaces the old one", cp->id,
                    evc_link_peer(link));
    }
    cp->link = link;
    x->authed = true;
    snprintf(x->cp_id, sizeof x->cp_id, "%s", cp->id);
    /* Its secret may have changed (--add-cp, registration): the bus key
     * is derived again from the hash this AUTH was proven with. */
    central_trust_forget_cp(c, cp->id);
    link_reply(link, "AUTH_OK", cp->id, cp->stopped ? "STOPPED" : "IN_SERVICE", ok_mac);
    central_event(c, "cp.auth", NULL, cp->id, NULL, "monitor authenticated from %s",
                  evc_link_peer(link));
    central_cp_refresh(c, cp, "monitor authenticated");
}

static void on_hb(central *c, evc_link *link, central_link_ctx *x, const evc_frame_event *ev)
{
    const char *id = field(ev, 0);
    if (!x->authed) {
        deny(c, link, evc_id_valid(id) ? id : "", "BAD_REQUEST", "HB before AUTH");
        return;
    }
    central_cp *cp = central_cp_find(c, x->cp_id);
    central_health h;
    if (!cp || (id && strcmp(id, x->cp_id) != 0) ||
        central_health_parse(field(ev, 1), &h) != 0) {
        evc_log_ids ids = {.cp = x->cp_id};
        evc_log(EVC_LOG_WARN, "central", &ids, "monitor %s: malformed HB ignored",
                evc_link_peer(link));
        return;
    }
    bool changed = !cp->heard || cp->health != h;
    if (h != CENTRAL_HEALTH_OK)
        cp->fault_until_ms = 0; /* the monitor confirms: its health decides now */
    cp->heard = true;
    cp->last_hb_ms = evc_loop_now_ms(c->loop);
    cp->health = h;
    if (changed) {
        char why[48];
        snprintf(why, sizeof why, "heartbeat: engine %s", central_health_name(h));
        central_cp_refresh(c, cp, why);
    } else {
        central_cp_refresh(c, cp, "heartbeat");
    }
}

static void on_open(evc_link *link, void *arg)
{
    central_link_ctx *x = calloc(1, sizeof *x);
    if (!x) {
        evc_link_close(link, "out of memory");
        return;
    }
    x->c = arg;
    x->link = link;
    x->next = x->c->links;
    if (x->next)
        x->next->prev = x;
    x->c->links = x;
    evc_link_set_data(link, x);
    evc_log(EVC_LOG_DEBUG, "central", NULL, "monitor connection from %s", evc_link_peer(link));
}

static void on_frame(evc_link *link, const evc_frame_event *ev, void *arg)
{
    central_link_ctx *x = evc_link_data(link);
    central *c = x ? x->c : NULL;
    if (!c)
        return;
    if (strcmp(ev->opcode, "AUTH") == 0)
        central_cpauth_on_auth(c, link, &x->auth, ev);
    else if (strcmp(ev->opcode, "PROOF") == 0)
        central_cpauth_on_proof(c, link, &x->auth, ev);
    else if (strcmp(ev->opcode, "REGISTER") == 0)
        central_cpauth_on_register(c, link, &x->auth, ev);
    else if (strcmp(ev->opcode, "HB") == 0)
        on_hb(c, link, x, ev);
    else
        evc_log(EVC_LOG_WARN, "central", NULL, "monitor %s: unknown opcode %s ignored",
                evc_link_peer(link), ev->opcode);
}

static void on_close(evc_link *link, const char *reason, void *arg)
{
    central_link_ctx *x = evc_link_data(link);
    central *c = x ? x->c : NULL;
    evc_link_set_data(link, NULL);
    if (x)
        central_cpauth_clear(&x->auth);
    if (!c) { /* after central_links_stop: Central may be gone */
        free(x);
        return;
    }
    if (x->prev)
        x->prev->next = x->next;
    else
        c->links = x->next;
    if (x->next)
        x->next->prev = x->prev;
    if (x->authed) {
        central_cp *cp = central_cp_find(c, x->cp_id);
        if (cp && cp->link == link) {
            /* A closed link is news at once (a killed monitor, a cut cable):
             * no waiting for the heartbeat timeout. The CP is DISCONNECTED
             * until its monitor authenticates and sends an HB again. */
            cp->link = NULL;
            cp->heard = false;
            evc_log_ids ids = {.cp = cp->id};
            evc_log(EVC_LOG_WARN, "central", &ids, "monitor link from %s closed: %s",
                    evc_link_peer(link), reason ? reason : "closed");
            central_say(c, "CP %s: monitor link from %s closed (%s)", cp->id,
                        evc_link_peer(link), reason ? reason : "closed");
            char why[120];
            snprintf(why, sizeof why, "monitor link closed: %s", reason ? reason : "closed");
            central_cp_refresh(c, cp, why);
        }
    }
    free(x);
}

int central_links_start(central *c, evc_error *err)
{
    evc_link_handlers h = {.on_open = on_open, .on_frame = on_frame, .on_close = on_close};
    /* central.listen_host: the monitor port on one interface only (an internal
     * network), as central.http_host does for HTTP; "" = all interfaces.
     * Unit tests run the links without an app: all interfaces. */
    const char *host =
        c->app ? evc_cfg_schema_str(evc_app_section(c->app), central_schema, "listen_host") : "";
    int rc = evc_link_listen(c->loop, host, (uint16_t)c->listen_port, &h, c, &c->server, err);
    if (rc == EVC_OK) {
        /* 0 = the link layer's defaults (tests set no config) */
        evc_link_limits lim = {.max_links = c->monitor_max_links,
                               .out_queue_max = c->monitor_out_queue_max,
                               .slow_reader_ms = c->monitor_slow_reader_ms};
        evc_link_server_set_limits(c->server, &lim);
    }
    if (rc == EVC_OK)
        central_say(c, "Listening for CP monitors on port %u (registration %s)",
                    (unsigned)evc_link_server_port(c->server),
                    c->registration_open ? "open" : "closed");
    return rc;
}

/* Link closes complete later, from the loop, possibly after Central's
 * state is freed: detach every context first, their on_close then only
 * frees them. */
void central_links_stop(central *c)
{
    for (central_link_ctx *x = c->links; x; x = x->next) {
        x->c = NULL;
        central_cpauth_clear(&x->auth); /* no deadline may fire on a stopped Central */
    }
    c->links = NULL;
    for (size_t i = 0; i < c->ncps; i++)
        c->cps[i].link = NULL;
    evc_link_server_close(c->server);
    c->server = NULL;
}
