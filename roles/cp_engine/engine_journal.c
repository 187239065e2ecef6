/* engine_journal.c: see engine_journal.h. */
#include "engine_journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evc/log.h"
#include "evc/uuid.h"

#define JOURNAL_TEXT_MAX 512
#define OUTBOX_BATCH 32u

int engine_journal_encode(const engine_journal *j, char *buf, size_t cap)
{
    if (strchr(j->cp_id, '|') || strchr(j->session_id, '|') || strchr(j->driver_id, '|'))
        return -1;
    int n = snprintf(buf, cap,
                     "v2|%s|%s|%s|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64 "|%" PRId64
                     "|%" PRId64,
                     j->cp_id, j->session_id, j->driver_id, j->price_cents_per_kwh,
                     j->authorised_at, j->started_at, j->wh, j->recorded_at, j->expires_at);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

static int parse_i64(const char *s, int64_t *out)
{
    if (!*s)
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

static int copy_id(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || n >= cap)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

#define JOURNAL_FIELDS_MAX 10

int engine_journal_decode(const char *text, size_t len, engine_journal *out)
{
    char buf[JOURNAL_TEXT_MAX];
    if (!text || len == 0 || len >= sizeof buf || memchr(text, '\0', len))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *f[JOURNAL_FIELDS_MAX];
    size_t nf = 0;
    for (char *p = buf;;) {
        if (nf == JOURNAL_FIELDS_MAX)
            return -1; /* too many fields */
        f[nf++] = p;
        char *bar = strchr(p, '|');
        if (!bar)
            break;
        *bar = '\0';
        p = bar + 1;
    }
    /* v1 journals (written before recorded_at and expires_at existed) are
     * still read after an upgrade: a supply in progress is not lost. */
    bool v1 = nf == 8 && strcmp(f[0], "v1") == 0;
    bool v2 = nf == 10 && strcmp(f[0], "v2") == 0;
    if (!v1 && !v2)
        return -1;
    engine_journal j;
    memset(&j, 0, sizeof j);
    if (copy_id(j.cp_id, sizeof j.cp_id, f[1]) || copy_id(j.session_id, sizeof j.session_id, f[2]) ||
        copy_id(j.driver_id, sizeof j.driver_id, f[3]) || parse_i64(f[4], &j.price_cents_per_kwh) ||
        parse_i64(f[5], &j.authorised_at) || parse_i64(f[6], &j.started_at) ||
        parse_i64(f[7], &j.wh))
        return -1;
    if (v2 && (parse_i64(f[8], &j.recorded_at) || parse_i64(f[9], &j.expires_at)))
        return -1;
    *out = j;
    return 0;
}

int engine_journal_save(evc_store *s, const engine_journal *j, evc_error *err)
{
    char text[JOURNAL_TEXT_MAX];
    int n = engine_journal_encode(j, text, sizeof text);
    if (n < 0)
        return evc_error_set(err, EVC_EINVAL, "journal of session %s: cannot encode", j->session_id);
    return evc_store_kv_put(s, ENGINE_KV_NS, ENGINE_KV_JOURNAL, text, (size_t)n, err);
}

int engine_journal_load(evc_store *s, engine_journal *out, evc_error *err)
{
    char text[JOURNAL_TEXT_MAX];
    size_t len = 0;
    int rc = evc_store_kv_get(s, ENGINE_KV_NS, ENGINE_KV_JOURNAL, text, sizeof text, &len, err);
    if (rc == EVC_ETOOBIG)
        return evc_error_set(err, EVC_ECORRUPT, "journal of %zu bytes: not one of ours", len);
    if (rc != EVC_OK)
        return rc;
    if (engine_journal_decode(text, len, out) != 0)
        return evc_error_set(err, EVC_ECORRUPT, "journal '%.*s' cannot be decoded",
                             (int)(len > 120 ? 120 : len), text);
    return EVC_OK;
}

int engine_ended_envelope(const engine_journal *j, int64_t ended_at, const char *reason,
                          char **out, size_t *out_len, evc_error *err)
{
    evc_payload *p = evc_payload_new();
    evc_payload_str(p, "cp_id", j->cp_id);
    evc_payload_str(p, "session_id", j->session_id);
    evc_payload_str(p, "driver_id", j->driver_id);
    evc_payload_int(p, "wh", j->wh);
    evc_payload_int(p, "started_at", j->started_at);
    evc_payload_int(p, "ended_at", ended_at);
    evc_payload_str(p, "reason", reason);
    char *payload = evc_payload_finish(p, err);
    if (!payload)
        return err ? err->code : EVC_ENOMEM;
    char id[EVC_UUID_STR_SIZE];
    evc_envelope env = {
        .type = "supply.ended",
        .correlation_id = evc_uuid_valid(j->session_id) ? j->session_id : NULL,
        .source = j->cp_id,
        .payload = payload,
    };
    int rc = evc_envelope_stamp(&env, id, err);
    if (rc == EVC_OK)
        rc = evc_envelope_encode(&env, out, out_len, err);
    free(payload);
    return rc;
}

int engine_journal_finish(evc_store *s, const engine_journal *j, int64_t ended_at,
                          const char *reason, const char *topic, evc_error *err)
{
    char *env = NULL;
    size_t env_len = 0;
    int rc = engine_ended_envelope(j, ended_at, reason, &env, &env_len, err);
    if (rc != EVC_OK)
        return rc;
    if ((rc = evc_store_begin(s, err)) != EVC_OK) {
        free(env);
        return rc;
    }
    evc_error derr = {0};
    int d = evc_store_kv_delete(s, ENGINE_KV_NS, ENGINE_KV_JOURNAL, &derr);
    if (d != EVC_OK && d != EVC_ENOTFOUND) {
        rc = d;
        *err = derr;
    }
    int64_t id = 0;
    if (rc == EVC_OK)
        rc = evc_store_outbox_add(s, topic, j->cp_id, env, env_len, &id, err);
    if (rc == EVC_OK) {
        char idtext[24];
        int n = snprintf(idtext, sizeof idtext, "%" PRId64, id);
        rc = evc_store_kv_put(s, ENGINE_KV_OUTBOX_NS, j->session_id, idtext, (size_t)n, err);
    }
    if (rc == EVC_OK) {
        char until[24];
        int64_t from = j->expires_at > ended_at ? j->expires_at : ended_at;
        int n = snprintf(until, sizeof until, "%" PRId64, from + ENGINE_ENDED_KEEP_MS);
        rc = evc_store_kv_put(s, ENGINE_KV_ENDED_NS, j->session_id, until, (size_t)n, err);
    }
    if (rc == EVC_OK)
        rc = evc_store_commit(s, err);
    else
        evc_store_rollback(s, NULL);
    free(env);
    return rc;
}

int engine_journal_recover(evc_store *s, const char *topic, int64_t now_wall,
                           engine_journal *recovered, bool *found, evc_error *err)
{
    engine_journal j;
    *found = false;
    int rc = engine_journal_load(s, &j, err);
    if (rc == EVC_ENOTFOUND) {
        evc_error_clear(err);
        return EVC_OK;
    }
    if (rc == EVC_ECORRUPT) {
        evc_error keep = *err;
        evc_store_kv_delete(s, ENGINE_KV_NS, ENGINE_KV_JOURNAL, NULL);
        *err = keep;
        return rc;
    }
    if (rc != EVC_OK)
        return rc;
    *found = true;
    if (recovered)
        *recovered = j;
    /* The supply stopped when the engine died: its end is the last moment
     * energy was recorded, however long the engine stayed down. */
    int64_t ended_at = j.recorded_at > 0 ? j.recorded_at : now_wall;
    return engine_journal_finish(s, &j, ended_at, "engine_restart", topic, err);
}

int engine_session_ended(evc_store *s, const char *session_id, bool *ended, evc_error *err)
{
    char text[24];
    size_t len = 0;
    *ended = false;
    int rc = evc_store_kv_get(s, ENGINE_KV_ENDED_NS, session_id, text, sizeof text - 1, &len, err);
    if (rc == EVC_ENOTFOUND) {
        evc_error_clear(err);
        return EVC_OK;
    }
    if (rc == EVC_ETOOBIG) /* not a value of ours, but the key says ended */
        rc = EVC_OK;
    *ended = rc == EVC_OK;
    return rc;
}

#define PRUNE_BATCH 256

typedef struct prune_ctx {
    int64_t now;
    char keys[PRUNE_BATCH][EVC_STORE_ID_MAX];
    size_t n;
    bool more;
} prune_ctx;

static int prune_one(void *arg, const char *key, const void *value, size_t len)
{
    prune_ctx *p = arg;
    char text[24];
    int64_t until = 0;
    if (len < sizeof text) {
        memcpy(text, value, len);
        text[len] = '\0';
    }
    /* An unreadable value is forgotten too: it can only have been kept by a
     * mistake, and the authorisation's expiry still guards the session. */
    if (len < sizeof text && parse_i64(text, &until) == 0 && until >= p->now)
        return 0;
    if (p->n == PRUNE_BATCH) {
        p->more = true;
        return 1;
    }
    snprintf(p->keys[p->n++], EVC_STORE_ID_MAX, "%s", key);
    return 0;
}

int engine_ended_prune(evc_store *s, int64_t now_wall, unsigned *forgotten, evc_error *err)
{
    unsigned total = 0;
    int rc = EVC_OK;
    prune_ctx *p = malloc(sizeof *p);
    if (!p)
        return evc_error_set(err, EVC_ENOMEM, "pruning ended sessions: out of memory");
    do {
        /* Collected first, deleted after: no write while the list runs. */
        p->now = now_wall;
        p->n = 0;
        p->more = false;
        rc = evc_store_kv_list(s, ENGINE_KV_ENDED_NS, prune_one, p, err);
        for (size_t i = 0; rc == EVC_OK && i < p->n; i++) {
            int d = evc_store_kv_delete(s, ENGINE_KV_ENDED_NS, p->keys[i], err);
            if (d == EVC_OK)
                total++;
            else if (d != EVC_ENOTFOUND)
                rc = d;
        }
    } while (rc == EVC_OK && p->more);
    free(p);
    if (forgotten)
        *forgotten = total;
    return rc;
}

typedef struct flush_ctx {
    int64_t *ids;
    size_t n, cap;
    unsigned batch; /* claimed in the current claim call */
    bool oom;
    engine_send_fn send;
    void *arg;
    unsigned sent;
} flush_ctx;

static int flush_one(void *arg, const evc_outbox_msg *m)
{
    flush_ctx *c = arg;
    c->batch++;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : OUTBOX_BATCH;
        int64_t *ids = realloc(c->ids, cap * sizeof *ids);
        if (!ids) {
            c->oom = true; /* its lease runs out: sent again later */
            return 1;
        }
        c->ids = ids;
        c->cap = cap;
    }
    c->ids[c->n++] = m->id;
    evc_envelope *env = NULL;
    evc_error err = {0};
    if (evc_envelope_decode(m->payload, m->payload_len, NULL, &env, &err) != EVC_OK) {
        /* Our own writing cannot be decoded: keep it for an operator, but it
         * will never be sent. */
        evc_log(EVC_LOG_ERROR, "cp_engine", NULL, "outbox message %" PRId64 " unreadable: %s",
                m->id, err.msg);
        return 0;
    }
    int rc = c->send(c->arg, m->topic, m->key, env);
    if (rc == EVC_OK)
        c->sent++;
    evc_envelope_free(env);
    return 0;
}

int engine_outbox_flush(evc_store *s, int64_t now_ms, int64_t retry_ms, bool all,
                        engine_send_fn send, void *arg, unsigned *sent, evc_error *err)
{
    if (retry_ms <= 0)
        retry_ms = 1;
    /* "all": claim as if at a time when every pending report is due (each is
     * scheduled at most retry_ms ahead). A claimed report is leased beyond
     * that time, so the loop never claims it twice; the next attempts are
     * scheduled only once everything was sent. */
    int64_t claim_at = all ? now_ms + retry_ms + 1 : now_ms;
    flush_ctx c = {.send = send, .arg = arg};
    int rc = EVC_OK;
    do {
        c.batch = 0;
        rc = evc_store_outbox_claim(s, claim_at, retry_ms, OUTBOX_BATCH, flush_one, &c, err);
    } while (rc == EVC_OK && !c.oom && c.batch == OUTBOX_BATCH);
    for (size_t i = 0; i < c.n; i++) {
        evc_error rerr = {0};
        int r = evc_store_outbox_retry(s, c.ids[i], now_ms + retry_ms, "not acknowledged", &rerr);
        if (r != EVC_OK && r != EVC_ENOTFOUND && rc == EVC_OK) {
            rc = r;
            if (err)
                *err = rerr;
        }
    }
    free(c.ids);
    if (sent)
        *sent = c.sent;
    return rc;
}

int engine_outbox_ack(evc_store *s, const char *session_id, bool *found, evc_error *err)
{
    char text[24];
    size_t len = 0;
    if (found)
        *found = false;
    if (!session_id || !session_id[0])
        return evc_error_set(err, EVC_EINVAL, "outbox ack without a session id");
    int rc = evc_store_kv_get(s, ENGINE_KV_OUTBOX_NS, session_id, text, sizeof text - 1, &len,
                              err);
    if (rc == EVC_ENOTFOUND) {
        evc_error_clear(err);
        return EVC_OK;
    }
    if (rc != EVC_OK)
        return rc;
    text[len] = '\0';
    int64_t id = 0;
    if ((rc = evc_store_begin(s, err)) != EVC_OK)
        return rc;
    if (parse_i64(text, &id) == 0) {
        rc = evc_store_outbox_ack(s, id, err);
        if (rc == EVC_ENOTFOUND)
            rc = EVC_OK;
        else if (rc == EVC_OK && found)
            *found = true;
    }
    if (rc == EVC_OK)
        rc = evc_store_kv_delete(s, ENGINE_KV_OUTBOX_NS, session_id, err);
    if (rc == EVC_OK)
        rc = evc_store_commit(s, err);
    else
        evc_store_rollback(s, NULL);
    return rc;
}

int engine_outbox_pending(evc_store *s, int64_t *count, evc_error *err)
{
    return evc_store_outbox_pending(s, count, err);
}
