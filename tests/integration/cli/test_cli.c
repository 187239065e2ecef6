/* test_cli.c: what an operator sees at the command line. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc.h"

#define SRC EVC_TEST_SOURCE_DIR
#define CORPUS EVC_TEST_BINARY_DIR "/tests/loader-corpus"

static proc_result run(char *const argv[])
{
    proc_result r;
    cr_assert_eq(proc_run(argv, NULL, 30000, &r), 0, "%s", r.err);
    cr_assert(!r.timed_out, "%s timed out", argv[0]);
    return r;
}

static const char *const PROGRAMS[] = {"EV_Central", "EV_CP_E", "EV_CP_M", "EV_Driver",
#ifdef EVC_HAVE_OCPP
                                        "EV_OCPP_GW",
#endif
};
#define NPROGRAMS (sizeof PROGRAMS / sizeof PROGRAMS[0])

Test(cli, help_and_version_for_every_program)
{
    for (size_t i = 0; i < NPROGRAMS; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s", proc_bin(PROGRAMS[i]));
        proc_result r = run((char *[]){path, "--help", NULL});
        cr_expect_eq(r.exit_code, 0, "%s --help: %s", PROGRAMS[i], r.err);
        char usage[64];
        snprintf(usage, sizeof usage, "Usage: %s", PROGRAMS[i]);
        cr_expect(strstr(r.out, usage), "%s --help printed: %s", PROGRAMS[i], r.out);
        cr_expect(strstr(r.out, "--check-config"), "common options listed");
        proc_result_free(&r);

        r = run((char *[]){path, "--version", NULL});
        cr_expect_eq(r.exit_code, 0);
        cr_expect(strstr(r.out, "(EVCharging) 0.1.0"), "%s --version printed: %s", PROGRAMS[i],
                  r.out);
        proc_result_free(&r);
    }
}

Test(cli, unknown_option_is_a_usage_error)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_Driver"), "--bogus", NULL});
    cr_expect_eq(r.exit_code, 2);
    cr_expect_str_eq(r.err, "EV_Driver: unknown option '--bogus' (see --help)\n");
    proc_result_free(&r);
}

Test(cli, missing_positional_is_a_usage_error)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_Central"), NULL});
    cr_expect_eq(r.exit_code, 2);
    cr_expect_str_eq(r.err, "EV_Central: missing argument <listen_port> (or set "
                            "central.listen_port in the config; see --help)\n");
    proc_result_free(&r);
}

Test(cli, too_many_arguments_is_a_usage_error)
{
    proc_result r =
        run((char *[]){(char *)proc_bin("EV_CP_E"), "a:1", "b:2", "CP_1", "d", NULL});
    cr_expect_eq(r.exit_code, 2);
    cr_expect_str_eq(r.err, "EV_CP_E: unexpected argument 'd' (see --help)\n");
    proc_result_free(&r);
}

Test(cli, shipped_configs_check_ok)
{
    static const char *const files[] = {SRC "/config/evcharging.yaml", SRC "/config/kafka.yaml",
                                        SRC "/config/zmq.yaml"};
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        for (size_t i = 0; i < NPROGRAMS; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s", proc_bin(PROGRAMS[i]));
            proc_result r = run((char *[]){path, "--check-config", (char *)files[f], NULL});
            cr_expect_eq(r.exit_code, 0, "%s --check-config %s: %s", PROGRAMS[i], files[f], r.err);
            cr_expect(strstr(r.out, "configuration OK"), "%s", r.out);
            proc_result_free(&r);
        }
    }
}

/* An engine is named on the bus by its CP id: the listen address is the same
 * (127.0.0.1:7101) on every CP host of the multi-host deployment, and two
 * engines with one Kafka group would split its partitions. */
Test(cli, an_engine_is_named_on_the_bus_by_its_cp_id)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_CP_E"), "--check-config",
                                   SRC "/config/kafka.yaml", "10.0.0.1:9092", "127.0.0.1:7101",
                                   "CP_009", NULL});
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "on the bus as cp_engine-CP_009 (consumer group evc-cp_engine-CP_009)"),
              "%s", r.out);
    proc_result_free(&r);
    r = run((char *[]){(char *)proc_bin("EV_CP_E"), "--check-config", SRC "/config/kafka.yaml",
                       "10.0.0.1:9092", "127.0.0.1:7101", NULL});
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "on the bus as cp_engine-127.0.0.1:7101"), "no CP id: %s", r.out);
    proc_result_free(&r);
}

Test(cli, typo_in_a_key_names_file_line_column_and_valid_keys)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_Central"), "--check-config",
                                   SRC "/tests/integration/cli/configs/typo.yaml", NULL});
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, SRC "/tests/integration/cli/configs/typo.yaml:4:3: unknown key "
                            "'endpont' in transport; valid keys: plugin, endpoint, client_id, "
                            "group_id, zmq, kafka (did you mean 'endpoint'?)"),
              "stderr: %s", r.err);
    proc_result_free(&r);
}

Test(cli, every_config_problem_is_printed)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_Central"), "--check-config",
                                   SRC "/tests/integration/cli/configs/two_errors.yaml", NULL});
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "two_errors.yaml:2:16: key 'listen_port' must be between 1 and "
                            "65535, got 70000"),
              "stderr: %s", r.err);
    cr_expect(strstr(r.err, "two_errors.yaml:3:1: unknown key 'lgo' at top level"), "stderr: %s",
              r.err);
    proc_result_free(&r);
}

Test(cli, bad_log_level_is_a_config_error)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_Driver"), "--check-config",
                                   SRC "/tests/integration/cli/configs/bad_level.yaml", NULL});
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "bad_level.yaml:2:10: key 'level' must be one of: error, warn, "
                            "info, debug, trace; got 'verbose'"),
              "stderr: %s", r.err);
    proc_result_free(&r);
}

Test(cli, positional_argument_is_validated_like_config)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_Central"), "--check-config",
                                   SRC "/config/evcharging.yaml", "99999", NULL});
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "<argument 1: listen_port>: key 'listen_port' must be between 1 "
                            "and 65535, got 99999"),
              "stderr: %s", r.err);
    proc_result_free(&r);
}

/* Issue 11 finding 13: with a positional argument, `central: 5` used to be
 * replaced by the argument's map and pass; it is an error on every path. */
Test(cli, a_section_of_the_wrong_type_is_an_error_with_or_without_arguments)
{
    const char *file = SRC "/tests/integration/cli/configs/central_scalar.yaml";
    proc_result r = run((char *[]){(char *)proc_bin("EV_Central"), "--check-config", (char *)file,
                                   "7001", NULL});
    cr_expect_eq(r.exit_code, 3, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "central_scalar.yaml:2:10: key 'central' must be a map, got '5'"),
              "stderr: %s", r.err);
    proc_result_free(&r);
    r = run((char *[]){(char *)proc_bin("EV_Central"), "--check-config", (char *)file, NULL});
    cr_expect_eq(r.exit_code, 3, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "central_scalar.yaml:2:10: key 'central' must be a map, got '5'"),
              "stderr: %s", r.err);
    proc_result_free(&r);
}

Test(cli, bad_address_argument_names_it)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_CP_M"), "--check-config",
                                   SRC "/config/evcharging.yaml", "enginehost", "central:7001",
                                   "CP_001", NULL});
    cr_expect_eq(r.exit_code, 3);
    cr_expect(strstr(r.err, "<argument 1: engine_host:port>: key 'engine': bad address "
                            "'enginehost' (expected host:port)"),
              "stderr: %s", r.err);
    proc_result_free(&r);
}

/* Each broken plugin of the loader corpus, put first in the search path by
 * --plugin-dir, is refused with one line naming the file and the reason, and
 * the documented exit code. */
static void expect_refusal(const char *kase, int code, const char *reason)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", CORPUS, kase);
    proc_result r = run((char *[]){(char *)proc_bin("EV_Driver"), "--check-config",
                                   SRC "/config/evcharging.yaml", "--plugin-dir", dir, NULL});
    cr_expect_eq(r.exit_code, code, "%s: exit %d, stderr: %s", kase, r.exit_code, r.err);
    char file[4200];
    snprintf(file, sizeof file, "%s/evc_transport_zmq.so", dir);
    cr_expect(strstr(r.err, file), "%s: stderr does not name the file: %s", kase, r.err);
    cr_expect(strstr(r.err, reason), "%s: stderr lacks '%s': %s", kase, reason, r.err);
    cr_expect_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    proc_result_free(&r);
}

Test(cli, broken_plugins_are_refused_with_their_exit_code)
{
    expect_refusal("not_so", 22, "not a loadable shared object");
    expect_refusal("no_entry", 23, "no evc_plugin_query symbol");
    expect_refusal("declined", 24, "declined this host");
    expect_refusal("bad_magic", 25, "bad magic 0x");
    expect_refusal("major_mismatch", 26, "the major version must match");
    expect_refusal("newer_minor", 27, "needs host ABI 1.");
    expect_refusal("short_descriptor", 28, "descriptor struct_size");
    expect_refusal("short_ops", 28, "ops struct_size");
    expect_refusal("wrong_kind", 29, "expected a transport plugin");
    expect_refusal("wrong_name", 29, "expected 'zmq'");
}

Test(cli, missing_plugin_lists_where_it_looked)
{
    proc_result r = run((char *[]){(char *)proc_bin("EV_Driver"), "--check-config",
                                   SRC "/tests/integration/cli/configs/no_such_plugin.yaml", NULL});
    cr_expect_eq(r.exit_code, 21, "stderr: %s", r.err);
    cr_expect(strstr(r.err, "plugin 'nosuch' (evc_transport_nosuch.so) not found; searched: "),
              "stderr: %s", r.err);
    proc_result_free(&r);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    text[n] = '\0';
    fclose(f);
    return text;
}

/* A config key that is not documented does not exist: every row each program
 * prints with --help-config must stand, word for word, in docs/CONFIG.md
 * (scripts/config-doc.sh regenerates the tables). */
Test(cli, every_config_key_is_documented)
{
    char *doc = read_file(SRC "/docs/CONFIG.md");
    static const char *const files[] = {SRC "/config/evcharging.yaml", SRC "/config/kafka.yaml",
                                        SRC "/config/zmq.yaml"};
    size_t rows = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        for (size_t i = 0; i < NPROGRAMS; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s", proc_bin(PROGRAMS[i]));
            proc_result r = run((char *[]){path, "--help-config", "--config", (char *)files[f], NULL});
            cr_assert_eq(r.exit_code, 0, "%s --help-config: %s", PROGRAMS[i], r.err);
            for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
                if (strncmp(line, "| `", 3) != 0)
                    continue;
                rows++;
                cr_expect(strstr(doc, line), "docs/CONFIG.md lacks (run scripts/config-doc.sh):\n%s",
                          line);
            }
            proc_result_free(&r);
        }
    }
    cr_expect_gt(rows, 30);
    free(doc);
}

/* Runs `sqlite3 -readonly DB SQL` and returns its first output line. */
static void query(const char *db, const char *sql, char *out, size_t cap)
{
    char *argv[] = {"/usr/bin/sqlite3", "-readonly", (char *)db, (char *)sql, NULL};
    proc_result r = run(argv);
    cr_assert_eq(r.exit_code, 0, "sqlite3: %s", r.err);
    snprintf(out, cap, "%.*s", (int)strcspn(r.out, "\n"), r.out);
    proc_result_free(&r);
}

Test(cli, init_db_then_add_cp_for_a_closed_deployment)
{
    char dir[] = "/tmp/evc-cli-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char db[128], secret[128], row[512];
    snprintf(db, sizeof db, "%s/central.db", dir);
    snprintf(secret, sizeof secret, "%s/cp.secret", dir);
    FILE *f = fopen(secret, "w");
    fputs("a-real-secret\n", f);
    fclose(f);

    proc_result r = run((char *[]){(char *)proc_bin("EV_Central"), "--init-db", "--db", db, NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    proc_result_free(&r);

    r = run((char *[]){(char *)proc_bin("EV_Central"), "--db", db, "--add-cp", "CP_900",
                       "--price-cents", "41", "--location", "Plaza Mayor 1", "--secret-file",
                       secret, NULL});
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "CP CP_900 registered"), "%s", r.out);
    proc_result_free(&r);
    query(db, "select id||'|'||location||'|'||price_cents_per_kwh||'|'||admin_state"
              " from charging_points",
          row, sizeof row);
    cr_expect_str_eq(row, "CP_900|Plaza Mayor 1|41|in_service");
    query(db, "select substr(secret_hash,1,10) from charging_points", row, sizeof row);
    cr_expect_str_eq(row, "$argon2id$", "the secret is stored hashed");

    char hash1[512];
    query(db, "select secret_hash from charging_points", hash1, sizeof hash1);

    /* Again: an update of the same CP, price changed, location kept, and a
     * new secret (a rotation) replaces the old one. */
    f = fopen(secret, "w");
    fputs("the-rotated-secret\n", f);
    fclose(f);
    r = run((char *[]){(char *)proc_bin("EV_Central"), "--db", db, "--add-cp", "CP_900",
                       "--price-cents", "45", "--secret-file", secret, NULL});
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(strstr(r.out, "CP CP_900 updated"), "%s", r.out);
    proc_result_free(&r);
    query(db, "select location||'|'||price_cents_per_kwh from charging_points", row, sizeof row);
    cr_expect_str_eq(row, "Plaza Mayor 1|45");
    query(db, "select secret_hash from charging_points", row, sizeof row);
    cr_expect_str_neq(row, hash1, "--add-cp on a known CP kept its old secret");
    cr_expect(strncmp(row, "$argon2id$", 10) == 0, "%s", row);

    /* Mistakes are usage errors naming the problem; nothing is written. */
    r = run((char *[]){(char *)proc_bin("EV_Central"), "--db", db, "--add-cp", "CP_901",
                       "--secret-file", secret, NULL});
    cr_expect_eq(r.exit_code, 2);
    cr_expect(strstr(r.err, "CP CP_901 is new: --price-cents is required"), "%s", r.err);
    proc_result_free(&r);
    r = run((char *[]){(char *)proc_bin("EV_Central"), "--db", db, "--add-cp", "CP_901",
                       "--price-cents", "30", NULL});
    cr_expect_eq(r.exit_code, 2);
    cr_expect(strstr(r.err, "--add-cp needs --secret-file"), "%s", r.err);
    proc_result_free(&r);
    query(db, "select count(*) from charging_points", row, sizeof row);
    cr_expect_str_eq(row, "1");

    /* --init-db on a database that holds data refuses without --force. */
    r = run((char *[]){(char *)proc_bin("EV_Central"), "--init-db", "--db", db, NULL});
    cr_expect_eq(r.exit_code, 1);
    cr_expect(strstr(r.err, "already holds data"), "%s", r.err);
    proc_result_free(&r);

    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

/* ---- issue 11 finding 13: a database Central cannot trust is refused ---- */

/* A seeded database in a fresh directory (0755, so that another user may
 * read it); its path in db. */
static void seeded_db(char *dir, char *db, size_t cap)
{
    cr_assert_not_null(mkdtemp(dir));
    chmod(dir, 0755);
    snprintf(db, cap, "%s/central.db", dir);
    proc_result r = run((char *[]){(char *)proc_bin("EV_Central"), "--init-db", "--seed", "--db",
                                   db, "--config", SRC "/config/evcharging.yaml", NULL});
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    proc_result_free(&r);
}

/* EV_Central's start on db (argv prefixed by `pre`, e.g. setpriv): it must
 * exit at once, non-zero, with one line naming the path and `why`. The
 * bus port is one nobody listens on: the store is checked before the bus. */
static void expect_db_refused(char *const pre[], const char *db, const char *why)
{
    char *argv[16];
    size_t n = 0;
    for (; pre && pre[n]; n++)
        argv[n] = pre[n];
    char *rest[] = {(char *)proc_bin("EV_Central"), "--config", SRC "/config/evcharging.yaml",
                    "17001", "127.0.0.1:1", (char *)db, NULL};
    for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++)
        argv[n++] = rest[i];
    proc_result r;
    cr_assert_eq(proc_run(argv, (char *[]){"EVC_TRANSPORT=zmq", NULL}, 20000, &r), 0, "%s", r.err);
    cr_expect(!r.timed_out, "Central started on a bad database: %s", r.err);
    cr_expect_neq(r.exit_code, 0, "%s", r.err);
    char want[512];
    snprintf(want, sizeof want, "database %s", db);
    cr_expect(strstr(r.err, want) && strstr(r.err, why), "stderr lacks '%s' ... '%s': %s", want,
              why, r.err);
    cr_expect_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "one line: %s", r.err);
    proc_result_free(&r);
}

static void remove_dir(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(cli, a_partly_corrupt_database_is_refused_naming_the_path, .timeout = 60)
{
    char dir[] = "/tmp/evc-cli-XXXXXX", db[128];
    seeded_db(dir, db, sizeof db);
    /* Pages 3 and 4 (of 4096 bytes) overwritten: the header stays valid,
     * so SQLite opens the file and only a check of its pages sees it. */
    FILE *f = fopen(db, "r+b");
    cr_assert_not_null(f);
    cr_assert_eq(fseek(f, 2 * 4096, SEEK_SET), 0);
    for (int i = 0; i < 2 * 4096; i++)
        fputc(0x5A, f);
    fclose(f);
    expect_db_refused(NULL, db, "corrupt");
    remove_dir(dir);
}

/* chmod 0444 stops no write of root's: as root, Central runs as nobody
 * (setpriv), for whom the file is read-only as it is for a service user. */
Test(cli, a_read_only_database_is_refused_naming_the_path, .timeout = 60)
{
    char dir[] = "/tmp/evc-cli-XXXXXX", db[128];
    seeded_db(dir, db, sizeof db);
    cr_assert_eq(chmod(db, 0444), 0);
    char *as_nobody[] = {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                         NULL};
    if (geteuid() == 0)
        cr_assert_eq(access("/usr/bin/setpriv", X_OK), 0, "root needs setpriv for this test");
    expect_db_refused(geteuid() == 0 ? as_nobody : NULL, db, "read-only");
    remove_dir(dir);
}
