/* h_pty.c: a program on a pseudo-terminal, as a person at a terminal runs
 * it (issue 9 items 8 and 9): stdin and stdout on the pty's slave, which is
 * its controlling terminal (so /dev/tty works), stderr to <name>.err. The
 * test types on the master and reads what the screen shows; everything read
 * is also appended to <name>.out, so h_count/h_env_dump see it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include "../../common/proc.h"
#include "harness.h"

/* The config of `name`: the transport and store sections the harness wrote
 * for Central (every env has central.yaml), with this process's client id,
 * then role_yaml. */
static void h_pty_config(h_env *env, const char *name, const char *role_yaml, char *path,
                         size_t cap)
{
    char central[PATH_MAX + 32];
    snprintf(central, sizeof central, "%s/central.yaml", env->dir);
    FILE *in = fopen(central, "r");
    cr_assert(in != NULL, "cannot read %s: %s", central, strerror(errno));
    snprintf(path, cap, "%s/%s.yaml", env->dir, name);
    FILE *out = fopen(path, "w");
    cr_assert(out != NULL, "cannot write %s: %s", path, strerror(errno));
    char line[1024];
    while (fgets(line, sizeof line, in)) {
        if (strcmp(line, "central:\n") == 0)
            break; /* Central's own section comes last */
        if (strstr(line, "client_id:"))
            fprintf(out, "  client_id: \"%s\"\n", name);
        else
            fputs(line, out);
    }
    fclose(in);
    fputs(role_yaml, out);
    fclose(out);
}

h_proc *h_spawn_pty(h_env *env, const char *name, char *const argv[], char *const extra_env[],
                    h_pty *pty)
{
    cr_assert(env->nprocs < H_MAX_PROCS, "too many processes in one scenario");
    memset(pty, 0, sizeof *pty);
    struct winsize ws = {.ws_row = 40, .ws_col = 160};
    cr_assert(openpty(&pty->master, &pty->slave, NULL, NULL, &ws) == 0, "openpty: %s",
              strerror(errno));
    fcntl(pty->master, F_SETFD, FD_CLOEXEC);
    fcntl(pty->slave, F_SETFD, FD_CLOEXEC);
    /* The terminal as a login shell leaves it: canonical, echo, signals. */
    cr_assert(tcgetattr(pty->slave, &pty->initial) == 0);

    h_proc *p = &env->procs[env->nprocs++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->out, sizeof p->out, "%s/%s.out", env->dir, name);
    snprintf(p->err, sizeof p->err, "%s/%s.err", env->dir, name);
    p->stdin_fd = -1; /* typed on the pty: h_pty_type */
    int out = open(p->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = open(p->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(out >= 0 && err >= 0, "cannot create %s: %s", p->out, strerror(errno));
    pty->out_fd = out;
    char **envp = proc_env_merge(extra_env);
    cr_assert(envp != NULL);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. A session of its own (so
         * also its own process group, for h_signal) whose controlling
         * terminal is the slave. */
        setsid();
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        if (chdir(env->dir) != 0 || ioctl(pty->slave, TIOCSCTTY, 0) != 0)
            _exit(127);
        dup2(pty->slave, 0);
        dup2(pty->slave, 1);
        dup2(err, 2);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    free(envp);
    close(err);
    signal(SIGPIPE, SIG_IGN);
    p->pid = pid;
    return p;
}

/* Reads what the master has (waiting up to wait_ms for the first bytes). */
static void h_pty_pump(h_pty *pty, int wait_ms)
{
    struct pollfd pfd = {.fd = pty->master, .events = POLLIN};
    while (poll(&pfd, 1, wait_ms) > 0 && (pfd.revents & POLLIN)) {
        char b[4096];
        ssize_t n = read(pty->master, b, sizeof b);
        if (n <= 0)
            return;
        ssize_t w = write(pty->out_fd, b, (size_t)n);
        (void)w;
        size_t room = sizeof pty->screen - 1 - pty->len;
        size_t k = (size_t)n < room ? (size_t)n : room;
        memcpy(pty->screen + pty->len, b, k);
        pty->len += k;
        pty->screen[pty->len] = '\0';
        wait_ms = 0;
    }
}

bool h_pty_wait(h_pty *pty, const char *needle, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        h_pty_pump(pty, 0);
        if (strstr(pty->screen, needle))
            return true;
        int64_t left = deadline - h_now_ms();
        if (left <= 0)
            return false;
        h_pty_pump(pty, left < 50 ? (int)left : 50);
    }
}

const char *h_pty_screen(h_pty *pty)
{
    h_pty_pump(pty, 0);
    return pty->screen;
}

void h_pty_type(h_pty *pty, const char *keys)
{
    size_t n = strlen(keys);
    while (n) {
        ssize_t w = write(pty->master, keys, n);
        if (w < 0 && errno == EINTR)
            continue;
        cr_assert(w > 0, "typing on the pty: %s", strerror(errno));
        keys += w;
        n -= (size_t)w;
    }
}

bool h_pty_termios(h_pty *pty, struct termios *t) { return tcgetattr(pty->slave, t) == 0; }

void h_pty_close(h_pty *pty)
{
    if (pty->master > 0)
        close(pty->master);
    if (pty->slave > 0)
        close(pty->slave);
    if (pty->out_fd > 0)
        close(pty->out_fd);
    pty->master = pty->slave = pty->out_fd = -1;
}

h_proc *h_pty_start_engine(h_env *env, const char *cp_id, int engine_port, h_pty *pty)
{
    const h_opts *o = &env->opts;
    char name[64], yaml[2048], path[PATH_MAX + 64], listen[64];
    snprintf(name, sizeof name, "%s-engine", cp_id);
    snprintf(yaml, sizeof yaml,
             "cp_engine:\n"
             "  database: \"%s/%s.db\"\n"
             "  central_timeout_ms: %d\n"
             "  monitor_timeout_ms: %d\n",
             env->dir, name, o->central_timeout_ms, o->monitor_timeout_ms);
    h_pty_config(env, name, yaml, path, sizeof path);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", engine_port);
    char *argv[] = {(char *)proc_bin("EV_CP_E"), "--config", path, env->bus, listen,
                    (char *)cp_id, NULL};
    return h_spawn_pty(env, name, argv, NULL, pty);
}

h_proc *h_pty_start_driver(h_env *env, const char *driver_id, h_pty *pty)
{
    const h_opts *o = &env->opts;
    char yaml[1024], path[PATH_MAX + 64], name[64];
    snprintf(name, sizeof name, "%s-tty", driver_id);
    snprintf(yaml, sizeof yaml,
             "driver:\n"
             "  central_timeout_ms: %d\n"
             "  exit_when_done: false\n"
             "  colour: never\n"
             "  web_port: 0\n", /* no page: a demo or another test may hold 8001 */
             o->central_timeout_ms);
    h_pty_config(env, name, yaml, path, sizeof path);
    char *argv[] = {(char *)proc_bin("EV_Driver"), "--config", path, env->bus, (char *)driver_id,
                    NULL};
    return h_spawn_pty(env, name, argv, NULL, pty);
}
