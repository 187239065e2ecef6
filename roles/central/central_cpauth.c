/* central_cpauth.c: Central's side of the monitor's challenge-response
 * (see central_cpauth.h, docs/PROTOCOL.md M1). */
#include "central_cpauth.h"

#include <stdio.h>
#include <string.h>

#include "evc/log.h"

/* Key of the fake params of unknown ids: random once per process. Repeated
 * challenges for one unknown id then look like a real CP's (same salt); after
 * a restart they change, as a rotated secret's would. Loop thread only. */
static uint8_t fake_key[EVC_PROOF_KEY_BYTES];
static bool fake_key_set;

static const char *field(const evc_frame_event *ev, size_t i)
{
    return i < ev->nfields ? ev->fields[i].data : NULL;
}

/* Integer 0..1000000 from text; -1 when not. */
static int64_t parse_price(const char *s)
{
    if (!s || !*s)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 1000000)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v <= 1000000 ? v : -1;
}

void central_cpauth_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                        const char *cp_id, const uint8_t nonce_m[EVC_PROOF_NONCE_BYTES],
                        const uint8_t nonce_c[EVC_PROOF_NONCE_BYTES],
                        char out_hex[EVC_PROOF_HEX_SIZE])
{
    evc_proof_nonce_mac(key, label, cp_id, nonce_m, nonce_c, out_hex);
}

void central_cpauth_clear(central_cpauth *a)
{
    evc_timer_close(a->deadline);
    a->deadline = NULL;
    /* No key left in memory after use; volatile so the stores stay. */
    for (volatile uint8_t *p = a->key; p < a->key + sizeof a->key; p++)
        *p = 0;
    a->stage = CENTRAL_CPAUTH_IDLE;
    a->fake = a->unknown = false;
}

static void on_deadline(evc_timer *t, void *arg)
{
    (void)t;
    central_cpauth *a = arg;
    evc_link *link = a->link;
    evc_log(EVC_LOG_WARN, "central", &(evc_log_ids){.cp = a->cp_id},
            "monitor %s: no answer to the CHALLENGE for %s within %d ms: closing",
            evc_link_peer(link), a->cp_id, CENTRAL_CPAUTH_ANSWER_MS);
    central_cpauth_clear(a);
    evc_link_close(link, "no answer to the CHALLENGE in time");
}

/* Sends CHALLENGE cp_id, mode, text, nonce_c and arms the deadline. */
static void challenge(central *c, evc_link *link, central_cpauth *a, const char *mode,
                      const char *text)
{
    evc_proof_random(a->nonce_c, sizeof a->nonce_c);
    char nc[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_hex_encode(a->nonce_c, sizeof a->nonce_c, nc);
    evc_frame_field f[] = {EVC_FRAME_STR(a->cp_id), EVC_FRAME_STR(mode), EVC_FRAME_STR(text),
                           EVC_FRAME_STR(nc)};
    evc_error err = {0};
    if (evc_link_send(link, "CHALLENGE", f, 4, &err) != EVC_OK) {
        evc_log(EVC_LOG_WARN, "central", NULL, "monitor %s: cannot send CHALLENGE: %s",
                evc_link_peer(link), err.msg);
        central_cpauth_clear(a);
        return;
    }
    a->link = link;
    if (evc_loop_timer(c->loop, CENTRAL_CPAUTH_ANSWER_MS, 0, on_deadline, a, &a->deadline,
                       &err) != EVC_OK)
        evc_log(EVC_LOG_ERROR, "central", NULL, "CHALLENGE deadline timer: %s", err.msg);
}

void central_cpauth_on_auth(central *c, evc_link *link, central_cpauth *a,
                            const evc_frame_event *ev)
{
    const char *id = field(ev, 0), *location = field(ev, 1), *price = field(ev, 2);
    const char *nonce = field(ev, 3);
    central_cpauth_clear(a); /* a new AUTH replaces an unanswered challenge */
    if (!evc_id_valid(id) || !nonce ||
        !evc_hex_decode(nonce, a->nonce_m, sizeof a->nonce_m)) {
        central_links_deny(c, link, evc_id_valid(id) ? id : "", "BAD_REQUEST",
                           "AUTH needs cp_id, location, price and a 32-hex-digit nonce");
        return;
    }
    snprintf(a->cp_id, sizeof a->cp_id, "%s", id);
    evc_charging_point row;
    evc_error err = {0};
    int rc = evc_store_cp_get(c->store, id, &row, &err);
    if (rc != EVC_OK && rc != EVC_ENOTFOUND) {
        evc_log(EVC_LOG_ERROR, "central", NULL, "AUTH %s: %s", id, err.msg);
        central_links_deny(c, link, id, "BAD_REQUEST", "database error, try again");
        return;
    }
    evc_proof_params params;
    if (rc == EVC_OK && row.secret_hash[0]) {
        if (evc_proof_split(row.secret_hash, &params, a->key, &err) != EVC_OK) {
            evc_log(EVC_LOG_ERROR, "central", &(evc_log_ids){.cp = id},
                    "AUTH %s: the stored secret hash cannot be used: %s", id, err.msg);
            central_links_deny(c, link, id, "BAD_SECRET",
                               "the CP's stored secret is unusable; set it again (--add-cp)");
            return;
        }
        a->stage = CENTRAL_CPAUTH_PROVE;
    } else if (!c->registration_open) {
        /* Looks like a real challenge; the PROOF will be denied. */
        if (!fake_key_set) {
            evc_proof_random(fake_key, sizeof fake_key);
            fake_key_set = true;
        }
        evc_proof_params_fake(fake_key, id, c->password_cost, &params);
        a->stage = CENTRAL_CPAUTH_PROVE;
        a->fake = true;
        a->unknown = rc != EVC_OK;
    } else {
        int64_t p = parse_price(price);
        if (rc != EVC_OK && (!location || !*location || p < 0)) {
            central_links_deny(c, link, id, "BAD_REQUEST",
                               "registration needs a location and an integer "
                               "price_cents_per_kwh");
            return;
        }
        a->stage = CENTRAL_CPAUTH_REGISTER;
        a->price = rc == EVC_OK ? -1 : p; /* a known CP without secret adopts one */
        snprintf(a->location, sizeof a->location, "%s", location ? location : "");
        challenge(c, link, a, "REGISTER", evc_password_cost_name(c->password_cost));
        return;
    }
    char text[128];
    evc_proof_params_format(&params, text, sizeof text);
    challenge(c, link, a, "PROVE", text);
}

/* AUTH_OK's own MAC: the monitor knows it talks to a Central holding K. */
static void accept_with(central *c, evc_link *link, central_cpauth *a,
                        const evc_charging_point *row)
{
    char ok[EVC_PROOF_HEX_SIZE];
    central_cpauth_mac(a->key, CENTRAL_CPAUTH_OK_LABEL, a->cp_id, a->nonce_m, a->nonce_c, ok);
    central_cpauth_clear(a);
    central_links_accept(c, link, row, ok);
}

void central_cpauth_on_proof(central *c, evc_link *link, central_cpauth *a,
                             const evc_frame_event *ev)
{
    const char *id = field(ev, 0), *mac_hex = field(ev, 1);
    if (a->stage != CENTRAL_CPAUTH_PROVE || !id || strcmp(id, a->cp_id) != 0) {
        central_links_deny(c, link, evc_id_valid(id) ? id : "", "BAD_REQUEST",
                           "PROOF without a CHALLENGE for this CP");
        return;
    }
    char want[EVC_PROOF_HEX_SIZE];
    central_cpauth_mac(a->key, CENTRAL_CPAUTH_LABEL, a->cp_id, a->nonce_m, a->nonce_c, want);
    uint8_t got[EVC_PROOF_KEY_BYTES], exp[EVC_PROOF_KEY_BYTES];
    bool ok = mac_hex && evc_hex_decode(mac_hex, got, sizeof got) &&
              evc_hex_decode(want, exp, sizeof exp) && evc_proof_equal(got, exp) && !a->fake;
    if (!ok) {
        if (a->fake)
            evc_log(EVC_LOG_INFO, "central", &(evc_log_ids){.cp = id}, "AUTH %s: %s", id,
                    a->unknown ? "unknown CP and registration is closed"
                               : "CP has no secret and registration is closed");
        central_cpauth_clear(a); /* nonces used once, right or wrong */
        /* One answer for a wrong secret and an unknown id: no enumeration. */
        central_links_deny(c, link, id, "BAD_SECRET", "wrong secret or unknown CP");
        return;
    }
    evc_charging_point row;
    evc_error err = {0};
    if (evc_store_cp_get(c->store, id, &row, &err) != EVC_OK) {
        central_cpauth_clear(a);
        evc_log(EVC_LOG_ERROR, "central", NULL, "AUTH %s: %s", id, err.msg);
        central_links_deny(c, link, id, "BAD_REQUEST", "database error, try again");
        return;
    }
    accept_with(c, link, a, &row);
}

void central_cpauth_on_register(central *c, evc_link *link, central_cpauth *a,
                                const evc_frame_event *ev)
{
    const char *id = field(ev, 0), *hash = field(ev, 1);
    evc_error err = {0};
    evc_proof_params params;
    if (a->stage != CENTRAL_CPAUTH_REGISTER || !id || strcmp(id, a->cp_id) != 0 || !hash ||
        strlen(hash) >= EVC_STORE_HASH_MAX ||
        evc_proof_split(hash, &params, a->key, &err) != EVC_OK) {
        central_cpauth_clear(a);
        central_links_deny(c, link, evc_id_valid(id) ? id : "", "BAD_REQUEST",
                           "REGISTER needs a REGISTER CHALLENGE and an argon2id or "
                           "evc-cpk string");
        return;
    }
    evc_charging_point row;
    int rc;
    if (a->price < 0) { /* known CP without a secret: it adopts this one */
        rc = evc_store_cp_set_secret(c->store, id, hash, &err);
        if (rc == EVC_OK)
            rc = evc_store_cp_get(c->store, id, &row, &err);
    } else {
        memset(&row, 0, sizeof row);
        snprintf(row.id, sizeof row.id, "%s", id);
        snprintf(row.location, sizeof row.location, "%s", a->location);
        row.price_cents_per_kwh = a->price;
        row.admin_state = EVC_CP_IN_SERVICE;
        snprintf(row.secret_hash, sizeof row.secret_hash, "%s", hash);
        rc = evc_store_cp_insert(c->store, &row, &err);
        if (rc == EVC_OK) {
            central_event(c, "cp.registered", NULL, id, NULL, "registered at %s, %lld c/kWh",
                          row.location, (long long)a->price);
            central_say(c, "CP %s registered (%s, %lld c/kWh)", id, row.location,
                        (long long)a->price);
        }
    }
    if (rc != EVC_OK) {
        central_cpauth_clear(a);
        evc_log(EVC_LOG_ERROR, "central", NULL, "REGISTER %s: %s", id, err.msg);
        central_links_deny(c, link, id, "BAD_REQUEST", "database error, try again");
        return;
    }
    accept_with(c, link, a, &row);
}
