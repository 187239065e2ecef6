/* unit_envelope: encode/decode round trips and every malformed input with
 * the exact message a user would read. */
#include <criterion/criterion.h>
#include <evc/envelope.h>
#include <jansson.h>
#include <stdio.h>

#define ID "0f8fad5b-d9cb-469f-a165-70867728950e"
#define CORR "7c9e6679-7425-40de-944b-e07fc1f90ae7"

static evc_envelope *decode_ok(const char *text)
{
    evc_envelope *e = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_envelope_decode(text, strlen(text), NULL, &e, &err), EVC_OK, "%s", err.msg);
    cr_assert_not_null(e);
    return e;
}

Test(envelope, encode_exact_text)
{
    evc_envelope e = {.type = "supply.request", .id = ID, .correlation_id = NULL,
                      .ts_ms = 1700000000123, .source = "driver1", .payload = "{ \"cp_id\" : \"CP_001\" }"};
    char *out = NULL;
    size_t len = 0;
    evc_error err = {0};
    cr_assert_eq(evc_envelope_encode(&e, &out, &len, &err), EVC_OK, "%s", err.msg);
    const char *want = "{\"type\":\"supply.request\",\"id\":\"" ID "\",\"correlation_id\":null,"
                       "\"ts\":1700000000123,\"source\":\"driver1\",\"payload\":{\"cp_id\":\"CP_001\"}}";
    cr_assert_str_eq(out, want);
    cr_assert_eq(len, strlen(want));
    free(out);
    e.payload = NULL;
    e.correlation_id = CORR;
    cr_assert_eq(evc_envelope_encode(&e, &out, &len, &err), EVC_OK, "%s", err.msg);
    cr_assert(strstr(out, "\"correlation_id\":\"" CORR "\""));
    cr_assert(strstr(out, "\"payload\":{}}"));
    free(out);
}

Test(envelope, round_trip)
{
    evc_envelope e = {.type = "telemetry", .correlation_id = CORR, .source = "CP_001"};
    char id[EVC_UUID_STR_SIZE];
    evc_error err = {0};
    cr_assert_eq(evc_envelope_stamp(&e, id, &err), EVC_OK);
    cr_assert(evc_uuid_valid(e.id));
    cr_assert_gt(e.ts_ms, 1700000000000, "ms since epoch, not s");
    evc_payload *p = evc_payload_new();
    evc_payload_real(p, "kw", 7.5);
    evc_payload_int(p, "wh", 1234);
    evc_payload_str(p, "note", "quote \" backslash \\ newline \n tab \t é");
    evc_payload_raw(p, "hist", "[1, {\"a\": null}]");
    char *payload = evc_payload_finish(p, &err);
    cr_assert_not_null(payload, "%s", err.msg);
    e.payload = payload;
    char *text;
    size_t len;
    cr_assert_eq(evc_envelope_encode(&e, &text, &len, &err), EVC_OK, "%s", err.msg);
    evc_envelope *d = NULL;
    cr_assert_eq(evc_envelope_decode(text, len, NULL, &d, &err), EVC_OK, "%s", err.msg);
    cr_assert_str_eq(d->type, "telemetry");
    cr_assert_str_eq(d->id, id);
    cr_assert_str_eq(d->correlation_id, CORR);
    cr_assert_eq(d->ts_ms, e.ts_ms);
    cr_assert_str_eq(d->source, "CP_001");
    cr_assert_str_eq(d->payload, payload);
    json_t *pj = evc_envelope_payload_json(d);
    cr_assert(json_is_object(pj));
    cr_assert_str_eq(json_string_value(json_object_get(pj, "note")),
                     "quote \" backslash \\ newline \n tab \t é");
    cr_assert_eq(json_integer_value(json_object_get(pj, "wh")), 1234);
    /* Decoding what we decoded and re-encoded gives the same text. */
    char *again;
    cr_assert_eq(evc_envelope_encode(d, &again, &len, &err), EVC_OK, "%s", err.msg);
    cr_assert_str_eq(again, text);
    free(again);
    evc_envelope_free(d);
    free(text);
    free(payload);
}

Test(envelope, decode_null_correlation_and_field_order_free)
{
    evc_envelope *e = decode_ok("{\"payload\":{},\"source\":\"central\",\"ts\":0,\"correlation_id\":null,"
                                "\"id\":\"" ID "\",\"type\":\"cp.list\"}");
    cr_assert_null(e->correlation_id);
    cr_assert_eq(e->ts_ms, 0);
    cr_assert_str_eq(e->payload, "{}");
    evc_envelope_free(e);
}

/* Builds a valid envelope with one field replaced (or removed when value is
 * NULL, or an extra field added when name is new). */
static void envelope_with(char *out, size_t cap, const char *name, const char *value)
{
    static const char *names[] = {"type", "id", "correlation_id", "ts", "source", "payload"};
    static const char *values[] = {"\"t\"", "\"" ID "\"", "\"" CORR "\"", "17", "\"s\"", "{\"k\":1}"};
    size_t n = (size_t)snprintf(out, cap, "{");
    bool replaced = false;
    for (size_t i = 0; i < 6; i++) {
        const char *v = values[i];
        if (strcmp(names[i], name) == 0) {
            replaced = true;
            if (!value)
                continue;
            v = value;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s\"%s\":%s", n > 1 ? "," : "", names[i], v);
    }
    if (!replaced)
        n += (size_t)snprintf(out + n, cap - n, ",\"%s\":%s", name, value);
    snprintf(out + n, cap - n, "}");
}

static void expect_bad(const char *text, int code, const char *msg)
{
    evc_envelope *e = (evc_envelope *)0x1;
    evc_error err = {0};
    cr_assert_eq(evc_envelope_decode(text, strlen(text), NULL, &e, &err), code, "input %s: %s", text, err.msg);
    cr_assert_null(e);
    cr_assert_str_eq(err.msg, msg, "input %s", text);
}

static void expect_field_bad(const char *name, const char *value, const char *msg)
{
    char text[512];
    envelope_with(text, sizeof text, name, value);
    expect_bad(text, EVC_EPROTO, msg);
}

Test(envelope, template_is_valid)
{
    char text[512];
    envelope_with(text, sizeof text, "ts", "17");
    evc_envelope *e = decode_ok(text);
    cr_assert_eq(e->ts_ms, 17);
    evc_envelope_free(e);
}

Test(envelope, not_json_names_line_and_column)
{
    expect_bad("", EVC_EPROTO, "envelope: not JSON at line 1 column 0: unexpected token near end of file");
    expect_bad("{\n  \"type\": \"t\",\n}", EVC_EPROTO,
               "envelope: not JSON at line 3 column 1: string or '}' expected near '}'");
    expect_bad("{} x", EVC_EPROTO, "envelope: not JSON at line 1 column 4: end of file expected near 'x'");
    expect_bad("{\"type\":\"a\",\"type\":\"b\"}", EVC_EPROTO,
               "envelope: not JSON at line 1 column 18: duplicate object key near '\"type\"'");
}

Test(envelope, not_an_object)
{
    expect_bad("[1]", EVC_EPROTO, "envelope: expected a JSON object, got an array");
    expect_bad("42", EVC_EPROTO, "envelope: expected a JSON object, got an integer");
    expect_bad("\"x\"", EVC_EPROTO, "envelope: expected a JSON object, got a string");
    expect_bad("null", EVC_EPROTO, "envelope: expected a JSON object, got null");
}

Test(envelope, missing_fields)
{
    const char *names[] = {"type", "id", "correlation_id", "ts", "source", "payload"};
    for (size_t i = 0; i < 6; i++) {
        char msg[96];
        snprintf(msg, sizeof msg, "envelope: missing field \"%s\"", names[i]);
        expect_field_bad(names[i], NULL, msg);
    }
}

Test(envelope, unknown_field_is_refused)
{
    expect_field_bad("tpye", "\"t\"", "envelope: unknown field \"tpye\"");
    expect_field_bad("extra", "null", "envelope: unknown field \"extra\"");
}

Test(envelope, wrong_types)
{
    expect_field_bad("type", "1", "envelope: field \"type\" must be a string, got an integer");
    expect_field_bad("id", "null", "envelope: field \"id\" must be a string, got null");
    expect_field_bad("correlation_id", "7", "envelope: field \"correlation_id\" must be a string or null, got an integer");
    expect_field_bad("ts", "\"17\"", "envelope: field \"ts\" must be an integer, got a string");
    expect_field_bad("ts", "17.5", "envelope: field \"ts\" must be an integer, got a real number");
    expect_field_bad("source", "true", "envelope: field \"source\" must be a string, got a boolean");
    expect_field_bad("payload", "[]", "envelope: field \"payload\" must be an object, got an array");
    expect_field_bad("payload", "\"{}\"", "envelope: field \"payload\" must be an object, got a string");
}

Test(envelope, bad_values)
{
    expect_field_bad("type", "\"\"", "envelope: field \"type\" must not be empty");
    expect_field_bad("source", "\"\"", "envelope: field \"source\" must not be empty");
    expect_field_bad("id", "\"42\"", "envelope: field \"id\" is not a UUID: \"42\"");
    expect_field_bad("id", "\"0F8FAD5B-D9CB-469F-A165-70867728950E\"",
                     "envelope: field \"id\" is not a UUID: \"0F8FAD5B-D9CB-469F-A165-70867728950E\"");
    expect_field_bad("correlation_id", "\"0f8fad5b-d9cb-469f-a165-70867728950\"",
                     "envelope: field \"correlation_id\" is not a UUID: \"0f8fad5b-d9cb-469f-a165-70867728950\"");
    expect_field_bad("ts", "-1", "envelope: field \"ts\" must be >= 0, got -1");
}

Test(envelope, oversize_input)
{
    size_t n = EVC_ENVELOPE_DEFAULT_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    evc_envelope *e = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_envelope_decode(big, n, NULL, &e, &err), EVC_ETOOBIG);
    cr_assert_str_eq(err.msg, "envelope: 1048577 bytes exceeds the limit of 1048576 bytes");
    /* Exactly at the limit is parsed (and then fails for its content). */
    cr_assert_eq(evc_envelope_decode(big, n - 1, NULL, &e, &err), EVC_EPROTO);
    free(big);
    char text[512];
    envelope_with(text, sizeof text, "ts", "17");
    evc_envelope_limits lim = {.max_bytes = strlen(text) - 1};
    cr_assert_eq(evc_envelope_decode(text, strlen(text), &lim, &e, &err), EVC_ETOOBIG);
    lim.max_bytes++;
    cr_assert_eq(evc_envelope_decode(text, strlen(text), &lim, &e, &err), EVC_OK, "%s", err.msg);
    evc_envelope_free(e);
}

Test(envelope, input_need_not_be_nul_terminated)
{
    char text[512];
    envelope_with(text, sizeof text, "ts", "17");
    size_t n = strlen(text);
    text[n] = '}';   /* a byte past the given length must not be read */
    evc_envelope *e = NULL;
    cr_assert_eq(evc_envelope_decode(text, n, NULL, &e, NULL), EVC_OK);
    evc_envelope_free(e);
}

static void expect_encode_bad(const evc_envelope *e, const char *msg)
{
    char *out = (char *)0x1;
    size_t len;
    evc_error err = {0};
    cr_assert_eq(evc_envelope_encode(e, &out, &len, &err), EVC_EINVAL);
    cr_assert_null(out);
    cr_assert_str_eq(err.msg, msg);
}

Test(envelope, encode_refuses_what_decode_would_refuse)
{
    evc_envelope ok = {.type = "t", .id = ID, .ts_ms = 1, .source = "s"};
    evc_envelope e = ok;
    e.type = "";
    expect_encode_bad(&e, "envelope encode: field \"type\" must not be empty");
    e = ok;
    e.id = "nope";
    expect_encode_bad(&e, "envelope encode: field \"id\" is not a UUID: \"nope\"");
    e = ok;
    e.correlation_id = "";
    expect_encode_bad(&e, "envelope encode: field \"correlation_id\" is not a UUID: \"\"");
    e = ok;
    e.ts_ms = -5;
    expect_encode_bad(&e, "envelope encode: field \"ts\" must be >= 0, got -5");
    e = ok;
    e.source = NULL;
    expect_encode_bad(&e, "envelope encode: field \"source\" must not be empty");
    e = ok;
    e.payload = "[1]";
    expect_encode_bad(&e, "envelope encode: payload must be an object, got an array");
    e = ok;
    e.payload = "{\"a\":}";
    expect_encode_bad(&e, "envelope encode: payload is not JSON at line 1 column 6: unexpected token near '}'");
    e = ok;
    e.source = "\xff\xfe";
    expect_encode_bad(&e, "envelope encode: field \"source\" is not valid UTF-8");
}
