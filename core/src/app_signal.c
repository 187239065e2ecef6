/* app_signal.c: the second SIGINT/SIGTERM ends the program at once.
 *
 * The first signal reaches the role through the loop (libuv's handler writes
 * to a pipe the loop reads) and starts an orderly shutdown. But shutdown may
 * block outside the loop (a transport closing, a store flushing), where the
 * loop never reads that pipe, so a second Ctrl-C would be lost. From the
 * first signal on (or from the start of teardown), a plain sigaction handler
 * takes over SIGINT and SIGTERM: it writes one line and ends the process with
 * the signal's default action, which no blocked call can delay. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app_internal.h"

/* Built before the handler is armed: the handler itself may only call
 * async-signal-safe functions (write, sigaction, raise, _exit). */
static char app_sig_line[2][160];
static size_t app_sig_len[2];
static volatile sig_atomic_t app_sig_armed;

static void app_sig_now(int signum)
{
    int i = signum == SIGINT ? 0 : 1;
    ssize_t w = write(STDERR_FILENO, app_sig_line[i], app_sig_len[i]);
    (void)w;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(signum, &dfl, NULL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, signum);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    raise(signum);
    _exit(128 + signum); /* not reached: the default action of both is to end */
}

void app_signal_arm_exit_now(const char *program)
{
    static const char *const names[2] = {"SIGINT", "SIGTERM"};
    for (int i = 0; i < 2 && !app_sig_armed; i++) {
        int n = snprintf(app_sig_line[i], sizeof app_sig_line[i],
                         "%s: %s during shutdown: exiting now without waiting\n", program,
                         names[i]);
        app_sig_len[i] = n < 0 ? 0 : (size_t)n < sizeof app_sig_line[i] ? (size_t)n
                                                                          : sizeof app_sig_line[i] - 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = app_sig_now;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    app_sig_armed = 1;
}
