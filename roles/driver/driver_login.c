/* driver_login.c: proving the password to CENTRAL without sending it
 * (docs/SECURITY.md, "Driver login"):
 *
 *   driver.hello {nonce}  ->  driver.challenge {nonce, server_nonce, params}
 *   argon2id(password, params) on the pool  ->  driver.login {proof}
 *   driver.auth_reply ok  ->  this app seals what it sends with the session
 *   key both sides derived, as "<driver_id>/<first 16 hex of nonce>".
 */
#include <stdlib.h>
#include <string.h>

#include "driver_app.h"
#include "evc/log.h"
#include "evc/seal.h"

struct driver_login_job {
    driver_app *app; /* NULL once the app is gone: done only frees */
    char password[256];
    bool cached;     /* key is the proven key of these params: no argon2 */
    char params_text[DRIVER_PARAMS_MAX];
    evc_proof_params params;
    uint8_t key[EVC_PROOF_KEY_BYTES];
    int rc;
    char nonce[2 * EVC_PROOF_NONCE_BYTES + 1]; /* of the hello it answers */
    char server_nonce[2 * EVC_PROOF_NONCE_BYTES + 1];
};

#define IDS(a) (&(evc_log_ids){.driver = (a)->driver_id})

void driver_login_new_nonce(driver_app *a)
{
    /* A proof still being computed answers the previous hello's challenge:
     * Central would refuse it now, and it would keep this hello's
     * challenge from being answered. */
    if (a->login_job)
        a->login_job->app = NULL;
    a->login_job = NULL;
    uint8_t n[EVC_PROOF_NONCE_BYTES];
    evc_proof_random(n, sizeof n);
    evc_hex_encode(n, sizeof n, a->login_nonce);
    a->login_ready = false;
}

static void job_free(struct driver_login_job *j)
{
    explicit_bzero(j, sizeof *j);
    free(j);
}

static void derive_work(void *arg)
{
    struct driver_login_job *j = arg;
    evc_error err = {0};
    j->rc = j->cached ? EVC_OK : evc_proof_derive(j->password, &j->params, j->key, &err);
}

int driver_login_send_proof(driver_app *a, const uint8_t key[EVC_PROOF_KEY_BYTES],
                            const char *nonce, const char *server_nonce, const char *corr,
                            uint8_t session[EVC_PROOF_KEY_BYTES])
{
    const char *parts[] = {a->driver_id, nonce, server_nonce};
    uint8_t proof[32];
    char hex[EVC_PROOF_HEX_SIZE];
    evc_proof_mac(key, "evc-driver-login-v1", parts, 3, proof);
    evc_proof_mac(key, "evc-driver-session-v1", parts, 3, session);
    evc_hex_encode(proof, sizeof proof, hex);
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", a->driver_id);
    evc_payload_str(p, "nonce", nonce);
    evc_payload_str(p, "server_nonce", server_nonce);
    evc_payload_str(p, "proof", hex);
    evc_error err = {0};
    char *text = evc_payload_finish(p, &err);
    int rc = text ? evc_msg_publish(a->bus, a->topic_out, a->driver_id, "driver.login",
                                    a->driver_id, corr && *corr ? corr : NULL, text, NULL, NULL,
                                    NULL, &err)
                  : err.code;
    free(text);
    if (rc != EVC_OK)
        evc_log(EVC_LOG_WARN, "driver", IDS(a), "driver.login not sent: %s", err.msg);
    else
        evc_log(EVC_LOG_INFO, "driver", IDS(a), "sent driver.login (proof of the password)");
    return rc;
}

static void send_login(driver_app *a, const uint8_t key[EVC_PROOF_KEY_BYTES], const char *sn,
                       const char *params)
{
    a->login_ready = driver_login_send_proof(a, key, a->login_nonce, sn, a->hello_corr,
                                             a->login_session) == EVC_OK;
    /* Kept until CENTRAL's answer: a key CENTRAL accepted is the proven
     * one (driver_login_keep_key). */
    memcpy(a->login_key, key, EVC_PROOF_KEY_BYTES);
    snprintf(a->login_params, sizeof a->login_params, "%s", params);
}

void driver_login_keep_key(driver_app *a, const uint8_t key[EVC_PROOF_KEY_BYTES],
                           const char *params)
{
    memcpy(a->proof_key, key, EVC_PROOF_KEY_BYTES);
    snprintf(a->proof_params, sizeof a->proof_params, "%s", params);
    a->proof_key_ok = true;
    /* Central accepted K: its relays to us (live telemetry) are sealed with
     * a key derived from it. A driver id too long for a relay kid gets them
     * signed as everything else. */
    evc_error err = {0};
    if (a->app && evc_app_trust_relay(a->app, a->driver_id, key, &err) != EVC_OK)
        evc_log(EVC_LOG_DEBUG, "driver", IDS(a), "%s", err.msg);
}

int driver_login_install(driver_app *a, const char *nonce,
                         const uint8_t session[EVC_PROOF_KEY_BYTES])
{
    char kid[EVC_SEAL_KID_MAX + 96]; /* evc_sealer_new refuses one too long */
    snprintf(kid, sizeof kid, "%s/%.16s", a->driver_id, nonce);
    evc_sealer *s = NULL;
    evc_error err = {0};
    int rc = evc_sealer_new(kid, EVC_SEAL_HMAC_SHA256, session, &s, &err);
    if (rc == EVC_OK)
        rc = evc_bus_seal_with(a->bus, s, &err);
    if (rc != EVC_OK)
        evc_log(EVC_LOG_ERROR, "driver", IDS(a), "session key: %s", err.msg);
    return rc;
}

static void derive_done(void *arg, bool ran)
{
    struct driver_login_job *j = arg;
    driver_app *a = j->app;
    if (a && strcmp(j->nonce, a->login_nonce) == 0) {
        a->login_job = NULL;
        if (!ran || j->rc != EVC_OK)
            evc_log(EVC_LOG_ERROR, "driver", IDS(a),
                    "cannot compute the password proof (CENTRAL's key params refused)");
        else
            send_login(a, j->key, j->server_nonce, j->params_text);
    }
    job_free(j);
}

void driver_login_on_challenge(driver_app *a, const evc_envelope *env)
{
    const char *nonce = evc_msg_str(env, "nonce"), *sn = evc_msg_str(env, "server_nonce");
    const char *params = evc_msg_str(env, "params");
    if (!nonce || strcmp(nonce, a->login_nonce) != 0)
        return; /* another app's hello, or one we gave up */
    if (a->login_job)
        return; /* already answering this nonce's first challenge */
    uint8_t snb[EVC_PROOF_NONCE_BYTES];
    struct driver_login_job *j = calloc(1, sizeof *j);
    evc_error err = {0};
    if (!j || !sn || !evc_hex_decode(sn, snb, sizeof snb) ||
        evc_proof_params_parse(params, &j->params, &err) != EVC_OK) {
        evc_log(EVC_LOG_WARN, "driver", IDS(a), "driver.challenge unusable: %s",
                err.msg[0] ? err.msg : "bad server_nonce");
        free(j);
        return;
    }
    j->app = a;
    snprintf(j->nonce, sizeof j->nonce, "%s", a->login_nonce);
    snprintf(j->params_text, sizeof j->params_text, "%s", params);
    /* The key CENTRAL accepted before, for the same params (same stored
     * hash): no argon2 again, and the only way back in for an app whose
     * password came from its web page (it keeps no clear password). */
    if (a->proof_key_ok && strcmp(a->proof_params, params) == 0) {
        j->cached = true;
        memcpy(j->key, a->proof_key, EVC_PROOF_KEY_BYTES);
    } else {
        snprintf(j->password, sizeof j->password, "%s", a->password);
    }
    snprintf(j->server_nonce, sizeof j->server_nonce, "%s", sn);
    if (evc_loop_work(a->loop, derive_work, derive_done, j, &err) != EVC_OK) {
        evc_log(EVC_LOG_WARN, "driver", IDS(a), "password proof not started: %s", err.msg);
        job_free(j);
        return;
    }
    a->login_job = j;
}

bool driver_login_accepted(driver_app *a)
{
    if (!a->login_ready)
        return false;
    int rc = driver_login_install(a, a->login_nonce, a->login_session);
    if (rc == EVC_OK)
        driver_login_keep_key(a, a->login_key, a->login_params);
    explicit_bzero(a->login_session, sizeof a->login_session);
    explicit_bzero(a->login_key, sizeof a->login_key);
    a->login_ready = false;
    return rc == EVC_OK;
}

void driver_login_detach(driver_app *a)
{
    if (a->login_job)
        a->login_job->app = NULL;
    a->login_job = NULL;
    explicit_bzero(a->login_session, sizeof a->login_session);
    explicit_bzero(a->login_key, sizeof a->login_key);
    explicit_bzero(a->proof_key, sizeof a->proof_key);
}
