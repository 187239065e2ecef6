/* driver_app.h: the driver wired to a bus, a loop, stdin and stdout.
 *
 * Built from plain parameters (not from evc_app) so that a test can run it on
 * a loopback bus with a fake CENTRAL. main.c fills the parameters from the
 * config. Thread: the loop thread.
 */
#ifndef DRIVER_APP_H
#define DRIVER_APP_H

#include <stdbool.h>
#include <stdio.h>

#include "driver_fsm.h"
#include "driver_services.h"
#include "evc/app.h"
#include "evc/bus.h"
#include "evc/envelope.h"
#include "evc/loop.h"
#include "evc/msg.h"
#include "evc/proof.h"
#include "evc/uuid.h"

#define DRIVER_TICK_MS 200
#define DRIVER_PARAMS_MAX 160 /* "<salt hex>:<opslimit>:<memlimit>" of a challenge */

/* The web page (driver_web.c): off when port is 0. */
typedef struct driver_web_params {
    const char *host;        /* copied; "" = all interfaces */
    int port;                /* 0: no page */
    const char *static_dir;  /* the page's files; NULL/"" = API only */
    uint64_t session_ttl_s;  /* page login lifetime (absolute) */
} driver_web_params;

typedef struct driver_app_params {
    evc_loop *loop;          /* borrowed for the app's life */
    evc_bus *bus;            /* borrowed for the app's life */
    /* Borrowed for the app's life; NULL (unit tests): Central's relays to this
     * driver, sealed with its relay key, are not trusted (evc_app_trust_relay). */
    evc_app *app;
    const char *topic_in;    /* central-events (copied) */
    const char *topic_out;   /* driver-events (copied) */
    driver_fsm_config fsm;   /* driver_id copied */
    const char *password;    /* copied; wiped on free */
    FILE *out;               /* stdout lines; borrowed */
    bool colour;             /* ANSI colours on out */
    int in_fd;               /* commands; -1: none */
    bool in_is_tty;
    const driver_services *services; /* NULL: interactive only; entries copied */
    void (*quit)(void *arg, int exit_code);
    void *quit_arg;
    driver_web_params web;   /* port 0: no page */
} driver_app_params;

typedef struct driver_app driver_app;

int driver_app_new(const driver_app_params *p, driver_app **out, evc_error *err);
/* Subscribes, arms the tick timer and the stdin watch. */
int driver_app_start(driver_app *a, evc_error *err);
/* Closes timer and watch (the bus is closed by its owner). */
void driver_app_stop(driver_app *a);
void driver_app_free(driver_app *a);

driver_fsm *driver_app_fsm(driver_app *a);
/* Messages dropped as malformed (bad envelope, missing fields). */
uint64_t driver_app_malformed(const driver_app *a);

/* ---- internal, shared by driver_app.c, driver_inbound.c, driver_term.c */
struct driver_app {
    evc_loop *loop;
    evc_bus *bus;
    evc_app *app; /* borrowed; NULL in unit tests */
    char topic_in[128], topic_out[128];
    char driver_id[DRIVER_ID_MAX + 1];
    char password[256];
    /* Correlation id of the last driver.hello: only the driver.auth_reply
     * that echoes it answers this app (another app of the same driver gets
     * the same topic and key). */
    char hello_corr[EVC_UUID_STR_SIZE];
    bool bus_joining;   /* the bus did not deliver yet at start (evc_bus_live) */
    FILE *out;
    bool colour;
    driver_fsm *fsm;
    evc_msg_dedup *dedup;
    evc_timer *tick;
    int in_fd;
    bool in_is_tty, in_polled, in_eof;
    evc_watch *in_watch;
    char in_buf[1024];
    size_t in_len;
    bool in_discarding; /* inside an overlong line */
    void (*quit)(void *arg, int exit_code);
    void *quit_arg;
    uint64_t malformed;
    /* login by proof (driver_login.c) */
    char login_nonce[2 * EVC_PROOF_NONCE_BYTES + 1]; /* of the last driver.hello */
    struct driver_login_job *login_job;  /* argon2 on the pool; NULL when none */
    uint8_t login_session[EVC_PROOF_KEY_BYTES]; /* derived, until the reply */
    bool login_ready;                   /* driver.login sent with login_session */
    uint8_t login_key[EVC_PROOF_KEY_BYTES]; /* its proof key, until the reply */
    char login_params[DRIVER_PARAMS_MAX];
    /* The proof key CENTRAL accepted last (argon2id of the password with the
     * stored hash's params): later logins with the same params reuse it, and
     * the web page signs its cookies with a key derived from it. */
    uint8_t proof_key[EVC_PROOF_KEY_BYTES];
    char proof_params[DRIVER_PARAMS_MAX];
    bool proof_key_ok;
    uint64_t request_timeout_ms;
    struct driver_history *hist;        /* driver.history asked, waiting (driver_history.c) */
    char term_before_sid[DRIVER_SESSION_MAX]; /* "history older": where the last page ended */
    int64_t term_before;
    struct driver_web *web;             /* the page (driver_web.c); NULL when off */
    driver_web_params web_params;
    char web_host[128];
    char web_dir[4096];
};

/* driver_login.c */
void driver_login_new_nonce(driver_app *a);
void driver_login_on_challenge(driver_app *a, const evc_envelope *env);
/* driver.auth_reply ok for our login: seal with the session key from now
 * on. False when no login of ours was pending (then the reply is not ours). */
bool driver_login_accepted(driver_app *a);
void driver_login_detach(driver_app *a);
/* Publishes driver.login for (nonce, server_nonce) proved with key and
 * derives the session key into session. */
int driver_login_send_proof(driver_app *a, const uint8_t key[EVC_PROOF_KEY_BYTES],
                            const char *nonce, const char *server_nonce, const char *corr,
                            uint8_t session[EVC_PROOF_KEY_BYTES]);
/* Seals from now on as "<driver>/<nonce16>" with the session key. */
int driver_login_install(driver_app *a, const char *nonce,
                         const uint8_t session[EVC_PROOF_KEY_BYTES]);
/* CENTRAL accepted key for params: keep it (see proof_key). */
void driver_login_keep_key(driver_app *a, const uint8_t key[EVC_PROOF_KEY_BYTES],
                           const char *params);

/* driver_history.c: driver.history asked of CENTRAL (docs/PROTOCOL.md
 * M3.3). cb gets the answer's payload (borrowed for the call), or NULL when
 * CENTRAL did not answer within request_timeout_ms (or the app stops). At
 * most DRIVER_HISTORY_PENDING at once: the oldest is then given up (NULL). */
#define DRIVER_HISTORY_PENDING 8
struct json_t;
typedef void (*driver_history_cb)(void *arg, const struct json_t *payload);
int driver_history_ask(driver_app *a, int64_t before, const char *before_sid, int64_t limit,
                       driver_history_cb cb, void *arg, evc_error *err);
/* A driver.history from CENTRAL: true when it answered one of ours. */
bool driver_history_answer(driver_app *a, const evc_envelope *env);
void driver_history_tick(driver_app *a, uint64_t now);
void driver_history_free(driver_app *a); /* every waiting cb gets NULL */
/* The terminal's history: this run's tickets, then CENTRAL's page
 * (older: the page after the last one shown). */
void driver_history_term(driver_app *a, bool older);

/* driver_web.c, driver_web_feed.c: the page; every hook is a no-op when
 * the page is off. */
int driver_web_start(driver_app *a, evc_error *err);
void driver_web_stop(driver_app *a);
void driver_web_tick(driver_app *a, uint64_t now);
void driver_web_on_line(driver_app *a, driver_line_kind kind, const char *line);
void driver_web_on_update(driver_app *a, const char *cp, const char *sid, const char *step,
                          const char *reason, const char *text);
void driver_web_on_telemetry(driver_app *a, const char *cp, const char *sid, int64_t w,
                             int64_t wh, int64_t cents);
void driver_web_on_ticket(driver_app *a, const driver_ticket *t);
void driver_web_on_cps(driver_app *a, const evc_envelope *env);
/* driver.challenge / driver.auth_reply of the page's own login: true when
 * it was (then nothing else may act on it). */
bool driver_web_login_challenge(driver_app *a, const evc_envelope *env);
bool driver_web_login_reply(driver_app *a, const evc_envelope *env);

int driver_inbound(void *arg, const evc_message *msg);
void driver_term_start(driver_app *a);
void driver_term_poll(driver_app *a); /* regular-file stdin, from the tick */
void driver_term_stop(driver_app *a);
void driver_term_line(driver_app *a, char *line);

#endif
