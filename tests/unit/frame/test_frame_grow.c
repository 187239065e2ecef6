/* unit_frame (grow): the decoder's buffers grow with the frame being read,
 * never past the limits, and trimming gives them back between frames only
 * (issue 14: thousands of idle links must not hold 5 KB of decoder each). */
#include <criterion/criterion.h>
#include <evc/frame.h>
#include <stdlib.h>
#include <string.h>

static evc_frame_decoder *dec(size_t max_data, size_t max_fields)
{
    evc_error err = {0};
    evc_frame_limits lim = {max_data, max_fields};
    evc_frame_decoder *d = evc_frame_decoder_new(&lim, &err);
    cr_assert_not_null(d, "%s", err.msg);
    return d;
}

static char *enc(const char *op, const evc_frame_field *f, size_t n, size_t *len)
{
    char *out = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_frame_encode_alloc(op, f, n, &out, len, &err), EVC_OK, "%s", err.msg);
    return out;
}

/* Feeds `wire` in chunks of `step` bytes; returns the one frame event. */
static evc_frame_event feed_in_steps(evc_frame_decoder *d, const char *wire, size_t len,
                                     size_t step)
{
    evc_frame_event ev = {0}, last = {0};
    int events = 0;
    for (size_t off = 0; off < len;) {
        size_t n = len - off < step ? len - off : step;
        size_t used = evc_frame_decode(d, wire + off, n, &ev);
        off += used;
        if (ev.kind != EVC_FRAME_EV_NONE) {
            events++;
            last = ev;
        }
    }
    cr_assert_eq(events, 1, "%d events", events);
    return last;
}

Test(frame_grow, a_new_decoder_holds_no_buffer)
{
    evc_frame_decoder *d = dec(0, 0);
    cr_expect_eq(evc_frame_decoder_held(d), 0);
    evc_frame_decoder_free(d);
}

/* The biggest frame the limits allow, in pieces of every size: the fields
 * point at the right bytes although the buffer moved as it grew. */
Test(frame_grow, the_largest_frame_decodes_whatever_the_split)
{
    enum { MAX_DATA = 4096, MAX_FIELDS = 64 };
    evc_frame_field f[MAX_FIELDS];
    char *big = malloc(MAX_DATA);
    for (size_t i = 0; i < MAX_DATA; i++)
        big[i] = (char)('a' + i % 26);
    /* 63 one-byte fields, then one filling the rest of max_data: "OP" +
     * 64 separators + 63 bytes + the last field. */
    size_t last = MAX_DATA - 2 - MAX_FIELDS - (MAX_FIELDS - 1);
    for (size_t i = 0; i < MAX_FIELDS - 1; i++)
        f[i] = (evc_frame_field){big + i, 1};
    f[MAX_FIELDS - 1] = (evc_frame_field){big, last};
    size_t len;
    char *wire = enc("OP", f, MAX_FIELDS, &len);
    cr_assert_eq(len, MAX_DATA + 3, "the frame fills max_data exactly");
    size_t steps[] = {1, 7, 64, 1000, len};
    for (size_t s = 0; s < sizeof steps / sizeof *steps; s++) {
        evc_frame_decoder *d = dec(MAX_DATA, MAX_FIELDS);
        evc_frame_event ev = feed_in_steps(d, wire, len, steps[s]);
        cr_assert_eq(ev.kind, EVC_FRAME_EV_FRAME, "step %zu: %s", steps[s],
                     evc_frame_error_str(ev.error));
        cr_assert_str_eq(ev.opcode, "OP");
        cr_assert_eq(ev.nfields, MAX_FIELDS);
        for (size_t i = 0; i < MAX_FIELDS; i++) {
            cr_assert_eq(ev.fields[i].len, f[i].len, "step %zu field %zu", steps[s], i);
            cr_assert_eq(memcmp(ev.fields[i].data, f[i].data, f[i].len), 0, "field %zu", i);
            cr_assert_eq(ev.fields[i].data[f[i].len], '\0');
        }
        cr_expect_leq(evc_frame_decoder_held(d),
                      MAX_DATA + 1 + MAX_FIELDS * sizeof(evc_frame_field),
                      "the buffers grew past the limits: %zu bytes", evc_frame_decoder_held(d));
        evc_frame_decoder_free(d);
    }
    free(wire);
    free(big);
}

Test(frame_grow, trim_between_frames_frees_and_the_next_frame_decodes)
{
    evc_frame_decoder *d = dec(0, 0);
    evc_frame_field f[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR("OK")};
    size_t len;
    char *wire = enc("HB", f, 2, &len);
    for (int round = 0; round < 3; round++) {
        evc_frame_event ev = feed_in_steps(d, wire, len, len);
        cr_assert_eq(ev.kind, EVC_FRAME_EV_FRAME);
        cr_assert_str_eq(ev.fields[0].data, "CP_001");
        cr_assert_str_eq(ev.fields[1].data, "OK");
        cr_expect_gt(evc_frame_decoder_held(d), 0);
        evc_frame_decoder_trim(d);
        cr_expect_eq(evc_frame_decoder_held(d), 0, "round %d", round);
    }
    free(wire);
    evc_frame_decoder_free(d);
}

/* A frame cut across two reads keeps its first half through a trim. */
Test(frame_grow, trim_inside_a_frame_keeps_it)
{
    evc_frame_decoder *d = dec(0, 0);
    evc_frame_field f[] = {EVC_FRAME_STR("a field long enough to need growth, twice over......"),
                           EVC_FRAME_STR("second")};
    size_t len;
    char *wire = enc("PROOF", f, 2, &len);
    evc_frame_event ev;
    size_t half = len / 2;
    cr_assert_eq(evc_frame_decode(d, wire, half, &ev), half);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_NONE);
    evc_frame_decoder_trim(d);
    cr_expect_gt(evc_frame_decoder_held(d), 0, "a half-read frame lost its bytes");
    cr_assert_eq(evc_frame_decode(d, wire + half, len - half, &ev), len - half);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_FRAME, "%s", evc_frame_error_str(ev.error));
    cr_assert_str_eq(ev.fields[0].data, f[0].data);
    cr_assert_str_eq(ev.fields[1].data, "second");
    free(wire);
    evc_frame_decoder_free(d);
}

/* Skipping a bad frame keeps nothing: trim frees even mid-discard. */
Test(frame_grow, a_bad_frame_being_skipped_holds_nothing_after_trim)
{
    evc_frame_decoder *d = dec(16, 0);
    const char *wire = "\x02" "OP#this field is far too long for sixteen";
    evc_frame_event ev;
    size_t used = evc_frame_decode(d, wire, strlen(wire), &ev);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_ERROR);
    cr_assert_eq(ev.error, EVC_FRAME_ERR_OVERSIZE);
    evc_frame_decode(d, wire + used, strlen(wire) - used, &ev);
    evc_frame_decoder_trim(d);
    cr_expect_eq(evc_frame_decoder_held(d), 0);
    evc_frame_decoder_free(d);
}
