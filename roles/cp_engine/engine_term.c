/* engine_term.c: the engine's keyboard (see engine_term.h). */
#include "engine_term.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Saved settings of the terminal in key mode: read by signal handlers. */
static int term_fd = -1;
static struct termios term_saved;
static volatile sig_atomic_t term_raw_on;

static const int TERM_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV,
                                   SIGBUS, SIGFPE,  SIGILL, SIGABRT};
#define TERM_NSIG (sizeof TERM_SIGNALS / sizeof TERM_SIGNALS[0])
static struct sigaction term_prev[TERM_NSIG];
static bool term_handlers_set, term_atexit_set;

void engine_term_restore(void)
{
    if (term_raw_on && term_fd >= 0) {
        tcsetattr(term_fd, TCSANOW, &term_saved);
        term_raw_on = 0;
    }
}

/* Restores the terminal, then lets what was there before handle the
 * signal: the loop's handler (SIGINT/SIGTERM: graceful stop), a sanitizer's
 * (its report), or the default action (re-raised once this returns). */
static void term_on_signal(int sig, siginfo_t *info, void *ctx)
{
    int saved_errno = errno;
    engine_term_restore();
    for (size_t i = 0; i < TERM_NSIG; i++) {
        if (TERM_SIGNALS[i] != sig)
            continue;
        struct sigaction *p = &term_prev[i];
        if (p->sa_flags & SA_SIGINFO) {
            if (p->sa_sigaction)
                p->sa_sigaction(sig, info, ctx);
        } else if (p->sa_handler == SIG_IGN) {
            /* nothing */
        } else if (p->sa_handler == SIG_DFL) {
            /* The default action: put it back and re-raise. A crash signal
             * from a faulting instruction would come back by itself; a sent
             * one needs the raise. */
            sigaction(sig, p, NULL);
            raise(sig);
        } else {
            p->sa_handler(sig);
        }
    }
    errno = saved_errno;
}

static void term_install_handlers(void)
{
    if (term_handlers_set)
        return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = term_on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < TERM_NSIG; i++)
        sigaction(TERM_SIGNALS[i], &sa, &term_prev[i]);
    term_handlers_set = true;
}

static bool term_apply_raw(void)
{
    struct termios raw = term_saved;
    /* Keys one by one, no echo (typed lines are echoed by us); ISIG kept so
     * that Ctrl-C and Ctrl-Z still work; output processing (ONLCR) kept. */
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(term_fd, TCSANOW, &raw) != 0)
        return false;
    term_raw_on = 1;
    return true;
}

bool engine_term_open(engine_term *t, int fd, const engine_term_ops *ops)
{
    memset(t, 0, sizeof *t);
    t->ops = *ops;
    if (!isatty(fd) || tcgetattr(fd, &term_saved) != 0)
        return false;
    term_fd = fd;
    /* Handlers first: a signal between the mode change and them would leave
     * the terminal raw. */
    term_install_handlers();
    if (!term_atexit_set && atexit(engine_term_restore) == 0)
        term_atexit_set = true;
    t->raw = term_apply_raw();
    return t->raw;
}

void engine_term_resume(engine_term *t)
{
    /* Only while in the foreground: a background job changing the mode would
     * be stopped by SIGTTOU. */
    if (t->raw && term_fd >= 0 && tcgetpgrp(term_fd) == getpgrp())
        term_apply_raw();
}

void engine_term_close(engine_term *t)
{
    engine_term_restore();
    if (t)
        t->raw = false;
}

static void echo(engine_term *t, const char *s, size_t n)
{
    if (t->ops.echo)
        t->ops.echo(t->ops.arg, s, n);
}

/* One key in key mode. */
static void term_key(engine_term *t, unsigned char c)
{
    if (t->esc == 1) { /* after ESC: '[' starts a CSI sequence, else it is over */
        t->esc = c == '[' ? 2 : 0;
        return;
    }
    if (t->esc == 2) { /* CSI: parameters until a final byte 0x40..0x7e */
        if (c >= 0x40 && c <= 0x7e)
            t->esc = 0;
        return;
    }
    if (c == 0x1b) { /* arrows and function keys: ignored */
        t->esc = 1;
        return;
    }
    if (c == '\r' || c == '\n') {
        if (t->len == 0)
            return;
        echo(t, "\r\n", 2);
        t->line[t->len] = '\0';
        t->len = 0;
        if (t->ops.line)
            t->ops.line(t->ops.arg, t->line);
        return;
    }
    if (c == 0x7f || c == 0x08) { /* Backspace */
        if (t->len) {
            t->len--;
            echo(t, "\b \b", 3);
        }
        return;
    }
    if (c == 0x15) { /* Ctrl-U: the whole line */
        for (; t->len; t->len--)
            echo(t, "\b \b", 3);
        return;
    }
    if (c < 0x20)
        return; /* other control keys: nothing */
    if (t->len == 0 && (c == 'k' || c == 'K')) {
        /* F10: the key itself, at once. */
        if (t->ops.toggle)
            t->ops.toggle(t->ops.arg);
        return;
    }
    if (t->len < ENGINE_LINE_MAX) {
        t->line[t->len++] = (char)c;
        echo(t, (const char *)&c, 1);
    }
}

void engine_term_feed(engine_term *t, const char *data, size_t n)
{
    if (!t->raw) {
        engine_linebuf_feed(&t->lb, data, n, t->ops.line, t->ops.arg);
        return;
    }
    for (size_t i = 0; i < n; i++)
        term_key(t, (unsigned char)data[i]);
}
