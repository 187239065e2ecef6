/* kafka_topics.c: topics created (Admin API) or checked (metadata) at start.
 * Start is a one-time step, so this waits on a private queue with the
 * configured deadline instead of going through the loop. */
#include <stdlib.h>
#include <string.h>

#include "kafka_internal.h"

/* Which of names[] the cluster lacks: missing[i] set for each. */
static int kafka_topics_missing(evc_transport *t, char *const *names, size_t n, bool *missing,
                                size_t *n_missing, bool *controller, int ms, evc_error *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(t->producer, 1, NULL, &md, ms);
    if (e)
        return evc_error_set(err, EVC_EIO, "transport.kafka: metadata from %s: %s",
                             t->endpoint, rd_kafka_err2str(e));
    *n_missing = 0;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (int j = 0; j < md->topic_cnt && !found; j++)
            found = md->topics[j].err == 0 && strcmp(md->topics[j].topic, names[i]) == 0;
        missing[i] = !found;
        *n_missing += !found;
    }
    /* The metadata just received tells the controller; a cluster whose
     * controller is not one of its brokers (librdkafka's mock cluster) cannot
     * run CreateTopics. */
    int32_t ctrl = rd_kafka_controllerid(t->producer, 0);
    *controller = false;
    for (int j = 0; j < md->broker_cnt; j++)
        *controller = *controller || md->brokers[j].id == ctrl;
    rd_kafka_metadata_destroy(md);
    return EVC_OK;
}

/* Without a controller, ask for the topic's metadata: a broker with
 * auto.create.topics.enable (the mock always) creates it with its own
 * defaults. */
static int kafka_topics_autocreate(evc_transport *t, const char *name, int ms, evc_error *err)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(t->producer, name, NULL);
    if (!rkt)
        return evc_error_set(err, EVC_EIO, "transport.kafka: topic %s: %s", name,
                             rd_kafka_err2str(rd_kafka_last_error()));
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(t->producer, 0, rkt, &md, ms);
    if (!e && md->topic_cnt == 1)
        e = md->topics[0].err;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    if (e)
        return evc_error_set(err, EVC_EIO,
                             "transport.kafka: topic %s: %s has no controller for CreateTopics "
                             "and did not auto-create it: %s",
                             name, t->endpoint, rd_kafka_err2str(e));
    return EVC_OK;
}

static int kafka_topics_create(evc_transport *t, char *const *names, size_t n, int ms,
                               evc_error *err)
{
    char es[512];
    int rc = EVC_OK;
    rd_kafka_NewTopic_t **nt = calloc(n, sizeof *nt);
    rd_kafka_queue_t *q = rd_kafka_queue_new(t->producer);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(t->producer, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_event_t *ev = NULL;
    if (!nt || !q || !o) {
        rc = evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        nt[i] = rd_kafka_NewTopic_new(names[i], t->set.partitions, t->set.replication_factor,
                                      es, sizeof es);
        if (!nt[i]) {
            rc = evc_error_set(err, EVC_ECONFIG, "transport.kafka: topic %s: %s", names[i], es);
            goto out;
        }
    }
    rd_kafka_AdminOptions_set_request_timeout(o, ms, es, sizeof es);
    rd_kafka_AdminOptions_set_operation_timeout(o, ms, es, sizeof es);
    rd_kafka_CreateTopics(t->producer, nt, n, o, q);
    ev = rd_kafka_queue_poll(q, ms + 1000);
    if (!ev) {
        rc = evc_error_set(err, EVC_ETIMEDOUT,
                           "transport.kafka: creating topics on %s: no answer within %d ms",
                           t->endpoint, ms);
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        rc = evc_error_set(err, EVC_EIO, "transport.kafka: creating topics on %s: %s",
                           t->endpoint, rd_kafka_event_error_string(ev));
        goto out;
    }
    size_t cnt = 0;
    const rd_kafka_topic_result_t **tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
    for (size_t i = 0; i < cnt && rc == EVC_OK; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            const char *s = rd_kafka_topic_result_error_string(tr[i]);
            rc = evc_error_set(err, EVC_EIO, "transport.kafka: creating topic %s on %s: %s",
                               rd_kafka_topic_result_name(tr[i]), t->endpoint,
                               s ? s : rd_kafka_err2str(e));
        }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    if (nt) {
        for (size_t i = 0; i < n; i++)
            if (nt[i])
                rd_kafka_NewTopic_destroy(nt[i]);
        free(nt);
    }
    if (o)
        rd_kafka_AdminOptions_destroy(o);
    if (q)
        rd_kafka_queue_destroy(q);
    return rc;
}

int kafka_topics_ensure(evc_transport *t, char *const *names, size_t n, evc_error *err)
{
    if (n == 0)
        return EVC_OK;
    int ms = (int)t->set.admin_timeout_ms;
    bool *missing = calloc(n, sizeof *missing);
    char **todo = calloc(n, sizeof *todo);
    size_t n_missing = 0;
    bool controller = false;
    int rc = missing && todo ? EVC_OK
                             : evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
    if (rc == EVC_OK)
        rc = kafka_topics_missing(t, names, n, missing, &n_missing, &controller, ms, err);
    for (size_t i = 0, k = 0; rc == EVC_OK && i < n; i++) {
        if (!missing[i])
            continue;
        if (!t->set.topics_create)
            rc = evc_error_set(err, EVC_ENOTFOUND,
                               "transport.kafka: topic %s does not exist on %s and "
                               "transport.kafka.topics.create is false",
                               names[i], t->endpoint);
        else if (!controller)
            rc = kafka_topics_autocreate(t, names[i], ms, err);
        else
            todo[k++] = names[i];
    }
    if (rc == EVC_OK && controller && n_missing && t->set.topics_create)
        rc = kafka_topics_create(t, todo, n_missing, ms, err);
    if (rc == EVC_OK && n_missing && t->set.topics_create && !controller)
        t->host->log(t->host->host, EVC_LOG_INFO, NULL,
                     "%s has no controller (mock cluster?): %zu topic(s) auto-created with the "
                     "broker's defaults, not topics.partitions/replication_factor",
                     t->endpoint, n_missing);
    free(missing);
    free(todo);
    return rc;
}
