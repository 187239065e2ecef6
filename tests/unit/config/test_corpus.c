/* test_corpus.c: every file of corpus/good must load and validate cleanly;
 * every file of corpus/bad must produce exactly the lines of its .expected
 * sibling (the load error, or else every validation problem). On a mismatch
 * the actual output is written to build/tests/config_corpus_actual/ so that
 * it can be diffed. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evc/config.h"
#include "test_schema.h"

#define CORPUS EVC_TEST_SOURCE_DIR "/tests/unit/config/corpus"
#define ACTUAL_DIR EVC_TEST_BINARY_DIR "/tests/config_corpus_actual"

static void corpus_env(void)
{
    /* Relative paths keep the file names in messages short and stable. */
    cr_assert_eq(chdir(CORPUS), 0, "chdir %s: %s", CORPUS, strerror(errno));
    setenv("EVC_TEST_SET", "hello", 1);
    unsetenv("EVC_TEST_UNSET");
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static void save_actual(const char *name, const char *text)
{
    mkdir(ACTUAL_DIR, 0777);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.actual", ACTUAL_DIR, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

Test(corpus, good_files_load_and_validate)
{
    corpus_env();
    DIR *d = opendir("good");
    cr_assert_not_null(d);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!has_suffix(de->d_name, ".yaml"))
            continue;
        files++;
        char path[512];
        snprintf(path, sizeof path, "good/%s", de->d_name);
        evc_cfg *cfg = NULL;
        evc_error err = {0};
        int rc = evc_cfg_load_file(path, &cfg, &err);
        cr_expect_eq(rc, EVC_OK, "%s does not load: %s", path, err.msg);
        if (rc != EVC_OK)
            continue;
        problems p = {0};
        size_t n = evc_cfg_validate(evc_cfg_root(cfg), test_root_schema, "", problems_collect, &p);
        cr_expect_eq(n, 0, "%s has %zu problems:\n%s", path, n, p.text);
        evc_cfg_free(cfg);
    }
    closedir(d);
    cr_expect_geq(files, 4, "only %d good files found", files);
}

Test(corpus, bad_files_give_exactly_the_expected_messages)
{
    corpus_env();
    DIR *d = opendir("bad");
    cr_assert_not_null(d);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[512], exp_path[512];
        if (has_suffix(de->d_name, ".expected")) {
            /* An .expected without its .yaml would silently test nothing. */
            snprintf(path, sizeof path, "bad/%.*s.yaml",
                     (int)(strlen(de->d_name) - strlen(".expected")), de->d_name);
            cr_expect_eq(access(path, R_OK), 0, "%s has no bad/%s", path, de->d_name);
            continue;
        }
        if (!has_suffix(de->d_name, ".yaml"))
            continue;
        files++;
        snprintf(path, sizeof path, "bad/%s", de->d_name);
        snprintf(exp_path, sizeof exp_path, "bad/%.*s.expected",
                 (int)(strlen(de->d_name) - strlen(".yaml")), de->d_name);
        char *expected = slurp(exp_path);
        cr_expect_not_null(expected, "%s has no %s", path, exp_path);

        static char actual[16384];
        evc_cfg *cfg = NULL;
        evc_error err = {0};
        int rc = evc_cfg_load_file(path, &cfg, &err);
        if (rc != EVC_OK) {
            cr_expect_eq(rc, EVC_ECONFIG, "%s: %s (%s)", path, evc_status_name(rc), err.msg);
            cr_expect_null(cfg);
            snprintf(actual, sizeof actual, "%s\n", err.msg);
        } else {
            problems p = {0};
            size_t n =
                evc_cfg_validate(evc_cfg_root(cfg), test_root_schema, "", problems_collect, &p);
            cr_expect_gt(n, 0, "%s loads and validates, but is in bad/", path);
            cr_expect_eq(n, p.calls, "%s: returned %zu but reported %zu", path, n, p.calls);
            snprintf(actual, sizeof actual, "%s", p.text);
            evc_cfg_free(cfg);
        }
        if (!expected || strcmp(actual, expected) != 0)
            save_actual(de->d_name, actual);
        if (expected)
            cr_expect_str_eq(actual, expected, "%s: messages differ", path);
        free(expected);
    }
    closedir(d);
    cr_expect_geq(files, 20, "only %d bad files found", files);
}
