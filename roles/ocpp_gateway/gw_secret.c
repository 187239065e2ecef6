/* gw_secret.c: the CPs' secrets of security profile 3 (docs/OCPP.md).
 *
 * A charger with a client certificate sends no password, but Central still
 * wants the CP's secret proved over the monitor link: the operator keeps it
 * in <secrets_dir>/<CP_ID>.secret, as the systemd units keep an EV_CP_M's
 * (/etc/evcharging/cp/<CP_ID>.secret). The file is read when such a charger
 * connects, so adding a charger needs no restart. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evc/ids.h"
#include "gw.h"

/* Anything group or others could read or change is no secret. */
#define GW_SECRET_MODE_BAD (S_IRWXG | S_IRWXO)

int gw_secret_check_dir(const gw *g, evc_error *err)
{
    struct stat st;
    if (!g->secrets_dir[0])
        return evc_error_set(err, EVC_ECONFIG, "ocpp_gateway.secrets_dir: required with "
                                               "tls_client_ca (the CPs' secrets, "
                                               "<dir>/<CP_ID>.secret)");
    if (stat(g->secrets_dir, &st) != 0)
        return evc_error_set(err, EVC_ECONFIG, "ocpp_gateway.secrets_dir %s: %s",
                             g->secrets_dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return evc_error_set(err, EVC_ECONFIG, "ocpp_gateway.secrets_dir %s: not a directory",
                             g->secrets_dir);
    if (st.st_mode & GW_SECRET_MODE_BAD)
        return evc_error_set(err, EVC_ECONFIG, "ocpp_gateway.secrets_dir %s: mode %03o lets "
                                               "group or others in (chmod 700)",
                             g->secrets_dir, (unsigned)(st.st_mode & 0777));
    return EVC_OK;
}

int gw_secret_read(const gw *g, const char *id, char *out, size_t cap, evc_error *err)
{
    char path[4200];
    /* id is a valid CP id ([A-Za-z0-9_.-]): it cannot leave the directory
     * ("..secret" is a file name). */
    if (!evc_id_valid(id) ||
        snprintf(path, sizeof path, "%s/%s.secret", g->secrets_dir, id) >= (int)sizeof path)
        return evc_error_set(err, EVC_ECONFIG, "secret of %s: bad CP id or path too long", id);
    /* Checked on the open file itself (fstat), not on the name: no window
     * for a swap between the check and the read. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return evc_error_set(err, EVC_ECONFIG, "secret file %s: %s", path, strerror(errno));
    struct stat st;
    const char *bad = NULL;
    if (fstat(fd, &st) != 0)
        bad = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        bad = "not a regular file";
    else if (st.st_mode & GW_SECRET_MODE_BAD)
        bad = "group or others may read or write it (chmod 600)";
    FILE *f = bad ? NULL : fdopen(fd, "r");
    if (!f) {
        close(fd);
        return evc_error_set(err, EVC_ECONFIG, "secret file %s: %s", path,
                             bad ? bad : strerror(errno));
    }
    char line[1024];
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    size_t n = got ? strcspn(line, "\r\n") : 0;
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    int rc = EVC_OK;
    if (n == 0)
        rc = evc_error_set(err, EVC_ECONFIG, "secret file %s: first line is empty", path);
    else if (n >= cap)
        rc = evc_error_set(err, EVC_ECONFIG, "secret file %s: longer than %zu bytes", path,
                           cap - 1);
    else {
        memcpy(out, line, n);
        out[n] = '\0';
    }
    explicit_bzero(line, sizeof line);
    return rc;
}
