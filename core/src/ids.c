/* ids.c: ids and secret files. */
#include "evc/ids.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

bool evc_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > EVC_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

int evc_read_secret_file(const char *what, const char *path, char *out, size_t cap,
                         evc_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return evc_error_set(err, EVC_ECONFIG, "%s %s: cannot open: %s", what, path,
                             strerror(errno));
    char line[1024];
    bool ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = ok ? strlen(line) : 0;
    while (n && isspace((unsigned char)line[n - 1]))
        line[--n] = '\0';
    if (n == 0)
        return evc_error_set(err, EVC_ECONFIG, "%s %s: first line is empty", what, path);
    if (n >= cap)
        return evc_error_set(err, EVC_ECONFIG, "%s %s: longer than %zu bytes", what, path,
                             cap - 1);
    memcpy(out, line, n + 1);
    explicit_bzero(line, sizeof line);
    return EVC_OK;
}
