/* ck_runner.c: see ck_runner.h and ck.h. */
#include "ck_runner.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

ck_env ck;

/* State of the check running in this process (the child). */
static jmp_buf ck_jmp;
static pid_t ck_pid;          /* the check's own process; 0 in the runner */
static ck_verdict ck_outcome; /* set before longjmp */
static char ck_msg[1024];

void ck_fail_at(const char *file, int line, const char *expr, const char *fmt, ...)
{
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt[0] == '-' ? fmt + 1 : fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    if (expr != NULL && text[0] != '\0')
        snprintf(ck_msg, sizeof ck_msg, "%s:%d: %s (asserted: %s)", base, line, text, expr);
    else if (expr != NULL)
        snprintf(ck_msg, sizeof ck_msg, "%s:%d: assertion failed: %s", base, line, expr);
    else
        snprintf(ck_msg, sizeof ck_msg, "%s:%d: %s", base, line, text);
    if (ck_pid == 0 || getpid() != ck_pid) {
        /* A process the check forked (a lock holder, a writer to be killed):
         * it has no runner to jump to; its parent judges its exit status. */
        fprintf(stderr, "evc-conformance: in a helper process: %s\n", ck_msg);
        _exit(99);
    }
    ck_outcome = CK_FAIL;
    longjmp(ck_jmp, 1);
}

void ck_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ck_msg, sizeof ck_msg, fmt, ap);
    va_end(ap);
    if (ck_pid == 0 || getpid() != ck_pid)
        _exit(98);
    ck_outcome = CK_SKIP;
    longjmp(ck_jmp, 1);
}

/* In the child: runs the check and writes "<verdict digit><message>" to fd. */
static void child_run(const ck_check *c, int fd)
{
    ck_pid = getpid();
    ck_outcome = CK_PASS;
    ck_msg[0] = '\0';
    if (setjmp(ck_jmp) == 0) {
        if (c->init)
            c->init();
        c->run();
    }
    /* static: locals changed between setjmp and longjmp would be clobbered. */
    static ck_verdict v;
    static char msg[sizeof ck_msg];
    v = ck_outcome;
    memcpy(msg, ck_msg, sizeof msg);
    if (c->fini) {
        ck_outcome = CK_PASS;
        if (setjmp(ck_jmp) == 0)
            c->fini();
        if (v == CK_PASS && ck_outcome != CK_PASS) {
            v = ck_outcome;
            memcpy(msg, ck_msg, sizeof msg);
        }
    }
    char out[sizeof msg + 2];
    int len = snprintf(out, sizeof out, "%d%s", (int)v, msg);
    ssize_t w = write(fd, out, (size_t)len);
    close(fd);
    /* exit, not _exit: LeakSanitizer (EVC_SANITIZE builds) checks at exit,
     * and the runner fails a check whose process ends badly after passing.
     * Safe here: the runner is single-threaded and flushed stdio before
     * forking, so nothing of the parent's is written twice. */
    exit(w == len ? 0 : 97);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

typedef struct slot {
    size_t index; /* into checks/out */
    pid_t pid;
    int fd;
    uint64_t start, deadline;
    char buf[1100];
    size_t len;
    bool timed_out;
} slot;

static int slot_start(slot *s, const ck_check *c, size_t index)
{
    int p[2];
    if (pipe(p) != 0)
        return -1;
    fflush(NULL); /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        close(p[0]);
        /* Its own process group: a timeout kills whatever it forked too. */
        setpgid(0, 0);
        child_run(c, p[1]);
    }
    setpgid(pid, pid); /* also here: no race with the kill below */
    close(p[1]);
    *s = (slot){.index = index, .pid = pid, .fd = p[0], .start = now_ms()};
    s->deadline = s->start + (uint64_t)(c->timeout_s ? c->timeout_s : 120) * 1000;
    return 0;
}

static void slot_finish(slot *s, ck_result *r)
{
    close(s->fd);
    /* Wait for the check's exit but leave it a zombie (WNOWAIT): its pid,
     * hence its process group's id, cannot be reused yet, so the kill below
     * reaches only what the check left running in its group. */
    siginfo_t info;
    while (waitid(P_PID, (id_t)s->pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    kill(-s->pid, SIGKILL);
    int status = 0;
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
    }
    r->seconds = (double)(now_ms() - s->start) / 1000.0;
    s->buf[s->len] = '\0';
    if (s->timed_out) {
        r->verdict = CK_FAIL;
        snprintf(r->why, sizeof r->why, "no verdict within %u s: killed (hung?)",
                 r->check->timeout_s ? r->check->timeout_s : 120);
    } else if (s->len >= 1 && s->buf[0] >= '0' && s->buf[0] <= '2') {
        r->verdict = (ck_verdict)(s->buf[0] - '0');
        snprintf(r->why, sizeof r->why, "%s", s->buf + 1);
        if (r->verdict != CK_FAIL && (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)) {
            /* A sanitizer's report at exit, a crash in a destructor. */
            r->verdict = CK_FAIL;
            snprintf(r->why, sizeof r->why,
                     "the check's process ended badly after its verdict (%s %d): see its "
                     "stderr (a sanitizer report?)",
                     WIFSIGNALED(status) ? "signal" : "exit status",
                     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        }
    } else {
        r->verdict = CK_FAIL;
        if (WIFSIGNALED(status))
            snprintf(r->why, sizeof r->why, "the check's process died of signal %d (%s)",
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
        else
            snprintf(r->why, sizeof r->why,
                     "the check's process exited (status %d) without a verdict",
                     WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
}

static const char *verdict_name(ck_verdict v)
{
    return v == CK_PASS ? "PASS" : v == CK_FAIL ? "FAIL" : "SKIP";
}

int ck_run(const ck_check *const *checks, size_t n, unsigned jobs, FILE *progress,
           ck_result *out)
{
    if (jobs < 1)
        jobs = 1;
    if (jobs > 32)
        jobs = 32;
    slot running[32];
    size_t nrun = 0, next = 0, done = 0;
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        out[i] = (ck_result){.check = checks[i], .verdict = CK_FAIL};
    while (done < n) {
        while (nrun < jobs && next < n) {
            if (slot_start(&running[nrun], checks[next], next) != 0) {
                snprintf(out[next].why, sizeof out[next].why, "cannot fork: %s",
                         strerror(errno));
                rc = -1;
                done++;
            } else {
                nrun++;
            }
            next++;
        }
        if (nrun == 0)
            continue;
        struct pollfd pf[32];
        uint64_t t = now_ms(), soonest = UINT64_MAX;
        for (size_t i = 0; i < nrun; i++) {
            pf[i] = (struct pollfd){.fd = running[i].fd, .events = POLLIN};
            if (running[i].deadline < soonest)
                soonest = running[i].deadline;
        }
        int wait = soonest <= t ? 0 : (int)(soonest - t > 1000 ? 1000 : soonest - t);
        if (poll(pf, nrun, wait) < 0 && errno != EINTR)
            return -1;
        t = now_ms();
        for (size_t i = 0; i < nrun;) {
            slot *s = &running[i];
            bool ended = false;
            if (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
                if (r > 0)
                    s->len += (size_t)r;
                ended = r <= 0 || s->len == sizeof s->buf - 1;
            }
            if (!ended && t >= s->deadline) {
                kill(-s->pid, SIGKILL);
                s->timed_out = true;
                ended = true;
            }
            if (!ended) {
                i++;
                continue;
            }
            ck_result *r = &out[s->index];
            slot_finish(s, r);
            done++;
            if (progress)
                fprintf(progress, "%s %s (%.1f s)\n", verdict_name(r->verdict), r->check->name,
                        r->seconds);
            running[i] = running[nrun - 1];
            pf[i] = pf[nrun - 1];
            nrun--;
        }
    }
    return rc;
}

int ck_print_table(FILE *f, const ck_result *r, size_t n)
{
    size_t w = 5, pass = 0, fail = 0, skip = 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(r[i].check->name) > w)
            w = strlen(r[i].check->name);
    fprintf(f, "\n%-6s %-*s  %s\n", "RESULT", (int)w, "CHECK", "GUARANTEE");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%-6s %-*s  %s\n", verdict_name(r[i].verdict), (int)w, r[i].check->name,
                r[i].check->guarantee);
        if (r[i].verdict != CK_PASS)
            fprintf(f, "%-6s %-*s  %s: %s\n", "", (int)w, "",
                    r[i].verdict == CK_FAIL ? "why" : "skipped", r[i].why);
        pass += r[i].verdict == CK_PASS;
        fail += r[i].verdict == CK_FAIL;
        skip += r[i].verdict == CK_SKIP;
    }
    fprintf(f, "\n%zu checks: %zu passed, %zu failed, %zu skipped\n", n, pass, fail, skip);
    fflush(f);
    return fail ? 1 : skip ? 3 : 0;
}
