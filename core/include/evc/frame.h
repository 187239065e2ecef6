/* evc/frame.h: the frame codec of the TCP links (monitor<->engine,
 * monitor<->central).
 *
 * Wire format (docs/PROTOCOL.md, "TCP framing", is the reference):
 *
 *     <STX> DATA <ETX> <LRC>        DATA = OPCODE ( '#' FIELD )*
 *
 * STX=0x02, ETX=0x03; replies are the single bytes ACK=0x06 / NACK=0x15.
 * OPCODE is one or more of [A-Z0-9_]. A FIELD is any bytes, with '#', '\\',
 * STX, ETX, ACK and NACK escaped as two bytes (see EVC_FRAME_ESC below).
 * LRC is the XOR of every byte after STX up to and including ETX, as they
 * appear on the wire (escaped). "OP" has zero fields, "OP#" one empty field.
 *
 * Receiver's rule: a valid frame -> answer ACK; an error event (a bad frame)
 * -> answer NACK; garbage outside frames -> answer nothing.
 *
 * Everything here is plain memory work: no I/O, no locks, no global state.
 * A decoder is used by one thread at a time.
 */
#ifndef EVC_FRAME_H
#define EVC_FRAME_H

#include "evc/api.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h> /* strlen, for EVC_FRAME_STR */

#include "evc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_FRAME_STX 0x02
#define EVC_FRAME_ETX 0x03
#define EVC_FRAME_ACK 0x06
#define EVC_FRAME_NACK 0x15
#define EVC_FRAME_SEP '#'
/* Escape byte. Inside DATA, '#'->"\#", '\'->"\\", STX->"\B", ETX->"\C",
 * ACK->"\F", NACK->"\U"; every other byte (NUL included) goes as is. */
#define EVC_FRAME_ESC '\\'

#define EVC_FRAME_DEFAULT_MAX_DATA 4096u   /* DATA bytes on the wire, escaped */
#define EVC_FRAME_DEFAULT_MAX_FIELDS 64u
#define EVC_FRAME_MAX_DATA_LIMIT (16u * 1024u * 1024u)  /* upper bound for max_data */

/* One field: `len` bytes at `data`, any values (not NUL-terminated on
 * input; see evc_frame_event for the decoded side). */
typedef struct evc_frame_field {
    const char *data;
    size_t len;
} evc_frame_field;

/* A field from a NUL-terminated string (evaluates `s` twice). */
#define EVC_FRAME_STR(s) ((evc_frame_field){(s), strlen(s)})

/* ---- Encoder ---------------------------------------------------------- */

/* Wire size of the frame for opcode + fields (STX..LRC inclusive), or 0 when
 * the opcode is invalid (empty, or a byte outside [A-Z0-9_]) or the size
 * overflows size_t. `fields` may be NULL when nfields == 0. */
EVC_API size_t evc_frame_encoded_size(const char *opcode, const evc_frame_field *fields, size_t nfields);

/* Encodes one frame into the caller's buffer `buf` of `cap` bytes.
 * opcode: NUL-terminated, [A-Z0-9_]+ (borrowed for the call). fields: array of
 * nfields (borrowed for the call; NULL allowed when nfields == 0).
 * On success writes the frame (not NUL-terminated) and sets *out_len.
 * Errors: EVC_EINVAL (bad opcode, NULL argument), EVC_ETOOBIG (cap too small;
 * *out_len is then set to the size needed). Thread: any. */
EVC_API int evc_frame_encode(const char *opcode, const evc_frame_field *fields, size_t nfields,
                             void *buf, size_t cap, size_t *out_len, evc_error *err);

/* As evc_frame_encode into a new heap buffer of exactly the frame's size:
 * *out is malloc'd, caller frees it with free(). Errors: EVC_EINVAL,
 * EVC_ENOMEM (*out is NULL then). */
EVC_API int evc_frame_encode_alloc(const char *opcode, const evc_frame_field *fields, size_t nfields,
                                   char **out, size_t *out_len, evc_error *err);

/* ---- Streaming decoder ------------------------------------------------ */

typedef struct evc_frame_limits {
    size_t max_data;    /* max DATA bytes (escaped, between STX and ETX); 0 = default */
    size_t max_fields;  /* max fields after the opcode; 0 = default (capped at max_data) */
} evc_frame_limits;

typedef enum evc_frame_event_kind {
    EVC_FRAME_EV_NONE = 0,   /* input exhausted, no event yet */
    EVC_FRAME_EV_FRAME,      /* a complete valid frame: answer ACK */
    EVC_FRAME_EV_ACK,        /* an ACK byte outside any frame */
    EVC_FRAME_EV_NACK,       /* a NACK byte outside any frame */
    EVC_FRAME_EV_ERROR,      /* a bad frame: answer NACK */
} evc_frame_event_kind;

typedef enum evc_frame_error_kind {
    EVC_FRAME_ERR_NONE = 0,
    EVC_FRAME_ERR_BAD_LRC,         /* LRC byte differs from the computed one */
    EVC_FRAME_ERR_MISSING_ETX,     /* STX seen again before ETX (the new STX starts a frame) */
    EVC_FRAME_ERR_OVERSIZE,        /* DATA longer than max_data */
    EVC_FRAME_ERR_BAD_OPCODE,      /* empty opcode or a byte outside [A-Z0-9_] */
    EVC_FRAME_ERR_BAD_ESCAPE,      /* '\' followed by a byte not in the escape table */
    EVC_FRAME_ERR_TOO_MANY_FIELDS, /* more than max_fields fields */
    EVC_FRAME_ERR_CONTROL_BYTE,    /* unescaped ACK or NACK inside DATA */
    EVC_FRAME_ERR_NO_MEMORY,       /* the decoder's buffer could not grow for the frame */
} evc_frame_error_kind;

typedef struct evc_frame_event {
    evc_frame_event_kind kind;
    evc_frame_error_kind error;    /* EVC_FRAME_EV_ERROR only */
    uint64_t offset;               /* stream offset of the frame's STX (or of the ACK/NACK byte) */
    /* EVC_FRAME_EV_FRAME only; all borrowed from the decoder until its next
     * call (decode, feed, reset, free). opcode and each field are followed by
     * a NUL byte (not counted in the length), so text fields can be used as C
     * strings; binary fields may contain NULs, so trust the lengths. */
    const char *opcode;
    size_t opcode_len;
    const evc_frame_field *fields;
    size_t nfields;
} evc_frame_event;

typedef struct evc_frame_stats {
    uint64_t bytes;           /* every byte fed */
    uint64_t frames;          /* valid frames */
    uint64_t acks, nacks;     /* ACK / NACK bytes outside frames */
    uint64_t errors;          /* error events */
    uint64_t garbage_bytes;   /* bytes outside frames that were none of STX/ACK/NACK */
    uint64_t discarded_bytes; /* bytes of bad frames skipped after their error event */
} evc_frame_stats;

typedef struct evc_frame_decoder evc_frame_decoder;

/* New decoder. Its buffers grow with the frame being decoded, up to
 * max_data + 1 bytes and max_fields field slots (never more), and
 * evc_frame_decoder_trim gives them back between frames: an idle decoder
 * holds a few hundred bytes. When a buffer cannot grow, the frame is
 * reported bad (EVC_FRAME_ERR_NO_MEMORY) and the stream goes on.
 * limits: NULL or zeros for defaults (borrowed for the call). Returns NULL
 * with EVC_EINVAL (max_data > EVC_FRAME_MAX_DATA_LIMIT, or max_fields >
 * max_data) or EVC_ENOMEM. Free with evc_frame_decoder_free(). */
EVC_API evc_frame_decoder *evc_frame_decoder_new(const evc_frame_limits *limits, evc_error *err);
EVC_API void evc_frame_decoder_free(evc_frame_decoder *d);   /* NULL-safe */

/* Forgets any partial frame (e.g. on reconnect); statistics are kept. */
EVC_API void evc_frame_decoder_reset(evc_frame_decoder *d);

/* Frees the decoder's buffers unless a frame is half read (they grow again
 * with the next frame). The last frame event's pointers die with them:
 * call it once the events of a chunk are handled, as a link does at the
 * end of each read. NULL-safe. */
EVC_API void evc_frame_decoder_trim(evc_frame_decoder *d);
/* Bytes of buffer the decoder holds now (not counting itself). */
EVC_API size_t evc_frame_decoder_held(const evc_frame_decoder *d);

/* Consumes bytes of `data` until one event is complete or the input is
 * exhausted, and returns how many bytes were consumed (at most len). *ev is
 * always written; ev->kind is EVC_FRAME_EV_NONE when no event completed. A
 * frame event's pointers are borrowed until the next call on this decoder.
 * The decoder is a pure function of the byte stream: any split of the same
 * bytes across calls gives the same events. Zero-copy friendly: call it
 * directly on the buffer of a libuv read callback:
 *
 *     size_t off = 0;
 *     while (off < nread) {
 *         off += evc_frame_decode(d, buf->base + off, nread - off, &ev);
 *         if (ev.kind != EVC_FRAME_EV_NONE) handle(&ev);
 *     }
 */
EVC_API size_t evc_frame_decode(evc_frame_decoder *d, const void *data, size_t len, evc_frame_event *ev);

/* Callback form of evc_frame_decode: feeds all of data and calls cb for each
 * event (ev borrowed until cb returns). A non-zero return from cb stops
 * feeding; evc_frame_decoder_feed then returns the number of bytes consumed
 * so far (the caller may resume from there). Returns len otherwise. */
typedef int (*evc_frame_event_cb)(void *arg, const evc_frame_event *ev);
EVC_API size_t evc_frame_decoder_feed(evc_frame_decoder *d, const void *data, size_t len,
                                      evc_frame_event_cb cb, void *arg);

EVC_API void evc_frame_decoder_stats(const evc_frame_decoder *d, evc_frame_stats *out);

/* Short English description of an error kind ("bad LRC"); never NULL. */
EVC_API const char *evc_frame_error_str(evc_frame_error_kind kind);

#ifdef __cplusplus
}
#endif
#endif
