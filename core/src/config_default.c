/* config_default.c: reading a key with the default its schema declares, so
 * that a default is written once (evc_cfg_field.default_text) and both the
 * documentation (docs/CONFIG.md, --help-config) and the code use it. */
#include "evc/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const evc_cfg_field *evc_cfg_field_find(const evc_cfg_field *schema, const char *key)
{
    for (const evc_cfg_field *f = schema; f && f->key; f++)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

/* A default written with '<' ("secret-<cp_id>") describes one the code
 * computes: it is documentation, never a value to use. */
static const char *dflt_text(const evc_cfg_field *schema, const char *key)
{
    const evc_cfg_field *f = evc_cfg_field_find(schema, key);
    if (!f || !f->default_text || strchr(f->default_text, '<'))
        return NULL;
    return f->default_text;
}

const char *evc_cfg_schema_str(const evc_cfg_node *map, const evc_cfg_field *schema,
                               const char *key)
{
    return evc_cfg_get_str(map, key, dflt_text(schema, key));
}

int64_t evc_cfg_schema_int(const evc_cfg_node *map, const evc_cfg_field *schema, const char *key)
{
    const char *d = dflt_text(schema, key);
    int64_t v = 0;
    if (d) {
        char *end;
        errno = 0;
        long long x = strtoll(d, &end, 10);
        if (errno == 0 && end != d && *end == '\0')
            v = x;
    }
    return evc_cfg_get_int(map, key, v);
}

bool evc_cfg_schema_bool(const evc_cfg_node *map, const evc_cfg_field *schema, const char *key)
{
    const char *d = dflt_text(schema, key);
    return evc_cfg_get_bool(map, key, d && strcmp(d, "true") == 0);
}

double evc_cfg_schema_double(const evc_cfg_node *map, const evc_cfg_field *schema,
                             const char *key)
{
    const char *d = dflt_text(schema, key);
    double v = 0;
    if (d) {
        char *end;
        double x = strtod(d, &end);
        if (end != d && *end == '\0')
            v = x;
    }
    return evc_cfg_get_double(map, key, v);
}
