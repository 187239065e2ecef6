/* driver_password.c: password sources (see driver_password.h). */
#include "driver_password.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

static void strip_eol(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

int driver_password_read_file(const char *path, char *out, size_t cap, char *warn, size_t wcap,
                              evc_error *err)
{
    if (wcap)
        warn[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return evc_error_set(err, EVC_EIO, "password file '%s': cannot open: %s", path,
                             strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) && wcap)
        snprintf(warn, wcap,
                 "password file '%s' is accessible by group or others (mode %04o); "
                 "chmod 600 it",
                 path, (unsigned)(st.st_mode & 07777));
    char buf[DRIVER_PASSWORD_MAX + 2];
    size_t n = 0;
    /* Read only up to the first newline or the size bound. */
    while (n < sizeof buf - 1) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return evc_error_set(err, EVC_EIO, "password file '%s': read error: %s", path,
                                 strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (memchr(buf, '\n', n))
            break;
    }
    close(fd);
    char *nl = memchr(buf, '\n', n);
    size_t len = nl ? (size_t)(nl - buf) : n;
    if (len && buf[len - 1] == '\r')
        len--;
    if (len > DRIVER_PASSWORD_MAX - 1 || len >= cap)
        return evc_error_set(err, EVC_EINVAL,
                             "password file '%s': first line longer than %d bytes", path,
                             DRIVER_PASSWORD_MAX - 1);
    if (memchr(buf, '\0', len))
        return evc_error_set(err, EVC_EINVAL, "password file '%s': contains a NUL byte", path);
    if (len == 0)
        return evc_error_set(err, EVC_EINVAL, "password file '%s': the first line is empty",
                             path);
    buf[len] = '\0';
    memcpy(out, buf, len + 1);
    return EVC_OK;
}

/* A signal that ends the program, caught while the prompt holds the
 * terminal with echo off: the terminal is given back before it acts. */
static volatile sig_atomic_t prompt_signal;
static void on_prompt_signal(int sig) { prompt_signal = sig; }

static const int PROMPT_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define PROMPT_NSIG (sizeof PROMPT_SIGNALS / sizeof PROMPT_SIGNALS[0])

static void write_all(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

int driver_password_prompt_tty(void *arg, const char *driver_id, char *out, size_t cap,
                               evc_error *err)
{
    (void)arg;
    /* The terminal itself, not stderr: with `2>driver.log` the prompt must
     * still be seen, and typed characters must not come from a pipe. */
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    bool own_fd = fd >= 0;
    if (!own_fd)
        fd = STDIN_FILENO; /* no controlling terminal: the stdin terminal */
    struct termios old, quiet;
    if (tcgetattr(fd, &old) != 0) {
        int e = errno;
        if (own_fd)
            close(fd);
        return evc_error_set(err, EVC_EIO, "password prompt: no terminal to prompt on: %s",
                             strerror(e));
    }
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ICANON | ISIG;
    /* No SA_RESTART: a Ctrl-C must end the read, not wait for Enter. */
    struct sigaction sa = {.sa_handler = on_prompt_signal}, saved[PROMPT_NSIG];
    sigemptyset(&sa.sa_mask);
    prompt_signal = 0;
    for (size_t i = 0; i < PROMPT_NSIG; i++)
        sigaction(PROMPT_SIGNALS[i], &sa, &saved[i]);
    /* Echo off before the prompt shows: a person answers the prompt at
     * once, and what was typed before it (flushed) was not a password. */
    int rc = EVC_OK;
    if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
        rc = evc_error_set(err, EVC_EIO, "password prompt: cannot turn echo off: %s",
                           strerror(errno));
    char prompt[128];
    snprintf(prompt, sizeof prompt, "Password for %s: ", driver_id ? driver_id : "driver");
    write_all(fd, prompt);
    /* Byte by byte: the terminal keeps what is typed after the password
     * for the commands the loop's stdin watch reads. */
    size_t n = 0;
    bool toolong = false;
    while (rc == EVC_OK && !prompt_signal) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || c == '\n')
            break;
        if (n + 1 < cap)
            out[n++] = c;
        else
            toolong = true;
    }
    out[n] = '\0';
    tcsetattr(fd, TCSANOW, &old); /* what is typed after Enter is for the menu */
    write_all(fd, "\n");
    if (own_fd)
        close(fd);
    for (size_t i = 0; i < PROMPT_NSIG; i++)
        sigaction(PROMPT_SIGNALS[i], &saved[i], NULL);
    strip_eol(out);
    if (rc == EVC_OK && prompt_signal) {
        int sig = prompt_signal;
        memset(out, 0, cap);
        /* The terminal is back as it was: let the signal do what it does
         * (end the program by default). */
        raise(sig);
        return evc_error_set(err, EVC_ESTATE, "password prompt: interrupted by signal %d", sig);
    }
    if (rc == EVC_OK && toolong)
        rc = evc_error_set(err, EVC_EINVAL, "password prompt: longer than %zu bytes", cap - 1);
    if (rc != EVC_OK)
        memset(out, 0, cap);
    return rc;
}

int driver_password_resolve(const driver_password_sources *src, char *out, size_t cap,
                            driver_password_origin *origin, char *warn, size_t wcap,
                            evc_error *err)
{
    if (wcap)
        warn[0] = '\0';
    *origin = DRIVER_PW_NONE;
    if (cap)
        out[0] = '\0';
    if (src->file && *src->file) {
        int rc = driver_password_read_file(src->file, out, cap, warn, wcap, err);
        if (rc == EVC_OK)
            *origin = DRIVER_PW_FILE;
        return rc;
    }
    const char *given = NULL;
    if (src->env && *src->env) {
        given = src->env;
        *origin = DRIVER_PW_ENV;
    } else if (src->config && *src->config) {
        given = src->config;
        *origin = DRIVER_PW_CONFIG;
    }
    if (given) {
        if (strlen(given) >= cap || strlen(given) > DRIVER_PASSWORD_MAX - 1) {
            *origin = DRIVER_PW_NONE;
            return evc_error_set(err, EVC_EINVAL, "password from %s: longer than %d bytes",
                                 src->env && *src->env ? "EVC_DRIVER_PASSWORD" : "driver.password",
                                 DRIVER_PASSWORD_MAX - 1);
        }
        snprintf(out, cap, "%s", given);
        return EVC_OK;
    }
    if (src->stdin_is_tty) {
        driver_prompt_fn fn = src->prompt ? src->prompt : driver_password_prompt_tty;
        int rc = fn(src->prompt_arg, src->driver_id, out, cap, err);
        if (rc == EVC_OK)
            *origin = DRIVER_PW_PROMPT;
        return rc;
    }
    return EVC_OK;
}

const char *driver_password_origin_name(driver_password_origin o)
{
    switch (o) {
    case DRIVER_PW_FILE: return "password file";
    case DRIVER_PW_ENV: return "EVC_DRIVER_PASSWORD";
    case DRIVER_PW_CONFIG: return "driver.password";
    case DRIVER_PW_PROMPT: return "prompt";
    default: return "none";
    }
}
