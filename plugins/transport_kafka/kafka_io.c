/* kafka_io.c: joining a librdkafka queue to the host's loop.
 *
 * librdkafka writes one byte to our pipe only when the queue goes from empty
 * to non-empty, so a wake-up must first empty the pipe and then serve the
 * queue until it is empty (or the budget runs out, in which case a 0 ms
 * timer continues the work: nothing will write the pipe again while the queue
 * is not empty). A timer rather than host->post because a timer can be
 * cancelled when the instance is destroyed; a post cannot. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kafka_internal.h"

uint64_t kafka_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void kafka_io_init(kafka_io *io)
{
    io->queue = NULL;
    io->pipe_rd = io->pipe_wr = -1;
    io->watch = NULL;
    io->again = NULL;
}

int kafka_io_attach(evc_transport *t, kafka_io *io, rd_kafka_queue_t *q, evc_watch_cb cb,
                    evc_timer_cb again, const char *what, evc_error *err)
{
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
        rd_kafka_queue_destroy(q);
        return evc_error_set(err, EVC_EIO, "transport.kafka: %s pipe: %s", what,
                             strerror(errno));
    }
    io->queue = q;
    io->pipe_rd = fds[0];
    io->pipe_wr = fds[1];
    int rc = t->host->watch_fd(t->host->host, io->pipe_rd, EVC_WATCH_READ, cb, t, &io->watch, err);
    if (rc != EVC_OK) {
        kafka_io_detach(t, io);
        return rc;
    }
    rd_kafka_queue_io_event_enable(q, io->pipe_wr, "1", 1);
    /* Events queued before the pipe was attached produced no byte. */
    kafka_io_continue(t, io, again);
    return EVC_OK;
}

/* Disables the event before closing the pipe: librdkafka would otherwise
 * write to a closed (or reused) descriptor. */
void kafka_io_detach(evc_transport *t, kafka_io *io)
{
    if (io->queue) {
        rd_kafka_queue_io_event_enable(io->queue, -1, NULL, 0);
        rd_kafka_queue_destroy(io->queue);
        io->queue = NULL;
    }
    if (io->watch) {
        t->host->unwatch_fd(io->watch);
        io->watch = NULL;
    }
    if (io->again) {
        t->host->timer_stop(io->again);
        io->again = NULL;
    }
    if (io->pipe_rd >= 0)
        close(io->pipe_rd);
    if (io->pipe_wr >= 0)
        close(io->pipe_wr);
    io->pipe_rd = io->pipe_wr = -1;
}

int kafka_io_drain_pipe(kafka_io *io)
{
    char buf[256];
    for (;;) {
        ssize_t n = read(io->pipe_rd, buf, sizeof buf);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        return 0;
    }
}

/* Arms the continuation timer (once); cb must stop it and clear io->again. */
void kafka_io_continue(evc_transport *t, kafka_io *io, evc_timer_cb cb)
{
    if (io->again || !cb)
        return;
    evc_error e;
    if (t->host->timer_start(t->host->host, 0, 0, cb, t, &io->again, &e) != EVC_OK)
        t->host->log(t->host->host, EVC_LOG_ERROR, NULL, "cannot schedule polling: %s", e.msg);
}

/* librdkafka's own log lines, from its threads. Connection failures
 * ("FAIL") also arrive through kafka_error_cb, which logs them once as
 * warnings (librdkafka retries them itself), so here they are debug. CONFWARN (a consumer property
 * given to the producer, and the reverse) is expected with the shared
 * `properties` map, so it is only informational. */
void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    evc_transport *t = rd_kafka_opaque(rk);
    if (!t || t->abandoned)
        return;
    evc_log_level l = level <= 2 ? EVC_LOG_ERROR
                      : level <= 4 ? EVC_LOG_WARN
                      : level <= 6 ? EVC_LOG_INFO
                                   : EVC_LOG_DEBUG;
    if (l == EVC_LOG_WARN && strcmp(fac, "CONFWARN") == 0)
        l = EVC_LOG_INFO;
    else if (strcmp(fac, "FAIL") == 0)
        l = EVC_LOG_DEBUG;
    t->host->log(t->host->host, l, NULL, "librdkafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

/* Errors librdkafka reports besides log lines (from its threads). Without
 * this callback it would log each of them a second time. */
void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    evc_transport *t = opaque;
    if (t->abandoned)
        return;
    bool fatal = err == RD_KAFKA_RESP_ERR__FATAL;
    t->host->log(t->host->host, fatal ? EVC_LOG_ERROR : EVC_LOG_WARN, NULL, "librdkafka %s: %s%s",
                 rd_kafka_name(rk), fatal ? "fatal: " : "", reason);
}
