/* config_subst.c: ${VAR}, ${VAR:-default} and $$ in scalar values.
 *
 * Rules (docs/CONFIG.md, "Variable substitution"): a name is
 * [A-Za-z_][A-Za-z0-9_]*; ${VAR:-default} takes the default when VAR is
 * unset or empty (as the shell does); the default is literal text up to the
 * first '}' (no nesting); "$$" writes one '$'; a '$' followed by anything
 * else stays as it is. Errors are positioned at the start of the scalar:
 * libyaml does not tell where a character of a quoted or folded scalar sat in
 * the source, so a column inside the scalar could lie. */
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static int buf_put(buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return EVC_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return EVC_OK;
}

static int is_name_start(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

int evc_cfg__substitute(const char *text, evc_cfg_pos pos, char **out, evc_error *err)
{
    char at[EVC_CFG_POS_MAX];
    buf b = {0};
    int rc = EVC_OK;
    const char *p = text;
    /* Fast path: most scalars have no '$' at all. */
    if (!strchr(text, '$')) {
        *out = strdup(text);
        return *out ? EVC_OK : evc_error_set(err, EVC_ENOMEM, "out of memory");
    }
    while (*p && rc == EVC_OK) {
        const char *dollar = strchr(p, '$');
        if (!dollar) {
            rc = buf_put(&b, p, strlen(p));
            break;
        }
        rc = buf_put(&b, p, (size_t)(dollar - p));
        if (rc != EVC_OK)
            break;
        if (dollar[1] == '$') {
            rc = buf_put(&b, "$", 1);
            p = dollar + 2;
            continue;
        }
        if (dollar[1] != '{') {
            rc = buf_put(&b, "$", 1);
            p = dollar + 1;
            continue;
        }
        const char *name = dollar + 2;
        const char *close = strchr(name, '}');
        if (!close) {
            free(b.p);
            return evc_error_set(err, EVC_ECONFIG,
                                 "%s: unterminated '${' in '%s' (write '$$' for a literal '$')",
                                 evc_cfg_pos_format(pos, at, sizeof at), text);
        }
        const char *q = name;
        if (is_name_start(*q))
            while (is_name_char(*q))
                q++;
        size_t nlen = (size_t)(q - name);
        const char *dflt = NULL;
        if (nlen > 0 && q[0] == ':' && q[1] == '-')
            dflt = q + 2;
        else if (nlen == 0 || q != close) {
            free(b.p);
            return evc_error_set(err, EVC_ECONFIG,
                                 "%s: bad variable reference '%.*s' (expected ${NAME} or "
                                 "${NAME:-default}, NAME made of letters, digits and '_')",
                                 evc_cfg_pos_format(pos, at, sizeof at),
                                 (int)(close - dollar + 1), dollar);
        }
        char *var = strndup(name, nlen);
        if (!var) {
            rc = EVC_ENOMEM;
            break;
        }
        const char *val = getenv(var);
        if (dflt && (!val || !*val))
            rc = buf_put(&b, dflt, (size_t)(close - dflt));
        else if (val)
            rc = buf_put(&b, val, strlen(val));
        else {
            evc_error_set(err, EVC_ECONFIG,
                          "%s: environment variable '%s' is not set (write ${%s:-default} to "
                          "give a default)",
                          evc_cfg_pos_format(pos, at, sizeof at), var, var);
            free(var);
            free(b.p);
            return EVC_ECONFIG;
        }
        free(var);
        p = close + 1;
    }
    if (rc == EVC_OK && !b.p)
        rc = buf_put(&b, "", 0); /* the scalar was only references to empty values */
    if (rc != EVC_OK) {
        free(b.p);
        return evc_error_set(err, EVC_ENOMEM, "%s: out of memory substituting variables",
                             evc_cfg_pos_format(pos, at, sizeof at));
    }
    *out = b.p;
    return EVC_OK;
}
