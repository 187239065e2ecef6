/* test_services.c: the services-file parser. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver_services.h"

static driver_services parse(const char *text, size_t len)
{
    driver_services s;
    evc_error err = {0};
    cr_assert_eq(driver_services_parse("svc.txt", text, len, &s, &err), EVC_OK, "%s", err.msg);
    return s;
}

Test(services, comments_blanks_and_ids_with_their_lines)
{
    const char *text = "# header\n"
                       "\n"
                       "CP_001\n"
                       "   CP_002   \r\n"
                       "\t# indented comment\n"
                       "CP_003 # after an id\n"
                       "CP_001";
    driver_services s = parse(text, strlen(text));
    cr_assert_eq(s.count, 4);
    cr_expect_str_eq(s.entries[0].cp_id, "CP_001");
    cr_expect_eq(s.entries[0].line, 3);
    cr_expect_str_eq(s.entries[1].cp_id, "CP_002");
    cr_expect_eq(s.entries[1].line, 4);
    cr_expect_str_eq(s.entries[2].cp_id, "CP_003");
    cr_expect_eq(s.entries[2].line, 6);
    cr_expect_str_eq(s.entries[3].cp_id, "CP_001", "last line without newline");
    cr_expect_eq(s.entries[3].line, 7);
    cr_expect_eq(s.nproblems, 0);
    driver_services_free(&s);
}

Test(services, bad_ids_are_reported_with_file_and_line_and_skipped)
{
    const char *text = "CP_001\n"
                       "CP 002\n"
                       "CP_003\n"
                       "CP_004;rm -rf\n"
                       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
                       "CP_\033[31m\n";
    driver_services s = parse(text, strlen(text));
    cr_assert_eq(s.count, 2);
    cr_expect_str_eq(s.entries[0].cp_id, "CP_001");
    cr_expect_str_eq(s.entries[1].cp_id, "CP_003");
    cr_assert_eq(s.nproblems, 4);
    cr_expect_str_eq(s.problems[0],
                     "svc.txt:2: invalid CP id 'CP 002' (expected letters, digits, '_', '.', "
                     "'-', at most 64); skipped");
    cr_expect(strncmp(s.problems[1], "svc.txt:4: invalid CP id 'CP_004;rm -rf'", 40) == 0, "%s",
              s.problems[1]);
    cr_expect(strstr(s.problems[2],
                     "svc.txt:5: invalid CP id 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'"),
              "%s", s.problems[2]);
    cr_expect(strstr(s.problems[3], "svc.txt:6: invalid CP id 'CP_?[31m'"), "%s", s.problems[3]);
    driver_services_free(&s);
}

Test(services, nul_bytes_and_empty_input)
{
    const char text[] = "CP_001\nCP\0_2\nCP_003\n";
    driver_services s = parse(text, sizeof text - 1);
    cr_expect_eq(s.count, 2);
    cr_assert_eq(s.nproblems, 1);
    cr_expect(strstr(s.problems[0], "svc.txt:2: invalid CP id 'CP?_2'"), "%s", s.problems[0]);
    driver_services_free(&s);

    s = parse("", 0);
    cr_expect_eq(s.count, 0);
    cr_expect_eq(s.nproblems, 0);
    driver_services_free(&s);

    s = parse("\n\n# only comments\n", 18);
    cr_expect_eq(s.count, 0);
    driver_services_free(&s);
}

Test(services, garbage_never_crashes)
{
    unsigned char buf[4096];
    srand(11);
    for (int round = 0; round < 200; round++) {
        size_t n = (size_t)(rand() % (int)sizeof buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(rand() % 4 == 0 ? '\n' : rand() % 256);
        driver_services s = parse((const char *)buf, n);
        for (size_t i = 0; i < s.count; i++)
            cr_assert(evc_id_valid(s.entries[i].cp_id));
        driver_services_free(&s);
    }
}

Test(services, the_shipped_file_has_ten_valid_ids)
{
    driver_services s;
    evc_error err = {0};
    cr_assert_eq(driver_services_load(EVC_TEST_SOURCE_DIR "/config/services.txt", &s, &err),
                 EVC_OK, "%s", err.msg);
    cr_expect_geq(s.count, 10);
    cr_expect_eq(s.nproblems, 0);
    bool seen[4] = {0};
    for (size_t i = 0; i < s.count; i++)
        for (int k = 1; k <= 3; k++) {
            char id[8];
            snprintf(id, sizeof id, "CP_00%d", k);
            if (strcmp(s.entries[i].cp_id, id) == 0)
                seen[k] = true;
        }
    cr_expect(seen[1] && seen[2] && seen[3], "CP_001..CP_003 all exercised");
    driver_services_free(&s);
}

Test(services, unreadable_file_names_the_path)
{
    driver_services s;
    evc_error err = {0};
    cr_expect_eq(driver_services_load("/nonexistent/svc.txt", &s, &err), EVC_EIO);
    cr_expect_str_eq(err.msg,
                     "services file '/nonexistent/svc.txt': cannot open: No such file or "
                     "directory");
}
