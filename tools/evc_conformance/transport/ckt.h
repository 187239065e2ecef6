/* ckt.h: the world of the transport checks (ckt_world.c) that the checks
 * (ckt_checks.c) drive: a loop, the plugin, the fixture's peer, buses opened
 * with YAML a deployment would write, and the record of what was published
 * (TX) and what came back (RX). One process per check: these globals are that
 * check's own. Internal to evc-conformance. */
#ifndef EVC_CKT_H
#define EVC_CKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ck.h"
#include "evc/bus.h"
#include "evc/config.h"
#include "evc/loop.h"
#include "evc/plugin.h"
#include "evc/transport.h"

#define fx (ck.transport)

/* Deadlines are generous because Kafka consumer groups take seconds to form;
 * a healthy run meets them with a wide margin. The delivery deadline is also
 * how long a check that expects a message which never comes runs:
 * --delivery-ms sets it (a broken plugin is found sooner). */
#define WARMUP_DEADLINE_MS 30000
#define DELIVERY_DEADLINE_MS ((int)ck.delivery_ms)

#define CONF_FILE "conformance.yaml"

enum { KIND_WARMUP = 1, KIND_DATA = 2, KIND_PROBE = 3 };
#define TMSG_MAGIC 0x45564354u /* "EVCT" */
#define MAX_KEYS 8

typedef struct tmsg {
    uint32_t magic;
    uint32_t kind;
    uint64_t index;  /* position among accepted publishes on the test topic */
    uint32_t keyno;
    uint32_t pad;
    uint64_t keyseq; /* position among accepted publishes of this key */
} tmsg;

/* One entry per publish attempt: was it accepted, how many outcomes came. */
typedef struct attempt {
    uint8_t accepted;
    uint8_t outcomes;
} attempt;

typedef struct ckt_world {
    evc_loop *loop;
    evc_plugin *plugin;
    conformance_peer *peer;
    char endpoint[512];
    char section[128]; /* "transport.<plugin>" */
    evc_cfg *cfgs[8];
    size_t ncfgs;
    unsigned group_seq;
} ckt_world;
extern ckt_world W;

typedef struct ckt_tx {
    const char *topic;
    uint64_t next_index;
    uint64_t keyseq[MAX_KEYS];
    attempt *att;
    size_t natt, capatt;
    uint64_t accepted, refused;
    uint64_t data_accepted; /* accepted KIND_DATA publishes */
    uint64_t acked, unconfirmed, not_sent;
} ckt_tx;
extern ckt_tx TX;

typedef struct ckt_rx {
    uint64_t total;             /* every message on the test topic */
    uint64_t warmups, data, probes;
    int64_t first_index;        /* index of the first message received, -1 */
    int64_t max_index;
    uint8_t *seen;              /* data indices seen (distinct count below) */
    size_t capseen;
    uint64_t distinct, dupes;
    int64_t key_max[MAX_KEYS];
    uint64_t order_errors;
    uint64_t foreign;           /* messages on another topic reaching the handler */
    uint64_t malformed;
    const void *expect_payload; /* the 1 MiB test compares whole payloads */
    size_t expect_len;
    uint64_t payload_matches;
    char last_key[64];
    int32_t last_partition;
    int64_t last_offset;
    int fail_first_n;           /* redelivery test: fail this many first sights */
} ckt_rx;
extern ckt_rx RX;


uint64_t mono_ms(void);
void world_init(void);
void world_fini(void);
unsigned build_yaml(const char *variant, const char *extra, char *out, size_t cap);
evc_bus *open_bus(const char *variant);
int open_bus_extra(const char *variant, const char *extra, evc_bus **out, evc_error *err);
evc_transport_guarantees guarantees_of(evc_bus *bus);
evc_transport_stats stats_of(evc_bus *bus);
void traffic_reset(const char *topic);
void on_outcome(void *arg, evc_outcome_status status, const char *detail);
void mark_seen(uint64_t index);
int on_message(void *arg, const evc_message *m);
int publish_sized(evc_bus *bus, uint32_t kind, uint32_t keyno, const void *body, size_t size);
int publish(evc_bus *bus, uint32_t kind, uint32_t keyno);
bool cond_never(void *arg);
bool cond_total_ge(void *arg);
bool cond_data_ge(void *arg);
bool cond_distinct_ge(void *arg);
bool cond_max_index_ge(void *arg);
bool cond_probe(void *arg);
void run_for(uint64_t ms);
bool wait_for(evc_cond_fn cond, void *arg, uint64_t ms);
void subscribe_start(evc_bus *bus, const char *topic);
void warmup(evc_bus *bus);
void assert_outcomes_exact(void);
bool cond_outcomes_done(void *arg);
void publish_data(evc_bus *bus, uint64_t n, uint32_t keys, size_t size);

#endif
