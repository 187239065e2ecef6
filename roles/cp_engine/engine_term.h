/* engine_term.h: the engine's keyboard (F10: "a key press simulates KO/OK").
 *
 * When stdin is a terminal it is put in non-canonical mode without echo, so
 * that a single `k` toggles KO/OK at once, without Enter. Any other key
 * starts a command line (`request driver1`, `plug`, `unplug`, `status`,
 * `help`), echoed and edited here (Backspace, Ctrl-U), run on Enter. Ctrl-C
 * and the other signal keys keep working (ISIG stays on). The terminal is
 * restored on every way out: engine_term_close, exit (atexit), and the
 * signals that end the program (SIGINT, SIGTERM, SIGHUP, SIGQUIT, and the
 * crashes SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), whose handlers restore
 * it and then hand the signal to what was installed before (the loop's
 * handler, a sanitizer's, or the default action). After Ctrl-Z and fg
 * (SIGCONT) the mode is set again.
 *
 * When stdin is not a terminal (a pipe, a file): plain lines, as before.
 *
 * One keyboard per process (the saved terminal settings are global, as
 * signal handlers need them). Loop thread, except engine_term_restore
 * (async-signal-safe).
 */
#ifndef ENGINE_TERM_H
#define ENGINE_TERM_H

#include <stdbool.h>
#include <stddef.h>

#include "engine_policy.h"

typedef struct engine_term_ops {
    void (*line)(void *arg, const char *line); /* a command line; NULL: too long */
    void (*toggle)(void *arg);                 /* the KO key */
    void (*echo)(void *arg, const char *s, size_t n); /* what the screen shows of typing */
    void *arg;
} engine_term_ops;

typedef struct engine_term {
    engine_term_ops ops;
    bool raw;            /* key mode (stdin is a terminal) */
    engine_linebuf lb;   /* line mode: bytes to lines */
    char line[ENGINE_LINE_MAX + 1]; /* key mode: the line being typed */
    size_t len;
    int esc;             /* key mode: inside an escape sequence (0 none, 1 ESC, 2 CSI) */
} engine_term;

/* Sets up the keyboard on fd (STDIN_FILENO): raw when it is a terminal and
 * its mode could be set. Returns true in key mode. */
bool engine_term_open(engine_term *t, int fd, const engine_term_ops *ops);
/* Bytes read from the keyboard. */
void engine_term_feed(engine_term *t, const char *data, size_t n);
/* Puts the terminal back as it was found (idempotent). */
void engine_term_close(engine_term *t);
/* Re-applies key mode after SIGCONT (the shell may have reset it). */
void engine_term_resume(engine_term *t);
/* Restores the saved terminal settings; async-signal-safe. */
void engine_term_restore(void);

#endif
