/* frame_decode.c: the streaming frame decoder, a byte-at-a-time state
 * machine. Every decision depends only on the current state and the byte, so
 * the events are the same however the stream is split across calls. At most
 * one event completes per byte, which is what lets evc_frame_decode return
 * right after it with the frame still intact in the buffer.
 *
 * The buffers grow with the frame in progress and evc_frame_decoder_trim
 * gives them back: a server holds thousands of decoders that are idle
 * between heartbeats, and 5 KB each up front was most of a link's memory
 * (issue 14). Fields are kept as lengths while decoding (the buffer may
 * move when it grows) and become pointers when the frame is complete. */
#include "frame_internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum state {
    ST_IDLE,      /* outside frames: hunting for STX, ACK, NACK */
    ST_OPCODE,    /* after STX, inside the opcode */
    ST_FIELD,     /* inside a field */
    ST_FIELD_ESC, /* inside a field, right after the escape byte */
    ST_LRC,       /* after ETX of a well-formed DATA, the next byte is the LRC */
    ST_DISCARD,   /* inside a frame already reported bad: skip to ETX or STX */
    ST_SKIP_LRC,  /* after the ETX of a bad frame: skip its LRC byte */
};

struct evc_frame_decoder {
    size_t max_data;
    size_t max_fields;
    enum state state;
    unsigned char lrc;      /* XOR of the DATA bytes so far */
    size_t wire_len;        /* DATA bytes (escaped) of the current frame */
    size_t out_len;         /* decoded bytes in buf, NULs included */
    size_t opcode_len;
    size_t nfields;
    uint64_t pos;           /* stream offset of the next byte */
    uint64_t frame_offset;  /* stream offset of the current frame's STX */
    size_t piece_start;     /* offset in buf of the opcode or field in progress */
    evc_frame_stats st;
    evc_frame_field *fields; /* fcap slots (up to max_fields); NULL when trimmed */
    size_t fcap;
    char *buf;               /* cap bytes (up to max_data + 1); NULL when trimmed */
    size_t cap;
};

/* Decoded DATA with its NULs never exceeds max_data + 1 bytes: each wire
 * byte gives at most one, '#' becomes the NUL of the piece it ends, and ETX
 * (not counted in max_data) the last NUL. */
#define BUF_MIN 64
#define FIELDS_MIN 4

/* Grows buf to hold `need` bytes; false when out of memory. */
static bool buf_grow(evc_frame_decoder *d, size_t need)
{
    size_t cap = d->cap ? d->cap * 2 : BUF_MIN;
    if (cap < need)
        cap = need;
    if (cap > d->max_data + 1)
        cap = d->max_data + 1;
    char *b = realloc(d->buf, cap);
    if (!b)
        return false;
    d->buf = b;
    d->cap = cap;
    return true;
}

/* Per byte: the common case must stay a compare. */
static inline bool buf_room(evc_frame_decoder *d, size_t need)
{
    return need <= d->cap || buf_grow(d, need);
}

static bool fields_room(evc_frame_decoder *d)
{
    if (d->nfields < d->fcap)
        return true;
    size_t n = d->fcap ? d->fcap * 2 : FIELDS_MIN;
    if (n > d->max_fields)
        n = d->max_fields;
    evc_frame_field *f = realloc(d->fields, n * sizeof *f);
    if (!f)
        return false;
    d->fields = f;
    d->fcap = n;
    return true;
}

evc_frame_decoder *evc_frame_decoder_new(const evc_frame_limits *limits, evc_error *err)
{
    size_t max_data = limits && limits->max_data ? limits->max_data : EVC_FRAME_DEFAULT_MAX_DATA;
    size_t max_fields = limits && limits->max_fields ? limits->max_fields
                                                     : EVC_FRAME_DEFAULT_MAX_FIELDS;
    if (!(limits && limits->max_fields) && max_fields > max_data)
        max_fields = max_data; /* a small max_data with the default field count */
    if (max_data > EVC_FRAME_MAX_DATA_LIMIT) {
        evc_error_set(err, EVC_EINVAL, "frame decoder: max_data %zu exceeds the limit of %u bytes",
                      max_data, EVC_FRAME_MAX_DATA_LIMIT);
        return NULL;
    }
    if (max_fields > max_data) {
        evc_error_set(err, EVC_EINVAL,
                      "frame decoder: max_fields %zu exceeds max_data %zu (a field takes a byte at least)",
                      max_fields, max_data);
        return NULL;
    }
    evc_frame_decoder *d = calloc(1, sizeof *d);
    if (!d) {
        evc_error_set(err, EVC_ENOMEM, "frame decoder: out of memory");
        return NULL;
    }
    d->max_data = max_data;
    d->max_fields = max_fields;
    d->state = ST_IDLE;
    return d;
}

void evc_frame_decoder_free(evc_frame_decoder *d)
{
    if (!d)
        return;
    free(d->fields);
    free(d->buf);
    free(d);
}

void evc_frame_decoder_reset(evc_frame_decoder *d)
{
    if (d)
        d->state = ST_IDLE;
}

void evc_frame_decoder_trim(evc_frame_decoder *d)
{
    /* Only a frame being read keeps bytes: a bad one being skipped does not. */
    if (!d || d->state == ST_OPCODE || d->state == ST_FIELD || d->state == ST_FIELD_ESC ||
        d->state == ST_LRC)
        return;
    free(d->buf);
    free(d->fields);
    d->buf = NULL;
    d->fields = NULL;
    d->cap = d->fcap = 0;
}

size_t evc_frame_decoder_held(const evc_frame_decoder *d)
{
    return d ? d->cap + d->fcap * sizeof *d->fields : 0;
}

void evc_frame_decoder_stats(const evc_frame_decoder *d, evc_frame_stats *out)
{
    if (d && out)
        *out = d->st;
}

const char *evc_frame_error_str(evc_frame_error_kind kind)
{
    switch (kind) {
    case EVC_FRAME_ERR_NONE: return "no error";
    case EVC_FRAME_ERR_BAD_LRC: return "bad LRC";
    case EVC_FRAME_ERR_MISSING_ETX: return "missing ETX (STX before ETX)";
    case EVC_FRAME_ERR_OVERSIZE: return "frame too big";
    case EVC_FRAME_ERR_BAD_OPCODE: return "bad opcode";
    case EVC_FRAME_ERR_BAD_ESCAPE: return "bad escape";
    case EVC_FRAME_ERR_TOO_MANY_FIELDS: return "too many fields";
    case EVC_FRAME_ERR_CONTROL_BYTE: return "unescaped control byte in frame";
    case EVC_FRAME_ERR_NO_MEMORY: return "out of memory for the frame";
    }
    return "unknown frame error";
}

static void start_frame(evc_frame_decoder *d)
{
    d->state = ST_OPCODE;
    d->lrc = 0;
    d->wire_len = 0;
    d->out_len = 0;
    d->opcode_len = 0;
    d->nfields = 0;
    d->piece_start = 0;
    d->frame_offset = d->pos;
}

/* Reports the current frame as bad and moves to `next` (ST_DISCARD or
 * ST_SKIP_LRC, or ST_IDLE once the frame is fully read). */
static evc_frame_event_kind frame_error(evc_frame_decoder *d, evc_frame_event *ev,
                                        evc_frame_error_kind kind, enum state next)
{
    ev->kind = EVC_FRAME_EV_ERROR;
    ev->error = kind;
    ev->offset = d->frame_offset;
    d->st.errors++;
    d->state = next;
    return EVC_FRAME_EV_ERROR;
}

/* Ends the piece in progress (opcode or field) with a NUL; false when out
 * of memory for it. */
static bool close_piece(evc_frame_decoder *d)
{
    if (!buf_room(d, d->out_len + 1))
        return false;
    if (d->state == ST_OPCODE)
        d->opcode_len = d->out_len;
    else
        d->fields[d->nfields - 1].len = d->out_len - d->piece_start;
    d->buf[d->out_len++] = '\0';
    return true;
}

/* A byte inside DATA that is not STX or ETX. */
static evc_frame_event_kind data_byte(evc_frame_decoder *d, unsigned char b, evc_frame_event *ev)
{
    if (++d->wire_len > d->max_data)
        return frame_error(d, ev, EVC_FRAME_ERR_OVERSIZE, ST_DISCARD);
    /* Every path below writes one byte at most (an escape's first byte
     * none): room for it before anything changes. */
    if (!buf_room(d, d->out_len + 1))
        return frame_error(d, ev, EVC_FRAME_ERR_NO_MEMORY, ST_DISCARD);
    d->lrc ^= b;
    if (d->state == ST_FIELD_ESC) {
        int u = evc_frame_unescape(b);
        if (u < 0)
            return frame_error(d, ev, EVC_FRAME_ERR_BAD_ESCAPE, ST_DISCARD);
        d->buf[d->out_len++] = (char)u;
        d->state = ST_FIELD;
        return EVC_FRAME_EV_NONE;
    }
    if (b == EVC_FRAME_ACK || b == EVC_FRAME_NACK)
        return frame_error(d, ev, EVC_FRAME_ERR_CONTROL_BYTE, ST_DISCARD);
    if (b == EVC_FRAME_SEP) {
        if (d->state == ST_OPCODE && d->out_len == 0)
            return frame_error(d, ev, EVC_FRAME_ERR_BAD_OPCODE, ST_DISCARD);
        if (d->nfields == d->max_fields)
            return frame_error(d, ev, EVC_FRAME_ERR_TOO_MANY_FIELDS, ST_DISCARD);
        if (!fields_room(d))
            return frame_error(d, ev, EVC_FRAME_ERR_NO_MEMORY, ST_DISCARD);
        close_piece(d); /* room made above */
        d->piece_start = d->out_len;
        d->fields[d->nfields].data = NULL; /* set when the frame is complete */
        d->fields[d->nfields].len = 0;
        d->nfields++;
        d->state = ST_FIELD;
        return EVC_FRAME_EV_NONE;
    }
    if (d->state == ST_OPCODE) {
        if (!evc_frame_opcode_byte(b))
            return frame_error(d, ev, EVC_FRAME_ERR_BAD_OPCODE, ST_DISCARD);
    } else if (b == EVC_FRAME_ESC) {
        d->state = ST_FIELD_ESC;
        return EVC_FRAME_EV_NONE;
    }
    d->buf[d->out_len++] = (char)b;
    return EVC_FRAME_EV_NONE;
}

static evc_frame_event_kind step(evc_frame_decoder *d, unsigned char b, evc_frame_event *ev)
{
    switch (d->state) {
    case ST_IDLE:
        if (b == EVC_FRAME_STX) {
            start_frame(d);
        } else if (b == EVC_FRAME_ACK || b == EVC_FRAME_NACK) {
            ev->kind = b == EVC_FRAME_ACK ? EVC_FRAME_EV_ACK : EVC_FRAME_EV_NACK;
            ev->offset = d->pos;
            if (b == EVC_FRAME_ACK)
                d->st.acks++;
            else
                d->st.nacks++;
            return ev->kind;
        } else {
            d->st.garbage_bytes++;
        }
        return EVC_FRAME_EV_NONE;
    case ST_OPCODE:
    case ST_FIELD:
    case ST_FIELD_ESC:
        if (b == EVC_FRAME_STX) {
            frame_error(d, ev, EVC_FRAME_ERR_MISSING_ETX, ST_IDLE);
            start_frame(d);
            return EVC_FRAME_EV_ERROR;
        }
        if (b == EVC_FRAME_ETX) {
            d->lrc ^= b;
            if (d->state == ST_FIELD_ESC)
                return frame_error(d, ev, EVC_FRAME_ERR_BAD_ESCAPE, ST_SKIP_LRC);
            if (d->state == ST_OPCODE && d->out_len == 0)
                return frame_error(d, ev, EVC_FRAME_ERR_BAD_OPCODE, ST_SKIP_LRC);
            if (!close_piece(d))
                return frame_error(d, ev, EVC_FRAME_ERR_NO_MEMORY, ST_SKIP_LRC);
            d->state = ST_LRC;
            return EVC_FRAME_EV_NONE;
        }
        return data_byte(d, b, ev);
    case ST_LRC:
        if (b != d->lrc)
            return frame_error(d, ev, EVC_FRAME_ERR_BAD_LRC, ST_IDLE);
        d->state = ST_IDLE;
        d->st.frames++;
        ev->kind = EVC_FRAME_EV_FRAME;
        ev->offset = d->frame_offset;
        ev->opcode = d->buf;
        ev->opcode_len = d->opcode_len;
        ev->fields = d->fields;
        ev->nfields = d->nfields;
        /* The pieces follow each other, each with its NUL. */
        for (size_t i = 0, at = d->opcode_len + 1; i < d->nfields; i++) {
            d->fields[i].data = d->buf + at;
            at += d->fields[i].len + 1;
        }
        return EVC_FRAME_EV_FRAME;
    case ST_DISCARD:
        if (b == EVC_FRAME_STX) {
            start_frame(d);
            return EVC_FRAME_EV_NONE;
        }
        d->st.discarded_bytes++;
        if (b == EVC_FRAME_ETX)
            d->state = ST_SKIP_LRC;
        return EVC_FRAME_EV_NONE;
    case ST_SKIP_LRC:
        d->st.discarded_bytes++;
        d->state = ST_IDLE;
        return EVC_FRAME_EV_NONE;
    }
    return EVC_FRAME_EV_NONE;
}

/* Fast path for the bulk of a frame: a run of field bytes that need no
 * decision (not STX/ETX/ACK/NACK/'#'/'\\'), up to the size limit. Same
 * effect as feeding them one by one through step(), in one tight loop. The
 * buffer grows as the run needs it; out of memory, the run stops and the
 * next byte, through step(), reports it. */
static size_t field_run(evc_frame_decoder *d, const unsigned char *p, size_t len)
{
    static const unsigned char special[256] = {
        [EVC_FRAME_STX] = 1, [EVC_FRAME_ETX] = 1, [EVC_FRAME_ACK] = 1,
        [EVC_FRAME_NACK] = 1, [EVC_FRAME_SEP] = 1, [EVC_FRAME_ESC] = 1,
    };
    size_t room = d->max_data - d->wire_len;
    size_t lim = len < room ? len : room;
    unsigned char lrc = d->lrc;
    size_t n = 0;
    for (;;) {
        size_t fit = d->cap > d->out_len ? d->cap - d->out_len : 0;
        size_t stop = lim < fit ? lim : fit;
        char *out = d->buf ? d->buf + d->out_len : NULL; /* stop is 0 without a buffer */
        while (n < stop && !special[p[n]]) {
            out[n] = (char)p[n];
            lrc ^= p[n];
            n++;
        }
        if (n < stop || n == lim || special[p[n]] || !buf_room(d, d->out_len + n + 1))
            break;
    }
    d->lrc = lrc;
    d->wire_len += n;
    d->out_len += n;
    d->pos += n;
    d->st.bytes += n;
    return n;
}

size_t evc_frame_decode(evc_frame_decoder *d, const void *data, size_t len, evc_frame_event *ev)
{
    memset(ev, 0, sizeof *ev);
    const unsigned char *p = data;
    size_t i = 0;
    while (i < len) {
        if (d->state == ST_FIELD) {
            i += field_run(d, p + i, len - i);
            if (i == len)
                break;
        }
        evc_frame_event_kind k = step(d, p[i++], ev);
        d->pos++;
        d->st.bytes++;
        if (k != EVC_FRAME_EV_NONE)
            break;
    }
    return i;
}

size_t evc_frame_decoder_feed(evc_frame_decoder *d, const void *data, size_t len,
                              evc_frame_event_cb cb, void *arg)
{
    const char *p = data;
    size_t off = 0;
    evc_frame_event ev;
    while (off < len) {
        off += evc_frame_decode(d, p + off, len - off, &ev);
        if (ev.kind != EVC_FRAME_EV_NONE && cb && cb(arg, &ev) != 0)
            return off;
    }
    return off;
}
