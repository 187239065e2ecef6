/* monitor_core.c: the monitor's life cycle and terminal lines, without the
 * program around it (main.c), so that tests can run a real monitor against
 * a fake Central and a fake engine. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "monitor.h"

void monitor_say(monitor *m, const char *colour, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (m->tty && colour)
        printf("%s%s\033[0m\n", colour, line);
    else
        printf("%s\n", line);
    fflush(stdout);
    m->said++;
    size_t n = strlen(line);
    if (n >= sizeof m->last_said)
        n = sizeof m->last_said - 1;
    memcpy(m->last_said, line, n);
    m->last_said[n] = '\0';
}

int monitor_core_start(monitor *m, evc_error *err)
{
    if (monitor_track_init(&m->track) != EVC_OK)
        return evc_error_set(err, EVC_ENOMEM, "cp_monitor: out of memory (dashboard rings)");
    m->track_ok = true;
    m->started_at = (int64_t)evc_wall_ms();
    m->central_since = m->engine_since = m->started_at;
    /* The page first: a port in use stops the start before any link. */
    int rc = monitor_web_start(m, err);
    if (rc == EVC_OK)
        rc = monitor_engine_start(m, err);
    if (rc == EVC_OK)
        rc = monitor_central_start(m, err);
    return rc;
}

static bool links_closed(void *arg)
{
    monitor *m = arg;
    return !m->central_up && !m->engine_link;
}

void monitor_core_stop(monitor *m)
{
    m->stopping = true;
    monitor_central_stop(m);
    monitor_engine_stop(m);
    /* A link's on_close comes from the loop, after the close call: let it
     * come now, while our state still exists (the caller frees it next). */
    evc_loop_run_until(m->loop, links_closed, m, 1000);
    monitor_web_stop(m);
    if (m->track_ok)
        monitor_track_free(&m->track);
    m->track_ok = false;
}
