/* kafka_consumer.c: the consumer group member.
 *
 * Offsets are stored (enable.auto.offset.store=false) only after the host's
 * dispatch returned EVC_OK; librdkafka's auto-commit then commits what was
 * stored, so a process that dies resumes after the last handled message.
 *
 * A failed handler pauses its partition and records the failed offset; after
 * retry_delay_ms a host timer seeks the partition back to that offset and
 * resumes it, so the message is delivered again. Messages of that partition
 * still buffered past the failed offset are dropped meanwhile (they are
 * fetched again after the seek), which keeps per-partition order. The seek
 * waits (bounded) for librdkafka's fetcher to take the new position, which
 * guarantees that nothing fetched from the old position is handed out after
 * it; so the retry entry ends at the rewind, and a failed message deleted by
 * retention meanwhile cannot block its partition forever.
 *
 * Loss made visible: the plugin remembers the next offset of each partition;
 * a message beyond it means the messages between were deleted by retention
 * before this consumer read them (librdkafka then resets to
 * auto.offset.reset silently). They are counted in stats.lost and logged. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka_internal.h"

/* Bound of the wait for librdkafka's fetcher at a rewind. */
#define KAFKA_SEEK_WAIT_MS 2000

static void kafka_consumer_serve(evc_transport *t);

static void kafka_consumer_again(evc_timer *tm, void *arg)
{
    evc_transport *t = arg;
    t->host->timer_stop(tm);
    t->cio.again = NULL;
    kafka_consumer_serve(t);
}

static void kafka_consumer_on_fd(evc_watch *w, int fd, unsigned events, void *arg)
{
    kafka_consumer_serve(arg);
}

static kafka_retry *kafka_retry_find(evc_transport *t, const char *topic, int32_t partition)
{
    for (kafka_retry *r = t->retries; r; r = r->next)
        if (r->partition == partition && strcmp(r->topic, topic) == 0)
            return r;
    return NULL;
}

static void kafka_retry_remove(evc_transport *t, kafka_retry *r)
{
    for (kafka_retry **pp = &t->retries; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    if (r->timer)
        t->host->timer_stop(r->timer);
    free(r->topic);
    free(r);
}

static void kafka_retry_partition(evc_transport *t, kafka_retry *r, bool pause)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, r->topic, r->partition)->offset = r->offset;
    if (pause) {
        rd_kafka_pause_partitions(t->consumer, l);
    } else {
        /* Explicit position: resuming alone would continue after the
         * messages already handed out. Waiting for the fetcher (an internal
         * round trip, no network) makes librdkafka discard everything it
         * prefetched from the old position. */
        rd_kafka_error_t *e = rd_kafka_seek_partitions(t->consumer, l, KAFKA_SEEK_WAIT_MS);
        if (e) {
            t->host->log(t->host->host, EVC_LOG_WARN, NULL, "rewind %s[%d]@%lld: %s",
                         r->topic, (int)r->partition, (long long)r->offset,
                         rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        rd_kafka_resume_partitions(t->consumer, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Drops the not yet handled messages of a partition from the batch: they
 * were fetched from before a pause/rewind and come again after it (a retry
 * scheduled, or its timer fired in a loop run by a handler). */
static void kafka_batch_drop(evc_transport *t, const char *topic, int32_t partition)
{
    for (size_t i = t->batch_i + 1; i < t->batch_n; i++) {
        rd_kafka_message_t *m = t->batch[i];
        if (m && m->rkt && m->partition == partition &&
            strcmp(rd_kafka_topic_name(m->rkt), topic) == 0) {
            rd_kafka_message_destroy(m);
            t->batch[i] = NULL;
        }
    }
}

static void kafka_retry_fire(evc_timer *tm, void *arg)
{
    kafka_retry *r = arg;
    evc_transport *t = r->t;
    t->host->timer_stop(tm);
    r->timer = NULL;
    kafka_batch_drop(t, r->topic, r->partition);
    kafka_retry_partition(t, r, false);
    kafka_retry_remove(t, r);
}

static void kafka_retry_schedule(evc_transport *t, const rd_kafka_message_t *m, const char *topic)
{
    kafka_retry *r = calloc(1, sizeof *r);
    if (!r || !(r->topic = strdup(topic))) {
        free(r);
        t->stats.lost++;
        t->host->log(t->host->host, EVC_LOG_ERROR, NULL,
                     "out of memory: %s[%d]@%lld cannot be retried; counted as lost", topic,
                     (int)m->partition, (long long)m->offset);
        return;
    }
    r->t = t;
    r->partition = m->partition;
    r->offset = m->offset;
    r->next = t->retries;
    t->retries = r;
    kafka_batch_drop(t, topic, m->partition);
    kafka_retry_partition(t, r, true);
    evc_error e;
    t->stats.redelivered++;
    if (t->host->timer_start(t->host->host, t->set.retry_delay_ms, 0, kafka_retry_fire, r,
                             &r->timer, &e) != EVC_OK) {
        r->timer = NULL; /* rewind now rather than never */
        kafka_retry_partition(t, r, false);
        kafka_retry_remove(t, r);
    }
}

/* Index of the partition's position, created (next = -1: unknown) if new;
 * SIZE_MAX when out of memory (gap detection skipped). */
static size_t kafka_pos_find(evc_transport *t, const rd_kafka_message_t *m)
{
    /* A fetch returns runs of one partition: the last hit usually matches,
     * which keeps this O(1) per message with many partitions. */
    size_t j = t->pos_last;
    if (j < t->n_pos && t->pos[j].rkt == m->rkt && t->pos[j].partition == m->partition)
        return j;
    for (size_t i = 0; i < t->n_pos; i++)
        if (t->pos[i].rkt == m->rkt && t->pos[i].partition == m->partition)
            return t->pos_last = i;
    if (t->n_pos == t->cap_pos) {
        size_t cap = t->cap_pos ? t->cap_pos * 2 : 16;
        kafka_pos *v = realloc(t->pos, cap * sizeof *v);
        if (!v)
            return SIZE_MAX;
        t->pos = v;
        t->cap_pos = cap;
    }
    t->pos[t->n_pos] = (kafka_pos){m->rkt, m->partition, -1};
    return t->pos_last = t->n_pos++;
}

static void kafka_consumer_handle(evc_transport *t, rd_kafka_message_t *m)
{
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            t->host->log(t->host->host,
                         m->err == RD_KAFKA_RESP_ERR__FATAL ? EVC_LOG_ERROR : EVC_LOG_WARN, NULL,
                         "consumer %s: %s%s%s", t->endpoint, rd_kafka_message_errstr(m),
                         m->rkt ? " topic " : "", m->rkt ? rd_kafka_topic_name(m->rkt) : "");
        return;
    }
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (t->retries && kafka_retry_find(t, topic, m->partition))
        return; /* buffered before the pause; comes again after the rewind */
    size_t pi = kafka_pos_find(t, m);
    if (pi != SIZE_MAX && t->pos[pi].next >= 0 && m->offset > t->pos[pi].next) {
        uint64_t gap = (uint64_t)(m->offset - t->pos[pi].next);
        t->stats.lost += gap;
        t->host->log(t->host->host, EVC_LOG_WARN, NULL,
                     "%s[%d]: offsets %lld..%lld were deleted before they were read "
                     "(retention): %llu messages lost",
                     topic, (int)m->partition, (long long)t->pos[pi].next,
                     (long long)m->offset - 1, (unsigned long long)gap);
    }
    char kbuf[256];
    char *key = kbuf;
    if (m->key_len >= sizeof kbuf && !(key = malloc(m->key_len + 1))) {
        t->host->log(t->host->host, EVC_LOG_ERROR, NULL, "out of memory for a key on %s", topic);
        return;
    }
    if (m->key_len)
        memcpy(key, m->key, m->key_len);
    key[m->key_len] = '\0';
    evc_message msg = {
        .topic = topic,
        .key = key,
        .payload = m->payload ? m->payload : "",
        .payload_len = m->len,
        .partition = m->partition,
        .offset = m->offset,
    };
    t->stats.received++;
    int rc = t->host->dispatch(t->host->host, &msg);
    if (key != kbuf)
        free(key);
    if (t->stopped)
        return;
    if (pi != SIZE_MAX) /* the failed message itself comes back next */
        t->pos[pi].next = rc == EVC_OK ? m->offset + 1 : m->offset;
    if (rc == EVC_OK) {
        rd_kafka_resp_err_t e = rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        if (e)
            t->host->log(t->host->host, EVC_LOG_DEBUG, NULL, "offset store %s[%d]@%lld: %s",
                         topic, (int)m->partition, (long long)m->offset, rd_kafka_err2str(e));
    } else {
        kafka_retry_schedule(t, m, topic);
    }
}

/* Takes up to poll_budget events from the consumer queue, KAFKA_BATCH per
 * call, and handles them in queue order. Rebalances and errors are served
 * inside rd_kafka_consume_batch_queue, so never while a batch is being
 * handled. A handler may run the loop (a flush); a wake-up meanwhile only
 * sets serve_again, so batches are never interleaved (per-key order). */
static void kafka_consumer_serve(evc_transport *t)
{
    kafka_io_drain_pipe(&t->cio);
    if (t->serving) {
        t->serve_again = true;
        return;
    }
    t->serving = true;
    uint32_t served = 0;
    while (served < t->set.poll_budget && !t->stopped) {
        uint32_t want = t->set.poll_budget - served;
        if (want > KAFKA_BATCH)
            want = KAFKA_BATCH;
        t->serve_again = false;
        ssize_t n = rd_kafka_consume_batch_queue(t->cio.queue, 0, t->batch, want);
        if (n <= 0) {
            if (n < 0)
                t->host->log(t->host->host, EVC_LOG_WARN, NULL, "consumer %s: %s", t->endpoint,
                             rd_kafka_err2str(rd_kafka_last_error()));
            if (t->serve_again && !t->stopped)
                continue; /* woken from inside a handler: look once more */
            break;
        }
        t->batch_n = (size_t)n;
        for (t->batch_i = 0; t->batch_i < t->batch_n; t->batch_i++) {
            rd_kafka_message_t *m = t->batch[t->batch_i];
            if (!m)
                continue; /* dropped: its partition waits for a retry */
            t->batch[t->batch_i] = NULL;
            if (!t->stopped)
                kafka_consumer_handle(t, m);
            rd_kafka_message_destroy(m);
        }
        t->batch_n = t->batch_i = 0;
        served += (uint32_t)n;
        if ((size_t)n < want && !t->serve_again)
            break; /* the queue is empty: the next message writes the pipe */
    }
    t->serving = false;
    if (served >= t->set.poll_budget && !t->stopped)
        kafka_io_continue(t, &t->cio, kafka_consumer_again);
}

/* Runs inside rd_kafka_consume_batch_queue and the close, on the loop thread. A revoked
 * partition's pending retry is dropped: its new owner starts from the
 * committed offset, which is at or before the failed message. */
static void kafka_rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    evc_transport *t = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    t->n_pos = 0; /* a partition may come back at its committed offset */
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e)
                rd_kafka_error_destroy(e);
        } else {
            rd_kafka_assign(rk, parts);
        }
        t->stats.joined++;
        t->host->log(t->host->host, EVC_LOG_DEBUG, NULL, "assigned %d partitions",
                     parts->cnt);
        return;
    }
    for (int i = 0; i < parts->cnt; i++) {
        kafka_retry *r = kafka_retry_find(t, parts->elems[i].topic, parts->elems[i].partition);
        if (r)
            kafka_retry_remove(t, r);
    }
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

int kafka_consumer_resubscribe(evc_transport *t, evc_error *err)
{
    if (t->set.direct)
        return kafka_assign_subscribed(t, err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)t->n_subs);
    for (size_t i = 0; i < t->n_subs; i++)
        rd_kafka_topic_partition_list_add(l, t->subs[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(t->consumer, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return evc_error_set(err, EVC_EIO, "transport.kafka: subscribe on %s: %s", t->endpoint,
                             rd_kafka_err2str(e));
    return EVC_OK;
}

static void kafka_consumer_resubscribe_fire(evc_timer *tm, void *arg)
{
    evc_transport *t = arg;
    t->host->timer_stop(tm);
    t->resubscribe = NULL;
    evc_error err = {0};
    if (!t->stopped && t->consumer && kafka_consumer_resubscribe(t, &err) != EVC_OK)
        t->host->log(t->host->host, EVC_LOG_ERROR, NULL, "%s", err.msg);
}

int kafka_consumer_resubscribe_soon(evc_transport *t, evc_error *err)
{
    if (t->resubscribe)
        return EVC_OK;
    return t->host->timer_start(t->host->host, 0, 0, kafka_consumer_resubscribe_fire, t,
                                &t->resubscribe, err);
}

void kafka_consumer_resubscribe_cancel(evc_transport *t)
{
    if (t->resubscribe) {
        t->host->timer_stop(t->resubscribe);
        t->resubscribe = NULL;
    }
}

int kafka_consumer_open(evc_transport *t, evc_error *err)
{
    char es[512];
    if (t->n_subs == 0)
        return EVC_OK;
    if (t->consumer)
        return EVC_OK;
    if (!t->set.group_id)
        return evc_error_set(err, EVC_ECONFIG,
                             "transport.kafka: subscribing to %s needs a consumer group "
                             "(set transport.kafka.group_id)",
                             t->subs[0]);
    if (!t->set.direct)
        rd_kafka_conf_set_rebalance_cb(t->cconf, kafka_rebalance_cb);
    t->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, t->cconf, es, sizeof es);
    if (!t->consumer)
        return evc_error_set(err, EVC_ECONFIG, "transport.kafka: consumer for %s: %s",
                             t->endpoint, es);
    t->cconf = NULL;
    /* Errors and rebalances then come through the consumer queue, the only
     * queue we watch for this handle. */
    rd_kafka_poll_set_consumer(t->consumer);
    int rc = kafka_io_attach(t, &t->cio, rd_kafka_queue_get_consumer(t->consumer),
                             kafka_consumer_on_fd, kafka_consumer_again, "consumer", err);
    return rc;
}

int kafka_consumer_start(evc_transport *t, evc_error *err)
{
    if (t->n_subs == 0)
        return EVC_OK;
    int rc = kafka_consumer_open(t, err);
    return rc == EVC_OK ? kafka_consumer_resubscribe(t, err) : rc;
}

/* Leaves the group and commits what was stored, within deadline_ms. The
 * close runs in librdkafka's background (rd_kafka_consumer_close_queue) and
 * we serve its rebalance callbacks here, so a broker that is gone or slow
 * cannot hold the program past the deadline: rd_kafka_consumer_close would
 * wait for the coordinator without bound. */
bool kafka_consumer_stop(evc_transport *t, uint64_t deadline_ms)
{
    kafka_consumer_resubscribe_cancel(t);
    kafka_assign_stop(t);
    if (!t->consumer)
        return true;
    while (t->retries)
        kafka_retry_remove(t, t->retries);
    /* Detach first: the close's rebalance callbacks are served below. */
    kafka_io_detach(t, &t->cio);
    rd_kafka_queue_t *q = rd_kafka_queue_new(t->consumer);
    if (!q)
        return false;
    rd_kafka_error_t *e = rd_kafka_consumer_close_queue(t->consumer, q);
    if (e) {
        t->host->log(t->host->host, EVC_LOG_WARN, NULL, "consumer close on %s: %s",
                     t->endpoint, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        rd_kafka_queue_destroy(q);
        return false;
    }
    for (;;) {
        if (rd_kafka_consumer_closed(t->consumer)) {
            t->consumer_closed = true;
            break;
        }
        uint64_t now = kafka_now_ms();
        if (now >= deadline_ms)
            break;
        uint64_t left = deadline_ms - now;
        /* The event API, not rd_kafka_queue_poll_callback: the close also
         * forwards fetched messages and errors here, which callbacks cannot
         * serve (librdkafka asserts). Messages are dropped unhandled: their
         * offsets were not stored, so they come again to the next member. */
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, left < 100 ? (int)left : 100);
        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
            kafka_rebalance_cb(t->consumer, rd_kafka_event_error(ev),
                               rd_kafka_event_topic_partition_list(ev), t);
        rd_kafka_event_destroy(ev);
    }
    rd_kafka_queue_destroy(q);
    return t->consumer_closed;
}

/* A consumer whose close did not finish is not destroyed here: see
 * kafka_abandon (kafka_stop decides). */
void kafka_consumer_destroy(evc_transport *t)
{
    kafka_consumer_resubscribe_cancel(t);
    if (!t->consumer)
        return;
    rd_kafka_destroy(t->consumer);
    t->consumer = NULL;
}
