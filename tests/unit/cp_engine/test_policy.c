/* test_policy.c: the authorise decision table, the menu's command parser and
 * the stdin line splitter. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "engine_policy.h"

/* Reference: the first failing condition in the documented order. */
static const char *expected(const engine_gate *g, bool menu)
{
    if (menu && !g->central_alive)
        return "central_unreachable";
    if (!g->has_id)
        return "no_cp_id";
    if (!g->monitor_present)
        return "no_monitor";
    if (g->ko)
        return "engine_ko";
    if (g->stopped)
        return "stopped";
    if (g->busy)
        return "busy";
    return NULL;
}

Test(policy, authorise_decision_table_is_exhaustive)
{
    int accepted = 0;
    for (unsigned bits = 0; bits < 64; bits++) {
        engine_gate g = {
            .has_id = bits & 1, .monitor_present = bits & 2, .ko = bits & 4,
            .stopped = bits & 8, .busy = bits & 16, .central_alive = bits & 32,
        };
        const char *a = engine_authorise_refusal(&g), *ea = expected(&g, false);
        const char *r = engine_request_refusal(&g), *er = expected(&g, true);
        cr_assert((a == NULL) == (ea == NULL) && (!a || strcmp(a, ea) == 0),
                  "authorise bits %u: got %s want %s", bits, a ? a : "accept", ea ? ea : "accept");
        cr_assert((r == NULL) == (er == NULL) && (!r || strcmp(r, er) == 0),
                  "request bits %u: got %s want %s", bits, r ? r : "accept", er ? er : "accept");
        accepted += a == NULL;
    }
    cr_assert_eq(accepted, 2, "only an identified, watched, healthy, in-service, idle CP "
                              "accepts (Central's liveness does not matter)");
}

Test(policy, every_reason_has_a_sentence)
{
    const char *codes[] = {"no_cp_id", "no_monitor", "engine_ko", "stopped", "busy",
                           "central_unreachable"};
    for (size_t i = 0; i < sizeof codes / sizeof *codes; i++)
        cr_assert_str_neq(engine_refusal_text(codes[i]), "refused", "%s", codes[i]);
    cr_assert_str_eq(engine_refusal_text("central_unreachable"), "Unable to connect to CENTRAL");
    cr_assert_str_eq(engine_refusal_text("???"), "refused");
    cr_assert_str_eq(engine_refusal_text(NULL), "refused");
}

static engine_cmd parse(const char *line)
{
    engine_cmd c;
    engine_cmd_parse(line, &c);
    return c;
}

Test(menu, commands_are_recognised)
{
    cr_assert_eq(parse("plug").kind, ENGINE_CMD_PLUG);
    cr_assert_eq(parse("  UNPLUG  ").kind, ENGINE_CMD_UNPLUG);
    cr_assert_eq(parse("k").kind, ENGINE_CMD_TOGGLE);
    cr_assert_eq(parse("K").kind, ENGINE_CMD_TOGGLE);
    cr_assert_eq(parse("status").kind, ENGINE_CMD_STATUS);
    cr_assert_eq(parse("help").kind, ENGINE_CMD_HELP);
    cr_assert_eq(parse("?").kind, ENGINE_CMD_HELP);
    engine_cmd c = parse("request driver1");
    cr_assert_eq(c.kind, ENGINE_CMD_REQUEST);
    cr_assert_str_eq(c.arg, "driver1");
    c = parse("\trequest   d.r-i_v3r\t");
    cr_assert_eq(c.kind, ENGINE_CMD_REQUEST);
    cr_assert_str_eq(c.arg, "d.r-i_v3r");
}

Test(menu, blanks_and_comments_are_ignored)
{
    cr_assert_eq(parse("").kind, ENGINE_CMD_EMPTY);
    cr_assert_eq(parse("   \t ").kind, ENGINE_CMD_EMPTY);
    cr_assert_eq(parse("# plug").kind, ENGINE_CMD_EMPTY);
    cr_assert_eq(parse(NULL).kind, ENGINE_CMD_EMPTY);
}

Test(menu, bad_lines_say_why)
{
    engine_cmd c = parse("request");
    cr_assert_eq(c.kind, ENGINE_CMD_BAD);
    cr_assert(strstr(c.error, "usage"), "%s", c.error);
    c = parse("request a b");
    cr_assert_eq(c.kind, ENGINE_CMD_BAD);
    c = parse("request drïver");
    cr_assert_eq(c.kind, ENGINE_CMD_BAD);
    cr_assert(strstr(c.error, "bad driver id"), "%s", c.error);
    c = parse("plug now");
    cr_assert_eq(c.kind, ENGINE_CMD_BAD);
    cr_assert(strstr(c.error, "no argument"), "%s", c.error);
    c = parse("launch");
    cr_assert_eq(c.kind, ENGINE_CMD_BAD);
    cr_assert(strstr(c.error, "unknown command 'launch'"), "%s", c.error);
    char longid[200];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    char line[260];
    snprintf(line, sizeof line, "request %s", longid);
    cr_assert_eq(parse(line).kind, ENGINE_CMD_BAD, "ids are at most 64 characters");
    snprintf(line, sizeof line, "request %.64s", longid);
    cr_assert_eq(parse(line).kind, ENGINE_CMD_REQUEST);
}

Test(menu, garbage_never_crashes)
{
    char line[ENGINE_LINE_MAX + 1];
    srand(3);
    for (int i = 0; i < 20000; i++) {
        size_t n = (size_t)(rand() % ENGINE_LINE_MAX);
        for (size_t k = 0; k < n; k++)
            line[k] = (char)(1 + rand() % 255);
        line[n] = '\0';
        engine_cmd c;
        engine_cmd_parse(line, &c);
        cr_assert(c.kind >= ENGINE_CMD_EMPTY && c.kind <= ENGINE_CMD_BAD);
        if (c.kind == ENGINE_CMD_REQUEST)
            cr_assert(evc_id_valid(c.arg));
    }
}

typedef struct lines {
    int n, overlong;
    char got[8][ENGINE_LINE_MAX + 1];
} lines;

static void on_line(void *arg, const char *line)
{
    lines *l = arg;
    if (!line) {
        l->overlong++;
        return;
    }
    if (l->n < 8)
        snprintf(l->got[l->n], sizeof l->got[0], "%s", line);
    l->n++;
}

Test(linebuf, splits_across_reads_and_strips_cr)
{
    engine_linebuf lb = {0};
    lines l = {0};
    const char *stream = "plug\r\nunp";
    engine_linebuf_feed(&lb, stream, strlen(stream), on_line, &l);
    cr_assert_eq(l.n, 1);
    engine_linebuf_feed(&lb, "lug\nk\n", 6, on_line, &l);
    cr_assert_eq(l.n, 3);
    cr_assert_str_eq(l.got[0], "plug");
    cr_assert_str_eq(l.got[1], "unplug");
    cr_assert_str_eq(l.got[2], "k");
}

Test(linebuf, an_overlong_line_is_dropped_whole)
{
    engine_linebuf lb = {0};
    lines l = {0};
    char big[ENGINE_LINE_MAX * 3];
    memset(big, 'x', sizeof big);
    engine_linebuf_feed(&lb, big, sizeof big, on_line, &l);
    engine_linebuf_feed(&lb, "\nstatus\n", 8, on_line, &l);
    cr_assert_eq(l.overlong, 1);
    cr_assert_eq(l.n, 1);
    cr_assert_str_eq(l.got[0], "status");
    /* A NUL byte does not cut a line short. */
    engine_linebuf_feed(&lb, "he\0p\n", 5, on_line, &l);
    cr_assert_str_eq(l.got[1], "he p");
}
