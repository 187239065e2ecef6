/* zmqt_config.c: the plugin's config section (transport.zmq) -- schema,
 * validation, and the two proxy endpoints derived from transport.endpoint. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "zmqt_internal.h"

static const char *const zmqt_proxy_values[] = {"none", "embedded", "owner", NULL};
static const char *const zmqt_on_hwm_values[] = {"eagain", "drop", NULL};

/* transport.zmq.curve: see README.md "CURVE" for the key handling. */
static const evc_cfg_field zmqt_curve_schema[] = {
    {.key = "server_public_key", .type = EVC_CFG_STRING,
     .help = "the proxy's CURVE public key (40 Z85 characters); setting it turns CURVE on: "
             "every socket of this process encrypts and checks it talks to that proxy"},
    {.key = "server_secret_key_file", .type = EVC_CFG_STRING,
     .help = "file (mode 0600) with the proxy's secret key; read only by the process that runs "
             "the proxy (embedded/owner), others ignore it"},
    {.key = "public_key", .type = EVC_CFG_STRING, .default_text = "<generated per process>",
     .help = "this client's CURVE public key, with secret_key_file; by default each process "
             "makes a fresh pair at start"},
    {.key = "secret_key_file", .type = EVC_CFG_STRING,
     .help = "file (mode 0600) with this client's secret key (with public_key)"},
    {.key = NULL},
};

/* Documented in README.md and docs/TRANSPORTS.md: keep the three in step. */
const evc_cfg_field zmqt_schema[] = {
    {.key = "proxy", .type = EVC_CFG_ENUM, .default_text = "none",
     .help = "embedded: this process binds and runs the XSUB/XPUB proxy in a thread of its own; "
             "owner: only the process whose transport.client_id is proxy_owner does",
     .enum_values = zmqt_proxy_values},
    {.key = "proxy_owner", .type = EVC_CFG_STRING, .default_text = "central",
     .help = "with proxy: owner, the client id of the process that hosts the proxy"},
    {.key = "pub_endpoint", .type = EVC_CFG_STRING, .default_text = "tcp://<transport.endpoint>",
     .help = "ZeroMQ endpoint of the proxy's XSUB socket (publishers connect there)"},
    {.key = "sub_endpoint", .type = EVC_CFG_STRING, .default_text = "tcp://<host>:<port+1>",
     .help = "ZeroMQ endpoint of the proxy's XPUB socket (subscribers connect there)"},
    {.key = "sndhwm", .type = EVC_CFG_INT, .default_text = "100000",
     .help = "messages queued for sending before publish pushes back (0 = unbounded)",
     .min = 0, .max = INT_MAX},
    {.key = "rcvhwm", .type = EVC_CFG_INT, .default_text = "100000",
     .help = "messages queued on receipt before TCP pushes back on the proxy (0 = unbounded)",
     .min = 0, .max = INT_MAX},
    {.key = "proxy_hwm", .type = EVC_CFG_INT, .default_text = "100000",
     .help = "embedded proxy: messages queued per peer; beyond it a slow subscriber loses "
             "messages (counted at that subscriber) (0 = unbounded)",
     .min = 0, .max = INT_MAX},
    {.key = "on_hwm", .type = EVC_CFG_ENUM, .default_text = "eagain",
     .help = "eagain: publish returns EVC_EAGAIN at sndhwm; drop: ZeroMQ drops silently and "
             "subscribers count the gap",
     .enum_values = zmqt_on_hwm_values},
    {.key = "reconnect_ivl_ms", .type = EVC_CFG_INT, .default_text = "100",
     .help = "first reconnection delay after the proxy goes away", .min = 1, .max = INT_MAX},
    {.key = "reconnect_ivl_max_ms", .type = EVC_CFG_INT, .default_text = "5000",
     .help = "reconnection backoff ceiling (0 = no backoff)", .min = 0, .max = INT_MAX},
    {.key = "linger_ms", .type = EVC_CFG_INT, .default_text = "1000",
     .help = "on stop, how long queued messages may still be sent", .min = 0, .max = INT_MAX},
    {.key = "drain_batch", .type = EVC_CFG_INT, .default_text = "1024",
     .help = "inbound messages handled per wake-up before yielding to the loop",
     .min = 1, .max = INT_MAX},
    {.key = "drain_max_us", .type = EVC_CFG_INT, .default_text = "5000",
     .help = "time spent handling inbound messages per wake-up before yielding to the loop "
             "(whichever of this and drain_batch comes first)",
     .min = 100, .max = 1000000},
    {.key = "curve", .type = EVC_CFG_MAP, .default_text = "off",
     .help = "ZeroMQ CURVE encryption of every bus connection (keys below)",
     .children = zmqt_curve_schema},
    {.key = NULL},
};

typedef struct zmqt_problems {
    evc_error *err;
    size_t n;
} zmqt_problems;

static void zmqt_config_problem(void *arg, const char *msg)
{
    zmqt_problems *p = arg;
    if (p->n++ == 0) {
        evc_error_set(p->err, EVC_ECONFIG, "%s", msg);
        return;
    }
    /* Every problem on one line, so that one run shows them all. */
    size_t used = strlen(p->err->msg);
    if (used + 3 < sizeof p->err->msg)
        snprintf(p->err->msg + used, sizeof p->err->msg - used, "; %s", msg);
}

/* Splits "host:port" (the host may be "[v6]") and checks the port. */
static int zmqt_split_hostport(const char *hp, char *host, size_t hcap, long *port)
{
    const char *colon = strrchr(hp, ':');
    if (colon == NULL || colon == hp || colon[1] == '\0')
        return -1;
    size_t hlen = (size_t)(colon - hp);
    if (hlen >= hcap)
        return -1;
    memcpy(host, hp, hlen);
    host[hlen] = '\0';
    if (strcmp(colon + 1, "*") == 0) {
        *port = 0;
        return 0;
    }
    char *end = NULL;
    long v = strtol(colon + 1, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

static int zmqt_derive_endpoints(const char *endpoint, bool need_pub, bool need_sub,
                                 zmqt_config *cfg, evc_error *err)
{
    if (endpoint == NULL || *endpoint == '\0')
        return evc_error_set(err, EVC_ECONFIG,
                             "transport.endpoint: missing; the ZeroMQ transport needs the "
                             "proxy's address as host:port (or transport.zmq.pub_endpoint and "
                             "sub_endpoint)");
    const char *hp = endpoint;
    bool tcp = true;
    if (strstr(endpoint, "://") != NULL) {
        tcp = strncmp(endpoint, "tcp://", 6) == 0;
        hp = endpoint + (tcp ? 6 : 0);
    }
    if (need_pub) {
        int n = snprintf(cfg->pub_endpoint, sizeof cfg->pub_endpoint, "%s%s",
                         tcp ? "tcp://" : "", hp);
        if (n < 0 || (size_t)n >= sizeof cfg->pub_endpoint)
            return evc_error_set(err, EVC_ECONFIG, "transport.endpoint \"%s\": too long",
                                 endpoint);
    }
    char host[ZMQT_ENDPOINT_MAX];
    long port = 0;
    if (tcp && zmqt_split_hostport(hp, host, sizeof host, &port) != 0)
        return evc_error_set(err, EVC_ECONFIG,
                             "transport.endpoint \"%s\": expected host:port with a port in "
                             "1..65535 (the proxy's XSUB port)",
                             endpoint);
    if (!need_sub)
        return EVC_OK;
    if (!tcp || port == 0 || port == 65535)
        return evc_error_set(err, EVC_ECONFIG,
                             "transport.endpoint \"%s\": cannot derive the proxy's XPUB "
                             "endpoint (port+1 works for tcp host:port only); set "
                             "transport.zmq.sub_endpoint",
                             endpoint);
    int n = snprintf(cfg->sub_endpoint, sizeof cfg->sub_endpoint, "tcp://%.*s:%ld",
                     (int)(sizeof cfg->sub_endpoint - 16), host, port + 1);
    if (n < 0 || (size_t)n >= sizeof cfg->sub_endpoint)
        return evc_error_set(err, EVC_ECONFIG, "transport.endpoint \"%s\": too long", endpoint);
    return EVC_OK;
}

/* Copies an explicit endpoint key; it must look like a ZeroMQ endpoint. */
static int zmqt_endpoint_key(const evc_cfg_node *section, const char *key, char *dst,
                             size_t cap, evc_error *err)
{
    const evc_cfg_node *n = evc_cfg_get(section, key);
    if (n == NULL)
        return 0;
    const char *v = evc_cfg_scalar(n);
    evc_cfg_pos pos = evc_cfg_node_pos(n);
    if (v == NULL || strstr(v, "://") == NULL || strlen(v) >= cap)
        return evc_error_set(err, EVC_ECONFIG,
                             "%s:%u:%u: transport.zmq.%s \"%s\": expected a ZeroMQ endpoint "
                             "such as tcp://host:port (at most %zu bytes)",
                             pos.file, pos.line, pos.column, key, v ? v : "", cap - 1);
    snprintf(dst, cap, "%s", v);
    return 1;
}

void zmqt_config_wipe(zmqt_config *cfg)
{
    zmqt_curve_wipe(cfg->curve_server_secret, sizeof cfg->curve_server_secret);
    zmqt_curve_wipe(cfg->curve_secret, sizeof cfg->curve_secret);
}

/* A key error names the value's file:line:column and the key. */
static int zmqt_curve_err(const evc_cfg_node *n, const char *key, const char *why,
                          evc_error *err)
{
    evc_cfg_pos pos = evc_cfg_node_pos(n);
    return evc_error_set(err, EVC_ECONFIG, "%s:%u:%u: transport.zmq.curve.%s: %s", pos.file,
                         pos.line, pos.column, key, why);
}

/* Reads the secret key file named by `key` into out, its public key into pub. */
static int zmqt_curve_secret(const evc_cfg_node *curve, const char *key, char *out, char *pub,
                             evc_error *err)
{
    const evc_cfg_node *n = evc_cfg_get(curve, key);
    char why[EVC_ERROR_MSG_MAX / 2];
    if (zmqt_curve_read_secret_file(evc_cfg_scalar(n), out, why, sizeof why) != 0)
        return zmqt_curve_err(n, key, why, err);
    if (zmqt_curve_public_of(out, pub) != 0)
        return zmqt_curve_err(n, key, "not a CURVE secret key", err);
    return EVC_OK;
}

/* CURVE is opt-in: without transport.zmq.curve nothing changes. With it,
 * every process needs the proxy's public key; the proxy's host also its
 * secret key file. A client's own pair is generated per process unless
 * configured: the proxy has no list of allowed client keys (no ZAP), so a
 * client key proves nothing to anyone and a file of it would only be one
 * more secret to distribute; a configured pair is for sites that add ZAP
 * (or pin keys) in front of the proxy. */
static int zmqt_curve_parse(const evc_cfg_node *section, zmqt_config *cfg, evc_error *err)
{
    const evc_cfg_node *curve = evc_cfg_get(section, "curve");
    if (curve == NULL)
        return EVC_OK;
    evc_cfg_pos pos = evc_cfg_node_pos(curve);
    if (!zmqt_curve_available())
        return evc_error_set(err, EVC_ECONFIG,
                             "%s:%u:%u: transport.zmq.curve: this libzmq has no CURVE support "
                             "(zmq_has(\"curve\") is false; install a libzmq built with "
                             "libsodium) -- refusing to run the bus unencrypted",
                             pos.file, pos.line, pos.column);
    const evc_cfg_node *spk = evc_cfg_get(curve, "server_public_key");
    if (spk == NULL)
        return evc_error_set(err, EVC_ECONFIG,
                             "%s:%u:%u: transport.zmq.curve.server_public_key: missing (the "
                             "proxy's public key, printed by evc-zmq-proxy --curve-keygen)",
                             pos.file, pos.line, pos.column);
    if (!zmqt_curve_key_valid(evc_cfg_scalar(spk)))
        return zmqt_curve_err(spk, "server_public_key", "expected 40 Z85 characters", err);
    snprintf(cfg->curve_server_public, sizeof cfg->curve_server_public, "%s",
             evc_cfg_scalar(spk));
    cfg->curve = true;

    char pub[ZMQT_Z85_LEN + 1];
    if (cfg->proxy == ZMQT_PROXY_EMBEDDED) {
        const evc_cfg_node *ssk = evc_cfg_get(curve, "server_secret_key_file");
        if (ssk == NULL)
            return evc_error_set(err, EVC_ECONFIG,
                                 "%s:%u:%u: transport.zmq.curve.server_secret_key_file: missing "
                                 "(this process runs the proxy, which needs its secret key)",
                                 pos.file, pos.line, pos.column);
        int rc = zmqt_curve_secret(curve, "server_secret_key_file", cfg->curve_server_secret, pub,
                                   err);
        if (rc != EVC_OK)
            return rc;
        if (strcmp(pub, cfg->curve_server_public) != 0)
            return zmqt_curve_err(ssk, "server_secret_key_file",
                                  "this secret key does not belong to server_public_key", err);
    }

    const evc_cfg_node *cpk = evc_cfg_get(curve, "public_key");
    const evc_cfg_node *csk = evc_cfg_get(curve, "secret_key_file");
    if ((cpk == NULL) != (csk == NULL))
        return zmqt_curve_err(cpk ? cpk : csk, cpk ? "public_key" : "secret_key_file",
                              "public_key and secret_key_file go together (or neither: a pair "
                              "is generated)",
                              err);
    if (cpk == NULL) {
        if (zmq_curve_keypair(cfg->curve_public, cfg->curve_secret) != 0)
            return evc_error_set(err, EVC_EIO, "transport.zmq.curve: zmq_curve_keypair: %s",
                                 zmq_strerror(zmq_errno()));
        cfg->curve_generated = true;
        return EVC_OK;
    }
    if (!zmqt_curve_key_valid(evc_cfg_scalar(cpk)))
        return zmqt_curve_err(cpk, "public_key", "expected 40 Z85 characters", err);
    int rc = zmqt_curve_secret(curve, "secret_key_file", cfg->curve_secret, pub, err);
    if (rc != EVC_OK)
        return rc;
    if (strcmp(pub, evc_cfg_scalar(cpk)) != 0)
        return zmqt_curve_err(csk, "secret_key_file",
                              "this secret key does not belong to public_key", err);
    memcpy(cfg->curve_public, pub, sizeof pub);
    return EVC_OK;
}

int zmqt_config_parse(const evc_cfg_node *section, const char *endpoint, const char *client_id,
                      zmqt_config *cfg,
                      evc_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    if (section != NULL && evc_cfg_kind(section) != EVC_CFG_NODE_MAP) {
        evc_cfg_pos pos = evc_cfg_node_pos(section);
        return evc_error_set(err, EVC_ECONFIG, "%s:%u:%u: transport.zmq: expected a map of keys",
                             pos.file, pos.line, pos.column);
    }
    zmqt_problems probs = {err, 0};
    if (evc_cfg_validate(section, zmqt_schema, "transport.zmq", zmqt_config_problem, &probs) > 0)
        return EVC_ECONFIG;

    int has_pub = zmqt_endpoint_key(section, "pub_endpoint", cfg->pub_endpoint,
                                    sizeof cfg->pub_endpoint, err);
    if (has_pub < 0)
        return has_pub;
    int has_sub = zmqt_endpoint_key(section, "sub_endpoint", cfg->sub_endpoint,
                                    sizeof cfg->sub_endpoint, err);
    if (has_sub < 0)
        return has_sub;
    if (!has_pub || !has_sub) {
        int rc = zmqt_derive_endpoints(endpoint, !has_pub, !has_sub, cfg, err);
        if (rc != EVC_OK)
            return rc;
    }

    const char *proxy = evc_cfg_schema_str(section, zmqt_schema, "proxy");
    /* `owner` lets one shared config file serve every program: the one whose
     * client id is proxy_owner (Central by default) hosts the proxy. */
    const char *owner = evc_cfg_schema_str(section, zmqt_schema, "proxy_owner");
    bool embed = strcmp(proxy, "embedded") == 0 ||
                 (strcmp(proxy, "owner") == 0 && client_id && strcmp(client_id, owner) == 0);
    cfg->proxy = embed ? ZMQT_PROXY_EMBEDDED : ZMQT_PROXY_NONE;
    const char *on_hwm = evc_cfg_schema_str(section, zmqt_schema, "on_hwm");
    cfg->on_hwm = strcmp(on_hwm, "drop") == 0 ? ZMQT_ON_HWM_DROP : ZMQT_ON_HWM_EAGAIN;
    /* Defaults come from zmqt_schema, where they are documented. The schema
     * bounds every int to int range, so the casts are exact. */
    cfg->sndhwm = (int)evc_cfg_schema_int(section, zmqt_schema, "sndhwm");
    cfg->rcvhwm = (int)evc_cfg_schema_int(section, zmqt_schema, "rcvhwm");
    cfg->proxy_hwm = (int)evc_cfg_schema_int(section, zmqt_schema, "proxy_hwm");
    cfg->reconnect_ivl_ms = (int)evc_cfg_schema_int(section, zmqt_schema, "reconnect_ivl_ms");
    cfg->reconnect_ivl_max_ms = (int)evc_cfg_schema_int(section, zmqt_schema, "reconnect_ivl_max_ms");
    cfg->linger_ms = (int)evc_cfg_schema_int(section, zmqt_schema, "linger_ms");
    cfg->drain_batch = (int)evc_cfg_schema_int(section, zmqt_schema, "drain_batch");
    cfg->drain_max_us = (int)evc_cfg_schema_int(section, zmqt_schema, "drain_max_us");
    int rc = zmqt_curve_parse(section, cfg, err);
    if (rc != EVC_OK)
        zmqt_config_wipe(cfg);
    return rc;
}
