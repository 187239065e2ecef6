/* test_api.c: loading from memory and files, positions, lookups, getters,
 * strict conversions, substitution results and positional overrides. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evc/config.h"
#include "test_schema.h"

#define CORPUS EVC_TEST_SOURCE_DIR "/tests/unit/config/corpus"

static evc_cfg *load(const char *yaml)
{
    evc_cfg *cfg = NULL;
    evc_error err = {0};
    int rc = evc_cfg_load_string("mem.yaml", yaml, strlen(yaml), &cfg, &err);
    cr_assert_eq(rc, EVC_OK, "load failed: %s", err.msg);
    cr_assert_not_null(cfg);
    return cfg;
}

static void load_fails(const char *yaml, const char *expected_msg)
{
    evc_cfg *cfg = (evc_cfg *)0x1;
    evc_error err = {0};
    int rc = evc_cfg_load_string("mem.yaml", yaml, strlen(yaml), &cfg, &err);
    cr_expect_eq(rc, EVC_ECONFIG, "%s", evc_status_name(rc));
    cr_expect_null(cfg);
    cr_expect_str_eq(err.msg, expected_msg);
}

static void expect_pos(const evc_cfg_node *n, const char *file, unsigned line, unsigned col)
{
    cr_assert_not_null(n);
    evc_cfg_pos p = evc_cfg_node_pos(n);
    cr_expect_str_eq(p.file, file);
    cr_expect_eq(p.line, line, "line %u, expected %u", p.line, line);
    cr_expect_eq(p.column, col, "column %u, expected %u", p.column, col);
}

Test(load, positions_are_one_based_and_name_the_source)
{
    evc_cfg *cfg = load("a: 1\nb:\n  c: [x, \"y\"]\n  d:\n    - e: f\n");
    const evc_cfg_node *root = evc_cfg_root(cfg);
    cr_expect_eq(evc_cfg_kind(root), EVC_CFG_NODE_MAP);
    expect_pos(root, "mem.yaml", 1, 1);
    expect_pos(evc_cfg_get(root, "a"), "mem.yaml", 1, 4);
    const evc_cfg_node *c = evc_cfg_path(root, "b.c");
    expect_pos(c, "mem.yaml", 3, 6);
    cr_expect_eq(evc_cfg_kind(c), EVC_CFG_NODE_SEQ);
    expect_pos(evc_cfg_at(c, 1, NULL), "mem.yaml", 3, 10);
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_at(c, 1, NULL)), "y");
    const evc_cfg_node *d0 = evc_cfg_at(evc_cfg_path(root, "b.d"), 0, NULL);
    expect_pos(d0, "mem.yaml", 5, 7);
    cr_expect_str_eq(evc_cfg_get_str(d0, "e", NULL), "f");
    evc_cfg_free(cfg);
}

Test(load, empty_inputs_give_an_empty_root_map)
{
    const char *inputs[] = {"", "# only a comment\n", "---\n", "---\n...\n", "\n\n   \n"};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        evc_cfg *cfg = load(inputs[i]);
        const evc_cfg_node *root = evc_cfg_root(cfg);
        cr_expect_eq(evc_cfg_kind(root), EVC_CFG_NODE_MAP, "input %zu", i);
        cr_expect_eq(evc_cfg_count(root), 0, "input %zu", i);
        evc_cfg_free(cfg);
    }
}

Test(load, string_without_name_is_called_string)
{
    evc_cfg *cfg = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_cfg_load_string(NULL, "k: v", 4, &cfg, &err), EVC_OK, "%s", err.msg);
    expect_pos(evc_cfg_get(evc_cfg_root(cfg), "k"), "<string>", 1, 4);
    evc_cfg_free(cfg);
    /* The length is honoured: text past it is not parsed. */
    cr_assert_eq(evc_cfg_load_string("n", "k: v\nbroken: [", 4, &cfg, &err), EVC_OK, "%s",
                 err.msg);
    cr_expect_eq(evc_cfg_count(evc_cfg_root(cfg)), 1);
    evc_cfg_free(cfg);
}

Test(load, missing_file_is_an_io_error_naming_the_path)
{
    evc_cfg *cfg = (evc_cfg *)0x1;
    evc_error err = {0};
    const char *path = "/nonexistent/dir/evc.yaml";
    cr_expect_eq(evc_cfg_load_file(path, &cfg, &err), EVC_EIO);
    cr_expect_null(cfg);
    cr_expect_str_eq(err.msg, "/nonexistent/dir/evc.yaml: cannot open configuration file: "
                              "No such file or directory");
    cr_expect_eq(evc_cfg_load_file(CORPUS, &cfg, &err), EVC_EIO, "a directory");
    cr_expect(strstr(err.msg, CORPUS ": cannot read configuration file: ") == err.msg, "%s",
              err.msg);
}

Test(load, file_positions_use_the_path_as_given)
{
    cr_assert_eq(chdir(CORPUS), 0);
    evc_cfg *cfg = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_cfg_load_file("good/minimal.yaml", &cfg, &err), EVC_OK, "%s", err.msg);
    expect_pos(evc_cfg_path(evc_cfg_root(cfg), "transport.endpoint"), "good/minimal.yaml", 2,
               38);
    evc_cfg_free(cfg);
}

Test(load, structural_refusals)
{
    load_fails("a: 1\na: 2\n", "mem.yaml:2:1: duplicate key 'a' (first defined at mem.yaml:1:1)");
    load_fails("m: {x: 1, y: 2, x: 3}",
               "mem.yaml:1:17: duplicate key 'x' (first defined at mem.yaml:1:5)");
    load_fails("a: &x 1\n", "mem.yaml:1:4: YAML anchors ('&x') are not supported; repeat "
                            "the value instead");
    load_fails("a: [*x]\n", "mem.yaml:1:5: YAML aliases ('*x') are not supported; repeat the "
                            "value instead");
}

Test(load, deep_nesting_is_refused_not_crashed_on)
{
    char yaml[512];
    memset(yaml, '[', 200);
    memset(yaml + 200, ']', 200);
    yaml[400] = '\0';
    char doc[520];
    snprintf(doc, sizeof doc, "k: %s\n", yaml);
    load_fails(doc, "mem.yaml:1:67: nesting deeper than 64 levels");
}

Test(load, random_garbage_never_crashes)
{
    /* Cheap deterministic fuzzing with a YAML-ish alphabet: every input
     * either loads or fails with a positioned EVC_ECONFIG. */
    static const char alphabet[] = "ab:-[]{},'\"&*!#$\\ \n\t?|>%@`~0\x80\xff";
    unsigned seed = 12345;
    char text[64];
    for (int i = 0; i < 3000; i++) {
        size_t len = (size_t)(i % 63);
        for (size_t j = 0; j < len; j++) {
            seed = seed * 1103515245u + 12345u;
            text[j] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        evc_cfg *cfg = NULL;
        evc_error err = {0};
        int rc = evc_cfg_load_string("f", text, len, &cfg, &err);
        cr_assert(rc == EVC_OK || rc == EVC_ECONFIG, "input %d: %s", i, evc_status_name(rc));
        if (rc == EVC_OK) {
            cr_assert_eq(evc_cfg_kind(evc_cfg_root(cfg)), EVC_CFG_NODE_MAP);
            evc_cfg_validate(evc_cfg_root(cfg), test_root_schema, "", NULL, NULL);
        } else {
            cr_assert(strncmp(err.msg, "f:", 2) == 0, "input %d: %s", i, err.msg);
        }
        evc_cfg_free(cfg);
    }
}

Test(getters, typed_values_defaults_and_wrong_types)
{
    evc_cfg *cfg = load("s: text\ni: -42\nb1: YES\nb2: off\nb3: False\nd: 2.5e-1\n"
                        "m: {k: v}\nl: [1]\nempty:\n");
    const evc_cfg_node *r = evc_cfg_root(cfg);
    cr_expect_str_eq(evc_cfg_get_str(r, "s", "x"), "text");
    cr_expect_str_eq(evc_cfg_get_str(r, "absent", "dflt"), "dflt");
    cr_expect_str_eq(evc_cfg_get_str(r, "m", "dflt"), "dflt", "a map is not a string");
    cr_expect_str_eq(evc_cfg_get_str(r, "empty", "dflt"), "", "an empty value is present");
    cr_expect_null(evc_cfg_get_str(r, "absent", NULL));
    cr_expect_eq(evc_cfg_get_int(r, "i", 0), -42);
    cr_expect_eq(evc_cfg_get_int(r, "s", 7), 7);
    cr_expect_eq(evc_cfg_get_int(r, "d", 7), 7, "2.5e-1 is not an integer");
    cr_expect_eq(evc_cfg_get_bool(r, "b1", false), true);
    cr_expect_eq(evc_cfg_get_bool(r, "b2", true), false);
    cr_expect_eq(evc_cfg_get_bool(r, "b3", true), false);
    cr_expect_eq(evc_cfg_get_bool(r, "i", true), true, "-42 is not a boolean");
    cr_expect_eq(evc_cfg_get_double(r, "d", 0), 0.25);
    cr_expect_eq(evc_cfg_get_double(r, "i", 0), -42.0);
    cr_expect_eq(evc_cfg_get_double(r, "s", 1.5), 1.5);
    cr_expect_eq(evc_cfg_get_int(NULL, "i", 3), 3, "NULL map");
    cr_expect_null(evc_cfg_scalar(evc_cfg_get(r, "m")));
    evc_cfg_free(cfg);
}

Test(getters, path_count_and_at)
{
    evc_cfg *cfg = load("transport:\n  zmq:\n    sndhwm: 9\n  name: t\nlist: [a, b]\n");
    const evc_cfg_node *r = evc_cfg_root(cfg);
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_path(r, "transport.zmq.sndhwm")), "9");
    cr_expect_eq(evc_cfg_kind(evc_cfg_path(r, "transport.zmq")), EVC_CFG_NODE_MAP);
    cr_expect_null(evc_cfg_path(r, "transport.nope"));
    cr_expect_null(evc_cfg_path(r, "transport.name.deeper"), "through a scalar");
    cr_expect_null(evc_cfg_path(r, "transport.zm"), "prefix of a key");
    cr_expect_null(evc_cfg_path(r, "list.0"), "sequences are not indexed by path");
    cr_expect_null(evc_cfg_path(NULL, "a"));
    cr_expect_eq(evc_cfg_count(r), 2);
    const char *key = NULL;
    cr_expect_eq(evc_cfg_at(r, 1, &key), evc_cfg_get(r, "list"));
    cr_expect_str_eq(key, "list");
    const evc_cfg_node *list = evc_cfg_get(r, "list");
    cr_expect_eq(evc_cfg_count(list), 2);
    key = "stale";
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_at(list, 1, &key)), "b");
    cr_expect_null(key, "sequence entries have no key");
    cr_expect_null(evc_cfg_at(list, 2, NULL));
    cr_expect_eq(evc_cfg_count(evc_cfg_at(list, 0, NULL)), 0, "scalar");
    cr_expect_null(evc_cfg_at(evc_cfg_at(list, 0, NULL), 0, NULL));
    evc_cfg_free(cfg);
}

Test(convert, strict_integers)
{
    evc_cfg *cfg = load("ok: [0, +5, -9223372036854775808, 9223372036854775807, 007]\n"
                        "bad: ['', ' 1', '1 ', 1.0, 0x10, 1e3, '-', '+', 9223372036854775808]\n"
                        "m: {}\n");
    const evc_cfg_node *ok = evc_cfg_get(evc_cfg_root(cfg), "ok");
    const int64_t want[] = {0, 5, INT64_MIN, INT64_MAX, 7};
    for (size_t i = 0; i < evc_cfg_count(ok); i++) {
        int64_t v = -1;
        evc_error err = {0};
        cr_expect_eq(evc_cfg_to_int(evc_cfg_at(ok, i, NULL), &v, &err), EVC_OK, "%zu: %s", i,
                     err.msg);
        cr_expect_eq(v, want[i], "item %zu", i);
    }
    const evc_cfg_node *bad = evc_cfg_get(evc_cfg_root(cfg), "bad");
    for (size_t i = 0; i < evc_cfg_count(bad); i++) {
        int64_t v = 99;
        evc_error err = {0};
        cr_expect_eq(evc_cfg_to_int(evc_cfg_at(bad, i, NULL), &v, &err), EVC_ECONFIG, "item %zu",
                     i);
        cr_expect_eq(v, 99, "untouched on failure");
        cr_expect(strncmp(err.msg, "mem.yaml:2:", 11) == 0, "%s", err.msg);
    }
    evc_error err = {0};
    int64_t v;
    cr_expect_eq(evc_cfg_to_int(evc_cfg_at(bad, 4, NULL), &v, &err), EVC_ECONFIG);
    cr_expect_str_eq(err.msg, "mem.yaml:2:28: expected an integer, got '0x10'");
    cr_expect_eq(evc_cfg_to_int(evc_cfg_at(bad, 8, NULL), &v, &err), EVC_ECONFIG);
    cr_expect_str_eq(err.msg,
                     "mem.yaml:2:49: integer '9223372036854775808' is out of the 64-bit range");
    cr_expect_eq(evc_cfg_to_int(evc_cfg_get(evc_cfg_root(cfg), "m"), &v, &err), EVC_ECONFIG);
    cr_expect_str_eq(err.msg, "mem.yaml:3:4: expected an integer, got a map");
    evc_cfg_free(cfg);
}

Test(convert, booleans_and_doubles)
{
    evc_cfg *cfg = load("t: [true, TRUE, Yes, on, ON]\nf: [false, No, OFF]\n"
                        "nb: [1, 0, y, n, 'true ', '']\n"
                        "d: ['1', '-0.5', '.5', '1e3', '2E-2']\n"
                        "nd: ['', ' 1', '1 ', inf, nan, '1,5', 1e999, abc]\n");
    const evc_cfg_node *r = evc_cfg_root(cfg);
    bool b;
    for (size_t i = 0; i < 5; i++) {
        b = false;
        cr_expect_eq(evc_cfg_to_bool(evc_cfg_at(evc_cfg_get(r, "t"), i, NULL), &b, NULL), 0);
        cr_expect(b, "t[%zu]", i);
    }
    for (size_t i = 0; i < 3; i++) {
        b = true;
        cr_expect_eq(evc_cfg_to_bool(evc_cfg_at(evc_cfg_get(r, "f"), i, NULL), &b, NULL), 0);
        cr_expect(!b, "f[%zu]", i);
    }
    for (size_t i = 0; i < 6; i++)
        cr_expect_eq(evc_cfg_to_bool(evc_cfg_at(evc_cfg_get(r, "nb"), i, NULL), &b, NULL),
                     EVC_ECONFIG, "nb[%zu]", i);
    evc_error err = {0};
    cr_expect_eq(evc_cfg_to_bool(evc_cfg_at(evc_cfg_get(r, "nb"), 2, NULL), &b, &err),
                 EVC_ECONFIG);
    cr_expect_str_eq(err.msg,
                     "mem.yaml:3:12: expected a boolean (true/false/yes/no/on/off), got 'y'");
    const double want[] = {1, -0.5, 0.5, 1000, 0.02};
    for (size_t i = 0; i < 5; i++) {
        double d = 0;
        cr_expect_eq(evc_cfg_to_double(evc_cfg_at(evc_cfg_get(r, "d"), i, NULL), &d, NULL), 0);
        cr_expect_eq(d, want[i], "d[%zu]", i);
    }
    for (size_t i = 0; i < 8; i++) {
        double d = 42;
        cr_expect_eq(evc_cfg_to_double(evc_cfg_at(evc_cfg_get(r, "nd"), i, NULL), &d, NULL),
                     EVC_ECONFIG, "nd[%zu]", i);
        cr_expect_eq(d, 42, "untouched");
    }
    evc_cfg_free(cfg);
}

Test(subst, values_from_the_environment)
{
    setenv("EVC_TEST_SET", "hello", 1);
    setenv("EVC_TEST_EMPTY", "", 1);
    unsetenv("EVC_TEST_UNSET");
    cr_assert_eq(chdir(CORPUS), 0);
    evc_cfg *cfg = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_cfg_load_file("good/variables.yaml", &cfg, &err), EVC_OK, "%s", err.msg);
    const evc_cfg_node *r = evc_cfg_root(cfg);
    cr_expect_str_eq(evc_cfg_get_str(r, "cp_id", NULL), "hello");
    cr_expect_str_eq(evc_cfg_get_str(r, "name", NULL), "fallback and hello-hello");
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_path(r, "transport.endpoint")),
                     "tcp://127.0.0.1:5555");
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_path(r, "transport.properties.price")),
                     "$5 costs $$ and a lone $ stays");
    cr_expect_str_eq(evc_cfg_scalar(evc_cfg_path(r, "transport.properties.empty_default")), "");
    evc_cfg_free(cfg);

    /* A set but empty variable takes the default (as ${VAR:-x} in the shell)
     * and is used as is without one; keys are never substituted. */
    cfg = load("a: ${EVC_TEST_EMPTY:-d}\nb: x${EVC_TEST_EMPTY}y\n${EVC_TEST_SET}: k\n"
               "c: '${EVC_TEST_SET}'\nd: \"$${EVC_TEST_SET}\"\ne: ${EVC_TEST_UNSET:-a:-b}\n");
    r = evc_cfg_root(cfg);
    cr_expect_str_eq(evc_cfg_get_str(r, "a", NULL), "d");
    cr_expect_str_eq(evc_cfg_get_str(r, "b", NULL), "xy");
    cr_expect_str_eq(evc_cfg_get_str(r, "${EVC_TEST_SET}", NULL), "k");
    cr_expect_str_eq(evc_cfg_get_str(r, "c", NULL), "hello", "quoted scalars too");
    cr_expect_str_eq(evc_cfg_get_str(r, "d", NULL), "${EVC_TEST_SET}", "$$ escapes");
    cr_expect_str_eq(evc_cfg_get_str(r, "e", NULL), "a:-b");
    evc_cfg_free(cfg);
}

Test(subst, errors_name_position_and_variable)
{
    unsetenv("EVC_TEST_UNSET");
    load_fails("x:\n  y: [ok, \"${EVC_TEST_UNSET}\"]\n",
               "mem.yaml:2:11: environment variable 'EVC_TEST_UNSET' is not set (write "
               "${EVC_TEST_UNSET:-default} to give a default)");
    load_fails("x: ${A-b}\n", "mem.yaml:1:4: bad variable reference '${A-b}' (expected ${NAME} "
                              "or ${NAME:-default}, NAME made of letters, digits and '_')");
    load_fails("x: ${}\n", "mem.yaml:1:4: bad variable reference '${}' (expected ${NAME} "
                           "or ${NAME:-default}, NAME made of letters, digits and '_')");
}
