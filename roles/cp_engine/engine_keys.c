/* engine_keys.c: the engine's bus key (docs/SECURITY.md, "CP keys").
 *
 * Central holds the stored string of the CP's secret (argon2id, or the fast
 * verifier of a generated one); the engine holds the secret. cp.key_request asks Central for the string's public params (salt,
 * cost), answered by a sealed cp.key_params; the engine derives the proof key
 * on the pool (argon2id) or at once (fast params of a strong secret: one
 * HMAC; refused for a typed secret, see evc/proof.h) and from it the key
 * that seals everything it publishes. Until
 * then it publishes nothing but key requests: Central refuses unsealed CP
 * messages, and the outbox waits in the journal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "evc/log.h"
#include "evc/proof.h"
#include "evc/seal.h"

/* A request published before the bus connected is lost (ZeroMQ): ask again
 * at each heartbeat heard, at most this often. */
#define KEY_REQUEST_EVERY_MS 500

struct engine_key_job {
    engine *e; /* NULL once the engine stopped: done only frees */
    char secret[256];
    char cp_id[EVC_STORE_ID_MAX];
    evc_proof_params params;
    uint8_t key[EVC_PROOF_KEY_BYTES];
    int rc;
    char err[EVC_ERROR_MSG_MAX]; /* why derive failed (e.g. fast params refused) */
};

#define IDS(e) (&(evc_log_ids){.cp = (e)->cfg.cp_id})

void engine_keys_request(engine *e)
{
    uint64_t now = evc_loop_now_ms(e->loop);
    if (e->keyed || e->key_job || (e->key_requested_ms && now - e->key_requested_ms <
                                                              KEY_REQUEST_EVERY_MS))
        return;
    e->key_requested_ms = now;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", e->cfg.cp_id);
    evc_error err = {0};
    char *text = evc_payload_finish(p, &err);
    if (!text || evc_msg_publish(e->bus, e->topic_cp, e->cfg.cp_id, "cp.key_request",
                                 e->cfg.cp_id, NULL, text, NULL, NULL, NULL, &err) != EVC_OK)
        evc_log(EVC_LOG_WARN, "cp_engine", IDS(e), "cp.key_request not sent: %s", err.msg);
    free(text);
}

static void job_free(struct engine_key_job *j)
{
    explicit_bzero(j, sizeof *j);
    free(j);
}

static void derive_work(void *arg)
{
    struct engine_key_job *j = arg;
    evc_error err = {0};
    j->rc = evc_proof_derive(j->secret, &j->params, j->key, &err);
    if (j->rc != EVC_OK)
        snprintf(j->err, sizeof j->err, "%s", err.msg);
}

static void derive_done(void *arg, bool ran)
{
    struct engine_key_job *j = arg;
    engine *e = j->e;
    if (!e || !ran) {
        job_free(j);
        return;
    }
    e->key_job = NULL;
    uint8_t bus_key[32];
    const char *parts[] = {j->cp_id};
    evc_proof_mac(j->key, "evc-bus-cp-v1", parts, 1, bus_key);
    evc_sealer *s = NULL;
    evc_error err = {0};
    if (j->rc != EVC_OK)
        snprintf(err.msg, sizeof err.msg, "%s", j->err);
    int rc = j->rc != EVC_OK ? j->rc
                             : evc_sealer_new(j->cp_id, EVC_SEAL_HMAC_SHA256, bus_key, &s, &err);
    explicit_bzero(bus_key, sizeof bus_key);
    job_free(j);
    if (rc == EVC_OK)
        rc = evc_bus_seal_with(e->bus, s, &err);
    if (rc != EVC_OK) {
        evc_log(EVC_LOG_ERROR, "cp_engine", IDS(e), "bus key: %s",
                err.msg[0] ? err.msg : "CENTRAL's key params refused");
        return;
    }
    e->keyed = true;
    evc_log(EVC_LOG_INFO, "cp_engine", IDS(e), "bus key ready: messages are sealed");
    engine_send_hello(e);
}

void engine_keys_on_params(engine *e, const evc_envelope *env)
{
    const char *params = evc_msg_str(env, "params");
    if (e->keyed || e->key_job)
        return;
    struct engine_key_job *j = calloc(1, sizeof *j);
    evc_error err = {0};
    if (!j || evc_proof_params_parse(params, &j->params, &err) != EVC_OK) {
        evc_log(EVC_LOG_WARN, "cp_engine", IDS(e), "cp.key_params unusable: %s", err.msg);
        free(j);
        return;
    }
    j->e = e;
    snprintf(j->secret, sizeof j->secret, "%s", e->cfg.secret);
    snprintf(j->cp_id, sizeof j->cp_id, "%s", e->cfg.cp_id);
    if (evc_proof_params_fast(&j->params)) { /* one HMAC: on the loop */
        e->key_job = j;
        derive_work(j);
        derive_done(j, true);
        return;
    }
    if (evc_loop_work(e->loop, derive_work, derive_done, j, &err) != EVC_OK) {
        evc_log(EVC_LOG_WARN, "cp_engine", IDS(e), "bus key not derived: %s", err.msg);
        job_free(j);
        return;
    }
    e->key_job = j;
}

void engine_keys_stop(engine *e)
{
    if (e->key_job)
        e->key_job->e = NULL;
    e->key_job = NULL;
}
