/* test_loader_search.c: where plugins are looked for (cli beats env beats
 * config beats the build tree), names given as paths, the diagnostics list of
 * directories, refusal names/exit codes, and unload. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evc/plugin.h"
#include "evc/transport.h"
#include "test_util.h"

/* Per-test temp dirs, each holding evc_transport_loopback.so as a symlink
 * to the build tree's copy (name "loopback"); removed in fini. */
static char g_tmp[4][PATH_MAX];
static int g_ntmp;

static const char *loopback_in_build(void)
{
    static char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/plugins/evc_transport_loopback.so", build_dir());
    return buf;
}

static const char *tmp_dir(bool with_plugin)
{
    cr_assert_lt(g_ntmp, 4);
    char *d = g_tmp[g_ntmp++];
    snprintf(d, PATH_MAX, "/tmp/evc-loader-XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    if (with_plugin) {
        char link[PATH_MAX + 32];
        snprintf(link, sizeof link, "%s/evc_transport_loopback.so", d);
        cr_assert_eq(symlink(loopback_in_build(), link), 0);
    }
    return d;
}

static void cleanup(void)
{
    for (int i = 0; i < g_ntmp; i++) {
        char f[sizeof g_tmp + 32];
        snprintf(f, sizeof f, "%s/evc_transport_loopback.so", g_tmp[i]);
        unlink(f);
        snprintf(f, sizeof f, "%s/mytransport.so", g_tmp[i]);
        unlink(f);
        rmdir(g_tmp[i]);
    }
}

static void init(void) { unsetenv("EVC_PLUGIN_DIR"); }

TestSuite(search, .init = init, .fini = cleanup);

/* Loads "loopback" and returns the path it was found at (static buffer). */
static const char *found_at(const char *cli, const char *env, const char *config)
{
    if (env)
        setenv("EVC_PLUGIN_DIR", env, 1);
    else
        unsetenv("EVC_PLUGIN_DIR");
    evc_plugin_search s = {.cli_dir = cli, .config_dir = config};
    evc_plugin *p = NULL;
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "loopback", &s, &p, NULL, &err), EVC_OK,
                 "%s", err.msg);
    cr_assert_str_eq(evc_plugin_descriptor_of(p)->name, "loopback");
    static char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", evc_plugin_path(p));
    evc_plugin_unload(p);
    return buf;
}

static const char *in(const char *dir)
{
    static char buf[PATH_MAX + 32];
    snprintf(buf, sizeof buf, "%s/evc_transport_loopback.so", dir);
    return buf;
}

Test(search, cli_beats_env_beats_config_beats_build_tree)
{
    const char *cli = tmp_dir(true), *env = tmp_dir(true), *cfg = tmp_dir(true);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s", in(cli));
    cr_assert_str_eq(found_at(cli, env, cfg), want);
    snprintf(want, sizeof want, "%s", in(env));
    cr_assert_str_eq(found_at(NULL, env, cfg), want);
    snprintf(want, sizeof want, "%s", in(cfg));
    cr_assert_str_eq(found_at(NULL, NULL, cfg), want);
    cr_assert_str_eq(found_at(NULL, NULL, NULL), loopback_in_build());
}

Test(search, a_directory_without_the_file_is_passed_over)
{
    const char *empty_cli = tmp_dir(false), *env = tmp_dir(true);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s", in(env));
    cr_assert_str_eq(found_at(empty_cli, env, NULL), want);
    cr_assert_str_eq(found_at("/nonexistent/evc-plugins", NULL, NULL), loopback_in_build());
}

Test(search, trailing_slash_gives_a_clean_path)
{
    const char *cli = tmp_dir(true);
    char slashed[PATH_MAX + 2], want[PATH_MAX + 32];
    snprintf(slashed, sizeof slashed, "%s/", cli);
    snprintf(want, sizeof want, "%s", in(cli));
    cr_assert_str_eq(found_at(slashed, NULL, NULL), want);
}

Test(search, dirs_in_order_without_duplicates)
{
    const char *cli = tmp_dir(false), *env = tmp_dir(false);
    setenv("EVC_PLUGIN_DIR", env, 1);
    char cli_slash[PATH_MAX + 2];
    snprintf(cli_slash, sizeof cli_slash, "%s/", cli);
    /* config names the same directory as --plugin-dir: listed once. */
    evc_plugin_search s = {.cli_dir = cli, .config_dir = cli_slash};
    const char *dirs[8];
    size_t n = evc_plugin_search_dirs(&s, dirs, 8);
    cr_assert_eq(n, 4);
    char build_plugins[PATH_MAX + 16], install[PATH_MAX + 16];
    snprintf(build_plugins, sizeof build_plugins, "%s/plugins", build_dir());
    snprintf(install, sizeof install, "%s/lib/evc/plugins", build_dir());
    cr_assert_str_eq(dirs[0], cli);
    cr_assert_str_eq(dirs[1], env);
    cr_assert_str_eq(dirs[2], build_plugins);
    cr_assert_str_eq(dirs[3], install);

    /* A small array gets the first entries; the count is still the total. */
    const char *two[2] = {NULL, NULL};
    cr_assert_eq(evc_plugin_search_dirs(&s, two, 2), 4);
    cr_assert_str_eq(two[0], cli);
    cr_assert_str_eq(two[1], env);

    /* Nothing configured: the two directories found from libevc_core.so. */
    unsetenv("EVC_PLUGIN_DIR");
    cr_assert_eq(evc_plugin_search_dirs(NULL, dirs, 8), 2);
    cr_assert_str_eq(dirs[0], build_plugins);
}

Test(search, a_name_with_a_slash_is_a_path)
{
    /* The conventional file name still has to match the descriptor's name. */
    evc_plugin *p = NULL;
    evc_plugin_refusal why = EVC_REFUSE_NONE;
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, corpus_file("good"), NULL, &p, &why, &err),
                 EVC_OK, "%s", err.msg);
    cr_assert_str_eq(evc_plugin_path(p), corpus_file("good"));
    evc_plugin_unload(p);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, corpus_file("wrong_name"), NULL, &p, &why,
                                 &err),
                 EVC_EPLUGIN);
    cr_assert_eq(why, EVC_REFUSE_KIND);

    /* Any other file name: the descriptor's name is taken as it is. */
    const char *d = tmp_dir(false);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/mytransport.so", d);
    cr_assert_eq(symlink(loopback_in_build(), path), 0);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, path, NULL, &p, &why, &err), EVC_OK, "%s",
                 err.msg);
    cr_assert_str_eq(evc_plugin_descriptor_of(p)->name, "loopback");
    evc_plugin_unload(p);

    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "./nosuch/evc_transport_x.so", NULL, &p,
                                 &why, &err),
                 EVC_EPLUGIN);
    cr_assert_eq(why, EVC_REFUSE_MISSING);
    cr_assert_str_eq(err.msg,
                     "plugin ./nosuch/evc_transport_x.so: not found (No such file or directory)");
}

Test(search, asking_for_the_wrong_kind_is_refused)
{
    evc_plugin_search s = {.cli_dir = corpus_dir("good")};
    /* A store "zmq" is a different file name: not found at all. */
    evc_plugin *p = NULL;
    evc_plugin_refusal why = EVC_REFUSE_NONE;
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_STORE, corpus_file("good"), &s, &p, &why, &err),
                 EVC_EPLUGIN);
    cr_assert_eq(why, EVC_REFUSE_KIND);
    char want[PATH_MAX + 100];
    snprintf(want, sizeof want, "plugin %s: is a transport plugin, expected a store plugin",
             corpus_file("good"));
    cr_assert_str_eq(err.msg, want);
}

Test(search, bad_arguments)
{
    evc_plugin *p = NULL;
    evc_plugin_refusal why = EVC_REFUSE_NONE;
    evc_error err = {0};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, NULL, NULL, &p, &why, &err), EVC_EINVAL);
    cr_assert_eq(evc_plugin_load((evc_plugin_kind)7, "zmq", NULL, &p, &why, &err), EVC_EINVAL);
    cr_assert_str_eq(err.msg, "evc_plugin_load: unknown plugin kind 7");
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "", NULL, &p, &why, &err), EVC_EPLUGIN);
    cr_assert_eq(why, EVC_REFUSE_MISSING);
    cr_assert_str_eq(err.msg, "transport plugin name is empty");
    cr_assert_null(p);
}

Test(search, refusal_names_and_exit_codes)
{
    static const char *names[] = {"none",    "missing",  "not_so", "no_entry",
                                  "declined", "bad_magic", "major", "minor",
                                  "short",   "kind",     "create", "start"};
    for (int r = EVC_REFUSE_NONE; r <= EVC_REFUSE_START; r++) {
        cr_assert_str_eq(evc_plugin_refusal_name((evc_plugin_refusal)r), names[r]);
        cr_assert_eq(evc_plugin_refusal_exit_code((evc_plugin_refusal)r), r ? 20 + r : 0);
    }
    cr_assert_str_eq(evc_plugin_refusal_name((evc_plugin_refusal)99), "unknown");
}

Test(search, minimum_sizes_are_the_1_0_layouts)
{
    cr_assert_eq(evc_plugin_min_descriptor_size(), sizeof(evc_plugin_descriptor));
    /* 1.2 appended subscribe_keys: the 1.0 table ends with stats. */
    cr_assert_eq(evc_plugin_min_ops_size(EVC_PLUGIN_TRANSPORT),
                 offsetof(evc_transport_ops, stats) + sizeof(void *));
    cr_assert_geq(evc_plugin_min_ops_size(EVC_PLUGIN_STORE), sizeof(uint32_t) + 4 * sizeof(void *));
    cr_assert_eq(evc_plugin_min_ops_size((evc_plugin_kind)7), 0);
}

Test(search, unload_and_reload)
{
    evc_plugin_unload(NULL);
    evc_plugin *a = NULL, *b = NULL;
    evc_error err = {0};
    evc_plugin_search s = {.cli_dir = corpus_dir("good")};
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "zmq", &s, &a, NULL, &err), EVC_OK);
    cr_assert_eq(evc_plugin_load(EVC_PLUGIN_TRANSPORT, "zmq", &s, &b, NULL, &err), EVC_OK);
    cr_assert_neq(a, b);
    evc_plugin_unload(a);
    /* b still works: the .so stays mapped until its last unload. */
    cr_assert_str_eq(evc_plugin_descriptor_of(b)->name, "zmq");
    const evc_transport_ops *ops = evc_plugin_descriptor_of(b)->ops;
    cr_assert_eq(ops->struct_size, sizeof(evc_transport_ops));
    evc_plugin_unload(b);
    cr_assert_null(evc_plugin_descriptor_of(NULL));
    cr_assert_null(evc_plugin_path(NULL));
}
