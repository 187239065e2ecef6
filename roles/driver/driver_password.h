/* driver_password.h: where the driver's password comes from.
 *
 * Precedence (first that is given wins): --password-file / driver.password_file
 * (first line, trailing "\n" / "\r\n" stripped), the EVC_DRIVER_PASSWORD
 * environment variable, the config key driver.password, and last a prompt
 * without echo when stdin is a terminal. None of them: an empty password
 * (Central then refuses with not_authenticated, which the driver shows).
 * The password is never printed or logged.
 *
 * A password file readable by group or others is used but warned about
 * (the demo may create files with a loose umask; refusing would only stop
 * the demo without making anything safer).
 */
#ifndef DRIVER_PASSWORD_H
#define DRIVER_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#include "evc/error.h"

#define DRIVER_PASSWORD_MAX 256

typedef enum driver_password_origin {
    DRIVER_PW_NONE = 0,
    DRIVER_PW_FILE,
    DRIVER_PW_ENV,
    DRIVER_PW_CONFIG,
    DRIVER_PW_PROMPT,
} driver_password_origin;

/* Reads a password into out (cap bytes) from the terminal; returns EVC_OK
 * or an error. Replaceable so that tests need no terminal. */
typedef int (*driver_prompt_fn)(void *arg, const char *driver_id, char *out, size_t cap,
                                evc_error *err);

typedef struct driver_password_sources {
    const char *file;        /* path or NULL/"" */
    const char *env;         /* value of EVC_DRIVER_PASSWORD or NULL */
    const char *config;      /* driver.password or NULL */
    bool stdin_is_tty;
    driver_prompt_fn prompt; /* NULL: driver_password_prompt_tty */
    void *prompt_arg;
    const char *driver_id;
} driver_password_sources;

/* Fills out (cap bytes, NUL-terminated) and *origin. A warning about the
 * file's mode, if any, goes to warn (wcap bytes; "" when none). Errors:
 * EVC_EIO (file unreadable, names the path), EVC_EINVAL (file empty or first
 * line longer than DRIVER_PASSWORD_MAX-1), prompt errors. */
int driver_password_resolve(const driver_password_sources *src, char *out, size_t cap,
                            driver_password_origin *origin, char *warn, size_t wcap,
                            evc_error *err);

/* The first line of a file, as used above. */
int driver_password_read_file(const char *path, char *out, size_t cap, char *warn, size_t wcap,
                              evc_error *err);

/* Prompts "Password for <id>: " on the terminal (/dev/tty; stdin when there
 * is no controlling terminal) and reads a line from it with echo off,
 * restoring the terminal afterwards. SIGINT/SIGTERM/SIGHUP/SIGQUIT during
 * the prompt restore the terminal, then act as before the prompt (raised
 * again); the call then fails with EVC_ESTATE. */
int driver_password_prompt_tty(void *arg, const char *driver_id, char *out, size_t cap,
                               evc_error *err);

const char *driver_password_origin_name(driver_password_origin o);

#endif
