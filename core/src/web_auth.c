/* web_auth.c: the pieces a login on the web bridge is built from -- cookie
 * and Origin parsing, path and content-type checks, a failure throttle and
 * an in-memory session table (evc/web.h). Pure data structures: no lws, no
 * loop; the caller passes the clock so tests drive time.
 */
#include <ctype.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "evc/web.h"

/* ---- parsing helpers ---------------------------------------------------- */

bool evc_web_cookie_get(const char *hdr, const char *name, char *out, size_t cap)
{
    if (!hdr || !name || !out || cap == 0)
        return false;
    size_t nl = strlen(name);
    const char *p = hdr;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1;
            size_t vl = len - nl - 1;
            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl == 0 || vl >= cap)
                return false;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
        p += len;
    }
    return false;
}

bool evc_web_same_origin(const char *origin, const char *host)
{
    if (!origin || !host || !host[0])
        return false;
    const char *h;
    if (strncasecmp(origin, "http://", 7) == 0)
        h = origin + 7;
    else if (strncasecmp(origin, "https://", 8) == 0)
        h = origin + 8;
    else
        return false; /* "null", other schemes, garbage */
    /* An Origin is scheme://host[:port] with no path. */
    return strchr(h, '/') == NULL && strcasecmp(h, host) == 0;
}

bool evc_web_is_json(const char *ct)
{
    static const char want[] = "application/json";
    if (!ct || strncasecmp(ct, want, sizeof want - 1) != 0)
        return false;
    char c = ct[sizeof want - 1];
    return c == '\0' || c == ';' || c == ' ';
}

bool evc_web_path_ok(const char *path)
{
    if (!path || path[0] != '/')
        return false;
    for (const char *p = path; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
        if (c == '/' && p != path && p[-1] == '/')
            return false;
        /* A segment "." or "..": after '/', dots up to the next '/' or end. */
        if (c == '/' && p[1] == '.') {
            const char *q = p + 1;
            while (*q == '.')
                q++;
            if ((*q == '/' || *q == '\0') && q - p - 1 <= 2)
                return false;
        }
    }
    return true;
}

bool evc_web_basic_auth(const char *authorization, char *user, size_t user_cap, char *password,
                        size_t password_cap)
{
    if (!authorization || !user || !password || user_cap == 0 || password_cap == 0)
        return false;
    user[0] = password[0] = '\0';
    if (strncasecmp(authorization, "basic ", 6) != 0)
        return false;
    const char *b64 = authorization + 6;
    while (*b64 == ' ')
        b64++;
    unsigned char dec[512];
    size_t n = 0;
    const char *end = NULL;
    if (sodium_base642bin(dec, sizeof dec - 1, b64, strlen(b64), " ", &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        (end && *end))
        return false;
    dec[n] = '\0';
    if (memchr(dec, '\0', n))
        return false; /* a NUL inside would cut the name or the password */
    const char *colon = memchr(dec, ':', n);
    if (!colon)
        return false;
    size_t ul = (size_t)(colon - (const char *)dec), pl = n - ul - 1;
    bool ok = ul < user_cap && pl < password_cap;
    if (ok) {
        memcpy(user, dec, ul);
        user[ul] = '\0';
        memcpy(password, colon + 1, pl);
        password[pl] = '\0';
    }
    sodium_memzero(dec, sizeof dec);
    return ok;
}

bool evc_web_secret_eq(const char *want, const char *got)
{
    if (!want || !got)
        return false;
    size_t wl = strlen(want), gl = strlen(got);
    unsigned char d = (unsigned char)(wl != gl);
    for (size_t i = 0; i < wl; i++)
        d |= (unsigned char)(want[i] ^ (i < gl ? got[i] : 0));
    return d == 0;
}

bool evc_web_json_str(const char *json, size_t len, const char *key, char *out, size_t cap)
{
    if (!json || !key || !out || cap == 0)
        return false;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *v = json_is_object(root) ? json_object_get(root, key) : NULL;
    bool ok = false;
    if (json_is_string(v) && json_string_length(v) < cap &&
        strlen(json_string_value(v)) == json_string_length(v)) { /* no embedded NUL */
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
        ok = true;
    }
    json_decref(root);
    return ok;
}

bool evc_web_json_int(const char *json, size_t len, const char *key, int64_t *out)
{
    if (!json || !key || !out)
        return false;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *v = json_is_object(root) ? json_object_get(root, key) : NULL;
    bool ok = json_is_integer(v);
    if (ok)
        *out = (int64_t)json_integer_value(v);
    json_decref(root);
    return ok;
}

/* ---- throttle ----------------------------------------------------------- */

typedef struct throttle_entry {
    char key[72];
    unsigned fails;
    uint64_t last_ms;   /* last failure */
    uint64_t until_ms;  /* refused before this */
} throttle_entry;

struct evc_web_throttle {
    throttle_entry *e;
    size_t cap, n;
    unsigned limit;
    uint64_t delay_ms, max_delay_ms;
};

evc_web_throttle *evc_web_throttle_new(size_t cap, unsigned limit, uint64_t delay_ms,
                                       uint64_t max_delay_ms)
{
    if (cap == 0 || limit == 0)
        return NULL;
    evc_web_throttle *t = calloc(1, sizeof *t);
    if (!t || !(t->e = calloc(cap, sizeof *t->e))) {
        free(t);
        return NULL;
    }
    t->cap = cap;
    t->limit = limit;
    t->delay_ms = delay_ms;
    t->max_delay_ms = max_delay_ms < delay_ms ? delay_ms : max_delay_ms;
    return t;
}

void evc_web_throttle_free(evc_web_throttle *t)
{
    if (!t)
        return;
    free(t->e);
    free(t);
}

/* Linear scan: the table is small (hundreds) and only logins use it. */
static throttle_entry *throttle_find(evc_web_throttle *t, const char *key, uint64_t now)
{
    for (size_t i = 0; i < t->n; i++) {
        throttle_entry *e = &t->e[i];
        if (now > e->last_ms + t->max_delay_ms && now >= e->until_ms) {
            t->e[i--] = t->e[--t->n]; /* forgotten: quiet for long enough */
            continue;
        }
        if (strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

uint64_t evc_web_throttle_wait(evc_web_throttle *t, const char *key, uint64_t now_ms)
{
    const throttle_entry *e = t && key ? throttle_find(t, key, now_ms) : NULL;
    return e && e->until_ms > now_ms ? e->until_ms - now_ms : 0;
}

void evc_web_throttle_fail(evc_web_throttle *t, const char *key, uint64_t now_ms)
{
    if (!t || !key)
        return;
    throttle_entry *e = throttle_find(t, key, now_ms);
    if (!e) {
        if (t->n < t->cap) {
            e = &t->e[t->n++];
        } else {
            e = &t->e[0];
            for (size_t i = 1; i < t->n; i++)
                if (t->e[i].last_ms < e->last_ms)
                    e = &t->e[i];
        }
        memset(e, 0, sizeof *e);
        snprintf(e->key, sizeof e->key, "%s", key);
    }
    e->fails++;
    e->last_ms = now_ms;
    if (e->fails >= t->limit) {
        uint64_t d = t->delay_ms;
        for (unsigned i = t->limit; i < e->fails && d < t->max_delay_ms; i++)
            d *= 2;
        if (d > t->max_delay_ms)
            d = t->max_delay_ms;
        e->until_ms = now_ms + d;
    }
}

void evc_web_throttle_ok(evc_web_throttle *t, const char *key)
{
    if (!t || !key)
        return;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].key, key) == 0) {
            t->e[i] = t->e[--t->n];
            return;
        }
}

/* ---- sessions ----------------------------------------------------------- */

struct evc_web_sessions {
    evc_web_session *s;
    uint64_t *created; /* per slot, to find the oldest */
    size_t cap, n, per_user;
    uint64_t ttl_ms, seq;
};

evc_web_sessions *evc_web_sessions_new(size_t cap, size_t per_user, uint64_t ttl_ms)
{
    if (cap == 0 || per_user == 0 || ttl_ms == 0 || sodium_init() < 0)
        return NULL;
    evc_web_sessions *s = calloc(1, sizeof *s);
    if (!s || !(s->s = calloc(cap, sizeof *s->s)) || !(s->created = calloc(cap, sizeof(uint64_t)))) {
        if (s)
            free(s->s);
        free(s);
        return NULL;
    }
    s->cap = cap;
    s->per_user = per_user;
    s->ttl_ms = ttl_ms;
    return s;
}

void evc_web_sessions_free(evc_web_sessions *s)
{
    if (!s)
        return;
    sodium_memzero(s->s, s->cap * sizeof *s->s);
    free(s->s);
    free(s->created);
    free(s);
}

void evc_web_token_new(char out[EVC_WEB_TOKEN_LEN + 1])
{
    if (sodium_init() < 0) {
        /* Without a random source there must be no token at all. */
        out[0] = '\0';
        return;
    }
    unsigned char raw[EVC_WEB_TOKEN_LEN / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, EVC_WEB_TOKEN_LEN + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
}

static void session_remove(evc_web_sessions *s, size_t i)
{
    s->s[i] = s->s[s->n - 1];
    s->created[i] = s->created[s->n - 1];
    s->n--;
    sodium_memzero(&s->s[s->n], sizeof s->s[s->n]);
}

static void sessions_expire(evc_web_sessions *s, uint64_t now)
{
    for (size_t i = 0; i < s->n; i++)
        if (now >= s->s[i].expires_ms)
            session_remove(s, i--);
}

/* Index of the oldest session (of `user` when not NULL); s->n if none. */
static size_t session_oldest(const evc_web_sessions *s, const char *user, size_t *count)
{
    size_t best = s->n, c = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (user && strcmp(s->s[i].user, user) != 0)
            continue;
        c++;
        if (best == s->n || s->created[i] < s->created[best])
            best = i;
    }
    if (count)
        *count = c;
    return best;
}

/* A free slot for a new session of user, making room by the bounds. */
static evc_web_session *session_slot(evc_web_sessions *s, const char *user, uint64_t now_ms)
{
    sessions_expire(s, now_ms);
    size_t mine = 0;
    size_t old = session_oldest(s, user, &mine);
    if (mine >= s->per_user)
        session_remove(s, old);
    else if (s->n == s->cap)
        session_remove(s, session_oldest(s, NULL, NULL));
    evc_web_session *e = &s->s[s->n];
    memset(e, 0, sizeof *e);
    s->created[s->n] = ++s->seq;
    s->n++;
    return e;
}

const evc_web_session *evc_web_session_create(evc_web_sessions *s, const char *user, int role,
                                              uint64_t now_ms)
{
    if (!s || !user || strlen(user) >= sizeof s->s[0].user)
        return NULL;
    evc_web_session *e = session_slot(s, user, now_ms);
    evc_web_token_new(e->token);
    evc_web_token_new(e->csrf);
    snprintf(e->user, sizeof e->user, "%s", user);
    e->role = role;
    e->expires_ms = now_ms + s->ttl_ms;
    return e;
}

static bool token_ok(const char *t)
{
    if (strlen(t) != EVC_WEB_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < EVC_WEB_TOKEN_LEN; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
            return false;
    return true;
}

bool evc_web_session_restore(evc_web_sessions *s, const evc_web_session *saved, uint64_t now_ms)
{
    if (!s || !saved || saved->expires_ms <= now_ms || !saved->user[0] ||
        memchr(saved->user, '\0', sizeof saved->user) == NULL || !token_ok(saved->token) ||
        !token_ok(saved->csrf))
        return false;
    uint64_t left = saved->expires_ms - now_ms;
    evc_web_session *e = session_slot(s, saved->user, now_ms);
    *e = *saved;
    /* Never longer than a fresh login: a saved expiry from a changed clock
     * or a longer ttl of an earlier configuration is cut to this one. */
    e->expires_ms = now_ms + (left < s->ttl_ms ? left : s->ttl_ms);
    return true;
}

const evc_web_session *evc_web_session_find(evc_web_sessions *s, const char *token,
                                            uint64_t now_ms)
{
    if (!s || !token || strlen(token) != EVC_WEB_TOKEN_LEN)
        return NULL;
    sessions_expire(s, now_ms);
    for (size_t i = 0; i < s->n; i++)
        if (evc_web_secret_eq(s->s[i].token, token))
            return &s->s[i];
    return NULL;
}

bool evc_web_session_end(evc_web_sessions *s, const char *token)
{
    if (!s || !token)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (evc_web_secret_eq(s->s[i].token, token)) {
            session_remove(s, i);
            return true;
        }
    return false;
}

size_t evc_web_sessions_count(const evc_web_sessions *s) { return s ? s->n : 0; }
