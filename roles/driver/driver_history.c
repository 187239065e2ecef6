/* driver_history.c: the driver's tickets as CENTRAL's database holds them
 * (driver.history, docs/PROTOCOL.md M3.3), for the terminal's `history` and
 * the web page's history panel.
 *
 * Each question gets its own correlation id; the answer carries it back,
 * which also keeps apart the answers meant for another app of this driver
 * (same topic and key). Questions wait at most request_timeout_ms; at most
 * DRIVER_HISTORY_PENDING wait at once (a page clicking "older" many times
 * cannot grow this). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "driver_app.h"
#include "evc/log.h"

typedef struct hist_wait {
    char corr[EVC_UUID_STR_SIZE];
    uint64_t deadline_ms;
    driver_history_cb cb;
    void *arg;
} hist_wait;

struct driver_history {
    hist_wait w[DRIVER_HISTORY_PENDING];
    size_t n; /* in order of asking */
};

#define IDS(a) (&(evc_log_ids){.driver = (a)->driver_id})

static void give_up(driver_app *a, size_t i)
{
    struct driver_history *h = a->hist;
    hist_wait w = h->w[i];
    memmove(&h->w[i], &h->w[i + 1], (h->n - i - 1) * sizeof h->w[0]);
    h->n--;
    w.cb(w.arg, NULL); /* may ask again: h is consistent here */
}

int driver_history_ask(driver_app *a, int64_t before, const char *before_sid, int64_t limit,
                       driver_history_cb cb, void *arg, evc_error *err)
{
    if (!a->hist && !(a->hist = calloc(1, sizeof *a->hist)))
        return evc_error_set(err, EVC_ENOMEM, "driver history: out of memory");
    if (a->hist->n == DRIVER_HISTORY_PENDING)
        give_up(a, 0);
    hist_wait w = {.deadline_ms = evc_loop_now_ms(a->loop) + a->request_timeout_ms,
                   .cb = cb,
                   .arg = arg};
    int rc = evc_uuid_generate(w.corr, err);
    if (rc != EVC_OK)
        return rc;
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "driver_id", a->driver_id);
    evc_payload_int(p, "before", before > 0 ? before : 0);
    if (before_sid && *before_sid)
        evc_payload_str(p, "before_session_id", before_sid);
    evc_payload_int(p, "limit", limit);
    char *text = evc_payload_finish(p, err);
    if (!text)
        return err->code ? err->code : EVC_ENOMEM;
    rc = evc_msg_publish(a->bus, a->topic_out, a->driver_id, "driver.history", a->driver_id,
                         w.corr, text, NULL, NULL, NULL, err);
    free(text);
    if (rc != EVC_OK)
        return rc;
    a->hist->w[a->hist->n++] = w;
    return EVC_OK;
}

bool driver_history_answer(driver_app *a, const evc_envelope *env)
{
    struct driver_history *h = a->hist;
    for (size_t i = 0; h && env->correlation_id && i < h->n; i++) {
        if (strcmp(h->w[i].corr, env->correlation_id) != 0)
            continue;
        hist_wait w = h->w[i];
        memmove(&h->w[i], &h->w[i + 1], (h->n - i - 1) * sizeof h->w[0]);
        h->n--;
        json_t *payload = evc_envelope_payload_json(env);
        if (!json_is_array(json_object_get(payload, "tickets"))) {
            evc_log(EVC_LOG_WARN, "driver", IDS(a), "driver.history without a tickets list");
            payload = NULL;
        }
        w.cb(w.arg, payload);
        return true;
    }
    return false;
}

void driver_history_tick(driver_app *a, uint64_t now)
{
    while (a->hist && a->hist->n && now >= a->hist->w[0].deadline_ms) {
        evc_log(EVC_LOG_WARN, "driver", IDS(a), "no driver.history answer within %llu ms",
                (unsigned long long)a->request_timeout_ms);
        give_up(a, 0);
    }
}

void driver_history_free(driver_app *a)
{
    while (a->hist && a->hist->n)
        give_up(a, 0);
    free(a->hist);
    a->hist = NULL;
}

/* ---- the terminal --------------------------------------------------------- */

#define TERM_PAGE 10

static int64_t jint(const json_t *o, const char *k, int64_t dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void term_answer(void *arg, const json_t *payload)
{
    driver_app *a = arg;
    if (!payload) {
        fprintf(a->out, "No history from CENTRAL (no answer within %llu ms)\n",
                (unsigned long long)a->request_timeout_ms);
        fflush(a->out);
        return;
    }
    json_t *list = json_object_get(payload, "tickets");
    size_t n = json_array_size(list);
    bool more = json_is_true(json_object_get(payload, "more"));
    char count[48];
    fprintf(a->out, "History from CENTRAL: %s%s%s\n",
            driver_fmt_count(n, "ticket", "tickets", count, sizeof count),
            jint(payload, "before", 0) > 0 ? " (older)" : "",
            more ? "; type history older for more" : "");
    for (size_t i = 0; i < n; i++) {
        const json_t *o = json_array_get(list, i);
        driver_ticket t = {.wh = jint(o, "wh", 0),
                           .cents = jint(o, "cents", 0),
                           .price_cents_per_kwh = jint(o, "price_cents_per_kwh", 0),
                           .started_at = jint(o, "started_at", -1),
                           .ended_at = jint(o, "ended_at", -1)};
        snprintf(t.cp_id, sizeof t.cp_id, "%s", jstr(o, "cp_id"));
        snprintf(t.session_id, sizeof t.session_id, "%s", jstr(o, "session_id"));
        snprintf(t.reason, sizeof t.reason, "%s", jstr(o, "reason"));
        t.duration_s = t.started_at > 0 && t.ended_at > t.started_at
                           ? (t.ended_at - t.started_at) / 1000
                           : 0;
        char line[DRIVER_LINE_MAX];
        fprintf(a->out, "  %s\n", driver_fmt_ticket(&t, line, sizeof line));
        if (i + 1 == n) {
            a->term_before = t.ended_at;
            snprintf(a->term_before_sid, sizeof a->term_before_sid, "%s", t.session_id);
        }
    }
    if (!more)
        a->term_before = -1; /* the end: "history older" says so */
    fflush(a->out);
}

void driver_history_term(driver_app *a, bool older)
{
    if (older && a->term_before < 0) {
        fprintf(a->out, "No older tickets\n");
        fflush(a->out);
        return;
    }
    if (!older)
        driver_fsm_cmd_history(a->fsm);
    if (!driver_fsm_central_alive(a->fsm) || driver_fsm_auth(a->fsm, NULL) != 1) {
        fprintf(a->out, "CENTRAL's history needs CENTRAL and a login; try history again later\n");
        fflush(a->out);
        return;
    }
    evc_error err = {0};
    if (driver_history_ask(a, older ? a->term_before : 0, older ? a->term_before_sid : NULL,
                           TERM_PAGE, term_answer, a, &err) != EVC_OK) {
        fprintf(a->out, "Could not ask CENTRAL for the history: %s\n", err.msg);
        fflush(a->out);
    }
}
