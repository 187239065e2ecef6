/* kafka_internal.h: the Kafka transport's instance and the functions its
 * files share. Everything here runs on the loop thread except kafka_log_cb
 * (librdkafka's threads), which only calls host->log (thread-safe). */
#ifndef KAFKA_INTERNAL_H
#define KAFKA_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "evc/config.h"
#include "evc/error.h"
#include "evc/host.h"
#include "evc/transport.h"

#define KAFKA_COMPONENT "kafka"

/* Messages taken from librdkafka's consumer queue per call
 * (rd_kafka_consume_batch_queue): one queue lock round and one call per
 * batch instead of per message; also bounded by poll_budget. */
#define KAFKA_BATCH 256

/* The token travels as the message opaque (a pointer-sized value). */
_Static_assert(sizeof(void *) >= sizeof(uint64_t), "tokens travel in a void *");

/* Settings read from transport.kafka at create; owned by the instance. */
typedef struct kafka_settings {
    char *group_id;          /* config group_id, else params->group_id */
    char *auto_offset_reset; /* "earliest" | "latest" */
    bool topics_create;
    int32_t partitions;
    int32_t replication_factor;
    char **topic_names;      /* topics.names: ensured at start besides subscriptions */
    size_t n_topic_names;
    uint64_t flush_timeout_ms;
    uint64_t close_timeout_ms; /* bound of stop(): leaving the group + flushing */
    uint64_t admin_timeout_ms;
    uint64_t retry_delay_ms;
    uint32_t poll_budget;
    bool direct;                 /* assignment: direct (kafka_assign.c) rather than group */
    uint64_t partition_check_ms; /* direct: how often partitions added to a topic are looked for */
} kafka_settings;

/* Direct assignment's state (kafka_assign.c). known[] is the loop thread's;
 * the watcher thread and the loop share w* under mu. */
typedef struct kafka_assigner {
    int32_t *known; /* partitions assigned per subs[i], owned */
    size_t n_known;
    evc_timer *timer; /* periodic: assigns what the watcher found */
    pthread_t thread;
    bool running, initialised;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* CLOCK_MONOTONIC; signalled at stop */
    bool wstop, wfresh;
    char **wtopics;   /* owned copy of subs for the watcher */
    int32_t *wcounts; /* the watcher's last reading per wtopics[i] (-1: unknown) */
    size_t n_wtopics;
    uint64_t wgen; /* bumped when wtopics is replaced: a reading of an older list is dropped */
} kafka_assigner;

/* One rd_kafka handle joined to the loop through a pipe that librdkafka
 * writes to when the handle's queue goes from empty to non-empty. */
typedef struct kafka_io {
    rd_kafka_queue_t *queue; /* the queue whose io event is enabled */
    int pipe_rd, pipe_wr;    /* -1 when closed */
    evc_watch *watch;
    evc_timer *again;        /* continuation when the budget ran out */
} kafka_io;

/* A partition whose message failed in the handler: paused and rewound until
 * its retry timer fires. */
typedef struct kafka_retry {
    struct evc_transport *t;
    char *topic;
    int32_t partition;
    int64_t offset;
    evc_timer *timer;
    struct kafka_retry *next;
} kafka_retry;

/* Where the next message of a partition should be: a message further on
 * means the offsets between were deleted (retention) before we read them. */
typedef struct kafka_pos {
    const rd_kafka_topic_t *rkt; /* librdkafka's topic object, lives with the handle */
    int32_t partition;
    int64_t next;
} kafka_pos;

struct evc_transport {
    const evc_host_api *host; /* borrowed for the instance's life */
    kafka_settings set;
    char *endpoint;
    char *client_id;

    rd_kafka_conf_t *pconf, *cconf; /* owned until rd_kafka_new consumes them */
    rd_kafka_t *producer;
    rd_kafka_t *consumer;           /* NULL until something is subscribed */
    kafka_io pio, cio;

    char **subs; /* subscribed topic names, owned */
    size_t n_subs, cap_subs;
    /* A subscription added while running waits for this 0 ms timer, so that
     * the topics a role subscribes in one go reach the group in ONE
     * rd_kafka_subscribe: a second subscribe while the first JoinGroup is in
     * flight abandons it, and the broker keeps that phantom member (and the
     * group's rebalance waits for it) until its session times out (45 s by
     * default): nothing consumed meanwhile. */
    evc_timer *resubscribe;

    kafka_assigner assigner; /* assignment: direct */

    kafka_retry *retries; /* owned list */
    kafka_pos *pos;       /* owned array, reset at every rebalance */
    size_t n_pos, cap_pos;
    size_t pos_last;      /* index of the last partition looked up (a hint) */

    /* The batch being handled (kafka_consumer.c): messages owned by the
     * plugin until destroyed at the end of kafka_consumer_serve; entries
     * [batch_i, batch_n) are not handled yet and a slot is NULL once a
     * message was dropped (its partition paused for a retry). */
    rd_kafka_message_t *batch[KAFKA_BATCH];
    size_t batch_i, batch_n;
    bool serving;     /* inside kafka_consumer_serve (a handler may run the loop) */
    bool serve_again; /* the queue woke us while serving: look again before leaving */

    bool started, stopped;
    bool consumer_closed; /* the group was left cleanly: destroy may close nothing more */
    /* Set when stop's deadline passed with a close still waiting on the
     * brokers: the handles are abandoned (see kafka_abandon) and the
     * callbacks from librdkafka's threads do nothing from then on. */
    volatile bool abandoned;
    struct evc_transport *next_abandoned;
    bool acks_zero, acks_all, idempotent, ordered; /* what the producer settings guarantee */
    uint64_t inflight;                   /* accepted publishes without an outcome */
    evc_transport_stats stats;
};

/* kafka_security.c */
/* Checks one property of a transport.kafka map (`map` names it for errors)
 * before it is applied to conf: security.protocol values, files named by
 * ssl.*.location, and the *_file indirections (sasl.password_file,
 * ssl.key.password_file), which it applies itself (*handled = true). Logs a
 * warning for an inline password. EVC_ECONFIG naming file:line:column. */
int kafka_security_property(evc_transport *t, rd_kafka_conf_t *conf, const char *map,
                            const char *name, const char *val, evc_cfg_pos pos, bool *handled,
                            evc_error *err);
/* After every map is applied: a SASL_* protocol has its mechanism and, for
 * PLAIN and SCRAM, a user name and password. EVC_ECONFIG. */
int kafka_security_check(evc_transport *t, const evc_cfg_node *c, evc_error *err);

/* kafka_config.c */
extern const evc_cfg_field kafka_schema[];
int kafka_settings_load(evc_transport *t, const evc_transport_params *p, evc_error *err);
void kafka_settings_free(kafka_settings *s);
int kafka_confs_build(evc_transport *t, const evc_transport_params *p, evc_error *err);

/* kafka_io.c */
uint64_t kafka_now_ms(void); /* monotonic clock */
void kafka_io_init(kafka_io *io);
int kafka_io_attach(evc_transport *t, kafka_io *io, rd_kafka_queue_t *q, evc_watch_cb cb,
                    evc_timer_cb again, const char *what, evc_error *err);
void kafka_io_detach(evc_transport *t, kafka_io *io);
int kafka_io_drain_pipe(kafka_io *io);
void kafka_io_continue(evc_transport *t, kafka_io *io, evc_timer_cb cb);
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);
void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

/* kafka_producer.c */
int kafka_producer_start(evc_transport *t, evc_error *err);
int kafka_publish(evc_transport *t, const evc_message *msg, uint64_t token, evc_error *err);
int kafka_flush(evc_transport *t, uint64_t timeout_ms, evc_error *err);
/* Waits for outstanding deliveries until deadline_ms (kafka_now_ms clock),
 * then purges; returns how many publishes were purged unconfirmed. */
uint64_t kafka_producer_stop(evc_transport *t, uint64_t deadline_ms);
void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

/* kafka_consumer.c */
int kafka_consumer_start(evc_transport *t, evc_error *err);
/* Creates the consumer and joins its queue to the loop, without subscribing
 * (no-op when it exists). */
int kafka_consumer_open(evc_transport *t, evc_error *err);
int kafka_consumer_resubscribe(evc_transport *t, evc_error *err);
/* Arms the resubscribe timer (once); its firing subscribes to every topic. */
int kafka_consumer_resubscribe_soon(evc_transport *t, evc_error *err);
/* Stops it (stop and destroy). */
void kafka_consumer_resubscribe_cancel(evc_transport *t);
/* Leaves the group (committing stored offsets) until deadline_ms; returns
 * false when the brokers did not let it finish by then: the consumer is then
 * destroyed without leaving (kafka_consumer_destroy). */
bool kafka_consumer_stop(evc_transport *t, uint64_t deadline_ms);
void kafka_consumer_destroy(evc_transport *t);
/* Keeps t and its librdkafka handles alive until the process ends instead of
 * destroying them: rd_kafka_destroy would wait for the brokers (up to
 * socket.timeout.ms, 60 s) to answer the close's requests. kafka_plugin.c. */
void kafka_abandon(evc_transport *t);

/* kafka_assign.c */
int kafka_assign_init(evc_transport *t, evc_error *err);
/* Assigns every partition of the subscribed topics not assigned yet (their
 * count from the cluster, within admin_timeout_ms, on the calling thread)
 * and starts the watcher and its timer. EVC_EIO when a topic's partitions
 * cannot be read. */
int kafka_assign_subscribed(evc_transport *t, evc_error *err);
/* Stops the timer and joins the watcher (up to one metadata request). */
void kafka_assign_stop(evc_transport *t);
void kafka_assign_free(evc_transport *t);
/* The partitions to add per topic, [from[i], to[i]), given what is assigned
 * (known) and what the cluster has (found; never shrinks); returns their
 * total. Pure: unit-tested. */
size_t kafka_assign_plan(const int32_t *known, const int32_t *found, size_t n_topics,
                         int32_t *from, int32_t *to);

/* kafka_topics.c */
int kafka_topics_ensure(evc_transport *t, char *const *names, size_t n, evc_error *err);

#endif
