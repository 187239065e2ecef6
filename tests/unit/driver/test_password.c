/* test_password.c: where the password comes from, in which order. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driver_password.h"

static char dir[64];
static char path[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/evc_drv_pw_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/pw", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

static void write_file(const char *content, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, content, len), (ssize_t)len);
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);
}

typedef struct prompt_log {
    int calls;
    const char *answer;
} prompt_log;

static int fake_prompt(void *arg, const char *driver_id, char *out, size_t cap, evc_error *err)
{
    prompt_log *p = arg;
    p->calls++;
    snprintf(out, cap, "%s", p->answer);
    return EVC_OK;
}

static int resolve(driver_password_sources *src, char *out, driver_password_origin *o, char *warn,
                   evc_error *err)
{
    return driver_password_resolve(src, out, DRIVER_PASSWORD_MAX, o, warn, 256, err);
}

Test(password, file_beats_env_beats_config_beats_prompt, .init = setup, .fini = teardown)
{
    write_file("from-file\nsecond line\n", 22, 0600);
    prompt_log pl = {.answer = "typed"};
    driver_password_sources src = {.file = path, .env = "from-env", .config = "from-config",
                                   .stdin_is_tty = true, .prompt = fake_prompt,
                                   .prompt_arg = &pl, .driver_id = "driver1"};
    char out[DRIVER_PASSWORD_MAX], warn[256];
    driver_password_origin o;
    evc_error err = {0};
    cr_assert_eq(resolve(&src, out, &o, warn, &err), EVC_OK, "%s", err.msg);
    cr_expect_str_eq(out, "from-file");
    cr_expect_eq(o, DRIVER_PW_FILE);
    cr_expect_str_eq(warn, "");

    src.file = NULL;
    cr_assert_eq(resolve(&src, out, &o, warn, &err), EVC_OK);
    cr_expect_str_eq(out, "from-env");
    cr_expect_eq(o, DRIVER_PW_ENV);

    src.env = "";
    cr_assert_eq(resolve(&src, out, &o, warn, &err), EVC_OK);
    cr_expect_str_eq(out, "from-config", "an empty variable counts as unset");
    cr_expect_eq(o, DRIVER_PW_CONFIG);

    src.config = NULL;
    cr_assert_eq(resolve(&src, out, &o, warn, &err), EVC_OK);
    cr_expect_str_eq(out, "typed");
    cr_expect_eq(o, DRIVER_PW_PROMPT);
    cr_expect_eq(pl.calls, 1, "the prompt only runs when nothing else is given");

    src.stdin_is_tty = false;
    cr_assert_eq(resolve(&src, out, &o, warn, &err), EVC_OK);
    cr_expect_str_eq(out, "");
    cr_expect_eq(o, DRIVER_PW_NONE, "no terminal, no prompt");
    cr_expect_eq(pl.calls, 1);
}

Test(password, file_line_endings_and_loose_mode, .init = setup, .fini = teardown)
{
    char out[DRIVER_PASSWORD_MAX], warn[256];
    evc_error err = {0};
    write_file("pass123\r\n", 9, 0644);
    cr_assert_eq(driver_password_read_file(path, out, sizeof out, warn, sizeof warn, &err),
                 EVC_OK, "%s", err.msg);
    cr_expect_str_eq(out, "pass123");
    cr_expect(strstr(warn, "is accessible by group or others (mode 0644); chmod 600 it"), "%s",
              warn);
    cr_expect_null(strstr(warn, "pass123"), "the warning never shows the password");

    write_file("no-newline", 10, 0400);
    cr_assert_eq(driver_password_read_file(path, out, sizeof out, warn, sizeof warn, &err),
                 EVC_OK);
    cr_expect_str_eq(out, "no-newline");
    cr_expect_str_eq(warn, "");
}

Test(password, bad_files_are_clear_errors, .init = setup, .fini = teardown)
{
    char out[DRIVER_PASSWORD_MAX], warn[256];
    evc_error err = {0};
    write_file("\nsecret\n", 8, 0600);
    cr_expect_eq(driver_password_read_file(path, out, sizeof out, warn, sizeof warn, &err),
                 EVC_EINVAL);
    cr_expect(strstr(err.msg, "the first line is empty"), "%s", err.msg);

    char big[400];
    memset(big, 'a', sizeof big);
    write_file(big, sizeof big, 0600);
    cr_expect_eq(driver_password_read_file(path, out, sizeof out, warn, sizeof warn, &err),
                 EVC_EINVAL);
    cr_expect(strstr(err.msg, "first line longer than 255 bytes"), "%s", err.msg);

    write_file("ab\0cd\n", 6, 0600);
    cr_expect_eq(driver_password_read_file(path, out, sizeof out, warn, sizeof warn, &err),
                 EVC_EINVAL);
    cr_expect(strstr(err.msg, "NUL"), "%s", err.msg);

    cr_expect_eq(driver_password_read_file("/nonexistent/pw", out, sizeof out, warn, sizeof warn,
                                           &err),
                 EVC_EIO);
    cr_expect_str_eq(err.msg,
                     "password file '/nonexistent/pw': cannot open: No such file or directory");

    /* A bad file given explicitly is an error, not a fall-through to the
     * variable: the operator asked for that file. */
    driver_password_sources src = {.file = "/nonexistent/pw", .env = "from-env"};
    driver_password_origin o;
    cr_expect_eq(resolve(&src, out, &o, warn, &err), EVC_EIO);
    cr_expect_eq(o, DRIVER_PW_NONE);
}
