/* proof.c: proof keys from argon2id strings and from the fast verifier of
 * strong CP secrets, labelled HMACs, hex. */
#include "evc/proof.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define ARGON2ID_PREFIX "$argon2id$v=19$"

#define FAST_LABEL "evc-cp-key-v1"
#define STRONG_HEX_MIN 64
#define STRONG_DISTINCT_MIN 10

bool evc_proof_params_fast(const evc_proof_params *p)
{
    return p && p->opslimit == 0 && p->memlimit == 0;
}

bool evc_proof_secret_strong(const char *secret)
{
    if (!secret)
        return false;
    unsigned seen = 0; /* bit per hex digit value */
    size_t n = 0;
    for (; secret[n]; n++) {
        char c = secret[n];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (v < 0)
            return false;
        seen |= 1u << v;
    }
    int distinct = 0;
    for (; seen; seen &= seen - 1)
        distinct++;
    return n >= STRONG_HEX_MIN && distinct >= STRONG_DISTINCT_MIN;
}

/* key = HMAC-SHA256(secret, "evc-cp-key-v1\0" || salt). The secret is the
 * HMAC key: 256 random bits need no stretching (docs/SECURITY.md). */
static void fast_key(const char *secret, const uint8_t salt[EVC_PROOF_SALT_BYTES],
                     uint8_t key[EVC_PROOF_KEY_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)FAST_LABEL, sizeof FAST_LABEL);
    crypto_auth_hmacsha256_update(&st, salt, EVC_PROOF_SALT_BYTES);
    crypto_auth_hmacsha256_final(&st, key);
    sodium_memzero(&st, sizeof st);
}

int evc_proof_fast_hash(const char *secret, char out[EVC_PASSWORD_HASH_MAX], evc_error *err)
{
    if (!out)
        return evc_error_set(err, EVC_EINVAL, "fast hash: NULL argument");
    if (!evc_proof_secret_strong(secret))
        return evc_error_set(err, EVC_EINVAL,
                             "fast hash: the secret is not %d+ hex digits of a random draw",
                             STRONG_HEX_MIN);
    if (sodium_init() < 0)
        return evc_error_set(err, EVC_EIO, "fast hash: libsodium failed to initialise");
    uint8_t salt[EVC_PROOF_SALT_BYTES], key[EVC_PROOF_KEY_BYTES];
    randombytes_buf(salt, sizeof salt);
    fast_key(secret, salt, key);
    char sh[2 * EVC_PROOF_SALT_BYTES + 1], kh[EVC_PROOF_HEX_SIZE];
    evc_hex_encode(salt, sizeof salt, sh);
    evc_hex_encode(key, sizeof key, kh);
    snprintf(out, EVC_PASSWORD_HASH_MAX, "%s%s$%s", EVC_PROOF_FAST_PREFIX, sh, kh);
    sodium_memzero(key, sizeof key);
    sodium_memzero(kh, sizeof kh);
    return EVC_OK;
}

int evc_proof_cp_hash(const char *secret, evc_password_cost cost,
                      char out[EVC_PASSWORD_HASH_MAX], evc_error *err)
{
    if (evc_proof_secret_strong(secret))
        return evc_proof_fast_hash(secret, out, err);
    return evc_password_hash(secret, cost, out, err);
}

static int split_fast(const char *stored, evc_proof_params *params,
                      uint8_t key[EVC_PROOF_KEY_BYTES], evc_error *err)
{
    const char *salt = stored + strlen(EVC_PROOF_FAST_PREFIX);
    evc_proof_params out = {.opslimit = 0, .memlimit = 0};
    char sh[2 * EVC_PROOF_SALT_BYTES + 1];
    uint8_t k[EVC_PROOF_KEY_BYTES];
    if (strlen(salt) != 2 * EVC_PROOF_SALT_BYTES + 1 + 2 * EVC_PROOF_KEY_BYTES ||
        salt[2 * EVC_PROOF_SALT_BYTES] != '$')
        return evc_error_set(err, EVC_EINVAL, "stored secret: bad evc-cpk string");
    memcpy(sh, salt, 2 * EVC_PROOF_SALT_BYTES);
    sh[2 * EVC_PROOF_SALT_BYTES] = '\0';
    if (!evc_hex_decode(sh, out.salt, sizeof out.salt) ||
        !evc_hex_decode(salt + 2 * EVC_PROOF_SALT_BYTES + 1, k, sizeof k))
        return evc_error_set(err, EVC_EINVAL, "stored secret: evc-cpk salt or key is not hex");
    if (params)
        *params = out;
    if (key)
        memcpy(key, k, sizeof k);
    sodium_memzero(k, sizeof k);
    return EVC_OK;
}

int evc_proof_split(const char *stored, evc_proof_params *params, uint8_t key[EVC_PROOF_KEY_BYTES],
                    evc_error *err)
{
    if (stored && strncmp(stored, EVC_PROOF_FAST_PREFIX, strlen(EVC_PROOF_FAST_PREFIX)) == 0)
        return split_fast(stored, params, key, err);
    if (!stored || strncmp(stored, ARGON2ID_PREFIX, strlen(ARGON2ID_PREFIX)) != 0)
        return evc_error_set(err, EVC_EINVAL, "stored secret is not an argon2id v19 string");
    unsigned long m = 0, t = 0, p = 0;
    int used = 0;
    const char *rest = stored + strlen(ARGON2ID_PREFIX);
    if (sscanf(rest, "m=%lu,t=%lu,p=%lu$%n", &m, &t, &p, &used) != 3 || used == 0 || p != 1 ||
        m == 0 || t == 0)
        return evc_error_set(err, EVC_EINVAL, "stored secret: bad argon2id parameters");
    const char *salt = rest + used;
    const char *dollar = strchr(salt, '$');
    if (!dollar)
        return evc_error_set(err, EVC_EINVAL, "stored secret: no hash part");
    evc_proof_params out = {.opslimit = t, .memlimit = (uint64_t)m * 1024u};
    size_t n = 0;
    if (sodium_base642bin(out.salt, sizeof out.salt, salt, (size_t)(dollar - salt), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        n != sizeof out.salt)
        return evc_error_set(err, EVC_EINVAL, "stored secret: salt is not 16 bytes of base64");
    uint8_t hash[EVC_PROOF_KEY_BYTES];
    if (sodium_base642bin(hash, sizeof hash, dollar + 1, strlen(dollar + 1), NULL, &n, NULL,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0 ||
        n != sizeof hash)
        return evc_error_set(err, EVC_EINVAL, "stored secret: hash is not 32 bytes of base64");
    if (params)
        *params = out;
    if (key)
        memcpy(key, hash, sizeof hash);
    sodium_memzero(hash, sizeof hash);
    return EVC_OK;
}

int evc_proof_derive(const char *secret, const evc_proof_params *params,
                     uint8_t key[EVC_PROOF_KEY_BYTES], evc_error *err)
{
    if (!secret || !params || !key)
        return evc_error_set(err, EVC_EINVAL, "proof derive: NULL argument");
    if (sodium_init() < 0)
        return evc_error_set(err, EVC_EIO, "proof derive: libsodium failed to initialise");
    if (evc_proof_params_fast(params)) {
        if (!evc_proof_secret_strong(secret))
            return evc_error_set(err, EVC_EINVAL,
                                 "proof derive: the verifier asks for the fast key of a secret "
                                 "that is not %d+ random hex digits: refused (the secret keeps "
                                 "argon2id; re-register the CP with a generated secret)",
                                 STRONG_HEX_MIN);
        fast_key(secret, params->salt, key);
        return EVC_OK;
    }
    if (params->opslimit < crypto_pwhash_OPSLIMIT_MIN ||
        params->opslimit > crypto_pwhash_OPSLIMIT_MODERATE ||
        params->memlimit < crypto_pwhash_MEMLIMIT_MIN ||
        params->memlimit > crypto_pwhash_MEMLIMIT_MODERATE)
        return evc_error_set(err, EVC_EINVAL,
                             "proof derive: cost t=%" PRIu64 " m=%" PRIu64
                             " bytes is outside min..moderate",
                             params->opslimit, params->memlimit);
    if (crypto_pwhash(key, EVC_PROOF_KEY_BYTES, secret, strlen(secret), params->salt,
                      (unsigned long long)params->opslimit, (size_t)params->memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0)
        return evc_error_set(err, EVC_ENOMEM, "proof derive: argon2id could not allocate %" PRIu64
                                              " bytes",
                             params->memlimit);
    return EVC_OK;
}

void evc_proof_params_fake(const uint8_t server_key[EVC_PROOF_KEY_BYTES], const char *id,
                           evc_password_cost cost, evc_proof_params *out)
{
    const char *parts[] = {id ? id : ""};
    uint8_t mac[EVC_PROOF_KEY_BYTES];
    evc_proof_mac(server_key, "evc-fake-salt-v1", parts, 1, mac);
    memcpy(out->salt, mac, sizeof out->salt);
    switch (cost) {
    case EVC_PASSWORD_COST_MODERATE:
        out->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
        out->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
        break;
    case EVC_PASSWORD_COST_MIN:
        out->opslimit = crypto_pwhash_OPSLIMIT_MIN;
        out->memlimit = crypto_pwhash_MEMLIMIT_MIN;
        break;
    default:
        out->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
        out->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
        break;
    }
}

void evc_proof_params_format(const evc_proof_params *p, char *out, size_t cap)
{
    char salt[2 * EVC_PROOF_SALT_BYTES + 1];
    evc_hex_encode(p->salt, sizeof p->salt, salt);
    snprintf(out, cap, "%s:%" PRIu64 ":%" PRIu64, salt, p->opslimit, p->memlimit);
}

int evc_proof_params_parse(const char *text, evc_proof_params *out, evc_error *err)
{
    char salt[2 * EVC_PROOF_SALT_BYTES + 1];
    uint64_t ops = 0, mem = 0;
    int used = 0;
    if (!text || strlen(text) > 96 ||
        sscanf(text, "%32[0-9a-f]:%" SCNu64 ":%" SCNu64 "%n", salt, &ops, &mem, &used) != 3 ||
        text[used] != '\0' || !evc_hex_decode(salt, out->salt, sizeof out->salt))
        return evc_error_set(err, EVC_EINVAL, "key params '%.96s' are not <salt hex>:<ops>:<mem>",
                             text ? text : "(null)");
    out->opslimit = ops;
    out->memlimit = mem;
    return EVC_OK;
}

void evc_proof_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                   const char *const *parts, size_t n, uint8_t out[EVC_PROOF_KEY_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, EVC_PROOF_KEY_BYTES);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)label, strlen(label) + 1);
    for (size_t i = 0; i < n; i++) {
        const char *s = parts[i] ? parts[i] : "";
        uint64_t len = strlen(s);
        uint8_t be[8];
        for (int b = 0; b < 8; b++)
            be[b] = (uint8_t)(len >> (56 - 8 * b));
        crypto_auth_hmacsha256_update(&st, be, sizeof be);
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)s, (unsigned long long)len);
    }
    crypto_auth_hmacsha256_final(&st, out);
}

void evc_proof_nonce_mac(const uint8_t key[EVC_PROOF_KEY_BYTES], const char *label,
                         const char *id, const uint8_t nonce_a[EVC_PROOF_NONCE_BYTES],
                         const uint8_t nonce_b[EVC_PROOF_NONCE_BYTES],
                         char out_hex[EVC_PROOF_HEX_SIZE])
{
    char na[2 * EVC_PROOF_NONCE_BYTES + 1], nb[2 * EVC_PROOF_NONCE_BYTES + 1];
    evc_hex_encode(nonce_a, EVC_PROOF_NONCE_BYTES, na);
    evc_hex_encode(nonce_b, EVC_PROOF_NONCE_BYTES, nb);
    const char *parts[] = {id, na, nb};
    uint8_t mac[EVC_PROOF_KEY_BYTES];
    evc_proof_mac(key, label, parts, 3, mac);
    evc_hex_encode(mac, sizeof mac, out_hex);
}

bool evc_proof_equal(const uint8_t a[EVC_PROOF_KEY_BYTES], const uint8_t b[EVC_PROOF_KEY_BYTES])
{
    return sodium_memcmp(a, b, EVC_PROOF_KEY_BYTES) == 0;
}

void evc_proof_random(uint8_t *buf, size_t len)
{
    /* randombytes works without sodium_init; calling it picks the best source. */
    if (sodium_init() < 0) {
        /* Cannot happen once libsodium started; randombytes still works. */
    }
    randombytes_buf(buf, len);
}

void evc_hex_encode(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool evc_hex_decode(const char *text, uint8_t *out, size_t len)
{
    if (!text || strlen(text) != 2 * len)
        return false;
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value(text[2 * i]), lo = hex_value(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}
