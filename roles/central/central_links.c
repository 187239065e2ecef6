/* central_links.c: the framed TCP server where CP monitors authenticate
 * (AUTH -> AUTH_OK / AUTH_DENIED) and send heartbeats (HB) carrying their
 * engine's health. docs/PROTOCOL.md section M1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_auth.h"
#include "central_int.h"
#include "evc/log.h"

/* What Central knows about one monitor link; owned by the link's data,
 * freed in on_close. Holds the CP id, not a pointer: the CP table grows. */
typedef struct central_link_ctx {
    central *c;  /* NULL once Central stopped: a late on_close only frees */
    evc_link *link; /* borrowed; valid until on_close, which frees this context */
    central_auth_job *job; /* the AUTH being checked on the pool, or NULL */
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

/* Integer 0..1000000 from text; -1 when not. */
static int64_t parse_price(const char *s)
{
    if (!s || !*s)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 1000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v <= 1000000 ? v : -1;
}

static void auth_done(central *c, central_auth_job *job);

/* First half of an AUTH, on the loop: checks the fields, looks the CP up and
 * queues the argon2 step (verify the secret, or hash it to register). Returns
 * the reason code of an immediate denial, or NULL when a job is queued. */
static const char *auth_begin(central *c, central_link_ctx *x, const evc_frame_event *ev,
                              const char **text)
{
    const char *id = field(ev, 0), *secret = field(ev, 1);
    const char *location = field(ev, 2), *price = field(ev, 3);
    if (!evc_id_valid(id) || !secret) {
        *text = "AUTH needs cp_id and secret";
        return "BAD_REQUEST";
    }
    evc_charging_point row;
    evc_error err = {0};
    int rc = evc_store_cp_get(c->store, id, &row, &err);
    central_auth_job *job = NULL;
    if (rc == EVC_OK && row.secret_hash[0]) {
        job = central_auth_new(c, CENTRAL_AUTH_VERIFY, CENTRAL_AUTH_MONITOR, id,
                               row.secret_hash, secret, auth_done);
    } else if (rc != EVC_OK && rc != EVC_ENOTFOUND) {
        evc_log(EVC_LOG_ERROR, "central", NULL, "AUTH %s: %s", id, err.msg);
        *text = "database error, try again";
        return "BAD_REQUEST";
    } else if (!c->registration_open) {
        *text = rc == EVC_OK ? "CP has no secret and registration is closed"
                             : "unknown CP and registration is closed";
        return rc == EVC_OK ? "BAD_SECRET" : "UNKNOWN_CP";
    } else {
        int64_t p = parse_price(price);
        if (rc != EVC_OK && (!location || !*location || p < 0)) {
            *text = "registration needs a location and an integer price_cents_per_kwh";
            return "BAD_REQUEST";
        }
        job = central_auth_new(c, CENTRAL_AUTH_HASH, CENTRAL_AUTH_MONITOR, id, NULL, secret,
                               auth_done);
        if (job && rc != EVC_OK) { /* new CP; a known one (price -1) adopts the secret */
            snprintf(job->location, sizeof job->location, "%s", location);
            job->price = p;
        }
    }
    if (!job) {
        *text = "out of memory";
        return "BAD_REQUEST";
    }
    job->owner = x;
    if (central_auth_submit(c, job, &err) != EVC_OK) {
        central_auth_free(job);
        evc_log(EVC_LOG_DEBUG, "central", NULL, "AUTH %s from %s: %s", id,
                evc_link_peer(x->link), err.msg);
        *text = "Central is busy checking other logins, retry later";
        return "BUSY";
    }
    x->job = job;
    return NULL;
}

/* Registration under `open`, with the hash made on the pool. */
static const char *auth_register(central *c, central_auth_job *job, evc_charging_point *row,
                                 const char **text)
{
    evc_error err = {0};
    int rc;
    if (job->price < 0) { /* known CP without a secret: it adopts this one */
        rc = evc_store_cp_set_secret(c->store, job->id, job->hash, &err);
        if (rc == EVC_OK)
            rc = evc_store_cp_get(c->store, job->id, row, &err);
    } else {
        memset(row, 0, sizeof *row);
        snprintf(row->id, sizeof row->id, "%s", job->id);
        snprintf(row->location, sizeof row->location, "%s", job->location);
        row->price_cents_per_kwh = job->price;
        row->admin_state = EVC_CP_IN_SERVICE;
        memcpy(row->secret_hash, job->hash, sizeof row->secret_hash);
        rc = evc_store_cp_insert(c->store, row, &err);
        if (rc == EVC_OK) {
            central_event(c, "cp.registered", NULL, job->id, NULL,
                          "registered at %s, %lld c/kWh", row->location,
                          (long long)job->price);
            central_say(c, "CP %s registered (%s, %lld c/kWh)", job->id, row->location,
                        (long long)job->price);
        }
    }
    if (rc != EVC_OK) {
        evc_log(EVC_LOG_ERROR, "central", NULL, "AUTH %s: %s", job->id, err.msg);
        *text = "database error, try again";
        return "BAD_REQUEST";
    }
    return NULL;
}

static void auth_accept(central *c, evc_link *link, central_link_ctx *x,
                        const evc_charging_point *row);

/* Second half of an AUTH, on the loop once the pool checked the secret. The
 * link may have closed meanwhile: its context detached itself (owner NULL). */
static void auth_done(central *c, central_auth_job *job)
{
    central_link_ctx *x = job->owner;
    if (!x)
        return;
    x->job = NULL;
    evc_link *link = x->link;
    evc_charging_point row;
    const char *text = "", *code = NULL;
    if (job->mode == CENTRAL_AUTH_HASH) {
        code = job->ok ? auth_register(c, job, &row, &text) : "BAD_REQUEST";
        if (!job->ok)
            text = "cannot hash the secret";
    } else if (!job->ok) {
        code = "BAD_SECRET";
        text = "wrong secret";
    } else {
        evc_error err = {0};
        if (evc_store_cp_get(c->store, job->id, &row, &err) != EVC_OK) {
            code = "BAD_REQUEST";
            text = "database error, try again";
        }
    }
    if (code)
        deny(c, link, job->id, code, text);
    else
        auth_accept(c, link, x, &row);
}

static void on_auth(central *c, evc_link *link, central_link_ctx *x, const evc_frame_event *ev)
{
    const char *text = "";
    const char *id = field(ev, 0);
    const char *code;
    if (x->job) { /* one check per link at a time: a flood waits for nothing */
        code = "BUSY";
        text = "an AUTH of this link is being checked";
    } else {
        code = auth_begin(c, x, ev, &text);
    }
    if (code)
        deny(c, link, evc_id_valid(id) ? id : "", code, text);
}

static void auth_accept(central *c, evc_link *link, central_link_ctx *x,
                        const evc_charging_point *row)
{
    const char *id = row->id;
    central_cp *cp = central_cp_add(c, row);
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
    link_reply(link, "AUTH_OK", cp->id, cp->stopped ? "STOPPED" : "IN_SERVICE", NULL);
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
        on_auth(c, link, x, ev);
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
    if (x && x->job)
        x->job->owner = NULL; /* its result finds no link: dropped */
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
        c->app ? evc_cfg_get_str(evc_app_section(c->app), "listen_host", "") : "";
    int rc = evc_link_listen(c->loop, host, (uint16_t)c->listen_port, &h, c, &c->server, err);
    if (rc == EVC_OK) {
        /* 0 = the link layer's defaults (tests set no config) */
        evc_link_limits lim = {.max_links = c->monitor_max_links,
                               .out_queue_max = c->monitor_out_queue_max,
                               .slow_reader_ms = c->monitor_slow_reader_ms};
        evc_link_server_set_limits(c->server, &lim);
        /* The pool's own bound must not be the tighter one. */
        if (c->auth_queue_max > EVC_LOOP_WORK_MAX_DEFAULT)
            evc_loop_set_work_max(c->loop, c->auth_queue_max);
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
        if (x->job) /* the job may finish before the link's on_close */
            x->job->owner = NULL;
        x->job = NULL;
    }
    c->links = NULL;
    central_auth_stop(c); /* checks still on the pool only free themselves */
    for (size_t i = 0; i < c->ncps; i++)
        c->cps[i].link = NULL;
    evc_link_server_close(c->server);
    c->server = NULL;
}
