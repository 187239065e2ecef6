/* h_proc.c: processes of a scenario -- spawn into a process group with the
 * output in files, signals, reaping, and the cleanup that always runs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../../common/proc.h"
#include "harness.h"

/* Every process group started by this test process, so that an atexit
 * handler can kill what a failing test left behind. */
static pid_t h_groups[H_MAX_PROCS * 4];
static int h_ngroups;
static bool h_atexit_set;

static void h_kill_leftovers(void)
{
    for (int i = 0; i < h_ngroups; i++)
        if (h_groups[i] > 0)
            kill(-h_groups[i], SIGKILL);
    for (int i = 0; i < h_ngroups; i++)
        if (h_groups[i] > 0)
            waitpid(h_groups[i], NULL, WNOHANG);
    h_ngroups = 0;
}

static void h_forget_group(pid_t pid)
{
    for (int i = 0; i < h_ngroups; i++)
        if (h_groups[i] == pid)
            h_groups[i] = 0;
}

int64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void h_nap(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool h_wait_until(bool (*cond)(h_env *env, void *arg), h_env *env, void *arg, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        if (cond(env, arg))
            return true;
        if (h_now_ms() >= deadline)
            return false;
        h_nap(50);
    }
}

h_proc *h_spawn(h_env *env, const char *name, char *const argv[], char *const extra_env[])
{
    cr_assert(env->nprocs < H_MAX_PROCS, "too many processes in one scenario");
    if (!h_atexit_set) {
        atexit(h_kill_leftovers);
        h_atexit_set = true;
    }
    h_proc *p = &env->procs[env->nprocs++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    /* A restarted program keeps its earlier output: the new files get a suffix. */
    int gen = 0;
    for (int i = 0; i < env->nprocs - 1; i++)
        if (strcmp(env->procs[i].name, name) == 0)
            gen++;
    char base[sizeof env->dir + 64];
    if (gen)
        snprintf(base, sizeof base, "%s/%s.%d", env->dir, name, gen);
    else
        snprintf(base, sizeof base, "%s/%s", env->dir, name);
    snprintf(p->out, sizeof p->out, "%s.out", base);
    snprintf(p->err, sizeof p->err, "%s.err", base);

    int in[2];
    cr_assert(pipe2(in, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    int out = open(p->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int err = open(p->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(out >= 0 && err >= 0, "cannot create %s: %s", p->out, strerror(errno));
    char **envp = proc_env_merge(extra_env);
    cr_assert(envp != NULL);
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. */
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a crashed test leaves no orphan */
        if (getppid() != parent)
            _exit(127);
        if (chdir(env->dir) != 0)
            _exit(127);
        dup2(in[0], 0);
        dup2(out, 1);
        dup2(err, 2);
        execve(argv[0], argv, envp);
        static const char msg[] = "h_spawn: exec failed\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    setpgid(pid, pid); /* both sides set it: no race with an early kill */
    free(envp);
    close(in[0]);
    close(out);
    close(err);
    /* A child that exits must not kill the test with SIGPIPE on a write. */
    signal(SIGPIPE, SIG_IGN);
    p->pid = pid;
    p->stdin_fd = in[1];
    if (h_ngroups < (int)(sizeof h_groups / sizeof h_groups[0]))
        h_groups[h_ngroups++] = pid;
    return p;
}

h_proc *h_proc_find(h_env *env, const char *name)
{
    for (int i = env->nprocs - 1; i >= 0; i--)
        if (strcmp(env->procs[i].name, name) == 0)
            return &env->procs[i];
    return NULL;
}

static void h_reap(h_proc *p, bool block)
{
    if (p->exited || p->pid <= 0)
        return;
    int st = 0;
    pid_t r;
    do {
        r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->exited = true;
        p->status = st;
        /* The group may still hold children of the program: kill them too. */
        kill(-p->pid, SIGKILL);
        h_forget_group(p->pid);
        if (p->stdin_fd >= 0) {
            close(p->stdin_fd);
            p->stdin_fd = -1;
        }
    }
}

bool h_alive(h_proc *p)
{
    h_reap(p, false);
    return !p->exited;
}

void h_signal(h_proc *p, int sig)
{
    if (h_alive(p))
        kill(-p->pid, sig);
}

void h_kill(h_proc *p)
{
    if (!h_alive(p))
        return;
    kill(-p->pid, SIGKILL);
    h_reap(p, true);
}

static int h_exit_code(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int h_stop(h_proc *p, int timeout_ms)
{
    if (h_alive(p)) {
        kill(-p->pid, SIGTERM);
        int64_t deadline = h_now_ms() + timeout_ms;
        while (h_alive(p) && h_now_ms() < deadline)
            h_nap(20);
        if (h_alive(p)) {
            fprintf(stderr, "harness: %s did not stop within %d ms of SIGTERM: SIGKILL\n",
                    p->name, timeout_ms);
            h_kill(p);
        }
    }
    return h_exit_code(p->status);
}

void h_send_line(h_proc *p, const char *line)
{
    if (p->stdin_fd < 0)
        return;
    size_t n = strlen(line);
    char *buf = malloc(n + 2);
    cr_assert(buf != NULL);
    memcpy(buf, line, n);
    buf[n++] = '\n';
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(p->stdin_fd, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(buf);
}

/* ---- output files ------------------------------------------------------- */

static char *h_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    size_t cap = 8192, len = 0;
    char *s = malloc(cap);
    size_t r;
    while (s && (r = fread(s + len, 1, cap - len - 1, f)) > 0) {
        len += r;
        if (cap - len < 4096) {
            char *t = realloc(s, cap * 2);
            if (!t) {
                free(s);
                s = NULL;
                break;
            }
            s = t;
            cap *= 2;
        }
    }
    fclose(f);
    if (!s)
        return strdup("");
    s[len] = '\0';
    return s;
}

char *h_read_output(const h_proc *p, bool err) { return h_slurp(err ? p->err : p->out); }

static int h_occurrences(const char *hay, const char *needle)
{
    int n = 0;
    size_t nl = strlen(needle);
    for (const char *s = strstr(hay, needle); s; s = strstr(s + nl, needle))
        n++;
    return n;
}

int h_count(const h_proc *p, const char *needle)
{
    char *o = h_slurp(p->out), *e = h_slurp(p->err);
    int n = h_occurrences(o, needle) + h_occurrences(e, needle);
    free(o);
    free(e);
    return n;
}

bool h_wait_output(const h_proc *p, const char *needle, int times, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        if (h_count(p, needle) >= times)
            return true;
        if (h_now_ms() >= deadline)
            return false;
        h_nap(50);
    }
}

static void h_dump_tail(const char *label, const char *path, int lines)
{
    char *s = h_slurp(path);
    size_t len = strlen(s);
    const char *start = s + len;
    int seen = 0;
    while (start > s && seen <= lines) {
        start--;
        if (*start == '\n')
            seen++;
    }
    if (start > s)
        start++;
    if (len)
        fprintf(stderr, "----- %s (%s, last %d lines) -----\n%s%s", label, path, lines, start,
                s[len - 1] == '\n' ? "" : "\n");
    free(s);
}

void h_env_dump(const h_env *env)
{
    fprintf(stderr, "===== scenario dir %s (bus %s, central port %d, http %d) =====\n", env->dir,
            env->bus, env->central_port, env->http_port);
    for (int i = 0; i < env->nprocs; i++) {
        const h_proc *p = &env->procs[i];
        char label[96];
        snprintf(label, sizeof label, "%s stdout", p->name);
        h_dump_tail(label, p->out, 25);
        snprintf(label, sizeof label, "%s stderr", p->name);
        h_dump_tail(label, p->err, 25);
    }
}

/* ---- teardown ----------------------------------------------------------- */

static void h_rmtree(const char *dir)
{
    char *argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
    proc_result r;
    if (proc_run(argv, NULL, 10000, &r) == 0)
        proc_result_free(&r);
}

/* A sanitizer report or a crash in a program goes to its .err file, which
 * ctest never sees: echo it to the test's stderr, where the sanitizer
 * builds' FAIL_REGULAR_EXPRESSION (cmake/EvcTest.cmake) catches it. An exit
 * other than 0 after SIGTERM (or a kill by the test) is reported too. */
static void h_report_exits(const h_env *env)
{
    static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                        "runtime error:", NULL};
    for (int i = 0; i < env->nprocs; i++) {
        const h_proc *p = &env->procs[i];
        char *err = h_slurp(p->err);
        for (int m = 0; marks[m]; m++) {
            const char *at = strstr(err, marks[m]);
            if (at)
                fprintf(stderr, "harness: %s (%s): %.*s\n", p->name, p->err, 2000, at);
        }
        free(err);
        if (p->exited && WIFSIGNALED(p->status) && WTERMSIG(p->status) != SIGKILL &&
            WTERMSIG(p->status) != SIGTERM)
            fprintf(stderr, "harness: %s died of signal %d (see %s)\n", p->name,
                    WTERMSIG(p->status), p->err);
        else if (p->exited && WIFEXITED(p->status) && WEXITSTATUS(p->status) != 0 &&
                 p != env->tap)
            fprintf(stderr, "harness: %s exited %d\n", p->name, WEXITSTATUS(p->status));
    }
}

void h_env_stop_all(h_env *env)
{
    if (!env || env->stopped)
        return;
    env->stopped = true;
    /* Clients first, Central next, the bus last: nobody logs a lost bus. */
    for (int i = env->nprocs - 1; i >= 0; i--) {
        h_proc *p = &env->procs[i];
        if (p != env->bus_proc && p != env->central && h_alive(p))
            kill(-p->pid, SIGTERM);
    }
    for (int i = env->nprocs - 1; i >= 0; i--) {
        h_proc *p = &env->procs[i];
        if (p != env->bus_proc && p != env->central)
            h_stop(p, 3000);
    }
    for (int i = env->nprocs - 1; i >= 0; i--)
        if (&env->procs[i] != env->bus_proc)
            h_stop(&env->procs[i], 3000);
    if (env->bus_proc)
        h_stop(env->bus_proc, 3000);
    h_report_exits(env);
}

int h_env_crashes(const h_env *env)
{
    int n = 0;
    for (int i = 0; i < env->nprocs; i++) {
        const h_proc *p = &env->procs[i];
        if (p->exited && WIFSIGNALED(p->status) && WTERMSIG(p->status) != SIGKILL &&
            WTERMSIG(p->status) != SIGTERM)
            n++;
        char *err = h_slurp(p->err);
        if (strstr(err, "ERROR: AddressSanitizer") || strstr(err, "runtime error:"))
            n++;
        free(err);
    }
    return n;
}

void h_env_free(h_env *env)
{
    if (!env)
        return;
    h_env_stop_all(env);
    const char *keep = getenv("EVC_IT_KEEP");
    if (keep && *keep && strcmp(keep, "0") != 0)
        fprintf(stderr, "harness: kept %s\n", env->dir);
    else
        h_rmtree(env->dir);
    free(env);
}
