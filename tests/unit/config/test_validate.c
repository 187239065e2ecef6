/* test_validate.c: schema validation through the API (NULL maps, subtrees,
 * suggestions, collection of problems) and positional overrides. */
#include <criterion/criterion.h>
#include <string.h>

#include "evc/config.h"
#include "test_schema.h"

static evc_cfg *load(const char *yaml)
{
    evc_cfg *cfg = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_cfg_load_string("v.yaml", yaml, strlen(yaml), &cfg, &err), EVC_OK, "%s",
                 err.msg);
    return cfg;
}

static const char *validate(const evc_cfg_node *map, const evc_cfg_field *schema,
                            const char *where)
{
    static problems p;
    memset(&p, 0, sizeof p);
    size_t n = evc_cfg_validate(map, schema, where, problems_collect, &p);
    cr_expect_eq(n, p.calls);
    return p.text;
}

static const evc_cfg_field SMALL[] = {
    {.key = "port", .type = EVC_CFG_INT, .required = true, .min = 1, .max = 65535},
    {.key = "host", .type = EVC_CFG_STRING},
    {.key = "a", .type = EVC_CFG_STRING},
    {0},
};

Test(validate, null_map_reports_missing_keys_at_its_name)
{
    const evc_cfg_field *transport = NULL;
    for (const evc_cfg_field *f = test_root_schema; f->key; f++)
        if (strcmp(f->key, "transport") == 0)
            transport = f->children;
    cr_assert_not_null(transport);
    cr_expect_str_eq(validate(NULL, transport, "transport"),
                     "<transport>: missing required key 'plugin' in transport\n"
                     "<transport>: missing required key 'endpoint' in transport\n");
    cr_expect_str_eq(validate(NULL, SMALL, ""),
                     "<config>: missing required key 'port' at top level\n");
    cr_expect_eq(evc_cfg_validate(NULL, SMALL, NULL, NULL, NULL), 1, "NULL where and callback");
}

Test(validate, subtree_where_names_nested_maps)
{
    evc_cfg *cfg = load("transport:\n  plugin: zmq\n  endpoint: e\n  zmq: {sndhwm: 1, lingr: 2}\n");
    const evc_cfg_node *t = evc_cfg_get(evc_cfg_root(cfg), "transport");
    const evc_cfg_field *schema = NULL;
    for (const evc_cfg_field *f = test_root_schema; f->key; f++)
        if (strcmp(f->key, "transport") == 0)
            schema = f->children;
    cr_expect_str_eq(validate(t, schema, "transport"),
                     "v.yaml:4:20: unknown key 'lingr' in transport.zmq; valid keys: sndhwm, "
                     "linger (did you mean 'linger'?)\n");
    evc_cfg_free(cfg);
}

Test(validate, a_non_map_is_reported_as_such)
{
    evc_cfg *cfg = load("transport: zmq\n");
    const evc_cfg_node *t = evc_cfg_get(evc_cfg_root(cfg), "transport");
    cr_expect_str_eq(validate(t, SMALL, "transport"),
                     "v.yaml:1:12: 'transport' must be a map, got 'zmq'\n");
    cr_expect_str_eq(validate(t, SMALL, ""), "v.yaml:1:12: the top level must be a map, got 'zmq'\n");
    evc_cfg_free(cfg);
    /* An empty value is an empty section. */
    cfg = load("transport:\n");
    t = evc_cfg_get(evc_cfg_root(cfg), "transport");
    cr_expect_str_eq(validate(t, SMALL, "transport"),
                     "v.yaml:1:11: missing required key 'port' in transport\n");
    evc_cfg_free(cfg);
}

Test(validate, suggestions_only_within_two_edits)
{
    evc_cfg *cfg = load("prot: 1\nhots: h\nb: x\nportnumber: 2\n");
    cr_expect_str_eq(
        validate(evc_cfg_root(cfg), SMALL, ""),
        "v.yaml:1:1: unknown key 'prot' at top level; valid keys: port, host, a (did you mean "
        "'port'?)\n"
        "v.yaml:2:1: unknown key 'hots' at top level; valid keys: port, host, a (did you mean "
        "'host'?)\n"
        "v.yaml:3:1: unknown key 'b' at top level; valid keys: port, host, a (did you mean "
        "'a'?)\n"
        "v.yaml:4:1: unknown key 'portnumber' at top level; valid keys: port, host, a\n"
        "v.yaml:1:1: missing required key 'port' at top level\n");
    evc_cfg_free(cfg);
}

Test(validate, long_values_are_shortened_in_messages)
{
    char yaml[400] = "port: ";
    memset(yaml + 6, 'x', 300);
    yaml[306] = '\0';
    evc_cfg *cfg = load(yaml);
    const char *out = validate(evc_cfg_root(cfg), SMALL, "");
    cr_expect(strncmp(out, "v.yaml:1:7: key 'port' must be an integer, got 'xxx", 51) == 0, "%s",
              out);
    cr_expect(strstr(out, "x...'\n") != NULL, "%s", out);
    cr_expect_lt(strlen(out), 200);
    evc_cfg_free(cfg);
}

Test(validate, empty_schema_and_free_maps)
{
    static const evc_cfg_field NONE[] = {{0}};
    static const evc_cfg_field FREE[] = {
        {.key = "anything", .type = EVC_CFG_MAP}, /* no children: keys not checked */
        {.key = "props", .type = EVC_CFG_STRMAP},
        {.key = "list", .type = EVC_CFG_STRLIST},
        {0},
    };
    evc_cfg *cfg = load("k: 1\n");
    cr_expect_str_eq(validate(evc_cfg_root(cfg), NONE, "section"),
                     "v.yaml:1:1: unknown key 'k' in section; valid keys: (none)\n");
    evc_cfg_free(cfg);
    cfg = load("anything: {x: {y: 1}}\nprops: {}\nlist: []\n");
    cr_expect_str_eq(validate(evc_cfg_root(cfg), FREE, ""), "");
    evc_cfg_free(cfg);
    cfg = load("anything: []\nprops: [a]\nlist: {a: b}\n");
    cr_expect_str_eq(validate(evc_cfg_root(cfg), FREE, ""),
                     "v.yaml:1:11: key 'anything' must be a map, got a list\n"
                     "v.yaml:2:8: key 'props' must be a map of scalars, got a list\n"
                     "v.yaml:3:7: key 'list' must be a list of scalars, got a map\n");
    evc_cfg_free(cfg);
}

/* ---- evc_cfg_set ------------------------------------------------------- */

Test(set, overrides_an_existing_value_and_says_where_it_came_from)
{
    evc_cfg *cfg = load("port: 80\nhost: h\n");
    evc_error err = {0};
    cr_assert_eq(evc_cfg_set(cfg, "port", "abc", "<argv[1]>", &err), EVC_OK, "%s", err.msg);
    const evc_cfg_node *r = evc_cfg_root(cfg);
    cr_expect_eq(evc_cfg_count(r), 2, "replaced, not added");
    const evc_cfg_node *port = evc_cfg_get(r, "port");
    cr_expect_str_eq(evc_cfg_scalar(port), "abc");
    evc_cfg_pos pos = evc_cfg_node_pos(port);
    cr_expect_str_eq(pos.file, "<argv[1]>");
    cr_expect_eq(pos.line, 0);
    cr_expect_eq(pos.column, 0);
    cr_expect_str_eq(validate(r, SMALL, ""),
                     "<argv[1]>: key 'port' must be an integer, got 'abc'\n");
    cr_assert_eq(evc_cfg_set(cfg, "port", "70000", "<argv[2]>", &err), EVC_OK);
    cr_expect_str_eq(validate(r, SMALL, ""),
                     "<argv[2]>: key 'port' must be between 1 and 65535, got 70000\n");
    evc_cfg_free(cfg);
}

Test(set, creates_intermediate_maps_and_replaces_subtrees)
{
    evc_cfg *cfg = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_cfg_new_empty(&cfg, &err), EVC_OK);
    const evc_cfg_node *r = evc_cfg_root(cfg);
    cr_expect_eq(evc_cfg_kind(r), EVC_CFG_NODE_MAP);
    cr_expect_eq(evc_cfg_count(r), 0);
    cr_expect_str_eq(validate(r, SMALL, ""),
                     "<no config file>: missing required key 'port' at top level\n");

    cr_assert_eq(evc_cfg_set(cfg, "transport.zmq.sndhwm", "5", "<argv[1]>", &err), EVC_OK);
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_path(r, "transport.zmq.sndhwm")), "5");
    cr_expect_eq(evc_cfg_kind(evc_cfg_path(r, "transport.zmq")), EVC_CFG_NODE_MAP);
    cr_expect_str_eq(evc_cfg_node_pos(evc_cfg_get(r, "transport")).file, "<argv[1]>");
    cr_assert_eq(evc_cfg_set(cfg, "transport.zmq.linger", "0", "<argv[2]>", &err), EVC_OK);
    cr_expect_eq(evc_cfg_count(evc_cfg_path(r, "transport.zmq")), 2);

    /* A map at the leaf becomes a scalar. */
    cr_assert_eq(evc_cfg_set(cfg, "transport", "zmq", "<argv[3]>", &err), EVC_OK);
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_get(r, "transport")), "zmq");
    cr_expect_null(evc_cfg_path(r, "transport.zmq"));

    /* The value is copied. */
    char value[] = "copied";
    cr_assert_eq(evc_cfg_set(cfg, "host", value, "<argv[4]>", &err), EVC_OK);
    value[0] = 'X';
    cr_expect_str_eq(evc_cfg_get_str(r, "host", NULL), "copied");
    evc_cfg_free(cfg);
}

/* Issue 11 finding 13: `central: 5` with a positional argument for
 * central.listen_port was silently replaced by a map. A section of the wrong
 * type on an override's path is the file's error, at the file's place. */
Test(set, a_section_of_the_wrong_type_is_an_error_naming_its_place)
{
    evc_cfg *cfg = load("log: {level: info}\ncentral: 5\ndriver: [a, b]\ncp_monitor:\n");
    const evc_cfg_node *r = evc_cfg_root(cfg);
    evc_error err = {0};
    cr_expect_eq(evc_cfg_set(cfg, "central.listen_port", "7001", "<argument 1: listen_port>",
                             &err),
                 EVC_ECONFIG);
    cr_expect_str_eq(err.msg, "v.yaml:2:10: key 'central' must be a map, got '5'");
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_get(r, "central")), "5", "nothing changed");
    cr_expect_eq(evc_cfg_set(cfg, "driver.id", "d1", "<argument 2: driver_id>", &err),
                 EVC_ECONFIG);
    cr_expect_str_eq(err.msg, "v.yaml:3:9: key 'driver' must be a map, got a list");
    /* An empty section is an empty map, as the validator takes it. */
    cr_expect_eq(evc_cfg_set(cfg, "cp_monitor.cp_id", "CP_001", "<argument 3: cp_id>", &err),
                 EVC_OK, "%s", err.msg);
    cr_expect_str_eq(evc_cfg_get_str(evc_cfg_get(r, "cp_monitor"), "cp_id", NULL), "CP_001");
    evc_cfg_free(cfg);
}

Test(set, bad_paths_change_nothing)
{
    evc_cfg *cfg = load("a: {b: 1}\n");
    const char *bad[] = {"", ".", "a..b", ".a", "a.", "a.b."};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        evc_error err = {0};
        cr_expect_eq(evc_cfg_set(cfg, bad[i], "v", "<argv[1]>", &err), EVC_EINVAL, "'%s'",
                     bad[i]);
        cr_expect(strncmp(err.msg, "<argv[1]>: bad key path", 23) == 0, "%s", err.msg);
    }
    evc_error err = {0};
    cr_expect_eq(evc_cfg_set(cfg, "a.b", NULL, "<argv[1]>", &err), EVC_EINVAL);
    cr_expect_eq(evc_cfg_count(evc_cfg_root(cfg)), 1);
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_path(evc_cfg_root(cfg), "a.b")), "1");
    evc_cfg_free(cfg);
}

Test(validate, every_problem_is_one_line)
{
    evc_cfg *cfg = load("port: |\n  a\n  b\n\"x\\ty\": 1\n");
    cr_expect_str_eq(validate(evc_cfg_root(cfg), SMALL, ""),
                     "v.yaml:1:7: key 'port' must be an integer, got 'a\\nb\\n'\n"
                     "v.yaml:4:1: unknown key 'x\\ty' at top level; valid keys: port, host, a\n");
    evc_cfg_free(cfg);
}
