/* fake_ops.c: see fake_ops.h. */
#include "fake_ops.h"

#include <stdio.h>
#include <string.h>

static int f_send(void *arg, driver_send what, const char *cp, const char *session)
{
    fake *f = arg;
    if (f->fail_sends > 0) {
        f->fail_sends--;
        return EVC_EAGAIN;
    }
    if (f->nsent < FAKE_MAX) {
        fake_sent *s = &f->sent[f->nsent++];
        s->what = what;
        snprintf(s->cp, sizeof s->cp, "%s", cp ? cp : "");
        snprintf(s->session, sizeof s->session, "%s", session ? session : "");
    }
    return EVC_OK;
}

static void f_print(void *arg, driver_line_kind kind, const char *line)
{
    fake *f = arg;
    if (f->nlines < FAKE_MAX) {
        snprintf(f->lines[f->nlines], sizeof f->lines[0], "%s", line);
        f->kinds[f->nlines++] = kind;
    }
}

static void f_done(void *arg, int code)
{
    fake *f = arg;
    f->done_calls++;
    f->done_code = code;
}

static int f_session(void *arg, char out[DRIVER_SESSION_MAX])
{
    fake *f = arg;
    snprintf(out, DRIVER_SESSION_MAX, "00000000-0000-4000-8000-%012d", ++f->sessions);
    return EVC_OK;
}

driver_fsm_ops fake_ops(fake *f)
{
    return (driver_fsm_ops){.arg = f, .send = f_send, .print = f_print, .done = f_done,
                            .new_session = f_session};
}

driver_fsm *fake_fsm(fake *f, const char *services_text, bool exit_when_done)
{
    memset(f, 0, sizeof *f);
    driver_fsm_config cfg = {.driver_id = "driver1", .central_timeout_ms = 3000,
                             .request_timeout_ms = 10000, .wait_between_ms = 4000,
                             .exit_when_done = exit_when_done, .skip_unknown_cps = true};
    driver_fsm_ops ops = fake_ops(f);
    driver_fsm *m = driver_fsm_new(&cfg, &ops);
    if (services_text) {
        driver_services s;
        driver_services_parse("svc.txt", services_text, strlen(services_text), &s, NULL);
        driver_fsm_set_services(m, &s);
        driver_services_free(&s);
    }
    return m;
}

int fake_count(const fake *f, driver_send what)
{
    int n = 0;
    for (int i = 0; i < f->nsent; i++)
        n += f->sent[i].what == what;
    return n;
}

int fake_line(const fake *f, const char *s)
{
    for (int i = f->nlines; i-- > 0;)
        if (strstr(f->lines[i], s))
            return i;
    return -1;
}

int fake_lines_with(const fake *f, const char *s)
{
    int n = 0;
    for (int i = 0; i < f->nlines; i++)
        n += strstr(f->lines[i], s) != NULL;
    return n;
}

const fake_sent *fake_last(const fake *f, driver_send what)
{
    for (int i = f->nsent; i-- > 0;)
        if (f->sent[i].what == what)
            return &f->sent[i];
    return NULL;
}
