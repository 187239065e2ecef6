/* kafka_producer.c: publish, delivery reports turned into outcomes, flush.
 *
 * Each accepted publish carries its token as the message opaque; librdkafka
 * reports every produced message exactly once (success, error, purge), so the
 * delivery-report callback is where its one outcome is delivered. */
#include <stdio.h>
#include <string.h>

#include "kafka_internal.h"

static void kafka_producer_serve(evc_transport *t);

static void kafka_producer_again(evc_timer *tm, void *arg)
{
    evc_transport *t = arg;
    t->host->timer_stop(tm);
    t->pio.again = NULL;
    kafka_producer_serve(t);
}

static void kafka_producer_on_fd(evc_watch *w, int fd, unsigned events, void *arg)
{
    kafka_producer_serve(arg);
}

static void kafka_producer_serve(evc_transport *t)
{
    kafka_io_drain_pipe(&t->pio);
    for (uint32_t i = 0; i < t->set.poll_budget; i++)
        if (rd_kafka_poll(t->producer, 0) == 0)
            return;
    kafka_io_continue(t, &t->pio, kafka_producer_again);
}

void kafka_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    evc_transport *t = opaque;
    uint64_t token = (uint64_t)(uintptr_t)m->_private;
    evc_outcome_status st;
    char detail[256];
    const char *d = NULL;
    if (!m->err) {
        /* acks=0: the broker never answers, so nothing confirms the write. */
        st = t->acks_zero ? EVC_OUTCOME_SENT_UNCONFIRMED : EVC_OUTCOME_ACKED;
    } else {
        st = rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_NOT_PERSISTED
                 ? EVC_OUTCOME_NOT_SENT
                 : EVC_OUTCOME_SENT_UNCONFIRMED;
        snprintf(detail, sizeof detail, "kafka topic %s partition %d: %s",
                 m->rkt ? rd_kafka_topic_name(m->rkt) : "?", (int)m->partition,
                 rd_kafka_err2str(m->err));
        d = detail;
    }
    if (st == EVC_OUTCOME_ACKED)
        t->stats.acked++;
    else if (st == EVC_OUTCOME_NOT_SENT)
        t->stats.not_sent++;
    else
        t->stats.unconfirmed++;
    if (t->inflight)
        t->inflight--;
    t->host->deliver_outcome(t->host->host, token, st, d);
}

int kafka_producer_start(evc_transport *t, evc_error *err)
{
    char es[512];
    t->producer = rd_kafka_new(RD_KAFKA_PRODUCER, t->pconf, es, sizeof es);
    if (!t->producer)
        return evc_error_set(err, EVC_ECONFIG, "transport.kafka: producer for %s: %s",
                             t->endpoint, es);
    t->pconf = NULL; /* consumed by rd_kafka_new */
    return kafka_io_attach(t, &t->pio, rd_kafka_queue_get_main(t->producer),
                           kafka_producer_on_fd, kafka_producer_again, "producer", err);
}

int kafka_publish(evc_transport *t, const evc_message *msg, uint64_t token, evc_error *err)
{
    if (!msg || !msg->topic || !*msg->topic || (!msg->payload && msg->payload_len))
        return evc_error_set(err, EVC_EINVAL, "transport.kafka: publish needs a topic and a payload");
    if (!t->started || t->stopped || !t->producer)
        return evc_error_set(err, EVC_ESTATE, "transport.kafka: publish on %s: transport %s",
                             msg->topic, t->stopped ? "stopped" : "not started");
    size_t klen = msg->key ? strlen(msg->key) : 0;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        t->producer, RD_KAFKA_V_TOPIC(msg->topic),
        RD_KAFKA_V_KEY(klen ? msg->key : NULL, klen),
        RD_KAFKA_V_VALUE((void *)msg->payload, msg->payload_len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)token),
        RD_KAFKA_V_END);
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        t->stats.published++;
        t->inflight++;
        return EVC_OK;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        t->stats.backpressured++;
        return evc_error_set(err, EVC_EAGAIN,
                             "transport.kafka: producer queue full publishing on %s "
                             "(queue.buffering.max.messages/kbytes)",
                             msg->topic);
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return evc_error_set(err, EVC_ETOOBIG,
                             "transport.kafka: %zu-byte message on %s exceeds message.max.bytes",
                             msg->payload_len, msg->topic);
    default:
        return evc_error_set(err, EVC_EIO, "transport.kafka: publish on %s: %s", msg->topic,
                             rd_kafka_err2str(e));
    }
}

static bool kafka_no_inflight(void *arg)
{
    return ((evc_transport *)arg)->inflight == 0;
}

int kafka_flush(evc_transport *t, uint64_t timeout_ms, evc_error *err)
{
    if (!t->producer || t->inflight == 0)
        return EVC_OK;
    if (t->host->run_until) {
        /* Outcomes arrive through the loop; librdkafka's linger still applies. */
        t->host->run_until(t->host->host, kafka_no_inflight, t, timeout_ms);
    } else {
        rd_kafka_flush(t->producer, timeout_ms > 0x7fffffff ? 0x7fffffff : (int)timeout_ms);
    }
    if (t->inflight == 0)
        return EVC_OK;
    return evc_error_set(err, EVC_ETIMEDOUT,
                         "transport.kafka: %llu publishes still without outcome after %llu ms "
                         "(brokers %s)",
                         (unsigned long long)t->inflight, (unsigned long long)timeout_ms,
                         t->endpoint);
}

/* Gives every accepted message its outcome: first a flush bounded by
 * flush_timeout_ms and the stop's deadline, then a purge whose delivery
 * reports say NOT_PERSISTED (still queued: NOT_SENT) or POSSIBLY_PERSISTED
 * (in flight: SENT_UNCONFIRMED). The purge's reports are made locally by
 * librdkafka, without the brokers, so serving them is quick. kafka_stop says
 * in its one line how many were purged. */
uint64_t kafka_producer_stop(evc_transport *t, uint64_t deadline_ms)
{
    if (!t->producer)
        return 0;
    uint64_t now = kafka_now_ms();
    uint64_t wait = deadline_ms > now ? deadline_ms - now : 0;
    if (wait > t->set.flush_timeout_ms)
        wait = t->set.flush_timeout_ms;
    if (t->inflight && wait)
        rd_kafka_flush(t->producer, wait > 0x7fffffff ? 0x7fffffff : (int)wait);
    uint64_t purged = t->inflight;
    if (t->inflight) {
        rd_kafka_purge(t->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        for (int i = 0; i < 100 && t->inflight; i++)
            rd_kafka_poll(t->producer, 10);
    }
    if (t->inflight)
        t->host->log(t->host->host, EVC_LOG_ERROR, NULL,
                     "%llu publishes got no delivery report from librdkafka",
                     (unsigned long long)t->inflight);
    kafka_io_detach(t, &t->pio);
    return purged;
}
