/* test_driver_cli.c: the EV_Driver program itself (loopback transport, no
 * CENTRAL): exit codes of bad set-ups, the liveness line printed once,
 * commands through stdin, EOF on stdin not quitting, SIGTERM. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DRIVER_BIN EVC_TEST_BINARY_DIR "/bin/EV_Driver"

typedef struct proc {
    pid_t pid;
    int in, out, err; /* our ends; in = -1 when stdin is /dev/null */
    char obuf[16384], ebuf[16384];
    size_t olen, elen;
} proc;

static char dir[64], cfg[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/evc_drv_cli_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cfg, sizeof cfg, "%s/c.yaml", dir);
    /* No CENTRAL runs here, but the driver needs its public key to start. */
    char key[128];
    snprintf(key, sizeof key, "%s/central.pub", dir);
    FILE *k = fopen(key, "w");
    cr_assert_not_null(k);
    fputs("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c\n", k);
    fclose(k);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "transport:\n  plugin: loopback\n  endpoint: x\n"
            "security:\n  central_key_file: %s\n"
            /* no web page: tests run side by side (and beside a demo on 8001) */
            "driver:\n  central_timeout_ms: 300\n  web_port: 0\n",
            key);
    fclose(f);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

static void spawn(proc *p, bool devnull_stdin, const char *const *args, const char *password)
{
    memset(p, 0, sizeof *p);
    int in[2], out[2], err[2];
    cr_assert_eq(pipe(in), 0);
    cr_assert_eq(pipe(out), 0);
    cr_assert_eq(pipe(err), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (devnull_stdin)
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    else
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)DRIVER_BIN;
    argv[n++] = (char *)"--config";
    argv[n++] = cfg;
    for (; *args && n < 15; args++)
        argv[n++] = (char *)*args;
    argv[n] = NULL;
    char pw[64], *env[] = {pw, NULL};
    snprintf(pw, sizeof pw, "EVC_DRIVER_PASSWORD=%s", password ? password : "");
    cr_assert_eq(posix_spawn(&p->pid, DRIVER_BIN, &fa, NULL, argv, env), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    p->in = in[1];
    if (devnull_stdin) {
        close(in[1]);
        p->in = -1;
    }
    p->out = out[0];
    p->err = err[0];
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads both pipes until `want` shows on stdout (NULL: until EOF) or the
 * deadline. Returns true when found (or EOF reached for NULL). */
static bool read_until(proc *p, const char *want, uint64_t timeout_ms)
{
    uint64_t end = ms_now() + timeout_ms;
    for (;;) {
        if (want && strstr(p->obuf, want))
            return true;
        uint64_t now = ms_now();
        if (now >= end)
            return false;
        struct pollfd fds[2] = {{.fd = p->out, .events = POLLIN}, {.fd = p->err, .events = POLLIN}};
        if (poll(fds, 2, (int)(end - now)) <= 0)
            continue;
        bool eof = false;
        for (int i = 0; i < 2; i++) {
            if (!(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            char *buf = i ? p->ebuf : p->obuf;
            size_t *len = i ? &p->elen : &p->olen;
            ssize_t r = read(fds[i].fd, buf + *len, sizeof p->obuf - 1 - *len);
            if (r > 0) {
                *len += (size_t)r;
                buf[*len] = '\0';
            } else if (i == 0) {
                eof = true;
            }
        }
        if (eof && !want)
            return true;
        if (eof)
            return want && strstr(p->obuf, want);
    }
}

static int wait_exit(proc *p)
{
    read_until(p, NULL, 5000);
    int st = 0;
    cr_assert_eq(waitpid(p->pid, &st, 0), p->pid);
    close(p->out);
    close(p->err);
    if (p->in >= 0)
        close(p->in);
    /* Under -DEVC_SANITIZE=ON the child's reports land here, not in the
     * test's own output: fail on them too. */
    cr_expect_null(strstr(p->ebuf, "Sanitizer"), "%s", p->ebuf);
    cr_expect_null(strstr(p->ebuf, "runtime error:"), "%s", p->ebuf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *h = hay; (h = strstr(h, needle)); h++)
        n++;
    return n;
}

static void say(proc *p, const char *text)
{
    cr_assert_eq(write(p->in, text, strlen(text)), (ssize_t)strlen(text));
}

Test(driver_cli, no_central_commands_and_quit, .init = setup, .fini = teardown)
{
    proc p;
    spawn(&p, false, (const char *const[]){"--log-level", "info", "x", "driver1", NULL},
          "pass123");
    cr_assert(read_until(&p, "Unable to connect to CENTRAL\n", 5000), "stdout:\n%s\nstderr:\n%s",
              p.obuf, p.ebuf);
    say(&p, "request CP_001\nstatus\n");
    cr_assert(read_until(&p, "Status: ", 5000), "%s", p.obuf);
    /* Several timeouts later the line is still there once. */
    struct timespec ts = {.tv_nsec = 700 * 1000000L};
    nanosleep(&ts, NULL);
    say(&p, "quit\n");
    cr_expect_eq(wait_exit(&p), 0, "stderr:\n%s", p.ebuf);
    cr_expect_eq(count(p.obuf, "Unable to connect to CENTRAL"), 1, "%s", p.obuf);
    cr_expect(strstr(p.obuf, "Waiting for CENTRAL before requesting CP_001\n"), "%s", p.obuf);
    cr_expect(strstr(p.obuf, "Status: driver driver1, CENTRAL unreachable, authenticated not yet, "
                             "balance unknown, request CP_001 waiting for CENTRAL, "
                             "services none\n"),
              "%s", p.obuf);
    cr_expect(strstr(p.ebuf, "password from EVC_DRIVER_PASSWORD"), "%s", p.ebuf);
    cr_expect_null(strstr(p.obuf, "pass123"));
    cr_expect_null(strstr(p.ebuf, "pass123"), "the password is never logged");
    cr_expect_null(strstr(p.obuf, "\033["), "no colours when stdout is not a terminal");
}

Test(driver_cli, eof_on_stdin_does_not_quit_and_sigterm_does, .init = setup, .fini = teardown)
{
    proc p;
    spawn(&p, true, (const char *const[]){"x", "driver1", NULL}, NULL);
    cr_assert(read_until(&p, "Unable to connect to CENTRAL\n", 5000), "%s", p.ebuf);
    cr_expect_eq(waitpid(p.pid, NULL, WNOHANG), 0, "still running after EOF on stdin");
    cr_expect(strstr(p.ebuf, "no password given"), "%s", p.ebuf);
    kill(p.pid, SIGTERM);
    cr_expect_eq(wait_exit(&p), 0);
}

Test(driver_cli, bad_setups_exit_3_with_a_clear_message, .init = setup, .fini = teardown)
{
    proc p;
    spawn(&p, true, (const char *const[]){"x", "driver1", "/nonexistent/svc.txt", NULL}, NULL);
    cr_expect_eq(wait_exit(&p), 3);
    cr_expect(strstr(p.ebuf, "services file '/nonexistent/svc.txt': cannot open: No such file"),
              "%s", p.ebuf);

    spawn(&p, true, (const char *const[]){"x", "bad id", NULL}, NULL);
    cr_expect_eq(wait_exit(&p), 3);
    cr_expect(strstr(p.ebuf, "driver id 'bad id' is invalid"), "%s", p.ebuf);

    char pw[160];
    snprintf(pw, sizeof pw, "%s/pw", dir);
    FILE *f = fopen(pw, "w");
    fclose(f);
    spawn(&p, true, (const char *const[]){"--password-file", pw, "x", "driver1", NULL}, "env");
    cr_expect_eq(wait_exit(&p), 3);
    cr_expect(strstr(p.ebuf, "the first line is empty"), "%s", p.ebuf);

    /* Without Central's public key it would trust nothing it hears. */
    char key[128];
    snprintf(key, sizeof key, "%s/central.pub", dir);
    cr_assert_eq(unlink(key), 0);
    spawn(&p, true, (const char *const[]){"x", "driver1", NULL}, "pass123");
    cr_expect_eq(wait_exit(&p), 3);
    char want[256];
    snprintf(want, sizeof want, "Central's public key %s does not exist", key);
    cr_expect(strstr(p.ebuf, want), "%s", p.ebuf);
}

Test(driver_cli, services_file_problems_are_shown_before_anything, .init = setup,
     .fini = teardown)
{
    char svc[160];
    snprintf(svc, sizeof svc, "%s/svc.txt", dir);
    FILE *f = fopen(svc, "w");
    fputs("# sample\nCP_001\nnot valid\nCP_002\n", f);
    fclose(f);
    proc p;
    spawn(&p, true, (const char *const[]){"x", "driver1", svc, NULL}, "pass123");
    cr_assert(read_until(&p, "Unable to connect to CENTRAL\n", 5000), "%s", p.ebuf);
    kill(p.pid, SIGTERM);
    cr_expect_eq(wait_exit(&p), 0);
    char want[512];
    snprintf(want, sizeof want,
             "%s:3: invalid CP id 'not valid' (expected letters, digits, '_', '.', '-', at most "
             "64); skipped\nServices file %s: 2 CP ids to request\n",
             svc, svc);
    cr_expect(strstr(p.obuf, want), "%s", p.obuf);
}

/* The driver's screen is stdout, and stderr often shares the terminal: by
 * default only warnings and errors are logged (issue 9 item 8);
 * --log-level=info brings the rest back. */
Test(driver_cli, logs_only_warnings_by_default, .init = setup, .fini = teardown)
{
    proc p;
    spawn(&p, false, (const char *const[]){"x", "driver1", NULL}, "pass123");
    cr_assert(read_until(&p, "Unable to connect to CENTRAL\n", 5000), "stdout:\n%s\nstderr:\n%s",
              p.obuf, p.ebuf);
    say(&p, "quit\n");
    cr_expect_eq(wait_exit(&p), 0, "stderr:\n%s", p.ebuf);
    cr_expect_null(strstr(p.ebuf, " INFO "), "stderr:\n%s", p.ebuf);

    spawn(&p, false, (const char *const[]){"--log-level=info", "x", "driver1", NULL}, "pass123");
    cr_assert(read_until(&p, "Unable to connect to CENTRAL\n", 5000), "%s", p.obuf);
    say(&p, "quit\n");
    cr_expect_eq(wait_exit(&p), 0, "stderr:\n%s", p.ebuf);
    cr_expect(strstr(p.ebuf, " INFO "), "asked for: %s", p.ebuf);
}
