/* unit_frame (stream): the decoder is a pure function of its input (any
 * split gives the same events), and a long random stream mixed with valid
 * frames neither crashes it nor hides any of the valid frames. */
#include <criterion/criterion.h>
#include <evc/frame.h>
#include <stdint.h>

#include "frame_log.h"

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, so a failure replays. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

/* Random bytes biased towards the bytes the decoder cares about. */
static unsigned char rnd_byte(void)
{
    static const unsigned char special[] = {0x02, 0x03, 0x06, 0x15, '#', '\\', 'A', 'B', 'C', 'F', 'U'};
    uint64_t r = rnd();
    if (r % 4 == 0)
        return special[(r >> 8) % sizeof special];
    return (unsigned char)(r >> 16);
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

/* Appends "Z" + a valid frame VALID#<seq>#<random bytes>. The 'Z' ends any
 * state garbage left behind (e.g. a pending LRC byte would otherwise eat
 * this frame's STX), as a real peer's timeout/reconnect would. */
static void put_valid(buf *b, unsigned seq)
{
    char num[16], payload[40];
    int n = snprintf(num, sizeof num, "%u", seq);
    size_t plen = rnd() % sizeof payload;
    for (size_t i = 0; i < plen; i++)
        payload[i] = (char)rnd_byte();
    evc_frame_field f[] = {{num, (size_t)n}, {payload, plen}};
    char frame[128];
    size_t len;
    cr_assert_eq(evc_frame_encode("VALID", f, 2, frame, sizeof frame, &len, NULL), EVC_OK);
    put(b, "Z", 1);
    put(b, frame, len);
}

static void put_garbage(buf *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = rnd_byte();
        put(b, &c, 1);
    }
}

static evc_frame_decoder *dec(size_t max_data)
{
    evc_frame_limits lim = {max_data, 8};
    evc_frame_decoder *d = evc_frame_decoder_new(&lim, NULL);
    cr_assert_not_null(d);
    return d;
}

Test(frame_stream, any_split_gives_the_same_events)
{
    rng_state = 0x9e3779b97f4a7c15ull;
    buf b = {0};
    for (unsigned i = 0; i < 300; i++) {
        switch (rnd() % 6) {
        case 0: put_garbage(&b, rnd() % 20); break;
        case 1: put(&b, "\x06", 1); break;
        case 2: put(&b, "\x15", 1); break;
        case 3: put(&b, "\x02" "CUT#ab", 7); break;   /* frame cut short */
        default: put_valid(&b, i); break;
        }
    }
    evc_frame_decoder *d = dec(64);
    frame_log whole = {0};
    log_decode(d, b.p, b.len, NULL, 0, &whole);
    evc_frame_decoder_free(d);
    cr_assert_gt(whole.events, 200);

    size_t one = 1;
    d = dec(64);
    frame_log bytewise = {0};
    log_decode(d, b.p, b.len, &one, 1, &bytewise);
    evc_frame_decoder_free(d);
    cr_assert_str_eq(bytewise.s, whole.s);

    for (int trial = 0; trial < 200; trial++) {
        size_t chunks[17];
        for (size_t i = 0; i < 17; i++)
            chunks[i] = 1 + rnd() % (trial < 100 ? 8 : 300);
        d = dec(64);
        frame_log split = {0};
        log_decode(d, b.p, b.len, chunks, 17, &split);
        evc_frame_decoder_free(d);
        cr_assert_str_eq(split.s, whole.s, "trial %d", trial);
        free(split.s);
    }
    free(whole.s);
    free(bytewise.s);
    free(b.p);
}

/* 1,000,000 chunks of random length and content, valid frames mixed in. */
Test(frame_stream, million_random_chunks, .timeout = 100)
{
    rng_state = 0x2545f4914f6cdd1dull;
    evc_frame_decoder *d = dec(256);
    buf b = {0};
    unsigned sent = 0, found = 0;
    size_t chunks = 0;
    while (chunks < 1000000) {
        b.len = 0;
        while (b.len < 4096) {
            if (rnd() % 4 == 0)
                put_valid(&b, sent++);
            else
                put_garbage(&b, rnd() % 64);
        }
        size_t off = 0;
        while (off < b.len) {
            size_t n = 1 + rnd() % 32;
            if (n > b.len - off)
                n = b.len - off;
            size_t pos = off;
            chunks++;
            while (pos < off + n) {
                evc_frame_event ev;
                pos += evc_frame_decode(d, b.p + pos, off + n - pos, &ev);
                if (ev.kind != EVC_FRAME_EV_FRAME || strcmp(ev.opcode, "VALID") != 0 ||
                    ev.nfields != 2)
                    continue;
                /* Valid frames come out in order, none missing, none twice. */
                char want[16];
                snprintf(want, sizeof want, "%u", found);
                cr_assert_str_eq(ev.fields[0].data, want);
                found++;
            }
            off += n;
        }
    }
    cr_assert_eq(found, sent);
    cr_assert_gt(sent, 100000);
    evc_frame_stats st;
    evc_frame_decoder_stats(d, &st);
    cr_assert_gt(st.errors, 0);
    cr_assert_gt(st.garbage_bytes, 0);
    cr_assert_geq(st.frames, sent);
    free(b.p);
    evc_frame_decoder_free(d);
}
