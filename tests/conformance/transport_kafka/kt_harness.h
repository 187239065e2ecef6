/* kt_harness.h: a Kafka transport instance on its own loop and host, with
 * the inbound messages and outcomes recorded, for the Kafka-only tests. */
#ifndef KT_HARNESS_H
#define KT_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evc/config.h"
#include "evc/host.h"
#include "evc/loop.h"
#include "evc/transport.h"

typedef struct kt_msg {
    char *topic, *key, *payload; /* owned, NUL-terminated */
    size_t len;
    int32_t partition;
    int64_t offset;
} kt_msg;

typedef struct kt_node kt_node;
/* Optional handler deciding the dispatch result; the message is recorded
 * only when it returns EVC_OK. */
typedef int (*kt_handler)(kt_node *n, const evc_message *m);

struct kt_node {
    evc_loop *loop;
    evc_host_api *host;
    evc_cfg *cfg;
    void *dl;
    const evc_transport_ops *ops;
    evc_transport *t;
    kt_handler handler;
    void *user;
    size_t attempts;          /* dispatch calls */
    kt_msg *msgs;             /* handled messages, in order */
    size_t n_msgs, cap_msgs;
    uint64_t outcome[4];      /* by evc_outcome_status */
    uint8_t *token_seen;      /* outcomes per token 1..max_token */
    uint64_t max_token;
    uint64_t dup_outcomes, bad_tokens;
};

/* Unique name for topics and groups: prefix-pid-counter-time. */
void kt_unique(char *buf, size_t cap, const char *prefix);

/* Loads the plugin, builds loop + host, creates the instance with `yaml` as
 * the transport.kafka section ("" for none). max_token bounds the tokens the
 * test will use (outcomes are checked against it). Returns the create status;
 * err gets its message. */
int kt_open(kt_node *n, const char *endpoint, const char *group, const char *yaml,
            uint64_t max_token, evc_error *err);
void kt_close(kt_node *n);

/* Runs the loop until cond(arg) or timeout_ms. */
bool kt_wait(kt_node *n, bool (*cond)(void *), void *arg, uint64_t timeout_ms);
/* Runs the loop until n has handled `count` messages. */
bool kt_wait_msgs(kt_node *n, size_t count, uint64_t timeout_ms);
/* Runs the loop until `count` outcomes arrived. */
bool kt_wait_outcomes(kt_node *n, uint64_t count, uint64_t timeout_ms);
uint64_t kt_outcomes(const kt_node *n);

/* Publishes, running the loop while the producer pushes back. */
int kt_publish(kt_node *n, const char *topic, const char *key, const char *payload,
               uint64_t token, evc_error *err);

/* Starts argv[0] (a path) with stdout on a pipe and reads its first line into
 * line (newline stripped; "" if none came) within timeout_ms. The child is
 * killed if the test process dies. Returns the pid (caller reaps) or -1. */
pid_t kt_spawn_line(char *const argv[], char *line, size_t cap, uint64_t timeout_ms);

#endif
