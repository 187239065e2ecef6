/* fake_ops.h: driver_fsm_ops that record what the FSM does. */
#ifndef FAKE_OPS_H
#define FAKE_OPS_H

#include <stdbool.h>

#include "driver_fsm.h"

#define FAKE_MAX 512

typedef struct fake_sent {
    driver_send what;
    char cp[72], session[40];
} fake_sent;

typedef struct fake {
    fake_sent sent[FAKE_MAX];
    int nsent;
    char lines[FAKE_MAX][DRIVER_LINE_MAX];
    driver_line_kind kinds[FAKE_MAX];
    int nlines;
    int done_calls, done_code;
    int sessions;
    int fail_sends; /* the next n sends fail with EVC_EAGAIN */
} fake;

driver_fsm_ops fake_ops(fake *f);
driver_fsm *fake_fsm(fake *f, const char *services_text, bool exit_when_done);
/* Number of sends of a kind; index of the last line containing s (-1). */
int fake_count(const fake *f, driver_send what);
int fake_line(const fake *f, const char *s);
int fake_lines_with(const fake *f, const char *s);
const fake_sent *fake_last(const fake *f, driver_send what);

#endif
