/* fuzz_frame: the streaming decoder on arbitrary bytes.
 * Checks, besides "no crash, no sanitizer report":
 *  - split invariance: the input decoded in one call and in chunks chosen by
 *    the input itself gives the same event sequence;
 *  - every valid frame re-encodes to a frame that decodes to itself.
 * Input layout: byte 0 picks the limits, byte 1 the chunk pattern, rest is
 * the stream. */
#include <evc/frame.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static uint64_t event_hash(uint64_t h, const evc_frame_event *ev)
{
    h = mix(h, &ev->kind, sizeof ev->kind);
    h = mix(h, &ev->error, sizeof ev->error);
    h = mix(h, &ev->offset, sizeof ev->offset);
    if (ev->kind == EVC_FRAME_EV_FRAME) {
        h = mix(h, ev->opcode, ev->opcode_len + 1);
        for (size_t i = 0; i < ev->nfields; i++) {
            h = mix(h, &ev->fields[i].len, sizeof ev->fields[i].len);
            h = mix(h, ev->fields[i].data, ev->fields[i].len + 1);
        }
    }
    return h;
}

static void check_reencode(const evc_frame_event *ev, const evc_frame_limits *lim)
{
    char *wire;
    size_t len;
    if (evc_frame_encode_alloc(ev->opcode, ev->fields, ev->nfields, &wire, &len, NULL) != EVC_OK)
        abort();
    evc_frame_decoder *d = evc_frame_decoder_new(lim, NULL);
    evc_frame_event back;
    if (!d || evc_frame_decode(d, wire, len, &back) != len || back.kind != EVC_FRAME_EV_FRAME ||
        back.nfields != ev->nfields || strcmp(back.opcode, ev->opcode) != 0)
        abort();
    for (size_t i = 0; i < ev->nfields; i++)
        if (back.fields[i].len != ev->fields[i].len ||
            memcmp(back.fields[i].data, ev->fields[i].data, ev->fields[i].len) != 0)
            abort();
    evc_frame_decoder_free(d);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    evc_frame_limits lim = {0, 0};
    if (data[0] & 0x80) {  /* small limits reach the oversize and field-count paths */
        lim.max_data = 1 + (data[0] & 0x3f);
        lim.max_fields = 1 + (data[0] & 0x07);
    }
    unsigned pattern = data[1];
    data += 2;
    size -= 2;

    evc_frame_decoder *whole = evc_frame_decoder_new(&lim, NULL);
    evc_frame_decoder *split = evc_frame_decoder_new(&lim, NULL);
    if (!whole || !split)
        abort();
    uint64_t h1 = 14695981039346656037ull, h2 = h1;
    size_t off = 0;
    while (off < size) {
        evc_frame_event ev;
        off += evc_frame_decode(whole, data + off, size - off, &ev);
        if (ev.kind != EVC_FRAME_EV_NONE)
            h1 = event_hash(h1, &ev);
        if (ev.kind == EVC_FRAME_EV_FRAME)
            check_reencode(&ev, &lim);
    }
    off = 0;
    unsigned step = 0;
    while (off < size) {
        size_t n = 1 + ((pattern >> (step % 8)) & 0x0f) * (step % 3);
        step++;
        if (n > size - off)
            n = size - off;
        size_t end = off + n;
        while (off < end) {
            evc_frame_event ev;
            off += evc_frame_decode(split, data + off, end - off, &ev);
            if (ev.kind != EVC_FRAME_EV_NONE)
                h2 = event_hash(h2, &ev);
        }
    }
    if (h1 != h2)
        abort();
    evc_frame_stats s1, s2;
    evc_frame_decoder_stats(whole, &s1);
    evc_frame_decoder_stats(split, &s2);
    if (memcmp(&s1, &s2, sizeof s1) != 0 || s1.bytes != size)
        abort();
    evc_frame_decoder_free(whole);
    evc_frame_decoder_free(split);
    return 0;
}
