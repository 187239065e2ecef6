/* test_engine_term.c: what the engine's keys do (engine_term_feed), in key
 * mode (a terminal) and line mode (a pipe). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine_term.h"

typedef struct rec {
    int toggles;
    char lines[8][ENGINE_LINE_MAX + 1];
    int nlines;
    char screen[512];
} rec;

static void on_line(void *arg, const char *line)
{
    rec *r = arg;
    if (r->nlines < 8)
        snprintf(r->lines[r->nlines++], sizeof r->lines[0], "%s", line ? line : "(too long)");
}
static void on_toggle(void *arg) { ((rec *)arg)->toggles++; }
static void on_echo(void *arg, const char *s, size_t n)
{
    rec *r = arg;
    strncat(r->screen, s, n < sizeof r->screen - strlen(r->screen) - 1
                              ? n
                              : sizeof r->screen - strlen(r->screen) - 1);
}

/* Key mode as engine_term_open sets it on a terminal. */
static void key_mode(engine_term *t, rec *r)
{
    memset(r, 0, sizeof *r);
    memset(t, 0, sizeof *t);
    t->ops = (engine_term_ops){.line = on_line, .toggle = on_toggle, .echo = on_echo, .arg = r};
    t->raw = true;
}

static void feed(engine_term *t, const char *s) { engine_term_feed(t, s, strlen(s)); }

Test(engine_term, k_alone_toggles_at_once)
{
    engine_term t;
    rec r;
    key_mode(&t, &r);
    feed(&t, "k");
    cr_expect_eq(r.toggles, 1, "no Enter needed");
    feed(&t, "K");
    cr_expect_eq(r.toggles, 2);
    cr_expect_eq(r.nlines, 0);
    cr_expect_str_eq(r.screen, "", "the key is not echoed");
    feed(&t, "\r");
    cr_expect_eq(r.nlines, 0, "Enter after k runs nothing");
}

Test(engine_term, other_keys_make_an_edited_line)
{
    engine_term t;
    rec r;
    key_mode(&t, &r);
    feed(&t, "request drivek1");
    cr_expect_eq(r.toggles, 0, "k inside a line is a letter");
    feed(&t, "\x7f\x7f" "r1\r");
    cr_expect_eq(r.nlines, 1);
    cr_expect_str_eq(r.lines[0], "request driver1");
    cr_expect(strstr(r.screen, "request drivek1\b \b\b \br1\r\n"), "%s", r.screen);
    feed(&t, "plux\x15" "plug\r");
    cr_expect_str_eq(r.lines[1], "plug", "Ctrl-U erases the line");
    feed(&t, "\x1b[Astatus\x1b[D\r");
    cr_expect_str_eq(r.lines[2], "status", "arrow keys are ignored");
    /* Backspace back to an empty line: k toggles again. */
    feed(&t, "s\x7fk");
    cr_expect_eq(r.toggles, 1);
}

Test(engine_term, a_pipe_gives_plain_lines)
{
    engine_term t;
    rec r;
    memset(&r, 0, sizeof r);
    engine_term_ops ops = {.line = on_line, .toggle = on_toggle, .echo = on_echo, .arg = &r};
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_expect_not(engine_term_open(&t, fds[0], &ops), "a pipe is not a terminal");
    feed(&t, "k");
    cr_expect_eq(r.toggles, 0, "line mode: k waits for its newline");
    feed(&t, "\nstatus\n");
    cr_expect_eq(r.nlines, 2);
    cr_expect_str_eq(r.lines[0], "k");
    cr_expect_str_eq(r.lines[1], "status");
    cr_expect_str_eq(r.screen, "", "no echo of piped input");
    engine_term_close(&t);
    close(fds[0]);
    close(fds[1]);
}
