/* app_keys.c: Central's signing key files (evc/app.h, docs/SECURITY.md).
 *
 * Text files of hex, one line, so that an operator can copy the public half
 * between hosts with any tool and see what it is. The secret half must be
 * private to its owner: a key others can read is a key others can sign with. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app_internal.h"
#include "evc/proof.h"
#include "evc/seal.h"

void evc_app_central_key_path(evc_app *app, char *buf, size_t cap)
{
    const evc_cfg_node *root = evc_app_config_root(app);
    const char *set = evc_cfg_get_str(evc_cfg_get(root, "security"), "central_key_file", NULL);
    if (set && *set) {
        snprintf(buf, cap, "%s", set);
        return;
    }
    snprintf(buf, cap, "%s.central-key.pub", evc_app_store_database(app));
}

/* Reads the first line of `path` (at most cap-1 chars, '\n' stripped). */
static int read_line(const char *path, char *buf, size_t cap, evc_error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return evc_error_set(err, EVC_ECONFIG, "%s: %s", path, strerror(errno));
    bool ok = fgets(buf, (int)cap, f) != NULL;
    fclose(f);
    if (!ok)
        return evc_error_set(err, EVC_ECONFIG, "%s: empty", path);
    buf[strcspn(buf, "\r\n")] = '\0';
    return EVC_OK;
}

int evc_app_central_public_key(evc_app *app, uint8_t pk[32], evc_error *err)
{
    char path[4096], line[160];
    evc_app_central_key_path(app, path, sizeof path);
    if (access(path, F_OK) != 0)
        return evc_error_set(err, EVC_ECONFIG,
                             "Central's public key %s does not exist: start EV_Central once "
                             "(it writes it next to its database), or copy its .pub file here "
                             "and set security.central_key_file",
                             path);
    int rc = read_line(path, line, sizeof line, err);
    if (rc != EVC_OK)
        return rc;
    if (!evc_hex_decode(line, pk, 32))
        return evc_error_set(err, EVC_ECONFIG, "%s: not a public key (64 hex characters)", path);
    return EVC_OK;
}

static int write_file(const char *path, const char *text, mode_t mode, evc_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0)
        return evc_error_set(err, EVC_ECONFIG, "%s: cannot create: %s", path, strerror(errno));
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok) {
        unlink(path);
        return evc_error_set(err, EVC_ECONFIG, "%s: cannot write", path);
    }
    return EVC_OK;
}

static int create_pair(const char *path, uint8_t sk[64], evc_error *err)
{
    uint8_t pk[32];
    if (sodium_init() < 0)
        return evc_error_set(err, EVC_EIO, "%s: libsodium failed to initialise", path);
    crypto_sign_keypair(pk, sk);
    char hex[2 * 64 + 2], pub[4096 + 8];
    evc_hex_encode(pk, 32, hex);
    strcat(hex, "\n");
    snprintf(pub, sizeof pub, "%s.pub", path);
    unlink(pub); /* a stale public half of a lost secret key */
    int rc = write_file(pub, hex, 0644, err);
    evc_hex_encode(sk, 64, hex);
    strcat(hex, "\n");
    if (rc == EVC_OK)
        rc = write_file(path, hex, 0600, err);
    sodium_memzero(hex, sizeof hex);
    return rc;
}

int evc_app_signing_key(const char *path, uint8_t sk[64], bool *created, evc_error *err)
{
    *created = false;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT)
            return evc_error_set(err, EVC_ECONFIG, "%s: %s", path, strerror(errno));
        *created = true;
        return create_pair(path, sk, err);
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return evc_error_set(err, EVC_ECONFIG,
                             "%s: Central's secret key is readable by others (mode %03o): "
                             "chmod 600 it",
                             path, (unsigned)(st.st_mode & 0777));
    char line[160];
    int rc = read_line(path, line, sizeof line, err);
    if (rc == EVC_OK && !evc_hex_decode(line, sk, 64))
        rc = evc_error_set(err, EVC_ECONFIG, "%s: not a secret key (128 hex characters)", path);
    sodium_memzero(line, sizeof line);
    return rc;
}

void evc_app_seal_windows(evc_app *app, int64_t *max_age_ms, int64_t *max_skew_ms)
{
    const evc_cfg_node *sec = evc_cfg_get(evc_app_config_root(app), "security");
    *max_age_ms = evc_cfg_schema_int(sec, app_security_schema, "max_age_ms");
    *max_skew_ms = evc_cfg_schema_int(sec, app_security_schema, "max_skew_ms");
}

/* The only sender CPs and drivers listen to: Central's public key, and for
 * a driver the key of Central's relays to it. */
typedef struct central_only {
    uint8_t pk[32];
    char relay_kid[EVC_SEAL_KID_MAX]; /* "" until evc_app_trust_relay */
    uint8_t relay_key[32];
} central_only;

static int central_only_lookup(void *arg, const char *kid, evc_seal_key *out)
{
    central_only *c = arg;
    if (c->relay_kid[0] && strcmp(kid, c->relay_kid) == 0) {
        *out = (evc_seal_key){.alg = EVC_SEAL_HMAC_SHA256};
        memcpy(out->key, c->relay_key, sizeof c->relay_key);
        return EVC_OK;
    }
    if (strcmp(kid, "central") != 0)
        return EVC_ENOTFOUND;
    *out = (evc_seal_key){.alg = EVC_SEAL_ED25519};
    memcpy(out->key, c->pk, sizeof c->pk);
    return EVC_OK;
}

/* One app per process: its trusted key lives as long as the process (the
 * verifier that borrows it is freed with the bus). */
static central_only central_key;

int evc_app_trust_central(evc_app *app, evc_error *err)
{
    evc_bus *bus = evc_app_bus(app);
    if (!bus)
        return evc_error_set(err, EVC_ESTATE, "trust Central: no bus");
    int rc = evc_app_central_public_key(app, central_key.pk, err);
    evc_seal_policy p = {0};
    evc_app_seal_windows(app, &p.max_age_ms, &p.max_skew_ms);
    evc_seal_verifier *v = NULL;
    if (rc == EVC_OK)
        rc = evc_seal_verifier_new(central_only_lookup, &central_key, &p, &v, err);
    if (rc == EVC_OK)
        rc = evc_bus_verify_with(bus, v, err);
    return rc;
}

int evc_app_trust_relay(evc_app *app, const char *driver_id, const uint8_t proof_key[32],
                        evc_error *err)
{
    (void)app; /* one app per process: central_key is the process's */
    char kid[EVC_SEAL_KID_MAX];
    if (!proof_key || !evc_seal_relay_kid(driver_id, kid))
        return evc_error_set(err, EVC_EINVAL, "trust relays: driver id '%.64s' makes no relay kid",
                             driver_id ? driver_id : "");
    evc_seal_relay_key(proof_key, driver_id, central_key.relay_key);
    memcpy(central_key.relay_kid, kid, sizeof kid);
    return EVC_OK;
}
