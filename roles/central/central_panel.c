/* central_panel.c: EV_Central's terminal -- the live panel (one line per CP,
 * the last events), redrawn every second on a TTY; on anything else one
 * plain line per event, so logs and tests read a stable stream. Operator
 * commands come from stdin (roles/central/README.md lists them). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "central_int.h"
#include "evc/log.h"

static void clock_prefix(char *buf, size_t cap)
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(buf, cap, "%H:%M:%S", &tm);
}

void central_say(central *c, const char *fmt, ...)
{
    char text[sizeof c->events[0].text - 16], ts[12];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    c->event_unsaid[0] = '\0'; /* this line says the event just recorded */
    clock_prefix(ts, sizeof ts);
    central_event_line *e = &c->events[c->events_next];
    snprintf(e->text, sizeof e->text, "%.11s %s", ts, text);
    c->events_next = (c->events_next + 1) % CENTRAL_EVENTS_MAX;
    if (c->nevents < CENTRAL_EVENTS_MAX)
        c->nevents++;
    c->panel_dirty = true;
    if (!c->tty) {
        printf("%s %s\n", ts, text);
        fflush(stdout);
    }
}

static void panel_cp(central *c, const central_cp *cp, central_panel_cp *out)
{
    memset(out, 0, sizeof *out);
    out->id = cp->id;
    out->location = cp->location;
    out->price_cents_per_kwh = cp->price_cents_per_kwh;
    out->state = cp->state;
    const central_supply *s = central_cp_supply(c, cp);
    if (s && s->phase == CENTRAL_SUPPLY_AUTHORISED) {
        out->waiting_for_plug = true;
        out->driver_id = s->driver_id;
    } else if (s && s->phase == CENTRAL_SUPPLY_SUPPLYING) {
        out->supplying = true;
        out->w = s->w;
        out->cents = s->cents;
        out->wh = s->wh;
        out->driver_id = s->driver_id;
    }
}

void central_panel_print_all(central *c)
{
    char line[512];
    for (size_t i = 0; i < c->ncps; i++) {
        central_panel_cp p;
        panel_cp(c, &c->cps[i], &p);
        central_panel_line(line, sizeof line, &p, false);
        printf("PANEL %s\n", line);
    }
    printf("PANEL %zu CP%s, %zu suppl%s open\n", c->ncps, c->ncps == 1 ? "" : "s", c->nopen,
           c->nopen == 1 ? "y" : "ies");
    fflush(stdout);
}

#define CENTRAL_TELEMETRY_LINES 100

void central_panel_telemetry(central *c)
{
    uint64_t now = evc_loop_now_ms(c->loop);
    if (c->tty || c->telemetry_log_ms == 0 || now - c->telemetry_logged_ms < c->telemetry_log_ms)
        return;
    c->telemetry_logged_ms = now;
    /* A line per supply for what a person reads; a city's worth is summed
     * up in one line (the API and the dashboard list them all). */
    size_t said = 0, more = 0;
    for (size_t i = 0; i < c->nopen; i++) {
        const central_supply *s = &c->open[i];
        if (s->phase != CENTRAL_SUPPLY_SUPPLYING || s->interrupted)
            continue;
        if (said++ >= CENTRAL_TELEMETRY_LINES) {
            more++;
            continue;
        }
        char eur[32];
        central_fmt_eur(eur, sizeof eur, s->cents);
        int64_t dw = (s->w + 50) / 100; /* tenths of kW, rounded */
        central_say(c, "Supply %s %s @ %s: %lld.%lld kW, %lld.%03lld kWh, %s EUR", s->id,
                    s->driver_id, s->cp_id, (long long)(dw / 10), (long long)(dw % 10),
                    (long long)(s->wh / 1000), (long long)(s->wh % 1000), eur);
    }
    if (more)
        central_say(c, "... and %zu more supplies supplying (GET /api/sessions lists them)", more);
}

static void redraw(central *c)
{
    char line[512];
    fputs("\x1b[H\x1b[2J", stdout);
    printf("\x1b[1mEV_Central\x1b[0m  CP port %d  %zu CP%s  %zu suppl%s open  "
           "(commands: stop|resume <CP>|all, reset <CP> [hard], list, help, quit)\n\n",
           c->listen_port, c->ncps, c->ncps == 1 ? "" : "s", c->nopen,
           c->nopen == 1 ? "y" : "ies");
    for (size_t i = 0; i < c->ncps; i++) {
        central_panel_cp p;
        panel_cp(c, &c->cps[i], &p);
        central_panel_line(line, sizeof line, &p, true);
        printf("%s\n", line);
    }
    printf("\n\x1b[1mLast events\x1b[0m\n");
    for (size_t k = 0; k < c->nevents; k++) {
        size_t i = (c->events_next + CENTRAL_EVENTS_MAX - c->nevents + k) % CENTRAL_EVENTS_MAX;
        printf("  %s\n", c->events[i].text);
    }
    printf("\n> ");
    fflush(stdout);
    c->panel_dirty = false;
}

void central_panel_tick(central *c)
{
    /* Live kW/EUR change every second while supplying: always redraw then. */
    if (c->tty && (c->panel_dirty || c->nopen > 0))
        redraw(c);
}

static void help(central *c)
{
    central_say(c, "Commands: stop <CP_ID> | stop all | resume <CP_ID> | resume all | "
                   "reset <CP_ID> [soft|hard] | list | help | quit");
}

static void run_line(central *c, const char *line)
{
    central_cmd cmd;
    central_cmd_parse(line, &cmd);
    switch (cmd.kind) {
    case CENTRAL_CMD_EMPTY:
        return;
    case CENTRAL_CMD_ERROR:
        central_say(c, "Command error: %s", cmd.error);
        return;
    case CENTRAL_CMD_HELP:
        help(c);
        return;
    case CENTRAL_CMD_LIST:
        if (c->tty)
            redraw(c);
        else
            central_panel_print_all(c);
        return;
    case CENTRAL_CMD_QUIT:
        central_say(c, "Quitting on the operator's command");
        evc_app_quit(c->app, EVC_EXIT_OK);
        return;
    case CENTRAL_CMD_RESET: {
        const char *type = cmd.hard ? "Hard" : "Soft";
        central_reset_result r = central_cp_reset(c, cmd.target, type);
        if (r == CENTRAL_RESET_UNKNOWN)
            central_say(c, "Command error: unknown CP %s", cmd.target);
        else if (r == CENTRAL_RESET_OFFLINE)
            central_say(c, "Command error: CP %s is not connected: nothing to reset", cmd.target);
        else
            central_say(c, "Command reset %s (%s): sent", cmd.target, type);
        return;
    }
    case CENTRAL_CMD_STOP:
    case CENTRAL_CMD_RESUME: {
        bool stop = cmd.kind == CENTRAL_CMD_STOP;
        int n = central_cp_admin(c, cmd.all ? NULL : cmd.target, stop);
        if (n < 0)
            central_say(c, "Command error: unknown CP %s", cmd.target);
        else
            central_say(c, "Command %s %s: %d CP(s) changed", stop ? "stop" : "resume",
                        cmd.all ? "all" : cmd.target, n);
        return;
    }
    }
}

static void on_stdin(evc_watch *w, int fd, unsigned events, void *arg)
{
    central *c = arg;
    if (c->inlen >= sizeof c->inbuf - 1) {
        c->inlen = 0; /* an overlong line is dropped whole, up to its newline */
        c->in_discard = true;
    }
    ssize_t n = read(fd, c->inbuf + c->inlen, sizeof c->inbuf - 1 - c->inlen);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* EOF (stdin from /dev/null, or closed): stop reading, keep running. */
        evc_watch_close(w);
        c->stdin_watch = NULL;
        return;
    }
    c->inlen += (size_t)n;
    c->inbuf[c->inlen] = '\0';
    char *start = c->inbuf, *nl;
    while ((nl = memchr(start, '\n', c->inlen - (size_t)(start - c->inbuf)))) {
        *nl = '\0';
        if (c->in_discard)
            central_say(c, "Command error: line too long, ignored");
        else
            run_line(c, start);
        c->in_discard = false;
        start = nl + 1;
    }
    size_t rest = c->inlen - (size_t)(start - c->inbuf);
    memmove(c->inbuf, start, rest);
    c->inlen = rest;
}

int central_panel_start(central *c, evc_error *err)
{
    evc_error e2 = {0};
    if (evc_loop_watch_fd(c->loop, STDIN_FILENO, EVC_WATCH_READ, on_stdin, c, &c->stdin_watch,
                          &e2) != EVC_OK)
        evc_log(EVC_LOG_DEBUG, "central", NULL, "no operator commands (stdin: %s)", e2.msg);
    (void)err;
    if (c->tty)
        redraw(c);
    else
        help(c);
    return EVC_OK;
}

void central_panel_stop(central *c)
{
    evc_watch_close(c->stdin_watch);
    c->stdin_watch = NULL;
    if (c->tty) {
        c->panel_dirty = true;
        redraw(c);
        printf("\n");
    }
}
