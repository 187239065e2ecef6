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
#include "evc/bus.h"
#include "evc/envelope.h"
#include "evc/loop.h"
#include "evc/msg.h"
#include "evc/proof.h"
#include "evc/uuid.h"

#define DRIVER_TICK_MS 200

typedef struct driver_app_params {
    evc_loop *loop;          /* borrowed for the app's life */
    evc_bus *bus;            /* borrowed for the app's life */
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
};

/* driver_login.c */
void driver_login_new_nonce(driver_app *a);
void driver_login_on_challenge(driver_app *a, const evc_envelope *env);
/* driver.auth_reply ok for our login: seal with the session key from now
 * on. False when no login of ours was pending (then the reply is not ours). */
bool driver_login_accepted(driver_app *a);
void driver_login_detach(driver_app *a);

int driver_inbound(void *arg, const evc_message *msg);
void driver_term_start(driver_app *a);
void driver_term_poll(driver_app *a); /* regular-file stdin, from the tick */
void driver_term_stop(driver_app *a);
void driver_term_line(driver_app *a, char *line);

#endif
