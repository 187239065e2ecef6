/* unit_envelope (payload builder, UUIDs). */
#include <criterion/criterion.h>
#include <evc/envelope.h>
#include <evc/uuid.h>
#include <math.h>
#include <stdlib.h>

Test(payload, builds_escaped_json_in_order)
{
    evc_payload *p = evc_payload_new();
    cr_assert_eq(evc_payload_str(p, "cp", "CP_\"1\"\n"), EVC_OK);
    evc_payload_int(p, "n", -3);
    evc_payload_bool(p, "ok", true);
    evc_payload_null(p, "none");
    evc_payload_str(p, "s", NULL);
    evc_payload_real(p, "kw", 0.5);
    evc_payload_raw(p, "obj", " { \"x\" : [ ] } ");
    evc_error err = {0};
    char *t = evc_payload_finish(p, &err);
    cr_assert_not_null(t, "%s", err.msg);
    cr_assert_str_eq(t, "{\"cp\":\"CP_\\\"1\\\"\\n\",\"n\":-3,\"ok\":true,\"none\":null,\"s\":null,"
                        "\"kw\":0.5,\"obj\":{\"x\":[]}}");
    free(t);
}

static void expect_sticky(evc_payload *p, int code, const char *msg)
{
    /* Later adders keep the first error. */
    cr_assert_eq(evc_payload_int(p, "later", 1), code);
    evc_error err = {0};
    cr_assert_null(evc_payload_finish(p, &err));
    cr_assert_eq(err.code, code);
    cr_assert_str_eq(err.msg, msg);
}

Test(payload, errors_are_sticky_and_named)
{
    evc_payload *p = evc_payload_new();
    evc_payload_int(p, "a", 1);
    cr_assert_eq(evc_payload_int(p, "a", 2), EVC_EEXIST);
    expect_sticky(p, EVC_EEXIST, "payload: duplicate key \"a\"");

    p = evc_payload_new();
    cr_assert_eq(evc_payload_real(p, "kw", NAN), EVC_EINVAL);
    expect_sticky(p, EVC_EINVAL, "payload: number is not finite for key \"kw\"");

    p = evc_payload_new();
    evc_payload_str(p, "name", "\xc3\x28");
    expect_sticky(p, EVC_EINVAL, "payload: value is not valid UTF-8 for key \"name\"");

    p = evc_payload_new();
    evc_payload_raw(p, "obj", "{\"x\":");
    expect_sticky(p, EVC_EINVAL,
                  "payload: value of key \"obj\" is not JSON at line 1 column 5: unexpected token near end of file");

    p = evc_payload_new();
    evc_payload_int(p, NULL, 1);
    expect_sticky(p, EVC_EINVAL, "payload: NULL key for key \"(null)\"");

    evc_error err = {0};
    cr_assert_null(evc_payload_finish(NULL, &err));
    cr_assert_eq(err.code, EVC_EINVAL);
    evc_payload_free(NULL);
}

Test(uuid, validation)
{
    cr_assert(evc_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e"));
    cr_assert(evc_uuid_valid("00000000-0000-0000-0000-000000000000"));
    cr_assert_not(evc_uuid_valid(NULL));
    cr_assert_not(evc_uuid_valid(""));
    cr_assert_not(evc_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950"));    /* short */
    cr_assert_not(evc_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950e0"));  /* long */
    cr_assert_not(evc_uuid_valid("0f8fad5bd9cb-469f-a165-70867728950e0"));   /* hyphen moved */
    cr_assert_not(evc_uuid_valid("0f8fad5b-d9cb-469f-a165-70867728950E"));   /* uppercase */
    cr_assert_not(evc_uuid_valid("0f8fad5g-d9cb-469f-a165-70867728950e"));   /* not hex */
    cr_assert_not(evc_uuid_valid("{f8fad5b-d9cb-469f-a165-70867728950e}"));
}

static int cmp(const void *a, const void *b)
{
    return memcmp(a, b, EVC_UUID_STR_SIZE);
}

Test(uuid, hundred_thousand_distinct_v4)
{
    enum { N = 100000 };
    char (*ids)[EVC_UUID_STR_SIZE] = malloc(sizeof *ids * N);
    evc_error err = {0};
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(evc_uuid_generate(ids[i], &err), EVC_OK, "%s", err.msg);
        cr_assert(evc_uuid_valid(ids[i]), "%s", ids[i]);
        cr_assert_eq(ids[i][14], '4', "version nibble of %s", ids[i]);
        cr_assert(strchr("89ab", ids[i][19]), "variant of %s", ids[i]);
    }
    qsort(ids, N, sizeof *ids, cmp);
    for (size_t i = 1; i < N; i++)
        cr_assert_neq(memcmp(ids[i - 1], ids[i], EVC_UUID_STR_SIZE), 0, "duplicate %s", ids[i]);
    free(ids);
}
