/* monitor_proof.c: the monitor's half of the M1 challenge-response
 * (docs/PROTOCOL.md M1). Central's CHALLENGE names the params (salt, cost) of
 * the CP's stored argon2id string; the monitor recomputes its proof key from
 * the secret -- argon2id, up to a second of CPU, so on libuv's pool, never on
 * the loop that answers the engine's PONGs -- and answers with a MAC of the
 * nonces. The key is cached per params text: a reconnection costs one HMAC.
 * Fast params (a strong secret drawn by Central, evc/proof.h) cost one HMAC:
 * answered on the loop, no pool; evc_proof_derive refuses them for a typed
 * secret (anti-downgrade), which the monitor reports as BAD_REQUEST.
 * Under open registration (REGISTER) it hashes the secret with a fresh salt
 * (evc_proof_cp_hash: fast for a strong secret, argon2id otherwise) and
 * sends that string instead: still never the secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "monitor.h"

#define LOGP(m, lvl, ...) evc_log((lvl), "cp_monitor", &(evc_log_ids){.cp = (m)->cfg.cp_id}, __VA_ARGS__)

typedef struct monitor_proof_job {
    monitor *m;            /* NULL once the monitor stopped: done only frees */
    unsigned gen;          /* m->auth_gen of the AUTH it answers */
    bool reg;              /* REGISTER: hash with a fresh salt */
    evc_password_cost cost;
    evc_proof_params params;
    char params_text[128];
    char secret[256];      /* copy, wiped with the job */
    uint8_t key[EVC_PROOF_KEY_BYTES];
    char hash[EVC_PASSWORD_HASH_MAX];
    int rc;
    char err[EVC_ERROR_MSG_MAX];
} monitor_proof_job;

void monitor_proof_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                       const char *cp_id, const uint8_t *nonce_m, const uint8_t *nonce_c,
                       char out_hex[EVC_PROOF_HEX_SIZE])
{
    evc_proof_nonce_mac(key, label, cp_id, nonce_m, nonce_c, out_hex);
}

void monitor_link_key(const char *cp_id, const char *secret, uint8_t out[EVC_PROOF_KEY_BYTES])
{
    static const uint8_t zero[EVC_PROOF_KEY_BYTES];
    const char *parts[] = {cp_id, secret};
    evc_proof_mac(zero, "evc-link-v1", parts, 2, out);
}

static void wipe(void *p, size_t n)
{
    for (volatile uint8_t *b = p; n--; b++)
        *b = 0;
}

static void job_free(monitor_proof_job *j)
{
    wipe(j, sizeof *j);
    free(j);
}

/* Pool thread: only the job's own copies. */
static void proof_work(void *arg)
{
    monitor_proof_job *j = arg;
    evc_error err = {0};
    if (j->reg) {
        j->rc = evc_proof_cp_hash(j->secret, j->cost, j->hash, &err);
        if (j->rc == EVC_OK)
            j->rc = evc_proof_split(j->hash, &j->params, j->key, &err);
    } else {
        j->rc = evc_proof_derive(j->secret, &j->params, j->key, &err);
    }
    if (j->rc != EVC_OK)
        snprintf(j->err, sizeof j->err, "%s", err.msg);
}

/* Sends PROOF (or REGISTER) of the current AUTH with m->key. */
static void answer(monitor *m, const char *reg_hash)
{
    if (!m->central_link)
        return;
    evc_error err = {0};
    int rc;
    if (reg_hash) {
        evc_frame_field f[] = {EVC_FRAME_STR(m->cfg.cp_id), EVC_FRAME_STR(reg_hash)};
        rc = evc_link_send(m->central_link, "REGISTER", f, 2, &err);
    } else {
        char mac[EVC_PROOF_HEX_SIZE];
        monitor_proof_mac(m->key, MONITOR_CPAUTH_LABEL, m->cfg.cp_id, m->nonce_m, m->nonce_c,
                          mac);
        evc_frame_field f[] = {EVC_FRAME_STR(m->cfg.cp_id), EVC_FRAME_STR(mac)};
        rc = evc_link_send(m->central_link, "PROOF", f, 2, &err);
    }
    if (rc != EVC_OK)
        LOGP(m, EVC_LOG_WARN, "%s to %s: %s", reg_hash ? "REGISTER" : "PROOF",
             evc_link_peer(m->central_link), err.msg);
    else
        LOGP(m, EVC_LOG_INFO, "%s sent to %s", reg_hash ? "REGISTER" : "PROOF",
             evc_link_peer(m->central_link));
}

static void proof_done(void *arg, bool ran)
{
    monitor_proof_job *j = arg;
    monitor *m = j->m;
    if (m) {
        m->job = NULL;
        if (!ran) {
            LOGP(m, EVC_LOG_WARN, "the proof key was not derived (the loop is stopping)");
        } else if (j->gen != m->auth_gen || m->cstate != MONITOR_C_PROVING) {
            LOGP(m, EVC_LOG_DEBUG, "proof key of an old AUTH: dropped");
        } else if (j->rc != EVC_OK) {
            LOGP(m, EVC_LOG_ERROR, "cannot derive the proof key: %s", j->err);
            monitor_central_refused(m, "BAD_REQUEST", "this monitor cannot answer the CHALLENGE");
        } else {
            memcpy(m->key, j->key, sizeof m->key);
            m->have_key = true;
            if (!j->reg) { /* the next CHALLENGE with these params costs one HMAC */
                memcpy(m->cached_key, j->key, sizeof m->cached_key);
                snprintf(m->key_params, sizeof m->key_params, "%s", j->params_text);
            }
            answer(m, j->reg ? j->hash : NULL);
        }
    }
    job_free(j);
}

void monitor_proof_challenge(monitor *m, const evc_frame_event *ev)
{
    const char *id = ev->nfields >= 4 ? ev->fields[0].data : "";
    const char *mode = ev->nfields >= 4 ? ev->fields[1].data : "";
    const char *text = ev->nfields >= 4 ? ev->fields[2].data : "";
    const char *nonce = ev->nfields >= 4 ? ev->fields[3].data : "";
    if (m->cstate != MONITOR_C_AUTHENTICATING || strcmp(id, m->cfg.cp_id) != 0 ||
        !evc_hex_decode(nonce, m->nonce_c, sizeof m->nonce_c)) {
        LOGP(m, EVC_LOG_WARN, "CHALLENGE from %s ignored: not for this AUTH",
             m->central_link ? evc_link_peer(m->central_link) : "?");
        return;
    }
    monitor_proof_job *j = calloc(1, sizeof *j);
    if (!j) {
        LOGP(m, EVC_LOG_ERROR, "CHALLENGE: out of memory");
        return;
    }
    evc_error err = {0};
    int rc = EVC_OK;
    j->reg = strcmp(mode, "REGISTER") == 0;
    if (j->reg)
        rc = evc_password_cost_parse(text, &j->cost, &err);
    else if (strcmp(mode, "PROVE") == 0)
        rc = evc_proof_params_parse(text, &j->params, &err);
    else
        rc = evc_error_set(&err, EVC_EINVAL, "unknown CHALLENGE mode '%.32s'", mode);
    if (rc != EVC_OK) {
        job_free(j);
        LOGP(m, EVC_LOG_WARN, "CHALLENGE from %s refused: %s", evc_link_peer(m->central_link),
             err.msg);
        monitor_central_refused(m, "BAD_REQUEST", "Central's CHALLENGE cannot be answered");
        return;
    }
    m->cstate = MONITOR_C_PROVING;
    m->have_key = false;
    if (!j->reg && m->key_params[0] && strcmp(m->key_params, text) == 0) {
        job_free(j);
        memcpy(m->key, m->cached_key, sizeof m->key);
        m->have_key = true;
        answer(m, NULL);
        return;
    }
    j->m = m;
    j->gen = m->auth_gen;
    snprintf(j->params_text, sizeof j->params_text, "%s", text);
    snprintf(j->secret, sizeof j->secret, "%s", m->cfg.secret);
    bool cheap = j->reg ? evc_proof_secret_strong(j->secret) : evc_proof_params_fast(&j->params);
    if (cheap) { /* one HMAC: no pool round trip (10,000 CPs at once in one loadgen) */
        if (m->job)
            m->job->m = NULL;
        m->job = j;
        proof_work(j);
        proof_done(j, true);
        return;
    }
    if (evc_loop_work(m->loop, proof_work, proof_done, j, &err) != EVC_OK) {
        job_free(j);
        LOGP(m, EVC_LOG_ERROR, "CHALLENGE: %s", err.msg);
        monitor_central_refused(m, "BUSY", "this monitor is busy; retrying");
        return;
    }
    if (m->job) /* an older derivation: its result will be dropped */
        m->job->m = NULL;
    m->job = j;
    LOGP(m, EVC_LOG_DEBUG, "deriving the proof key (%s)", j->reg ? "register" : text);
}

void monitor_proof_stop(monitor *m)
{
    if (m->job)
        m->job->m = NULL;
    m->job = NULL;
}
