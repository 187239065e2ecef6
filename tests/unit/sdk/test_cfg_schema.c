/* test_cfg_schema.c: defaults read from the schema (evc_cfg_schema_*) and a
 * section's check folded into one error (evc_cfg_check). */
#include <criterion/criterion.h>
#include <string.h>

#include "evc/config.h"

static const char *const modes[] = {"slow", "fast", NULL};
static const evc_cfg_field schema[] = {
    {.key = "n", .type = EVC_CFG_INT, .default_text = "5000", .min = 1, .max = 10000},
    {.key = "on", .type = EVC_CFG_BOOL, .default_text = "true"},
    {.key = "ratio", .type = EVC_CFG_DOUBLE, .default_text = "0.25"},
    {.key = "mode", .type = EVC_CFG_ENUM, .default_text = "slow", .enum_values = modes},
    {.key = "key", .type = EVC_CFG_STRING, .default_text = "<generated per process>"},
    {.key = "file", .type = EVC_CFG_STRING, .default_text = "state.json"},
    {.key = NULL},
};

static evc_cfg *load(const char *yaml)
{
    evc_cfg *c = NULL;
    evc_error err;
    cr_assert_eq(evc_cfg_load_string("t.yaml", yaml, strlen(yaml), &c, &err), EVC_OK, "%s",
                 err.msg);
    return c;
}

Test(cfg_schema, an_absent_key_reads_the_schemas_default)
{
    cr_assert_eq(evc_cfg_schema_int(NULL, schema, "n"), 5000);
    cr_assert(evc_cfg_schema_bool(NULL, schema, "on"));
    cr_assert_float_eq(evc_cfg_schema_double(NULL, schema, "ratio"), 0.25, 1e-12);
    cr_assert_str_eq(evc_cfg_schema_str(NULL, schema, "mode"), "slow");
    /* A default written with '<' documents one the code computes: it is
     * never handed out as a value. */
    cr_assert_eq(evc_cfg_schema_int(NULL, schema, "key"), 0);
    cr_assert_null(evc_cfg_schema_str(NULL, schema, "key"));
    cr_assert_str_eq(evc_cfg_schema_str(NULL, schema, "file"), "state.json");
    cr_assert_eq(evc_cfg_schema_int(NULL, schema, "nosuch"), 0);
}

Test(cfg_schema, a_present_key_wins_over_the_default)
{
    evc_cfg *c = load("n: 7\non: false\nratio: 1.5\nmode: fast\n");
    const evc_cfg_node *r = evc_cfg_root(c);
    cr_assert_eq(evc_cfg_schema_int(r, schema, "n"), 7);
    cr_assert_not(evc_cfg_schema_bool(r, schema, "on"));
    cr_assert_float_eq(evc_cfg_schema_double(r, schema, "ratio"), 1.5, 1e-12);
    cr_assert_str_eq(evc_cfg_schema_str(r, schema, "mode"), "fast");
    evc_cfg_free(c);
}

Test(cfg_schema, check_reports_the_first_problem_and_counts_the_others)
{
    evc_cfg *c = load("n: 0\nmod: fast\nratio: x\n");
    evc_error err;
    cr_assert_eq(evc_cfg_check(evc_cfg_root(c), schema, "transport.demo", &err), EVC_ECONFIG);
    cr_assert(strncmp(err.msg, "t.yaml:", 7) == 0, "positioned: %s", err.msg);
    cr_assert(strstr(err.msg, "(and 2 more problems)") != NULL, "%s", err.msg);
    evc_cfg_free(c);
    c = load("n: 10\n");
    cr_assert_eq(evc_cfg_check(evc_cfg_root(c), schema, "transport.demo", &err), EVC_OK);
    evc_cfg_free(c);
}
