/* driver_term.c: commands typed on stdin (or piped into it).
 *
 * stdin is watched by the loop and read once per readiness (no O_NONBLOCK:
 * the terminal's file description is shared with the shell). A regular file
 * cannot be polled, so it is read from the tick instead. At EOF the driver
 * stops reading and goes on running (the demo starts it with </dev/null). */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver_app.h"
#include "evc/log.h"

static void help(driver_app *a)
{
    static const char *const lines[] = {
        "Commands:",
        "  list            CPs you can use (asks CENTRAL)",
        "  request CP_ID   request a supply at CP_ID",
        "  request *       request a supply at any free CP (also: request any)",
        "  stop            end the current supply now (billed like an unplug)",
        "  status          connection, authentication, balance, current request",
        "  history         tickets of this run and balance, then CENTRAL's newest",
        "  history older   the next page of CENTRAL's history",
        "  help            this text",
        "  quit            leave",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        fprintf(a->out, "%s\n", lines[i]);
    fflush(a->out);
}

void driver_term_line(driver_app *a, char *line)
{
    uint64_t now = evc_loop_now_ms(a->loop);
    char *save = NULL;
    char *cmd = strtok_r(line, " \t\r", &save);
    if (!cmd)
        return;
    char *arg = strtok_r(NULL, " \t\r", &save);
    char *extra = strtok_r(NULL, " \t\r", &save);
    for (char *c = cmd; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    if (strcmp(cmd, "request") == 0 && arg && !extra) {
        driver_fsm_cmd_request(a->fsm, now, arg);
    } else if (strcmp(cmd, "request") == 0) {
        fprintf(a->out, "Usage: request CP_ID (or request * for any free CP)\n");
    } else if (strcmp(cmd, "stop") == 0) {
        driver_fsm_cmd_stop(a->fsm, now);
    } else if (strcmp(cmd, "list") == 0) {
        driver_fsm_cmd_list(a->fsm, now);
    } else if (strcmp(cmd, "status") == 0) {
        driver_fsm_cmd_status(a->fsm, now);
    } else if (strcmp(cmd, "history") == 0 && (!arg || strcmp(arg, "older") == 0)) {
        driver_history_term(a, arg != NULL);
    } else if (strcmp(cmd, "help") == 0 || strcmp(cmd, "?") == 0) {
        help(a);
    } else if (strcmp(cmd, "quit") == 0 || strcmp(cmd, "exit") == 0) {
        if (a->quit)
            a->quit(a->quit_arg, 0);
    } else {
        char shown[41];
        driver_sanitize(shown, sizeof shown, cmd);
        fprintf(a->out, "Unknown command '%s'; type help\n", shown);
    }
    fflush(a->out);
}

/* Appends bytes to the line buffer and runs every complete line. */
static void feed(driver_app *a, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (!a->in_discarding) {
                a->in_buf[a->in_len] = '\0';
                driver_term_line(a, a->in_buf);
            }
            a->in_len = 0;
            a->in_discarding = false;
        } else if (a->in_len + 1 < sizeof a->in_buf) {
            a->in_buf[a->in_len++] = p[i] ? p[i] : ' ';
        } else if (!a->in_discarding) {
            a->in_discarding = true;
            fprintf(a->out, "Line too long (over %zu bytes); ignored\n", sizeof a->in_buf - 1);
            fflush(a->out);
        }
    }
}

static void at_eof(driver_app *a)
{
    if (a->in_len && !a->in_discarding) {
        a->in_buf[a->in_len] = '\0';
        driver_term_line(a, a->in_buf);
    }
    a->in_len = 0;
    a->in_eof = true;
    a->in_polled = false;
    evc_log(EVC_LOG_DEBUG, "driver", &(evc_log_ids){.driver = a->driver_id},
            "end of stdin; no more commands");
}

/* One read: returns false at EOF or on a hard error. */
static bool read_some(driver_app *a)
{
    char buf[4096];
    ssize_t r = read(a->in_fd, buf, sizeof buf);
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (r <= 0) {
        if (r < 0)
            evc_log(EVC_LOG_WARN, "driver", &(evc_log_ids){.driver = a->driver_id},
                    "stdin: %s; no more commands", strerror(errno));
        at_eof(a);
        return false;
    }
    feed(a, buf, (size_t)r);
    return true;
}

static void on_stdin(evc_watch *w, int fd, unsigned events, void *arg)
{
    driver_app *a = arg;
    if (!read_some(a)) {
        evc_watch_close(w);
        a->in_watch = NULL;
    }
}

void driver_term_poll(driver_app *a)
{
    /* A regular file never blocks; a few reads per tick keep it gentle. */
    for (int i = 0; i < 4 && a->in_polled; i++)
        if (!read_some(a))
            break;
}

void driver_term_start(driver_app *a)
{
    if (a->in_fd < 0)
        return;
    struct stat st;
    if (fstat(a->in_fd, &st) == 0 && S_ISREG(st.st_mode)) {
        a->in_polled = true;
        return;
    }
    evc_error err = {0};
    if (evc_loop_watch_fd(a->loop, a->in_fd, EVC_WATCH_READ, on_stdin, a, &a->in_watch, &err) !=
        EVC_OK) {
        /* epoll refuses some files (/dev/null): those never block, read
         * them from the tick like a regular file. */
        evc_log(EVC_LOG_DEBUG, "driver", &(evc_log_ids){.driver = a->driver_id},
                "stdin is not pollable (%s); reading it from the tick", err.msg);
        a->in_watch = NULL;
        a->in_polled = true;
        return;
    }
    if (a->in_is_tty) {
        fprintf(a->out, "Type help for commands\n");
        fflush(a->out);
    }
}

void driver_term_stop(driver_app *a)
{
    evc_watch_close(a->in_watch);
    a->in_watch = NULL;
    a->in_polled = false;
}
