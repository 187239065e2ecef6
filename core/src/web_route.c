/* web_route.c: the route table of the web bridge (evc_web_route).
 *
 * Exact paths live in an open-addressing hash table, so registering and
 * finding one costs the same with 10 routes or 100,000 (Central used to
 * register two routes per CP and the linear duplicate check made its start
 * quadratic). Patterns -- paths with '*' segments -- are few by contract
 * (EVC_WEB_MAX_PATTERNS) and are tried in registration order after the exact
 * table, each a walk along the path's segments.
 *
 * One table entry per path: a handler per method, so a 405 can name the
 * methods the path has.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "web_internal.h"

#define WEB_SLOTS_MIN 64 /* power of two; the table stays at most half full */

static int method_index(const char *method)
{
    if (strcmp(method, "GET") == 0)
        return WEB_M_GET;
    if (strcmp(method, "POST") == 0)
        return WEB_M_POST;
    return -1;
}

static const char *const method_names[WEB_NMETHODS] = {"GET", "POST"};

/* FNV-1a: route paths are the program's own strings, not an attacker's (a
 * request only probes), so a keyed hash buys nothing here. */
static uint64_t path_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* Slot of `path` in the exact table, or of the empty slot where it would go. */
static size_t slot_of(const evc_web *web, const char *path)
{
    size_t mask = web->nslots - 1;
    size_t i = (size_t)path_hash(path) & mask;
    while (web->slots[i] && strcmp(web->routes[web->slots[i] - 1].path, path) != 0)
        i = (i + 1) & mask;
    return i;
}

static web_route *exact_find(const evc_web *web, const char *path)
{
    if (!web->nslots)
        return NULL;
    size_t s = web->slots[slot_of(web, path)];
    return s ? &web->routes[s - 1] : NULL;
}

/* Doubles the slot array (or makes the first) and re-inserts every route. */
static int slots_grow(evc_web *web)
{
    size_t n = web->nslots ? web->nslots * 2 : WEB_SLOTS_MIN;
    size_t *s = calloc(n, sizeof *s);
    if (!s)
        return EVC_ENOMEM;
    free(web->slots);
    web->slots = s;
    web->nslots = n;
    for (size_t r = 0; r < web->nroutes; r++)
        web->slots[slot_of(web, web->routes[r].path)] = r + 1;
    return EVC_OK;
}

/* Counts the '*' segments of path; -1 when a '*' shares a segment with other
 * characters (not a pattern, and not a path this bridge will register). */
int web_count_wild(const char *path)
{
    int n = 0;
    for (const char *p = path; *p; p++) {
        if (*p != '*')
            continue;
        if (p[-1] != '/' || (p[1] && p[1] != '/'))
            return -1;
        n++;
    }
    return n;
}

/* Segment-wise match of a pattern against a request path. On a match, when
 * params is not NULL, the matched segments are copied NUL-terminated into
 * buf (room for strlen(path) + 1) and pointed at by params[0..nwild). */
bool web_pattern_match(const char *pat, const char *path, char *buf, const char **params)
{
    size_t np = 0;
    const char *p = pat, *q = path;
    while (*p && *q) {
        /* both at a '/' here */
        if (*p != '/' || *q != '/')
            return false;
        p++, q++;
        const char *pe = strchrnul(p, '/'), *qe = strchrnul(q, '/');
        size_t pl = (size_t)(pe - p), ql = (size_t)(qe - q);
        if (pl == 1 && *p == '*') {
            if (ql == 0)
                return false;
            if (params) {
                /* buf may be path itself (web_ws.c keeps the segments in the
                 * path's buffer): the copy moves a segment left, over itself
                 * when it is longer than the gap, so memmove. */
                memmove(buf, q, ql);
                buf[ql] = '\0';
                params[np] = buf;
                buf += ql + 1;
            }
            np++;
        } else if (pl != ql || memcmp(p, q, pl) != 0) {
            return false;
        }
        p = pe, q = qe;
    }
    return *p == '\0' && *q == '\0';
}

static int add_handler(web_route *rt, int m, evc_web_handler handler, void *arg,
                       const char *method, const char *path, evc_error *err)
{
    if (rt->handler[m])
        return evc_error_set(err, EVC_EEXIST, "web route %s %s: already registered", method,
                             path);
    rt->handler[m] = handler;
    rt->arg[m] = arg;
    return EVC_OK;
}

static int pattern_add(evc_web *web, int m, const char *method, const char *path, size_t nwild,
                       evc_web_handler handler, void *arg, evc_error *err)
{
    for (size_t i = 0; i < web->npatterns; i++)
        if (strcmp(web->patterns[i].path, path) == 0)
            return add_handler(&web->patterns[i], m, handler, arg, method, path, err);
    if (nwild > EVC_WEB_MAX_PARAMS)
        return evc_error_set(err, EVC_EINVAL, "web route %s %s: more than %d '*' segments",
                             method, path, EVC_WEB_MAX_PARAMS);
    if (web->npatterns == EVC_WEB_MAX_PATTERNS)
        return evc_error_set(err, EVC_ETOOBIG,
                             "web route %s %s: already %d patterns (requests try each one)",
                             method, path, EVC_WEB_MAX_PATTERNS);
    web_route *rt = &web->patterns[web->npatterns];
    memset(rt, 0, sizeof *rt);
    if (!(rt->path = strdup(path)))
        return evc_error_set(err, EVC_ENOMEM, "web route: out of memory");
    rt->nwild = nwild;
    rt->handler[m] = handler;
    rt->arg[m] = arg;
    web->npatterns++;
    return EVC_OK;
}

static int exact_add(evc_web *web, int m, const char *method, const char *path,
                     evc_web_handler handler, void *arg, evc_error *err)
{
    web_route *rt = exact_find(web, path);
    if (rt)
        return add_handler(rt, m, handler, arg, method, path, err);
    if ((web->nroutes + 1) * 2 > web->nslots && slots_grow(web) != EVC_OK)
        return evc_error_set(err, EVC_ENOMEM, "web route: out of memory");
    if (web->nroutes == web->caproutes) {
        size_t ncap = web->caproutes ? web->caproutes * 2 : 16;
        web_route *n = realloc(web->routes, ncap * sizeof *n);
        if (!n)
            return evc_error_set(err, EVC_ENOMEM, "web route: out of memory");
        web->routes = n;
        web->caproutes = ncap;
    }
    rt = &web->routes[web->nroutes];
    memset(rt, 0, sizeof *rt);
    if (!(rt->path = strdup(path)))
        return evc_error_set(err, EVC_ENOMEM, "web route: out of memory");
    rt->handler[m] = handler;
    rt->arg[m] = arg;
    web->slots[slot_of(web, path)] = ++web->nroutes;
    return EVC_OK;
}

int evc_web_route(evc_web *web, const char *method, const char *path, evc_web_handler handler,
                  void *arg, evc_error *err)
{
    if (!web || !method || !path || !handler)
        return evc_error_set(err, EVC_EINVAL, "web route: bad arguments");
    int m = method_index(method);
    if (m < 0)
        return evc_error_set(err, EVC_EINVAL, "web route %s %s: method must be GET or POST",
                             method, path);
    if (strncmp(path, "/api/", 5) != 0 || strchr(path, '?'))
        return evc_error_set(err, EVC_EINVAL,
                             "web route %s %s: path must start with /api/ and have no query",
                             method, path);
    int nwild = web_count_wild(path);
    if (nwild < 0)
        return evc_error_set(err, EVC_EINVAL,
                             "web route %s %s: '*' must be a whole path segment", method, path);
    if (nwild > 0)
        return pattern_add(web, m, method, path, (size_t)nwild, handler, arg, err);
    return exact_add(web, m, method, path, handler, arg, err);
}

/* Notes the methods of rt in allow (", "-separated, each once). */
static void allow_add(const web_route *rt, char *allow, size_t cap)
{
    for (int m = 0; m < WEB_NMETHODS; m++) {
        if (!rt->handler[m] || strstr(allow, method_names[m]))
            continue;
        size_t used = strlen(allow);
        snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", method_names[m]);
    }
}

int web_route_find(const evc_web *web, const char *method, const char *path, web_hit *hit)
{
    memset(hit, 0, sizeof *hit);
    int m = method_index(method);
    bool known = false;
    const web_route *rt = exact_find(web, path);
    if (rt) {
        known = true;
        if (m >= 0 && rt->handler[m]) {
            hit->handler = rt->handler[m];
            hit->arg = rt->arg[m];
            return 1;
        }
        allow_add(rt, hit->allow, sizeof hit->allow);
    }
    for (size_t i = 0; i < web->npatterns; i++) {
        rt = &web->patterns[i];
        if (!web_pattern_match(rt->path, path, NULL, NULL))
            continue;
        known = true;
        if (m < 0 || !rt->handler[m]) {
            allow_add(rt, hit->allow, sizeof hit->allow);
            continue;
        }
        if (!(hit->pbuf = malloc(strlen(path) + 1)))
            return -2;
        web_pattern_match(rt->path, path, hit->pbuf, hit->params);
        hit->nparams = rt->nwild;
        hit->handler = rt->handler[m];
        hit->arg = rt->arg[m];
        hit->allow[0] = '\0';
        return 1;
    }
    return known ? 0 : -1;
}

void web_routes_free(evc_web *web)
{
    for (size_t i = 0; i < web->nroutes; i++)
        free(web->routes[i].path);
    for (size_t i = 0; i < web->npatterns; i++)
        free(web->patterns[i].path);
    free(web->routes);
    free(web->slots);
    web->routes = NULL;
    web->slots = NULL;
    web->nroutes = web->caproutes = web->nslots = web->npatterns = 0;
}
