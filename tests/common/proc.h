/* proc.h: running the project's programs from tests -- spawn, capture,
 * deadline, cleanup. Test-only code. */
#ifndef EVC_TEST_PROC_H
#define EVC_TEST_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Result of a finished run. Caller frees out/err with proc_result_free. */
typedef struct proc_result {
    int exit_code;  /* exit status, or 128+signal when killed by a signal */
    bool timed_out; /* the deadline passed and the process was killed */
    char *out;      /* all of stdout, NUL-terminated */
    char *err;      /* all of stderr, NUL-terminated */
} proc_result;

/* Runs argv[0] (a path) with argv, extra environment entries `env` ("K=V",
 * NULL-terminated, may be NULL; added to the current environment), stdin from
 * /dev/null, and waits up to timeout_ms. Returns 0, or -1 if it could not be
 * started (res->err then says why). */
int proc_run(char *const argv[], char *const env[], int timeout_ms, proc_result *res);
void proc_result_free(proc_result *res);

/* The current environment with `extra` ("K=V", NULL-terminated, may be
 * NULL) added, an extra entry replacing the inherited one of the same name.
 * Caller frees the array (not the strings, which are borrowed from environ
 * and extra); NULL when out of memory. */
char **proc_env_merge(char *const extra[]);

/* Path of a built program: EVC_TEST_BINARY_DIR "/bin/" name. Static buffer. */
const char *proc_bin(const char *name);

#endif
