/* unit_frame: encoder output byte by byte, round trips, every error event,
 * limits and the receiver-facing counters. */
#include <criterion/criterion.h>
#include <evc/frame.h>

#include "frame_log.h"

static evc_frame_decoder *dec(size_t max_data, size_t max_fields)
{
    evc_error err = {0};
    evc_frame_limits lim = {max_data, max_fields};
    evc_frame_decoder *d = evc_frame_decoder_new(&lim, &err);
    cr_assert_not_null(d, "%s", err.msg);
    return d;
}

/* Encodes into a heap buffer; asserts success. */
static char *enc(const char *op, const evc_frame_field *f, size_t n, size_t *len)
{
    char *out = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_frame_encode_alloc(op, f, n, &out, len, &err), EVC_OK, "%s", err.msg);
    cr_assert_eq(*len, evc_frame_encoded_size(op, f, n));
    return out;
}

/* Decodes all of buf as one chunk; returns the single event, asserting that
 * exactly one event came out and that it ended exactly at the end. */
static evc_frame_event one_event(evc_frame_decoder *d, const char *buf, size_t len)
{
    evc_frame_event ev;
    size_t used = evc_frame_decode(d, buf, len, &ev);
    cr_assert_eq(used, len, "event after %zu of %zu bytes", used, len);
    cr_assert_neq(ev.kind, EVC_FRAME_EV_NONE);
    return ev;
}

static evc_frame_event roundtrip(evc_frame_decoder *d, const char *op, const evc_frame_field *f,
                                 size_t n)
{
    size_t len;
    char *wire = enc(op, f, n, &len);
    evc_frame_event ev = one_event(d, wire, len);
    free(wire);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_FRAME, "kind %d error %s", ev.kind, evc_frame_error_str(ev.error));
    cr_assert_str_eq(ev.opcode, op);
    cr_assert_eq(ev.opcode_len, strlen(op));
    cr_assert_eq(ev.nfields, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(ev.fields[i].len, f[i].len, "field %zu", i);
        cr_assert_eq(memcmp(ev.fields[i].data, f[i].data, f[i].len), 0, "field %zu", i);
        cr_assert_eq(ev.fields[i].data[f[i].len], '\0', "field %zu NUL-terminated", i);
    }
    return ev;
}

Test(frame, zero_fields_exact_wire_bytes)
{
    size_t len;
    char *w = enc("PING", NULL, 0, &len);
    unsigned char lrc = 'P' ^ 'I' ^ 'N' ^ 'G' ^ 0x03;
    const char want[] = {0x02, 'P', 'I', 'N', 'G', 0x03, (char)lrc};
    cr_assert_eq(len, sizeof want);
    cr_assert_eq(memcmp(w, want, len), 0);
    free(w);
    evc_frame_decoder *d = dec(0, 0);
    roundtrip(d, "PING", NULL, 0);
    evc_frame_decoder_free(d);
}

Test(frame, empty_fields_are_distinct_from_no_fields)
{
    evc_frame_decoder *d = dec(0, 0);
    evc_frame_field one[] = {{"", 0}};
    evc_frame_field three[] = {{"", 0}, {"x", 1}, {"", 0}};
    roundtrip(d, "OP", one, 1);
    roundtrip(d, "OP", three, 3);
    size_t len;
    char *w = enc("OP", three, 3, &len);
    cr_assert_eq(len, 1 + 2 + 4 + 2);  /* STX OP # # x # ETX LRC */
    cr_assert_eq(memcmp(w + 1, "OP##x#\x03", 7), 0);
    free(w);
    evc_frame_decoder_free(d);
}

Test(frame, escapes_on_the_wire)
{
    const char raw[] = {'a', '#', 'b', '\\', 0x02, 0x03, 0x06, 0x15, 0x00, 'z'};
    evc_frame_field f[] = {{raw, sizeof raw}};
    size_t len;
    char *w = enc("E_1", f, 1, &len);
    const char data[] = {'E', '_', '1', '#', 'a', '\\', '#', 'b', '\\', '\\', '\\', 'B', '\\', 'C',
                         '\\', 'F', '\\', 'U', 0x00, 'z', 0x03};
    cr_assert_eq(len, 1 + sizeof data + 1);
    cr_assert_eq(w[0], 0x02);
    cr_assert_eq(memcmp(w + 1, data, sizeof data), 0);
    unsigned char lrc = 0;
    for (size_t i = 0; i < sizeof data; i++)
        lrc ^= (unsigned char)data[i];
    cr_assert_eq((unsigned char)w[len - 1], lrc, "LRC covers DATA and ETX as sent");
    free(w);
    evc_frame_decoder *d = dec(0, 0);
    roundtrip(d, "E_1", f, 1);
    evc_frame_decoder_free(d);
}

Test(frame, all_256_byte_values_in_a_field)
{
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    evc_frame_field f[] = {{all, 256}, {all + 1, 3}, {"#", 1}, {"\\", 1}};
    size_t len;
    char *w = enc("ALL", f, 4, &len);
    for (size_t i = 1; i + 2 < len; i++) {
        unsigned char c = (unsigned char)w[i];
        cr_assert(c != 0x02 && c != 0x03 && c != 0x06 && c != 0x15, "raw control byte at %zu", i);
    }
    free(w);
    evc_frame_decoder *d = dec(0, 0);
    roundtrip(d, "ALL", f, 4);
    evc_frame_decoder_free(d);
}

Test(frame, ack_and_nack_bytes)
{
    evc_frame_decoder *d = dec(0, 0);
    frame_log l = {0};
    const char in[] = {0x06, 'g', 0x15, 0x06};
    log_decode(d, in, sizeof in, NULL, 0, &l);
    cr_assert_str_eq(l.s, "A@0\nN@2\nA@3\n");
    evc_frame_stats st;
    evc_frame_decoder_stats(d, &st);
    cr_assert_eq(st.acks, 2);
    cr_assert_eq(st.nacks, 1);
    cr_assert_eq(st.garbage_bytes, 1);
    free(l.s);
    evc_frame_decoder_free(d);
}

Test(frame, bad_lrc_is_an_error_then_next_frame_decodes)
{
    evc_frame_decoder *d = dec(0, 0);
    size_t len;
    evc_frame_field f[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR("OK")};
    char *w = enc("HB", f, 2, &len);
    w[len - 1] ^= 0x5a;
    evc_frame_event ev = one_event(d, w, len);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_ERROR);
    cr_assert_eq(ev.error, EVC_FRAME_ERR_BAD_LRC);
    cr_assert_eq(ev.offset, 0);
    w[len - 1] ^= 0x5a;
    roundtrip(d, "HB", f, 2);
    free(w);
    /* A flipped DATA byte is caught by the LRC too. */
    w = enc("HB", f, 2, &len);
    w[3] = 'X';
    ev = one_event(d, w, len);
    cr_assert_eq(ev.error, EVC_FRAME_ERR_BAD_LRC);
    free(w);
    evc_frame_decoder_free(d);
}

Test(frame, missing_etx_reports_and_keeps_the_new_frame)
{
    evc_frame_decoder *d = dec(0, 0);
    frame_log l = {0};
    const char in[] = "\x02" "AUTH#CP_0" "\x02" "PING\x03" "\x13";  /* 'P'^'I'^'N'^'G'^ETX = 0x13 */
    log_decode(d, in, sizeof in - 1, NULL, 0, &l);
    char want[64];
    snprintf(want, sizeof want, "E%d@0\nF@10:PING\n", EVC_FRAME_ERR_MISSING_ETX);
    cr_assert_str_eq(l.s, want);
    free(l.s);
    evc_frame_decoder_free(d);
}

Test(frame, oversize_limit_is_exact)
{
    evc_frame_decoder *d = dec(16, 0);
    evc_frame_field ok[] = {{"0123456789a", 11}};    /* "OPC#" + 11 = 15 bytes... */
    evc_frame_field edge[] = {{"0123456789ab", 12}}; /* 16: exactly the limit */
    evc_frame_field big[] = {{"0123456789abc", 13}}; /* 17 */
    roundtrip(d, "OPC", ok, 1);
    roundtrip(d, "OPC", edge, 1);
    size_t len;
    char *w = enc("OPC", big, 1, &len);
    evc_frame_event ev;
    size_t used = evc_frame_decode(d, w, len, &ev);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_ERROR);
    cr_assert_eq(ev.error, EVC_FRAME_ERR_OVERSIZE);
    cr_assert_eq(used, 1 + 17, "reported at the first byte over the limit");
    used += evc_frame_decode(d, w + used, len - used, &ev);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_NONE, "one error per frame, the tail is skipped");
    cr_assert_eq(used, len);
    free(w);
    /* An escape counts as two bytes on the wire. */
    evc_frame_field esc[] = {{"0123456789#", 11}};
    w = enc("OPC", esc, 1, &len);
    ev = one_event(d, w, len);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_FRAME);
    free(w);
    roundtrip(d, "OPC", ok, 1);
    evc_frame_stats st;
    evc_frame_decoder_stats(d, &st);
    cr_assert_eq(st.errors, 1);
    cr_assert_eq(st.frames, 4);
    cr_assert_eq(st.discarded_bytes, 2, "the oversize frame's ETX and LRC");
    evc_frame_decoder_free(d);
}

Test(frame, garbage_between_frames_is_skipped_and_counted)
{
    evc_frame_decoder *d = dec(0, 0);
    size_t len;
    evc_frame_field f[] = {EVC_FRAME_STR("1")};
    char *w = enc("ST", f, 1, &len);
    char in[256];
    size_t n = 0;
    memcpy(in + n, "junk", 4), n += 4;
    memcpy(in + n, w, len), n += len;
    memcpy(in + n, "\r\nmore junk\x03\x04", 13), n += 13;
    memcpy(in + n, w, len), n += len;
    free(w);
    frame_log l = {0};
    log_decode(d, in, n, NULL, 0, &l);
    char want[64];
    snprintf(want, sizeof want, "F@4:ST|31\nF@%zu:ST|31\n", 4 + len + 13);
    cr_assert_str_eq(l.s, want);
    evc_frame_stats st;
    evc_frame_decoder_stats(d, &st);
    cr_assert_eq(st.garbage_bytes, 4 + 13);
    cr_assert_eq(st.errors, 0);
    cr_assert_eq(st.bytes, n);
    free(l.s);
    evc_frame_decoder_free(d);
}

Test(frame, max_field_count)
{
    evc_frame_decoder *d = dec(0, 4);
    evc_frame_field f[5] = {{"a", 1}, {"b", 1}, {"c", 1}, {"d", 1}, {"e", 1}};
    roundtrip(d, "F4", f, 4);
    size_t len;
    char *w = enc("F5", f, 5, &len);
    evc_frame_event ev;
    size_t used = evc_frame_decode(d, w, len, &ev);
    cr_assert_eq(ev.error, EVC_FRAME_ERR_TOO_MANY_FIELDS);
    cr_assert_eq(evc_frame_decode(d, w + used, len - used, &ev), len - used);
    cr_assert_eq(ev.kind, EVC_FRAME_EV_NONE);
    free(w);
    roundtrip(d, "F0", NULL, 0);
    evc_frame_decoder_free(d);
    evc_frame_decoder *d64 = dec(0, 0);
    evc_frame_field many[EVC_FRAME_DEFAULT_MAX_FIELDS];
    for (size_t i = 0; i < EVC_FRAME_DEFAULT_MAX_FIELDS; i++)
        many[i] = (evc_frame_field){"x", 1};
    roundtrip(d64, "MANY", many, EVC_FRAME_DEFAULT_MAX_FIELDS);
    evc_frame_decoder_free(d64);
}

/* Feeds a hand-made byte string, expects exactly one error of `kind`, and
 * then a valid frame right after it (resynchronisation). */
static void expect_error(const char *in, size_t n, evc_frame_error_kind kind)
{
    evc_frame_decoder *d = dec(0, 0);
    frame_log l = {0};
    log_decode(d, in, n, NULL, 0, &l);
    log_decode(d, "\x02" "PING\x03\x13", 7, NULL, 0, &l);
    char want[64];
    snprintf(want, sizeof want, "E%d@0\nF@%zu:PING\n", kind, n);
    cr_assert_str_eq(l.s, want, "input %zu bytes, kind %s", n, evc_frame_error_str(kind));
    free(l.s);
    evc_frame_decoder_free(d);
}

Test(frame, bad_opcode)
{
    expect_error("\x02" "ping\x03" "x", 7, EVC_FRAME_ERR_BAD_OPCODE);
    expect_error("\x02" "\x03" "x", 3, EVC_FRAME_ERR_BAD_OPCODE);
    expect_error("\x02" "#a\x03" "x", 5, EVC_FRAME_ERR_BAD_OPCODE);
    expect_error("\x02" "O\\#\x03" "x", 6, EVC_FRAME_ERR_BAD_OPCODE);
}

Test(frame, bad_escape)
{
    expect_error("\x02" "OP#a\\x\x03" "x", 9, EVC_FRAME_ERR_BAD_ESCAPE);
    expect_error("\x02" "OP#a\\\x03" "x", 8, EVC_FRAME_ERR_BAD_ESCAPE);
}

Test(frame, raw_control_byte_inside_data)
{
    expect_error("\x02" "OP#a\x06" "b\x03" "x", 9, EVC_FRAME_ERR_CONTROL_BYTE);
    expect_error("\x02" "OP\x15\x03" "x", 6, EVC_FRAME_ERR_CONTROL_BYTE);
}

Test(frame, reset_forgets_a_partial_frame)
{
    evc_frame_decoder *d = dec(0, 0);
    frame_log l = {0};
    log_decode(d, "\x02" "HALF#ab", 8, NULL, 0, &l);
    evc_frame_decoder_reset(d);
    log_decode(d, "\x02" "PING\x03\x13", 7, NULL, 0, &l);
    cr_assert_str_eq(l.s, "F@8:PING\n");
    free(l.s);
    evc_frame_decoder_free(d);
}

static int count_and_stop_at_two(void *arg, const evc_frame_event *ev)
{
    int *n = arg;
    (void)ev;
    return ++*n == 2;
}

Test(frame, feed_callback_stops_and_resumes)
{
    evc_frame_decoder *d = dec(0, 0);
    const char in[] = "\x06\x06\x02" "PING\x03\x13\x15";
    int n = 0;
    size_t used = evc_frame_decoder_feed(d, in, sizeof in - 1, count_and_stop_at_two, &n);
    cr_assert_eq(used, 2);
    used += evc_frame_decoder_feed(d, in + used, sizeof in - 1 - used, count_and_stop_at_two, &n);
    cr_assert_eq(used, sizeof in - 1);
    cr_assert_eq(n, 4);
    evc_frame_decoder_free(d);
}

Test(frame, encoder_errors)
{
    char buf[8];
    size_t len = 0;
    evc_error err = {0};
    cr_assert_eq(evc_frame_encode("bad", NULL, 0, buf, sizeof buf, &len, &err), EVC_EINVAL);
    cr_assert_str_eq(err.msg, "frame encode: opcode \"bad\" is not [A-Z0-9_]+");
    cr_assert_eq(evc_frame_encode("", NULL, 0, buf, sizeof buf, &len, &err), EVC_EINVAL);
    cr_assert_eq(evc_frame_encoded_size("A B", NULL, 0), 0);
    evc_frame_field f[] = {EVC_FRAME_STR("hello")};
    cr_assert_eq(evc_frame_encode("OP", f, 1, buf, sizeof buf, &len, &err), EVC_ETOOBIG);
    cr_assert_eq(len, 11);
    cr_assert_str_eq(err.msg, "frame encode: frame of 11 bytes exceeds buffer of 8");
    char big[11];
    cr_assert_eq(evc_frame_encode("OP", f, 1, big, sizeof big, &len, &err), EVC_OK);
}

Test(frame, decoder_limits_are_checked)
{
    evc_error err = {0};
    evc_frame_limits lim = {EVC_FRAME_MAX_DATA_LIMIT + 1, 0};
    cr_assert_null(evc_frame_decoder_new(&lim, &err));
    cr_assert_eq(err.code, EVC_EINVAL);
    lim = (evc_frame_limits){8, 9};
    cr_assert_null(evc_frame_decoder_new(&lim, &err));
    cr_assert_str_eq(err.msg, "frame decoder: max_fields 9 exceeds max_data 8 (a field takes a byte at least)");
}
