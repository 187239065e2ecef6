/* app_web.c: where a program's dashboard files are (docs/WEB.md). Found
 * from the running binary, like the plugins, so that neither the build tree
 * nor an install (even relocated) needs a setting. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_internal.h"

/* <dir of /proc/self/exe>/../share/evc/web into buf; false when unknown. */
static bool default_root(char *buf, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    int len = snprintf(buf, cap, "%s/../share/evc/web", exe);
    return len > 0 && (size_t)len < cap;
}

int evc_app_web_dir(evc_app *app, const char *dashboard, char *buf, size_t cap,
                    bool *explicit_dir, evc_error *err)
{
    const evc_cfg_node *root = app ? evc_app_config_root(app) : NULL;
    const char *set = evc_cfg_get_str(evc_cfg_get(root, "web"), "static_dir", NULL);
    bool is_set = set && set[0];
    if (explicit_dir)
        *explicit_dir = is_set;
    char base[PATH_MAX];
    if (is_set) {
        snprintf(base, sizeof base, "%s", set);
    } else if (!default_root(base, sizeof base)) {
        snprintf(buf, cap, "%s", "");
        return evc_error_set(err, EVC_ENOTFOUND,
                             "web: cannot tell where this program is (/proc/self/exe); "
                             "set web.static_dir");
    }
    size_t blen = strlen(base);
    while (blen > 1 && base[blen - 1] == '/')
        base[--blen] = '\0';
    int len = snprintf(buf, cap, "%s/%s", base, dashboard);
    if (len < 0 || (size_t)len >= cap)
        return evc_error_set(err, EVC_EINVAL, "web: path too long: %s/%s", base, dashboard);
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return evc_error_set(err, EVC_ENOTFOUND,
                             "web: no dashboard files at %s (%s; build target evc_web, "
                             "or set web.static_dir)",
                             buf, is_set ? "web.static_dir" : "default");
    return EVC_OK;
}
