/* cplink_proof.c: the CP session's answer to Central's CHALLENGE
 * (docs/PROTOCOL.md M1): the proof key K -- given at start, cached per
 * params text, or derived from the secret (argon2id on libuv's pool, never
 * on the loop; fast params cost one HMAC, answered at once) -- then PROOF;
 * or, under open registration when allowed, the secret's stored string at
 * Central's cost (REGISTER), never the secret. See evc/cplink.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cplink_internal.h"

struct cplink_job {
    evc_cplink *c; /* NULL once the session closed: done only frees */
    unsigned gen;
    bool reg;
    evc_password_cost cost;
    evc_proof_params params;
    char params_text[PARAMS_MAX];
    char secret[CPLINK_SECRET_MAX];
    uint8_t key[EVC_PROOF_KEY_BYTES];
    char hash[EVC_PASSWORD_HASH_MAX];
    int rc;
    char err[EVC_ERROR_MSG_MAX];
};

void cplink_wipe(void *p, size_t n)
{
    for (volatile uint8_t *b = p; n--; b++)
        *b = 0;
}

static void job_free(cplink_job *j)
{
    cplink_wipe(j, sizeof *j);
    free(j);
}

/* Sends PROOF, or REGISTER with reg_hash, for the current AUTH with c->key. */
static void answer(evc_cplink *c, const char *reg_hash)
{
    if (!c->link)
        return;
    evc_error err = {0};
    int rc;
    if (reg_hash) {
        evc_frame_field f[] = {EVC_FRAME_STR(c->id), EVC_FRAME_STR(reg_hash)};
        rc = evc_link_send(c->link, "REGISTER", f, 2, &err);
    } else {
        char mac[EVC_PROOF_HEX_SIZE];
        evc_proof_nonce_mac(c->key, EVC_CPLINK_AUTH_LABEL, c->id, c->nonce_m, c->nonce_c, mac);
        evc_frame_field f[] = {EVC_FRAME_STR(c->id), EVC_FRAME_STR(mac)};
        rc = evc_link_send(c->link, "PROOF", f, 2, &err);
    }
    if (rc != EVC_OK)
        LOGC(c, EVC_LOG_WARN, "%s to %s: %s", reg_hash ? "REGISTER" : "PROOF", cplink_peer(c),
             err.msg);
}

/* Pool thread (or inline for one HMAC): only the job's own copies. */
static void job_work(void *arg)
{
    cplink_job *j = arg;
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

static void job_done(void *arg, bool ran)
{
    cplink_job *j = arg;
    evc_cplink *c = j->c;
    if (!c) {
        job_free(j);
        return;
    }
    c->job = NULL;
    if (!ran) {
        LOGC(c, EVC_LOG_WARN, "proof key not derived: the loop is stopping");
    } else if (j->gen != c->gen || c->state != EVC_CPLINK_PROVING) {
        LOGC(c, EVC_LOG_DEBUG, "proof key of an old AUTH: dropped");
    } else if (j->rc != EVC_OK) {
        char why[EVC_ERROR_MSG_MAX + 40];
        snprintf(why, sizeof why, "cannot answer Central's CHALLENGE: %s", j->err);
        job_free(j);
        cplink_refuse(c, "BAD_CHALLENGE", why, false);
        return;
    } else {
        c->derivations++;
        memcpy(c->key, j->key, sizeof c->key);
        c->have_key = true;
        if (!j->reg) { /* the next CHALLENGE with these params costs one HMAC */
            memcpy(c->cached_key, j->key, sizeof c->cached_key);
            snprintf(c->key_params, sizeof c->key_params, "%s", j->params_text);
        }
        answer(c, j->reg ? j->hash : NULL);
    }
    job_free(j);
}

void cplink_on_challenge(evc_cplink *c, const evc_frame_event *ev)
{
    const char *id = ev->nfields >= 4 ? ev->fields[0].data : "";
    const char *mode = ev->nfields >= 4 ? ev->fields[1].data : "";
    const char *text = ev->nfields >= 4 ? ev->fields[2].data : "";
    if (c->state != EVC_CPLINK_AUTHENTICATING || strcmp(id, c->id) != 0 ||
        !evc_hex_decode(ev->fields[3].data, c->nonce_c, sizeof c->nonce_c)) {
        LOGC(c, EVC_LOG_WARN, "CHALLENGE from %s ignored: not for this AUTH", cplink_peer(c));
        return;
    }
    evc_error err = {0};
    cplink_job *j = calloc(1, sizeof *j);
    int rc = j ? EVC_OK : evc_error_set(&err, EVC_ENOMEM, "out of memory");
    if (j && strcmp(mode, "REGISTER") == 0) {
        j->reg = true;
        if (!c->allow_register || !c->secret)
            rc = evc_error_set(&err, EVC_EINVAL, "open registration is not done by this CP "
                                                 "(it must be known to Central)");
        else
            rc = evc_password_cost_parse(text, &j->cost, &err);
    } else if (j && strcmp(mode, "PROVE") == 0) {
        rc = evc_proof_params_parse(text, &j->params, &err);
    } else if (j) {
        rc = evc_error_set(&err, EVC_EINVAL, "unknown CHALLENGE mode '%.32s'", mode);
    }
    if (rc != EVC_OK || strlen(text) >= PARAMS_MAX) {
        if (j)
            job_free(j);
        char why[EVC_ERROR_MSG_MAX + 40];
        snprintf(why, sizeof why, "cannot answer Central's CHALLENGE: %s",
                 rc != EVC_OK ? err.msg : "params too long");
        cplink_refuse(c, "BAD_CHALLENGE", why, false);
        return;
    }
    c->state = EVC_CPLINK_PROVING;
    c->have_key = false;
    if (!j->reg && (c->given_key || (c->key_params[0] && strcmp(c->key_params, text) == 0))) {
        job_free(j);
        memcpy(c->key, c->cached_key, sizeof c->key);
        c->have_key = true;
        answer(c, NULL);
        return;
    }
    if (c->job) /* an older derivation: its result is dropped */
        c->job->c = NULL;
    c->job = NULL;
    j->c = c;
    j->gen = c->gen;
    snprintf(j->params_text, sizeof j->params_text, "%s", text);
    snprintf(j->secret, sizeof j->secret, "%s", c->secret);
    bool cheap = j->reg ? evc_proof_secret_strong(j->secret) : evc_proof_params_fast(&j->params);
    c->job = j;
    if (cheap) { /* one HMAC: no pool round trip (thousands of CPs at once) */
        job_work(j);
        job_done(j, true);
        return;
    }
    if (evc_loop_work(c->loop, job_work, job_done, j, &err) != EVC_OK) {
        c->job = NULL;
        job_free(j);
        char why[EVC_ERROR_MSG_MAX + 40];
        snprintf(why, sizeof why, "cannot answer Central's CHALLENGE now: %s", err.msg);
        cplink_refuse(c, "BAD_CHALLENGE", why, false);
    }
}


void cplink_job_drop(evc_cplink *c)
{
    if (c->job)
        c->job->c = NULL;
    c->job = NULL;
}
