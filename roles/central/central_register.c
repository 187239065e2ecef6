/* central_register.c: POST /api/cps, an operator registers a CP from the
 * dashboard (docs/WEB.md). Central draws the CP's secret (64 hex digits,
 * 256 random bits), stores it with the fast verifier of strong secrets
 * (evc_proof_cp_hash, evc/proof.h: one HMAC, so its CP never costs an argon2
 * anywhere), stores the CP and answers the secret once: it is kept nowhere in
 * clear. The job stays on the pool: cheap now, but a cost that would not be
 * cannot creep back onto the loop.
 *
 *   {"id":"CP_100","location":"Alicante","price_cents_per_kwh":35}
 *   -> 201 {"id":"CP_100","secret":"<64 hex>"}; 400 bad input; 409 exists;
 *      503 busy (one registration hashes at a time).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "central_admin.h"
#include "central_int.h"
#include "central_register.h"
#include "evc/log.h"
#include "evc/proof.h"

#define REGISTER_PRICE_MAX 100000 /* cents per kWh: 1000 EUR, far above any tariff */

typedef struct reg_job reg_job;

struct central_register {
    central *c;
    reg_job *job; /* the one on the pool; orphaned (r = NULL) by free */
};

/* Owned by the pool call from evc_loop_work until done frees it. */
struct reg_job {
    central_register *r;
    evc_web_pending *pending;
    evc_charging_point row;
    evc_password_cost cost;
    char secret[EVC_WEB_TOKEN_LEN + 1];
    int rc;
    evc_error err;
};

static void job_work(void *arg)
{
    reg_job *j = arg;
    j->rc = evc_proof_cp_hash(j->secret, j->cost, j->row.secret_hash, &j->err);
}

static void job_wipe_free(reg_job *j)
{
    explicit_bzero(j, sizeof *j);
    free(j);
}

static void job_done(void *arg, bool ran)
{
    reg_job *j = arg;
    evc_web_response *res = evc_web_pending_res(j->pending);
    central_register *r = j->r;
    if (r)
        r->job = NULL;
    central *c = r ? r->c : NULL;
    evc_error err = {0};
    int rc = j->rc;
    if (!c || !ran) {
        evc_web_respond_error(res, 503, "server stopping");
    } else if (rc != EVC_OK) {
        evc_log(EVC_LOG_ERROR, "central", NULL, "register %s: %s", j->row.id, j->err.msg);
        evc_web_respond_error(res, 500, "could not hash the secret");
    } else if (central_cp_find(c, j->row.id)) { /* registered while we hashed */
        evc_web_respond_error(res, 409, "a CP with this id exists");
    } else if ((rc = evc_store_cp_insert(c->store, &j->row, &err)) != EVC_OK) {
        evc_log(EVC_LOG_ERROR, "central", NULL, "register %s: %s", j->row.id, err.msg);
        evc_web_respond_error(res, rc == EVC_EEXIST ? 409 : 500,
                              rc == EVC_EEXIST ? "a CP with this id exists" : "database error");
    } else if (!central_cp_add(c, &j->row)) {
        evc_web_respond_error(res, 500, "out of memory (the CP is stored: restart Central)");
    } else {
        central_event(c, "cp.registered", NULL, j->row.id, NULL,
                      "registered by an operator at %s, %lld c/kWh", j->row.location,
                      (long long)j->row.price_cents_per_kwh);
        central_say(c, "CP %s registered from the dashboard (%s, %lld c/kWh)", j->row.id,
                    j->row.location, (long long)j->row.price_cents_per_kwh);
        evc_payload *p = evc_payload_new();
        evc_payload_str(p, "id", j->row.id);
        evc_payload_str(p, "secret", j->secret);
        char *body = evc_payload_finish(p, NULL);
        if (body)
            evc_web_respond_json(res, 201, body);
        else
            evc_web_respond_error(res, 500, "out of memory");
        if (body)
            explicit_bzero(body, strlen(body));
        free(body);
    }
    evc_web_pending_done(j->pending);
    job_wipe_free(j);
}

/* Reads and checks the body into j->row; false with the 400 set. */
static bool parse(const evc_web_request *req, evc_web_response *res, reg_job *j)
{
    evc_charging_point *row = &j->row;
    int64_t price = -1;
    if (!evc_web_json_str(req->body, req->body_len, "id", row->id, sizeof row->id) ||
        !central_cp_id_ok(row->id)) {
        evc_web_respond_error(res, 400, "id: 1 to 64 of A-Z a-z 0-9 _ . -");
        return false;
    }
    if (!evc_web_json_str(req->body, req->body_len, "location", row->location,
                          sizeof row->location) || !row->location[0]) {
        evc_web_respond_error(res, 400, "location: a text of 1 to 127 characters");
        return false;
    }
    for (const char *s = row->location; *s; s++)
        if ((unsigned char)*s < 0x20) {
            evc_web_respond_error(res, 400, "location: no control characters");
            return false;
        }
    if (!evc_web_json_int(req->body, req->body_len, "price_cents_per_kwh", &price) || price < 0 ||
        price > REGISTER_PRICE_MAX) {
        evc_web_respond_error(res, 400, "price_cents_per_kwh: an integer from 0 to 100000");
        return false;
    }
    row->price_cents_per_kwh = price;
    row->max_w = CENTRAL_DEFAULT_MAX_W;
    row->admin_state = EVC_CP_IN_SERVICE;
    return true;
}

static void post_register(const evc_web_request *req, evc_web_response *res, void *arg)
{
    central_register *r = arg;
    central *c = r->c;
    if (!evc_web_is_json(req->content_type)) {
        evc_web_respond_error(res, 415, "Content-Type must be application/json");
        return;
    }
    reg_job *j = calloc(1, sizeof *j);
    if (!j) {
        evc_web_respond_error(res, 500, "out of memory");
        return;
    }
    if (!parse(req, res, j)) {
        job_wipe_free(j);
        return;
    }
    if (central_cp_find(c, j->row.id)) {
        evc_web_respond_error(res, 409, "a CP with this id exists");
        job_wipe_free(j);
        return;
    }
    if (r->job) {
        evc_web_respond_error(res, 503, "busy: another registration is being hashed");
        job_wipe_free(j);
        return;
    }
    j->r = r;
    j->cost = c->password_cost;
    evc_web_token_new(j->secret);
    j->pending = evc_web_defer(res);
    if (!j->pending) {
        evc_web_respond_error(res, 500, "out of memory");
        job_wipe_free(j);
        return;
    }
    evc_error err = {0};
    if (evc_loop_work(c->loop, job_work, job_done, j, &err) != EVC_OK) {
        evc_web_respond_error(evc_web_pending_res(j->pending), 503,
                              "busy: too many password checks at once");
        evc_web_pending_done(j->pending);
        job_wipe_free(j);
        return;
    }
    r->job = j;
}

int central_register_start(central *c, evc_web *web, central_register **out, evc_error *err)
{
    *out = NULL;
    central_register *r = calloc(1, sizeof *r);
    if (!r)
        return evc_error_set(err, EVC_ENOMEM, "central: out of memory");
    r->c = c;
    int rc = evc_web_route(web, "POST", "/api/cps", post_register, r, err);
    if (rc != EVC_OK) {
        free(r);
        return rc;
    }
    *out = r;
    return EVC_OK;
}

void central_register_free(central_register *r)
{
    if (!r)
        return;
    if (r->job)
        r->job->r = NULL; /* its done answers 503 (or nobody) and frees it */
    free(r);
}
