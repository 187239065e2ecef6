/* driver_services.c: services-file parser (see driver_services.h). */
#include "driver_services.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_problem(driver_services *s, const char *line)
{
    char **p = realloc(s->problems, (s->nproblems + 1) * sizeof *p);
    if (!p)
        return EVC_ENOMEM;
    s->problems = p;
    if (!(p[s->nproblems] = strdup(line)))
        return EVC_ENOMEM;
    s->nproblems++;
    return EVC_OK;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

/* One line (without its '\n'): strip the comment and blanks, check the id. */
static int parse_line(driver_services *s, const char *p, size_t n, unsigned lineno,
                      evc_error *err)
{
    const char *hash = memchr(p, '#', n);
    if (hash)
        n = (size_t)(hash - p);
    while (n && is_blank(*p))
        p++, n--;
    while (n && is_blank(p[n - 1]))
        n--;
    if (n == 0)
        return EVC_OK;
    char id[DRIVER_ID_MAX + 1];
    int valid = n <= DRIVER_ID_MAX && !memchr(p, '\0', n);
    if (valid) {
        memcpy(id, p, n);
        id[n] = '\0';
        valid = evc_id_valid(id);
    }
    if (!valid) {
        /* Show at most 40 bytes of the bad text, control bytes replaced. */
        char raw[41], shown[41];
        size_t k = n < 40 ? n : 40;
        for (size_t i = 0; i < k; i++)
            raw[i] = p[i] ? p[i] : '?';
        raw[k] = '\0';
        driver_sanitize(shown, sizeof shown, raw);
        char msg[512];
        snprintf(msg, sizeof msg,
                 "%s:%u: invalid CP id '%s%s' (expected letters, digits, '_', '.', '-', "
                 "at most 64); skipped",
                 s->file, lineno, shown, n > 40 ? "..." : "");
        int rc = add_problem(s, msg);
        return rc == EVC_OK ? EVC_OK
                            : evc_error_set(err, EVC_ENOMEM, "services file '%s': out of memory",
                                            s->file);
    }
    if (s->count >= DRIVER_SERVICES_MAX_ENTRIES)
        return evc_error_set(err, EVC_ETOOBIG, "%s:%u: more than %u CP ids in a services file",
                             s->file, lineno, DRIVER_SERVICES_MAX_ENTRIES);
    driver_service *e = realloc(s->entries, (s->count + 1) * sizeof *e);
    if (!e)
        return evc_error_set(err, EVC_ENOMEM, "services file '%s': out of memory", s->file);
    s->entries = e;
    memcpy(e[s->count].cp_id, id, n + 1);
    e[s->count].line = lineno;
    s->count++;
    return EVC_OK;
}

int driver_services_parse(const char *name, const char *text, size_t len, driver_services *out,
                          evc_error *err)
{
    memset(out, 0, sizeof *out);
    snprintf(out->file, sizeof out->file, "%s", name ? name : "<services>");
    size_t start = 0;
    unsigned lineno = 1;
    while (start < len) {
        const char *nl = memchr(text + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - text) : len;
        int rc = parse_line(out, text + start, end - start, lineno, err);
        if (rc != EVC_OK) {
            driver_services_free(out);
            return rc;
        }
        start = end + 1;
        lineno++;
    }
    return EVC_OK;
}

int driver_services_load(const char *path, driver_services *out, evc_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f)
        return evc_error_set(err, EVC_EIO, "services file '%s': cannot open: %s", path,
                             strerror(errno));
    char *buf = malloc(DRIVER_SERVICES_MAX_BYTES + 1);
    if (!buf) {
        fclose(f);
        return evc_error_set(err, EVC_ENOMEM, "services file '%s': out of memory", path);
    }
    size_t n = fread(buf, 1, DRIVER_SERVICES_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = evc_error_set(err, EVC_EIO, "services file '%s': read error", path);
    else if (n > DRIVER_SERVICES_MAX_BYTES)
        rc = evc_error_set(err, EVC_ETOOBIG, "services file '%s': larger than %u bytes", path,
                           DRIVER_SERVICES_MAX_BYTES);
    else
        rc = driver_services_parse(path, buf, n, out, err);
    free(buf);
    return rc;
}

void driver_services_free(driver_services *s)
{
    if (!s)
        return;
    free(s->entries);
    for (size_t i = 0; i < s->nproblems; i++)
        free(s->problems[i]);
    free(s->problems);
    memset(s, 0, sizeof *s);
}
