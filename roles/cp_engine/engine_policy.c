/* engine_policy.c: see engine_policy.h. */
#include "engine_policy.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *engine_authorise_refusal(const engine_gate *g)
{
    if (!g->has_id)
        return ENGINE_REFUSE_NO_ID;
    if (!g->monitor_present)
        return ENGINE_REFUSE_NO_MONITOR;
    if (g->ko)
        return ENGINE_REFUSE_KO;
    if (g->stopped)
        return ENGINE_REFUSE_STOPPED;
    if (g->busy)
        return ENGINE_REFUSE_BUSY;
    return NULL;
}

const char *engine_request_refusal(const engine_gate *g)
{
    if (!g->central_alive)
        return ENGINE_REFUSE_CENTRAL;
    return engine_authorise_refusal(g);
}

const char *engine_refusal_text(const char *reason)
{
    static const struct {
        const char *code, *text;
    } T[] = {
        {ENGINE_REFUSE_NO_ID, "no monitor has told this engine its CP id yet"},
        {ENGINE_REFUSE_NO_MONITOR, "the monitor is not connected"},
        {ENGINE_REFUSE_KO, "the engine is KO"},
        {ENGINE_REFUSE_STOPPED, "the CP is stopped by CENTRAL"},
        {ENGINE_REFUSE_BUSY, "a supply is already in progress"},
        {ENGINE_REFUSE_CENTRAL, "Unable to connect to CENTRAL"},
    };
    for (size_t i = 0; reason && i < sizeof T / sizeof T[0]; i++)
        if (strcmp(reason, T[i].code) == 0)
            return T[i].text;
    return "refused";
}

const char *engine_menu_help(void)
{
    return "Commands:\n"
           "  request <driver_id>  ask CENTRAL for a supply here for that driver (F3)\n"
           "  plug                 plug the vehicle in: starts the authorised supply (F6)\n"
           "  unplug               unplug: ends the supply in progress (F8)\n"
           "  k                    toggle the simulated fault KO <-> OK (F10; also SIGUSR1)\n"
           "  status               show this CP's state\n"
           "  help                 this text\n";
}

void engine_cmd_parse(const char *line, engine_cmd *out)
{
    memset(out, 0, sizeof *out);
    char word[32] = "", arg[ENGINE_LINE_MAX + 1] = "", extra[8] = "";
    /* Field widths keep every %s inside its buffer. */
    int n = sscanf(line ? line : "", "%31s %256s %7s", word, arg, extra);
    if (n <= 0 || word[0] == '#') {
        out->kind = ENGINE_CMD_EMPTY;
        return;
    }
    static const struct {
        const char *name;
        engine_cmd_kind kind;
        bool takes_arg;
    } W[] = {
        {"request", ENGINE_CMD_REQUEST, true}, {"plug", ENGINE_CMD_PLUG, false},
        {"unplug", ENGINE_CMD_UNPLUG, false},  {"k", ENGINE_CMD_TOGGLE, false},
        {"status", ENGINE_CMD_STATUS, false},  {"help", ENGINE_CMD_HELP, false},
        {"?", ENGINE_CMD_HELP, false},
    };
    for (size_t i = 0; i < sizeof W / sizeof W[0]; i++) {
        if (strcasecmp(word, W[i].name) != 0)
            continue;
        if (W[i].takes_arg) {
            if (n < 2) {
                out->kind = ENGINE_CMD_BAD;
                snprintf(out->error, sizeof out->error, "usage: %s <driver_id>", W[i].name);
            } else if (n > 2) {
                out->kind = ENGINE_CMD_BAD;
                snprintf(out->error, sizeof out->error, "%s takes one driver id", W[i].name);
            } else if (!evc_id_valid(arg)) {
                out->kind = ENGINE_CMD_BAD;
                snprintf(out->error, sizeof out->error,
                         "bad driver id (1 to 64 of A-Z a-z 0-9 _ . -)");
            } else {
                out->kind = W[i].kind;
                snprintf(out->arg, sizeof out->arg, "%.*s", (int)sizeof out->arg - 1, arg); /* valid ids fit */
            }
        } else if (n > 1) {
            out->kind = ENGINE_CMD_BAD;
            snprintf(out->error, sizeof out->error, "%s takes no argument", W[i].name);
        } else {
            out->kind = W[i].kind;
        }
        return;
    }
    out->kind = ENGINE_CMD_BAD;
    snprintf(out->error, sizeof out->error, "unknown command '%.40s' (type help)", word);
}

void engine_linebuf_feed(engine_linebuf *lb, const char *data, size_t n, engine_line_cb cb,
                         void *arg)
{
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        if (c == '\n') {
            if (lb->overlong) {
                cb(arg, NULL);
            } else {
                if (lb->len && lb->buf[lb->len - 1] == '\r')
                    lb->len--;
                lb->buf[lb->len] = '\0';
                cb(arg, lb->buf);
            }
            lb->len = 0;
            lb->overlong = false;
        } else if (lb->len < ENGINE_LINE_MAX) {
            lb->buf[lb->len++] = c ? c : ' ';
        } else {
            lb->overlong = true;
        }
    }
}
