/* engine_policy.h: the engine's decisions and its terminal commands, as pure
 * functions (unit-tested in tests/unit/cp_engine):
 *  - whether a cp.authorise is accepted, and the reason when refused;
 *  - whether a supply may be requested at the CP's own menu (F3);
 *  - parsing of the menu's stdin lines, and a line splitter for the raw
 *    bytes read from stdin. */
#ifndef ENGINE_POLICY_H
#define ENGINE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "evc/ids.h"

/* What the engine knows at the moment of a decision. */
typedef struct engine_gate {
    bool has_id;          /* a monitor told us our CP id (HELLO) */
    bool monitor_present; /* PINGs arrive (R30) */
    bool ko;              /* simulated fault (F10) */
    bool stopped;         /* Central's cp.command stop (F13) */
    bool busy;            /* authorised or supplying */
    bool central_alive;   /* central.heartbeat seen within central_timeout_ms */
} engine_gate;

/* Refusal reasons sent in cp.authorise_reply.reason (and shown by the menu). */
#define ENGINE_REFUSE_NO_ID "no_cp_id"
#define ENGINE_REFUSE_NO_MONITOR "no_monitor"
#define ENGINE_REFUSE_KO "engine_ko"
#define ENGINE_REFUSE_STOPPED "stopped"
#define ENGINE_REFUSE_BUSY "busy"
#define ENGINE_REFUSE_CENTRAL "central_unreachable"

/* NULL when a cp.authorise is to be accepted, else the reason code. Checked
 * in this order: no id, no monitor, KO, stopped, busy. Central's liveness is
 * not checked: the authorisation itself comes from Central. */
const char *engine_authorise_refusal(const engine_gate *g);
/* The same for a request typed at the menu, plus Central's liveness first:
 * with Central unreachable nothing can be authorised (R33). */
const char *engine_request_refusal(const engine_gate *g);
/* A sentence for a reason code ("the engine is KO"); never NULL. */
const char *engine_refusal_text(const char *reason);

/* ---- menu ---------------------------------------------------------------- */

typedef enum engine_cmd_kind {
    ENGINE_CMD_EMPTY = 0, /* blank line or comment: ignore */
    ENGINE_CMD_REQUEST,   /* request <driver_id> */
    ENGINE_CMD_PLUG,
    ENGINE_CMD_UNPLUG,
    ENGINE_CMD_TOGGLE,    /* k: KO <-> OK */
    ENGINE_CMD_STATUS,
    ENGINE_CMD_HELP,
    ENGINE_CMD_BAD,       /* error holds why */
} engine_cmd_kind;

#define ENGINE_ID_MAX 64 /* [A-Za-z0-9_.-]{1,64} */

typedef struct engine_cmd {
    engine_cmd_kind kind;
    char arg[ENGINE_ID_MAX + 1]; /* REQUEST: the driver id */
    char error[160];             /* BAD: a sentence for the user */
} engine_cmd;

/* Parses one line (without its newline; surrounding blanks ignored; the
 * command word is case-insensitive). Never fails: garbage gives
 * ENGINE_CMD_BAD with a message. */
void engine_cmd_parse(const char *line, engine_cmd *out);
/* Text of `help`. */
const char *engine_menu_help(void);

/* Splits a byte stream into lines. Lines longer than ENGINE_LINE_MAX are
 * dropped whole (with one call of cb with line == NULL to report it). */
#define ENGINE_LINE_MAX 256
typedef struct engine_linebuf {
    char buf[ENGINE_LINE_MAX + 1];
    size_t len;
    bool overlong;
} engine_linebuf;
typedef void (*engine_line_cb)(void *arg, const char *line);
void engine_linebuf_feed(engine_linebuf *lb, const char *data, size_t n, engine_line_cb cb,
                         void *arg);

#endif
