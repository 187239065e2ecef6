/* kafka_assign.c: direct assignment (transport.kafka.assignment: direct, the
 * default).
 *
 * Every role instance is the only reader of its consumer group (its group_id
 * is its own), so the group protocol only costs time there: a new group's
 * first join waits the broker's group.initial.rebalance.delay.ms (3 s), and a
 * member that crashed keeps its partitions until session.timeout.ms (45 s by
 * default) has passed, while its restarted self consumes nothing: a CP engine
 * restarted after a crash did not hear Central's commands, nor a driver its
 * ticket, for that long. Here the consumer assigns itself every partition of
 * its topics at the offsets committed under its group_id (the broker keeps a
 * group's offsets without members), so a restart reads on at once from where
 * the previous run stopped, and commits work as before.
 *
 * Partitions added to a topic later would never be read: a watcher thread
 * reads the topics' metadata every partition_check_ms (the loop thread must
 * not wait on brokers) and a loop timer assigns what it found. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka_internal.h"

/* Bound of one metadata request of the watcher: stop() joins the thread, so
 * this is also what a stop may wait for it. */
#define KAFKA_WATCH_REQUEST_MS 2000

size_t kafka_assign_plan(const int32_t *known, const int32_t *found, size_t n_topics,
                         int32_t *from, int32_t *to)
{
    size_t n = 0;
    for (size_t i = 0; i < n_topics; i++) {
        from[i] = known[i];
        to[i] = found[i] > known[i] ? found[i] : known[i];
        n += (size_t)(to[i] - from[i]);
    }
    return n;
}

/* Partitions of one topic from the consumer's handle, -1 when the cluster
 * did not say (unknown topic, timeout): the caller keeps what it had. */
static int32_t kafka_partition_count(rd_kafka_t *rk, const char *topic, int ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt)
        return -1;
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, ms) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

/* Grows the per-topic arrays to n_subs entries (new topics: 0 known). */
static int kafka_assign_grow(evc_transport *t, evc_error *err)
{
    kafka_assigner *a = &t->assigner;
    if (a->n_known >= t->n_subs)
        return EVC_OK;
    int32_t *k = realloc(a->known, t->n_subs * sizeof *k);
    if (!k)
        return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
    a->known = k;
    for (size_t i = a->n_known; i < t->n_subs; i++)
        k[i] = 0;
    a->n_known = t->n_subs;
    return EVC_OK;
}

/* Adds partitions [known, found) of each subscribed topic to the assignment,
 * at their committed offsets (auto_offset_reset without one). */
static int kafka_assign_found(evc_transport *t, const int32_t *found, evc_error *err)
{
    kafka_assigner *a = &t->assigner;
    size_t n_topics = a->n_known;
    int32_t *from = calloc(n_topics ? n_topics : 1, sizeof *from);
    int32_t *to = calloc(n_topics ? n_topics : 1, sizeof *to);
    rd_kafka_topic_partition_list_t *l = NULL;
    int rc = EVC_OK;
    if (!from || !to) {
        rc = evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
        goto out;
    }
    size_t n = kafka_assign_plan(a->known, found, n_topics, from, to);
    if (n == 0)
        goto out;
    if (!(l = rd_kafka_topic_partition_list_new((int)n))) {
        rc = evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_topics; i++)
        for (int32_t p = from[i]; p < to[i]; p++)
            rd_kafka_topic_partition_list_add(l, t->subs[i], p)->offset = RD_KAFKA_OFFSET_STORED;
    rd_kafka_error_t *e = rd_kafka_incremental_assign(t->consumer, l);
    if (e) {
        rc = evc_error_set(err, EVC_EIO, "transport.kafka: assigning %zu partitions on %s: %s",
                           n, t->endpoint, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
        goto out;
    }
    for (size_t i = 0; i < n_topics; i++)
        a->known[i] = to[i];
    t->stats.joined++;
    t->host->log(t->host->host, EVC_LOG_DEBUG, NULL, "assigned %zu partitions (direct)", n);
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    free(from);
    free(to);
    return rc;
}

/* The watcher's copy of the topic names, for its next reading. */
static int kafka_watch_topics(evc_transport *t, evc_error *err)
{
    kafka_assigner *a = &t->assigner;
    char **names = calloc(t->n_subs ? t->n_subs : 1, sizeof *names);
    int32_t *counts = calloc(t->n_subs ? t->n_subs : 1, sizeof *counts);
    bool ok = names && counts;
    for (size_t i = 0; ok && i < t->n_subs; i++)
        ok = (names[i] = strdup(t->subs[i])) != NULL;
    if (!ok) {
        for (size_t i = 0; names && i < t->n_subs; i++)
            free(names[i]);
        free(names);
        free(counts);
        return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
    }
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->n_wtopics; i++)
        free(a->wtopics[i]);
    free(a->wtopics);
    free(a->wcounts);
    a->wtopics = names;
    a->wcounts = counts;
    a->n_wtopics = t->n_subs;
    a->wgen++;
    a->wfresh = false;
    pthread_mutex_unlock(&a->mu);
    return EVC_OK;
}

static void *kafka_watch_main(void *arg)
{
    evc_transport *t = arg;
    kafka_assigner *a = &t->assigner;
    pthread_mutex_lock(&a->mu);
    while (!a->wstop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += (time_t)(t->set.partition_check_ms / 1000);
        until.tv_nsec += (long)(t->set.partition_check_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!a->wstop && pthread_cond_timedwait(&a->cv, &a->mu, &until) != ETIMEDOUT)
            ;
        if (a->wstop)
            break;
        /* The brokers are asked without the lock, from a copy of the names:
         * the loop may replace the list meanwhile (a new subscription), and
         * then this reading is dropped. */
        char **list = a->wtopics;
        size_t n = a->n_wtopics;
        uint64_t gen = a->wgen;
        int32_t *counts = calloc(n ? n : 1, sizeof *counts);
        char **names = calloc(n ? n : 1, sizeof *names);
        bool ok = counts && names;
        for (size_t i = 0; ok && i < n; i++)
            ok = (names[i] = strdup(list[i])) != NULL;
        pthread_mutex_unlock(&a->mu);
        for (size_t i = 0; ok && i < n; i++)
            counts[i] = kafka_partition_count(t->consumer, names[i], KAFKA_WATCH_REQUEST_MS);
        for (size_t i = 0; names && i < n; i++)
            free(names[i]);
        free(names);
        pthread_mutex_lock(&a->mu);
        if (ok && a->wgen == gen) {
            memcpy(a->wcounts, counts, n * sizeof *counts);
            a->wfresh = true;
        }
        free(counts);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* Loop timer: assigns the partitions the watcher found since last time. */
static void kafka_assign_check(evc_timer *tm, void *arg)
{
    (void)tm;
    evc_transport *t = arg;
    kafka_assigner *a = &t->assigner;
    if (t->stopped || !t->consumer)
        return;
    int32_t *found = calloc(a->n_known ? a->n_known : 1, sizeof *found);
    if (!found)
        return;
    bool fresh = false;
    pthread_mutex_lock(&a->mu);
    if (a->wfresh && a->n_wtopics == a->n_known) {
        for (size_t i = 0; i < a->n_known; i++)
            found[i] = a->wcounts[i] > a->known[i] ? a->wcounts[i] : a->known[i];
        a->wfresh = false;
        fresh = true;
    }
    pthread_mutex_unlock(&a->mu);
    evc_error err = {0};
    if (fresh && kafka_assign_found(t, found, &err) != EVC_OK)
        t->host->log(t->host->host, EVC_LOG_ERROR, NULL, "%s", err.msg);
    free(found);
}

int kafka_assign_subscribed(evc_transport *t, evc_error *err)
{
    kafka_assigner *a = &t->assigner;
    int rc = kafka_assign_grow(t, err);
    if (rc != EVC_OK)
        return rc;
    int32_t *found = calloc(t->n_subs ? t->n_subs : 1, sizeof *found);
    if (!found)
        return evc_error_set(err, EVC_ENOMEM, "transport.kafka: out of memory");
    /* At start or at a new subscription, like the topics' check before it.
     * A topic whose partitions cannot be read fails the start; later (a
     * subscription while running) the watcher tries again. */
    for (size_t i = 0; i < t->n_subs && rc == EVC_OK; i++) {
        found[i] = a->known[i];
        if (a->known[i] > 0)
            continue;
        int32_t n = kafka_partition_count(t->consumer, t->subs[i], (int)t->set.admin_timeout_ms);
        if (n > 0)
            found[i] = n;
        else if (!t->started)
            rc = evc_error_set(err, EVC_EIO,
                               "transport.kafka: no partitions of topic %s from %s within "
                               "%llu ms (admin_timeout_ms)",
                               t->subs[i], t->endpoint,
                               (unsigned long long)t->set.admin_timeout_ms);
        else
            t->host->log(t->host->host, EVC_LOG_WARN, NULL,
                         "no partitions of topic %s from %s yet: asking again every %llu ms "
                         "(partition_check_ms)",
                         t->subs[i], t->endpoint,
                         (unsigned long long)t->set.partition_check_ms);
    }
    if (rc == EVC_OK)
        rc = kafka_assign_found(t, found, err);
    free(found);
    if (rc == EVC_OK)
        rc = kafka_watch_topics(t, err);
    if (rc == EVC_OK && !a->running) {
        a->wstop = false;
        if (pthread_create(&a->thread, NULL, kafka_watch_main, t) != 0)
            return evc_error_set(err, EVC_EIO,
                                 "transport.kafka: cannot start the partition watcher");
        a->running = true;
    }
    if (rc == EVC_OK && !a->timer)
        rc = t->host->timer_start(t->host->host, t->set.partition_check_ms,
                                  t->set.partition_check_ms, kafka_assign_check, t, &a->timer,
                                  err);
    return rc;
}

int kafka_assign_init(evc_transport *t, evc_error *err)
{
    kafka_assigner *a = &t->assigner;
    if (pthread_mutex_init(&a->mu, NULL) != 0)
        return evc_error_set(err, EVC_EIO, "transport.kafka: mutex");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int e = pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (e != 0) {
        pthread_mutex_destroy(&a->mu);
        return evc_error_set(err, EVC_EIO, "transport.kafka: condition variable");
    }
    a->initialised = true;
    return EVC_OK;
}

void kafka_assign_stop(evc_transport *t)
{
    kafka_assigner *a = &t->assigner;
    if (a->timer) {
        t->host->timer_stop(a->timer);
        a->timer = NULL;
    }
    if (!a->running)
        return;
    pthread_mutex_lock(&a->mu);
    a->wstop = true;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    pthread_join(a->thread, NULL);
    a->running = false;
}

void kafka_assign_free(evc_transport *t)
{
    kafka_assigner *a = &t->assigner;
    kafka_assign_stop(t);
    for (size_t i = 0; i < a->n_wtopics; i++)
        free(a->wtopics[i]);
    free(a->wtopics);
    free(a->wcounts);
    free(a->known);
    if (a->initialised) {
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
    }
    memset(a, 0, sizeof *a);
}
