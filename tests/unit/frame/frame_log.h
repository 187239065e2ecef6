/* frame_log.h: turns decoder events into a comparable text log for tests. */
#ifndef TEST_FRAME_LOG_H
#define TEST_FRAME_LOG_H

#include <evc/frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct frame_log {
    char *s;
    size_t len, cap;
    size_t events;
} frame_log;

static inline void log_put(frame_log *l, const char *p, size_t n)
{
    if (l->len + n + 1 > l->cap) {
        l->cap = (l->len + n + 1) * 2;
        l->s = realloc(l->s, l->cap);
    }
    memcpy(l->s + l->len, p, n);
    l->len += n;
    l->s[l->len] = '\0';
}

/* One line per event; field bytes in hex so that any byte is visible. */
static inline void log_event(frame_log *l, const evc_frame_event *ev)
{
    char tmp[64];
    int n;
    l->events++;
    switch (ev->kind) {
    case EVC_FRAME_EV_FRAME:
        n = snprintf(tmp, sizeof tmp, "F@%llu:", (unsigned long long)ev->offset);
        log_put(l, tmp, (size_t)n);
        log_put(l, ev->opcode, ev->opcode_len);
        for (size_t i = 0; i < ev->nfields; i++) {
            log_put(l, "|", 1);
            for (size_t j = 0; j < ev->fields[i].len; j++) {
                n = snprintf(tmp, sizeof tmp, "%02x", (unsigned char)ev->fields[i].data[j]);
                log_put(l, tmp, (size_t)n);
            }
        }
        log_put(l, "\n", 1);
        break;
    case EVC_FRAME_EV_ACK:
    case EVC_FRAME_EV_NACK:
        n = snprintf(tmp, sizeof tmp, "%s@%llu\n", ev->kind == EVC_FRAME_EV_ACK ? "A" : "N",
                     (unsigned long long)ev->offset);
        log_put(l, tmp, (size_t)n);
        break;
    case EVC_FRAME_EV_ERROR:
        n = snprintf(tmp, sizeof tmp, "E%d@%llu\n", (int)ev->error, (unsigned long long)ev->offset);
        log_put(l, tmp, (size_t)n);
        break;
    default:
        log_put(l, "?\n", 2);
    }
}

/* Decodes data split at the given chunk sizes (cycled), logging all events. */
static inline void log_decode(evc_frame_decoder *d, const void *data, size_t len,
                              const size_t *chunks, size_t nchunks, frame_log *l)
{
    const char *p = data;
    size_t off = 0, c = 0;
    while (off < len) {
        size_t want = nchunks ? chunks[c++ % nchunks] : len;
        if (want > len - off)
            want = len - off;
        size_t end = off + want, pos = off;
        while (pos < end) {
            evc_frame_event ev;
            pos += evc_frame_decode(d, p + pos, end - pos, &ev);
            if (ev.kind != EVC_FRAME_EV_NONE)
                log_event(l, &ev);
        }
        off = end;
    }
}

#endif
