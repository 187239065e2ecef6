/* kafka_security.c: the security settings of transport.kafka, checked at
 * create (issue 11, "no secret in clear on any wire").
 *
 * librdkafka does the TLS and SASL work; the plugin passes security.protocol,
 * ssl.* and sasl.* through and adds what librdkafka checks late or not at
 * all, so that a mistake is one config error naming the key at start rather
 * than a broker connection failing in a loop later:
 *   - security.protocol is one of the four librdkafka knows;
 *   - the files named by ssl.ca.location, ssl.certificate.location,
 *     ssl.key.location (and the other *.location keys) exist and are
 *     readable; a private key file must not be readable by group or others;
 *   - a SASL_* protocol has sasl.mechanisms, and PLAIN/SCRAM have a user
 *     name and a password;
 *   - secrets can stay out of the YAML: sasl.password_file and
 *     ssl.key.password_file name a private file whose content the plugin
 *     sets as sasl.password / ssl.key.password; an inline password is
 *     accepted with a warning (it may come from ${VAR} substitution).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kafka_internal.h"

#define KS_SECRET_MAX 1024

static void ks_wipe(void *p, size_t n)
{
    volatile unsigned char *v = p; /* volatile: the wipe is not optimised away */
    while (n-- > 0)
        *v++ = 0;
}

static int ks_err(evc_cfg_pos pos, const char *map, const char *name, evc_error *err,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int ks_err(evc_cfg_pos pos, const char *map, const char *name, evc_error *err,
                  const char *fmt, ...)
{
    char why[EVC_ERROR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return evc_error_set(err, EVC_ECONFIG, "%s:%u:%u: transport.kafka.%s.%s: %s", pos.file,
                         pos.line, pos.column, map, name, why);
}

/* A file the plugin or librdkafka reads: it must exist and be readable. A
 * private one (keys, passwords) must also be closed to group and others. */
static int ks_check_file(const char *path, bool private_file, evc_cfg_pos pos, const char *map,
                         const char *name, evc_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0)
        return ks_err(pos, map, name, err, "%s: %s", path, strerror(errno));
    if (private_file && S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        return ks_err(pos, map, name, err,
                      "%s: mode %04o lets group or others read this secret; refused (chmod 600)",
                      path, (unsigned)(st.st_mode & 07777));
    }
    return EVC_OK;
}

static const char *const ks_protocols[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl",
                                           NULL};

/* Files librdkafka opens; ca and crl may also be directories ("probe" for
 * ssl.ca.location means the system's CA store). */
static const char *const ks_files[] = {"ssl.ca.location", "ssl.certificate.location",
                                       "ssl.crl.location", "ssl.keystore.location",
                                       "sasl.kerberos.keytab", NULL};
static const char *const ks_private_files[] = {"ssl.key.location", NULL};

static bool ks_in(const char *name, const char *const *list)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(name, list[i]) == 0)
            return true;
    return false;
}

/* Reads a password file: one line, the trailing newline dropped. */
static int ks_read_secret(const char *path, char *out, evc_cfg_pos pos, const char *map,
                          const char *name, evc_error *err)
{
    int rc = ks_check_file(path, true, pos, map, name, err);
    if (rc != EVC_OK)
        return rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ks_err(pos, map, name, err, "%s: %s", path, strerror(errno));
    ssize_t n = read(fd, out, KS_SECRET_MAX - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return ks_err(pos, map, name, err, "%s: %s", path, strerror(e));
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        out[--n] = '\0';
    if (n == 0)
        return ks_err(pos, map, name, err, "%s: empty", path);
    return EVC_OK;
}

int kafka_security_property(evc_transport *t, rd_kafka_conf_t *conf, const char *map,
                            const char *name, const char *val, evc_cfg_pos pos, bool *handled,
                            evc_error *err)
{
    *handled = false;
    if (strcmp(name, "security.protocol") == 0) {
        for (size_t i = 0; ks_protocols[i]; i++)
            if (strcasecmp(val, ks_protocols[i]) == 0)
                return EVC_OK;
        return ks_err(pos, map, name, err,
                      "\"%s\": expected plaintext, ssl, sasl_plaintext or sasl_ssl", val);
    }
    if (ks_in(name, ks_files) && !(strcmp(name, "ssl.ca.location") == 0 &&
                                   strcmp(val, "probe") == 0))
        return ks_check_file(val, false, pos, map, name, err);
    if (ks_in(name, ks_private_files))
        return ks_check_file(val, true, pos, map, name, err);
    const char *target = strcmp(name, "sasl.password_file") == 0      ? "sasl.password"
                         : strcmp(name, "ssl.key.password_file") == 0 ? "ssl.key.password"
                                                                     : NULL;
    if (target != NULL) {
        *handled = true;
        char secret[KS_SECRET_MAX];
        int rc = ks_read_secret(val, secret, pos, map, name, err);
        char es[512];
        if (rc == EVC_OK &&
            rd_kafka_conf_set(conf, target, secret, es, sizeof es) != RD_KAFKA_CONF_OK)
            rc = ks_err(pos, map, name, err, "%s: %s", target, es);
        ks_wipe(secret, sizeof secret);
        return rc;
    }
    if ((strcmp(name, "sasl.password") == 0 || strcmp(name, "ssl.key.password") == 0) &&
        conf == t->pconf)
        t->host->log(t->host->host, EVC_LOG_WARN, NULL,
                     "%s:%u:%u: transport.kafka.%s.%s is a secret written in the config; "
                     "prefer %s_file naming a file of mode 0600",
                     pos.file, pos.line, pos.column, map, name, name);
    return EVC_OK;
}

/* true when `name` is set in the map `key` of c. */
static const evc_cfg_node *ks_yaml(const evc_cfg_node *c, const char *key, const char *name)
{
    const evc_cfg_node *map = c ? evc_cfg_get(c, key) : NULL;
    return map ? evc_cfg_get(map, name) : NULL;
}

static bool ks_has(const evc_cfg_node *c, const char *own, const char *name)
{
    return ks_yaml(c, "properties", name) || ks_yaml(c, own, name);
}

/* One librdkafka configuration (producer or consumer) as assembled. */
static int ks_check_conf(rd_kafka_conf_t *conf, const evc_cfg_node *c, const char *own,
                         evc_error *err)
{
    char proto[32] = "", mech[64] = "";
    size_t sz = sizeof proto;
    if (rd_kafka_conf_get(conf, "security.protocol", proto, &sz) != RD_KAFKA_CONF_OK ||
        strncasecmp(proto, "sasl_", 5) != 0)
        return EVC_OK;
    evc_cfg_pos pos = c ? evc_cfg_node_pos(c) : (evc_cfg_pos){"<config>", 0, 0};
    /* librdkafka defaults sasl.mechanisms to GSSAPI (Kerberos): almost never
     * what a site meant, so it has to be written down. */
    if (!ks_has(c, own, "sasl.mechanisms") && !ks_has(c, own, "sasl.mechanism"))
        return evc_error_set(err, EVC_ECONFIG,
                             "%s:%u:%u: transport.kafka: security.protocol %s needs "
                             "sasl.mechanisms (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, GSSAPI or "
                             "OAUTHBEARER) in transport.kafka.properties",
                             pos.file, pos.line, pos.column, proto);
    sz = sizeof mech;
    if (rd_kafka_conf_get(conf, "sasl.mechanisms", mech, &sz) != RD_KAFKA_CONF_OK)
        mech[0] = '\0';
    if (strcasecmp(mech, "PLAIN") != 0 && strncasecmp(mech, "SCRAM-", 6) != 0)
        return EVC_OK;
    if (!ks_has(c, own, "sasl.username"))
        return evc_error_set(err, EVC_ECONFIG,
                             "%s:%u:%u: transport.kafka: sasl.mechanisms %s needs sasl.username",
                             pos.file, pos.line, pos.column, mech);
    if (!ks_has(c, own, "sasl.password") && !ks_has(c, own, "sasl.password_file"))
        return evc_error_set(err, EVC_ECONFIG,
                             "%s:%u:%u: transport.kafka: sasl.mechanisms %s needs "
                             "sasl.password_file (a file of mode 0600 holding the password)",
                             pos.file, pos.line, pos.column, mech);
    return EVC_OK;
}

int kafka_security_check(evc_transport *t, const evc_cfg_node *c, evc_error *err)
{
    int rc = ks_check_conf(t->pconf, c, "producer_properties", err);
    if (rc == EVC_OK)
        rc = ks_check_conf(t->cconf, c, "consumer_properties", err);
    return rc;
}
