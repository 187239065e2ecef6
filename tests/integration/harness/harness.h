/* harness.h: multi-process scenario tests of EVCharging.
 *
 * A test builds an h_env (a temp dir, a bus for one transport, free ports,
 * per-process YAML configs, a fresh seeded Central database), starts the
 * project's programs in it with h_start_* (each in its own process group,
 * stdout/stderr to <dir>/<name>.out / .err, stdin a pipe the test may write
 * commands to), observes them through Central's HTTP API (/api/cps,
 * /api/sessions), their output files and the database (read-only), and waits
 * only on conditions with deadlines. h_env_free (and, should the test die
 * early, an atexit handler and PR_SET_PDEATHSIG) kills whatever it started.
 *
 * Test-only code: failures to set up abort the test with a message
 * (cr_assert), they are not returned. */
#ifndef EVC_IT_HARNESS_H
#define EVC_IT_HARNESS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum h_bus_kind { H_ZMQ = 0, H_KAFKA = 1 } h_bus_kind;

/* The transport of this executable: each scenario source is compiled once per
 * transport with -DH_BUS=H_ZMQ or H_KAFKA. */
#ifndef H_BUS
#define H_BUS H_ZMQ
#endif

#define H_MAX_PROCS 48

typedef struct h_proc {
    char name[48];      /* "central", "CP_001-engine", "driver1" ... */
    pid_t pid;          /* also its process group id; 0 once reaped */
    int stdin_fd;       /* write end of its stdin pipe, -1 when closed */
    char out[PATH_MAX]; /* stdout file */
    char err[PATH_MAX]; /* stderr file */
    int status;         /* wait status once reaped */
    bool exited;
} h_proc;

/* Timings used in the generated configs (milliseconds). Tests may change
 * them in the h_opts passed to h_env_new. */
typedef struct h_opts {
    int heartbeat_timeout_ms;  /* central: no HB for this long -> DISCONNECTED */
    int central_timeout_ms;    /* engines/drivers: no central.heartbeat -> "Unable to connect" */
    int health_timeout_ms;     /* monitor: no PONG -> UNREACHABLE */
    int monitor_timeout_ms;    /* engine: no PING -> monitor lost */
    int authorise_timeout_ms;  /* central: no cp.authorise_reply */
    int plug_after_ms;         /* unattended engine: plug-in delay after authorisation */
    int unplug_after_ms;       /* unattended engine: supply duration */
    int supply_w;              /* unattended engine: power */
    int wait_between_ms;       /* driver: pause between services */
    bool unattended;           /* engines plug/unplug by themselves */
    const char *policy;        /* central registration policy: "open" or "closed" */
    int64_t min_balance_cents; /* central: minimum balance to start a supply */
    int kafka_commit_interval_ms; /* Kafka consumers: auto.commit.interval.ms */
} h_opts;

typedef struct h_env {
    h_bus_kind bus_kind;
    h_opts opts;
    char dir[512];         /* per-test temp dir (removed at free unless EVC_IT_KEEP=1) */
    char bus[256];         /* transport.endpoint: proxy host:port or Kafka bootstrap */
    int central_port;      /* Central's monitor port */
    int http_port;         /* Central's HTTP port */
    char db[PATH_MAX];     /* Central's SQLite database */
    h_proc procs[H_MAX_PROCS];
    int nprocs;
    h_proc *bus_proc;      /* proxy or mock cluster */
    h_proc *central;
    h_proc *tap;           /* ZeroMQ: evc-it-bustap recording the bus */
    char tap_file[PATH_MAX];
    bool stopped;          /* h_env_stop_all ran */
} h_env;

h_opts h_default_opts(void);
/* Temp dir, bus, ports and a fresh seeded database (EV_Central --init-db).
 * opts NULL: h_default_opts(). h_env_new uses the executable's H_BUS. */
h_env *h_env_new_on(h_bus_kind bus, const h_opts *opts);
#define h_env_new(opts) h_env_new_on(H_BUS, (opts))
/* Stops every process (SIGTERM, then SIGKILL after 3 s): clients, Central,
 * the bus; echoes sanitizer reports and crashes to stderr. Idempotent. */
void h_env_stop_all(h_env *env);
/* Programs that crashed (a signal other than the test's SIGKILL/SIGTERM) or
 * wrote a sanitizer error report. */
int h_env_crashes(const h_env *env);
/* h_env_stop_all, then removes the dir (kept with EVC_IT_KEEP=1). */
void h_env_free(h_env *env);
/* Prints the tail of every process's output to stderr (on failure). */
void h_env_dump(const h_env *env);

/* ---- processes ---------------------------------------------------------- */
/* Starts argv[0] (a path) with argv and extra environment entries (NULL-
 * terminated "K=V", may be NULL), cwd = env->dir. */
h_proc *h_spawn(h_env *env, const char *name, char *const argv[], char *const extra_env[]);
/* The project's programs, with a config written for each. */
h_proc *h_start_central(h_env *env);
/* Engine of `cp_id` listening on 127.0.0.1:engine_port (pick with h_free_port). */
h_proc *h_start_engine(h_env *env, const char *cp_id, int engine_port);
/* Engine of cp_id with its own secret (NULL: the seeded "secret-<cp_id>"),
 * for a monitor started with another secret (a CP registered under the open
 * policy). */
h_proc *h_start_engine_secret(h_env *env, const char *cp_id, int engine_port,
                              const char *secret);
h_proc *h_start_monitor(h_env *env, const char *cp_id, int engine_port, const char *secret);
/* Engine + monitor with the seeded secret "secret-<cp_id>"; *engine_port
 * receives the port chosen. */
void h_start_cp(h_env *env, const char *cp_id, h_proc **engine, h_proc **monitor,
                int *engine_port);
/* services may be NULL (interactive); password NULL means none given. */
h_proc *h_start_driver(h_env *env, const char *driver_id, const char *password,
                       const char *services_file);
h_proc *h_proc_find(h_env *env, const char *name);

/* Writes a line (a newline is added) to the process's stdin. */
void h_send_line(h_proc *p, const char *line);
bool h_alive(h_proc *p);
/* Signal to the whole process group. */
void h_signal(h_proc *p, int sig);
/* SIGKILL and reap. */
void h_kill(h_proc *p);
/* SIGTERM, wait up to timeout_ms, then SIGKILL. Returns the exit code (or
 * 128+signal). */
int h_stop(h_proc *p, int timeout_ms);

/* ---- output ------------------------------------------------------------- */
/* Whole stdout (or stderr when err) of the process; caller frees. */
char *h_read_output(const h_proc *p, bool err);
/* Occurrences of needle in stdout+stderr. */
int h_count(const h_proc *p, const char *needle);
/* Waits until stdout+stderr holds needle at least `times` times. */
bool h_wait_output(const h_proc *p, const char *needle, int times, int timeout_ms);

/* ---- waiting -------------------------------------------------------------- */
int64_t h_now_ms(void);
/* Polls cond every 50 ms until it is true or the deadline passes. */
bool h_wait_until(bool (*cond)(h_env *env, void *arg), h_env *env, void *arg, int timeout_ms);

/* ---- network ------------------------------------------------------------ */
int h_free_port(void);
/* Two consecutive free ports; returns the first. */
int h_free_port_pair(void);
bool h_port_open(int port);
/* Connects to 127.0.0.1:port and writes `n` bytes of garbage over `conns`
 * connections (random bytes, STX/ETX runs, oversize frames, half frames). */
void h_garbage_burst(int port, int conns, size_t n);

/* ---- Central's HTTP API ------------------------------------------------- */
/* GET path on 127.0.0.1:port; returns the parsed JSON body of a 200 answer or
 * NULL. Caller decrefs. */
json_t *h_http_get_json(int port, const char *path);
/* HTTP status of a GET, or -1 when nothing answered. */
int h_http_status(int port, const char *path);
/* The CP object of /api/cps (borrowed from *root, which the caller decrefs). */
json_t *h_api_cp(h_env *env, const char *cp_id, json_t **root);
/* State string of a CP from /api/cps into buf, "" when absent/unreachable. */
const char *h_cp_state(h_env *env, const char *cp_id, char *buf, size_t cap);
bool h_wait_cp_state(h_env *env, const char *cp_id, const char *state, int timeout_ms);
/* /api/sessions as one array, active then recent (borrowed from *root). */
json_t *h_api_sessions(h_env *env, json_t **root);
/* Reads a string/integer member trying several names ("id", "cp_id"). */
const char *h_json_str(const json_t *obj, const char *const names[]);
int64_t h_json_int(const json_t *obj, const char *const names[], int64_t dflt);

/* ---- bus ------------------------------------------------------------------ */
/* Every envelope published on `topic` since the env started, oldest first, as
 * a JSON array of objects (caller decrefs). ZeroMQ: what the env's tap
 * recorded; Kafka: `kcat -C -b <bootstrap> -t <topic> -e -u`. */
json_t *h_bus_messages(h_env *env, const char *topic);

/* ---- database (read-only) ----------------------------------------------- */
/* Single integer of a query, or dflt when no row. */
int64_t h_db_int(h_env *env, const char *sql, int64_t dflt);
/* First column of the first row as text into buf ("" when none). */
const char *h_db_text(h_env *env, const char *sql, char *buf, size_t cap);

/* ---- failure reporting -------------------------------------------------- */
/* Like cr_assert, but dumps every process's log tail first. */
#define H_ASSERT(env, cond, ...)                                                          \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            h_env_dump(env);                                                              \
            cr_assert_fail(__VA_ARGS__);                                                  \
        }                                                                                 \
    } while (0)

/* The end of a scenario: every program stops cleanly, none crashed. */
#define H_FINISH(env)                                                                     \
    do {                                                                                  \
        h_env_stop_all(env);                                                              \
        int crashes_ = h_env_crashes(env);                                                \
        H_ASSERT(env, crashes_ == 0, "%d program(s) crashed or reported a sanitizer error", \
                 crashes_);                                                               \
    } while (0)

/* ---- many restarts (h_chaos.c, compiled by the suites that use it) ------- */
/* Renames the output files of the dead process `old` to <name>...run<run>.out
 * / .err (old->out / old->err follow), so that the next generation of the
 * program does not overwrite them. */
void h_proc_retire(h_env *env, h_proc *old, int run);
/* Moves `fresh` (the process spawned last) into the slot of the dead `old`
 * and returns that slot (env->central follows): a program restarted many times
 * uses one slot of procs[] (H_MAX_PROCS) instead of one per generation. */
h_proc *h_proc_take_slot(h_env *env, h_proc *old, h_proc *fresh);
/* Single integer of a read-only query on any SQLite file (an engine's own
 * store), or dflt when no row or the file cannot be read (reported). */
int64_t h_sqlite_int(const char *path, const char *sql, int64_t dflt);
/* Prints to stderr the lines holding `needle` (a session id) of every
 * program's output in the env's dir, every generation, at most max_lines;
 * returns how many. */
int h_grep_logs(const h_env *env, const char *needle, int max_lines);


/* ---- pseudo-terminals (h_pty.c) ------------------------------------------- */
/* A program on a pty, as a person at a terminal runs it: stdin and stdout on
 * the slave, which is its controlling terminal (/dev/tty), stderr to
 * <name>.err; the screen (what was read from the master) is also appended to
 * <name>.out. The test keeps the slave open to read its termios. */
#include <termios.h>
typedef struct h_pty {
    int master, slave, out_fd;
    struct termios initial; /* the slave's settings before the program ran */
    char screen[1 << 16];   /* everything the program showed, NUL-terminated */
    size_t len;
} h_pty;
h_proc *h_spawn_pty(h_env *env, const char *name, char *const argv[], char *const extra_env[],
                    h_pty *pty);
/* EV_CP_E of cp_id (name "<cp_id>-engine", not unattended) on a pty. */
h_proc *h_pty_start_engine(h_env *env, const char *cp_id, int engine_port, h_pty *pty);
/* EV_Driver (name "<driver_id>-tty", interactive, no password given: it
 * prompts) on a pty. */
h_proc *h_pty_start_driver(h_env *env, const char *driver_id, h_pty *pty);
/* Writes keys on the master as typed (no newline added). */
void h_pty_type(h_pty *pty, const char *keys);
/* Waits until the screen shows needle. */
bool h_pty_wait(h_pty *pty, const char *needle, int timeout_ms);
/* The screen so far (borrowed from pty). */
const char *h_pty_screen(h_pty *pty);
/* The slave's current termios. */
bool h_pty_termios(h_pty *pty, struct termios *t);
void h_pty_close(h_pty *pty);


/* ---- replay (h_buspub.c, compiled by the suites that use it) ------------- */
/* Publishes `bytes` (an encoded envelope) on `topic` with `key` through the
 * scenario's own transport plugin and settings -- a message delivered again,
 * as Kafka does after a restart -- and again every 250 ms until `until`
 * holds (a ZeroMQ publisher drops what it sends before the proxy's
 * subscriptions reach it), at most timeout_ms. Returns whether it held. */
bool h_bus_publish(h_env *env, const char *topic, const char *key, const char *bytes, size_t len,
                   bool (*until)(h_env *env, void *arg), void *arg, int timeout_ms);
/* The same, sealed as the CP `as_cp` would seal it (its key from the
 * scenario's database; each copy its own seal, as a re-send). as_cp NULL:
 * unsealed, as a forger without keys writes it. */
bool h_bus_publish_as(h_env *env, const char *as_cp, const char *topic, const char *key,
                      const char *bytes, size_t len, bool (*until)(h_env *env, void *arg),
                      void *arg, int timeout_ms);


/* ---- assertions (h_expect.c) ---------------------------------------------- */
/* Waits for Central to show `cp` in `state`; fails the test (H_ASSERT) if it
 * does not within timeout_ms. */
void h_expect_cp_state(h_env *env, const char *cp, const char *state, int timeout_ms);
/* Waits for `needle` in p's output; fails the test if it does not come. */
void h_expect_output(h_env *env, const h_proc *p, const char *needle, int timeout_ms);
/* The string member `key` of obj, or "" (borrowed from obj). */
const char *h_jstr(const json_t *obj, const char *key);
/* h_wait_until condition: Central's /api/cps shows energy (wh > 0) on the
 * CP named by cp_id (a const char *). */
bool h_cp_has_energy(h_env *env, void *cp_id);


/* ---- Central's HTTP API with login (h_http.c) ------------------------------ */
typedef struct h_http_resp {
    int status;         /* -1: no HTTP answer */
    char headers[4096]; /* status line and headers, NUL-terminated */
    char *body;         /* malloc'd; h_http_resp_free */
} h_http_resp;
typedef struct h_http_session {
    char cookie[128]; /* "evc_session=<64 hex>", the Cookie header's value */
    char csrf[80];    /* for X-CSRF-Token */
} h_http_session;
/* One request to 127.0.0.1:port. headers: extra lines, each ending "\r\n"
 * (NULL = none); body NULL = empty (Content-Length: 0). 0 or -1. */
int h_http_request(int port, const char *method, const char *path, const char *headers,
                   const char *body, h_http_resp *out);
void h_http_resp_free(h_http_resp *r);
bool h_http_resp_header(const h_http_resp *r, const char *name, char *dst, size_t cap);
/* POST /api/login; on 200 fills out. Returns the HTTP status (-1: none). */
int h_http_login(int port, const char *user, const char *password, h_http_session *out);
/* "evc_session=..." of an admin (admin/admin123) session at port, cached;
 * renew logs in again (Central restarted). "" when the login failed. */
const char *h_http_admin_cookie(int port, bool renew);
/* Stops Central, replaces `from` by `to` in its config (both NULL: none),
 * appends `append` (lines of the central section, which comes last), starts
 * it again. */
h_proc *h_restart_central_with(h_env *env, const char *from, const char *to, const char *append);

#endif
