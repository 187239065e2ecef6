/* password.c: argon2id through libsodium's crypto_pwhash_str family. */
#include "evc/password.h"

#include <sodium.h>
#include <string.h>

_Static_assert(EVC_PASSWORD_HASH_MAX == crypto_pwhash_STRBYTES, "hash buffer size");

static const char *const cost_names[] = {"interactive", "moderate", "min"};

static void cost_limits(evc_password_cost cost, unsigned long long *ops, size_t *mem)
{
    switch (cost) {
    case EVC_PASSWORD_COST_MODERATE:
        *ops = crypto_pwhash_OPSLIMIT_MODERATE;
        *mem = crypto_pwhash_MEMLIMIT_MODERATE;
        break;
    case EVC_PASSWORD_COST_MIN:
        *ops = crypto_pwhash_OPSLIMIT_MIN;
        *mem = crypto_pwhash_MEMLIMIT_MIN;
        break;
    case EVC_PASSWORD_COST_INTERACTIVE:
    default:
        *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
        break;
    }
}

/* sodium_init is idempotent and thread-safe; it returns 1 when already done. */
static int sodium_ready(void)
{
    return sodium_init() >= 0;
}

int evc_password_cost_parse(const char *name, evc_password_cost *out, evc_error *err)
{
    for (int i = 0; i < 3; i++) {
        if (name && strcmp(name, cost_names[i]) == 0) {
            *out = (evc_password_cost)i;
            return EVC_OK;
        }
    }
    return evc_error_set(err, EVC_ECONFIG,
                         "password cost '%s' is not one of interactive, moderate, min",
                         name ? name : "(null)");
}

const char *evc_password_cost_name(evc_password_cost cost)
{
    return (unsigned)cost < 3 ? cost_names[cost] : "?";
}

int evc_password_hash(const char *password, evc_password_cost cost,
                      char out[EVC_PASSWORD_HASH_MAX], evc_error *err)
{
    if (!password || !out)
        return evc_error_set(err, EVC_EINVAL, "password hash: NULL argument");
    if (!sodium_ready())
        return evc_error_set(err, EVC_EIO, "password hash: libsodium failed to initialise");
    unsigned long long ops;
    size_t mem;
    cost_limits(cost, &ops, &mem);
    if (crypto_pwhash_str_alg(out, password, strlen(password), ops, mem,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return evc_error_set(err, EVC_ENOMEM,
                             "password hash: argon2id (%s cost) could not allocate %zu KiB",
                             evc_password_cost_name(cost), mem / 1024);
    return EVC_OK;
}

static bool is_argon2id(const char *hash)
{
    return hash && strncmp(hash, "$argon2id$", 10) == 0 &&
           memchr(hash, '\0', EVC_PASSWORD_HASH_MAX) != NULL;
}

bool evc_password_verify(const char *hash, const char *password)
{
    if (!is_argon2id(hash) || !password || !sodium_ready())
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

bool evc_password_needs_rehash(const char *hash, evc_password_cost cost)
{
    if (!is_argon2id(hash) || !sodium_ready())
        return true;
    unsigned long long ops;
    size_t mem;
    cost_limits(cost, &ops, &mem);
    return crypto_pwhash_str_needs_rehash(hash, ops, mem) != 0;
}
