/* test_terminal.c: issue 9 items 8 and 9 -- what a person at the driver's
 * and the engine's terminals sees and types, through a pseudo-terminal
 * (h_pty.c). Built once per transport (H_BUS). */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>

#include "harness.h"

#define H_UP_MS 15000 /* a program starts, joins the bus (Kafka: its group) */

static h_env *env;

static void setup(void)
{
    env = h_env_new(NULL);
    h_start_central(env);
}

static void teardown(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(terminal, .init = setup, .fini = teardown);

static bool http_up(h_env *e, void *arg)
{
    (void)arg;
    return h_http_status(e->http_port, "/api/cps") == 200;
}

static void wait_state(const char *cp, const char *state, int ms)
{
    char now[64];
    H_ASSERT(env, h_wait_cp_state(env, cp, state, ms), "%s: expected %s within %d ms, got '%s'",
             cp, state, ms, h_cp_state(env, cp, now, sizeof now));
}

static bool exited(h_env *e, void *arg)
{
    (void)e;
    return !h_alive(arg);
}

static void pause_ms(int ms)
{
    /* A person typing: a deliberate delay of the input, not a wait for a
     * result. */
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Item 8: with stderr in a file, the prompt is on the terminal; the password
 * is not echoed; typing it slowly (longer than central_timeout_ms) is not
 * "Unable to connect to CENTRAL" followed by "CENTRAL is back"; no log line
 * reaches the screen. */
Test(terminal, driver_prompts_on_the_terminal_and_a_slow_password_is_no_outage)
{
    H_ASSERT(env, h_wait_until(http_up, env, NULL, H_UP_MS), "Central did not start");
    h_pty pty;
    h_proc *d = h_pty_start_driver(env, "driver1", &pty);
    H_ASSERT(env, h_pty_wait(&pty, "Password for driver1: ", H_UP_MS),
             "no password prompt on the terminal; screen:\n%s", h_pty_screen(&pty));
    /* 7 keys, 700 ms apart: 4.9 s, over the 3 s central_timeout_ms. */
    const char *pw = "pass123";
    for (const char *c = pw; *c; c++) {
        char key[2] = {*c, 0};
        h_pty_type(&pty, key);
        pause_ms(700);
    }
    h_pty_type(&pty, "\r");
    H_ASSERT(env, h_pty_wait(&pty, "Authenticated as driver1", H_UP_MS),
             "not authenticated; screen:\n%s", h_pty_screen(&pty));
    h_pty_type(&pty, "list\r");
    H_ASSERT(env, h_pty_wait(&pty, "CPs you can use now:", H_UP_MS), "no list; screen:\n%s",
             h_pty_screen(&pty));
    /* The rows follow the header: wait for the last one (no CP runs here,
     * so every one is Disconnected) before reading the screen. */
    H_ASSERT(env, h_pty_wait(&pty, "CP_010     Disconnected", 10000),
             "CP states in plain words; screen:\n%s", h_pty_screen(&pty));
    const char *screen = h_pty_screen(&pty);
    H_ASSERT(env, strstr(screen, "Unable to connect to CENTRAL") == NULL,
             "spurious outage after a slow password; screen:\n%s", screen);
    H_ASSERT(env, strstr(screen, "CENTRAL is back") == NULL, "screen:\n%s", screen);
    H_ASSERT(env, strstr(screen, pw) == NULL, "the password was echoed; screen:\n%s", screen);
    H_ASSERT(env, strstr(screen, " INFO ") == NULL && strstr(screen, " DEBUG ") == NULL,
             "log lines on the screen:\n%s", screen);
    H_ASSERT(env, strstr(screen, "Out of Order") != NULL || strstr(screen, "Disconnected"),
             "CP states in plain words; screen:\n%s", screen);
    h_pty_type(&pty, "quit\r");
    /* Its own exit, not the harness's SIGTERM: on Kafka the consumer's
     * close takes a moment, and a signal then means "exit at once". */
    H_ASSERT(env, h_wait_until(exited, env, d, 15000), "the driver did not quit on `quit`");
    H_ASSERT(env, h_stop(d, 10000) == 0, "the driver did not quit cleanly");
    struct termios t;
    cr_assert(h_pty_termios(&pty, &t));
    H_ASSERT(env, (t.c_lflag & (ICANON | ECHO)) == (pty.initial.c_lflag & (ICANON | ECHO)),
             "the driver left the terminal changed (lflag %#x, was %#x)", (unsigned)t.c_lflag,
             (unsigned)pty.initial.c_lflag);
    h_pty_close(&pty);
    H_FINISH(env);
}

static void start_engine_on_pty(h_pty *pty, h_proc **engine)
{
    H_ASSERT(env, h_wait_until(http_up, env, NULL, H_UP_MS), "Central did not start");
    int port = h_free_port();
    *engine = h_pty_start_engine(env, "CP_001", port, pty);
    h_start_monitor(env, "CP_001", port, "secret-CP_001");
    H_ASSERT(env, h_pty_wait(pty, "EV_CP_E ready", H_UP_MS), "screen:\n%s", h_pty_screen(pty));
    wait_state("CP_001", "ACTIVATED", H_UP_MS);
}

static bool lflag_restored(h_pty *pty)
{
    struct termios t;
    return h_pty_termios(pty, &t) &&
           (t.c_lflag & (ICANON | ECHO)) == (pty->initial.c_lflag & (ICANON | ECHO));
}

/* Item 9 (F10): a single `k`, without Enter, is KO at once (Central shows
 * BROKEN), again `k` is OK; line commands still work; SIGTERM gives the
 * terminal back as it was. */
Test(terminal, engine_k_key_without_enter_and_the_terminal_restored)
{
    h_pty pty;
    h_proc *engine;
    start_engine_on_pty(&pty, &engine);
    struct termios t;
    cr_assert(h_pty_termios(&pty, &t));
    H_ASSERT(env, !(t.c_lflag & ICANON) && !(t.c_lflag & ECHO),
             "the engine's terminal is not in key mode (lflag %#x)", (unsigned)t.c_lflag);
    h_pty_type(&pty, "k");
    H_ASSERT(env, h_pty_wait(&pty, "Engine KO", 5000), "`k` alone did nothing; screen:\n%s",
             h_pty_screen(&pty));
    wait_state("CP_001", "BROKEN", 10000);
    h_pty_type(&pty, "k");
    H_ASSERT(env, h_pty_wait(&pty, "Engine OK", 5000), "screen:\n%s", h_pty_screen(&pty));
    wait_state("CP_001", "ACTIVATED", 10000);
    /* A line: echoed as typed, edited with Backspace, run on Enter. */
    h_pty_type(&pty, "statux\x7fs\r");
    H_ASSERT(env, h_pty_wait(&pty, "STATUS cp=CP_001 health=OK", 5000), "screen:\n%s",
             h_pty_screen(&pty));
    H_ASSERT(env, strstr(h_pty_screen(&pty), "statux\b \bs\r"),
             "the line was not echoed as edited; screen:\n%s", h_pty_screen(&pty));
    /* Central ran all along: joining the bus (a Kafka group) is no outage. */
    H_ASSERT(env, strstr(h_pty_screen(&pty), "Unable to connect to CENTRAL") == NULL,
             "spurious outage at start; screen:\n%s", h_pty_screen(&pty));
    h_signal(engine, SIGTERM);
    /* One SIGTERM only: a second one while it stops means "exit at once". */
    H_ASSERT(env, h_wait_until(exited, env, engine, 15000), "the engine ignored SIGTERM");
    H_ASSERT(env, h_stop(engine, 15000) == 0, "the engine did not stop cleanly on SIGTERM");
    H_ASSERT(env, lflag_restored(&pty), "SIGTERM left the terminal in key mode");
    h_pty_close(&pty);
    H_FINISH(env);
}

/* Item 9: a crash gives the terminal back too. */
Test(terminal, engine_crash_restores_the_terminal)
{
    h_pty pty;
    h_proc *engine;
    start_engine_on_pty(&pty, &engine);
    H_ASSERT(env, !lflag_restored(&pty), "not in key mode to begin with");
    /* SIGABRT (an assert, abort()): handled like SIGSEGV by the engine, but
     * not reported by AddressSanitizer, whose SEGV report would fail the
     * sanitizer build on a crash this test causes on purpose. */
    h_signal(engine, SIGABRT);
    int64_t deadline = h_now_ms() + 10000;
    while (h_alive(engine) && h_now_ms() < deadline)
        h_pty_wait(&pty, "\x01never\x01", 50);
    H_ASSERT(env, !h_alive(engine), "the engine survived SIGABRT");
    H_ASSERT(env, lflag_restored(&pty), "the crash left the terminal in key mode");
    h_pty_close(&pty);
    /* The crash is this test's own doing: no H_FINISH (it would count it). */
    h_env_stop_all(env);
}
