/* lg_stats.c: percentiles, Central's CPU and RSS from /proc, false
 * DISCONNECTED transitions from Central's event log, and the report (a
 * table on stdout, JSON with --json). */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "evc/store.h"
#include "lg.h"

void lg_samples_init(lg_samples *s, size_t cap)
{
    memset(s, 0, sizeof *s);
    s->us = malloc(cap * sizeof *s->us);
    s->cap = s->us ? cap : 0;
}

void lg_samples_add(lg_samples *s, uint64_t us)
{
    uint32_t v = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    if (v > s->max)
        s->max = v;
    s->seen++;
    if (s->n < s->cap) {
        s->us[s->n++] = v;
        return;
    }
    /* Reservoir: every sample kept with the same probability, memory bounded. */
    uint64_t j = (uint64_t)random() % s->seen;
    if (j < s->cap)
        s->us[j] = v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

double lg_samples_ms(lg_samples *s, double q)
{
    if (!s->n)
        return 0;
    if (q >= 1.0)
        return s->max / 1000.0;
    qsort(s->us, s->n, sizeof *s->us, cmp_u32);
    size_t i = (size_t)(q * (double)(s->n - 1) + 0.5);
    return s->us[i] / 1000.0;
}

void lg_samples_free(lg_samples *s)
{
    free(s->us);
    memset(s, 0, sizeof *s);
}

int lg_find_central_pid(void)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !found) {
        char path[300], comm[64] = "";
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f) && strncmp(comm, "EV_Central", 10) == 0)
            found = atoi(e->d_name);
        fclose(f);
    }
    closedir(d);
    return found;
}

/* utime+stime in clock ticks and VmRSS in MB of `pid`. */
int lg_proc_sample(int pid, uint64_t *ticks, double *rss_mb)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* comm may hold spaces */
    unsigned long ut = 0, stt = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt) != 2)
        return -1;
    *ticks = ut + stt;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    *rss_mb = 0;
    while (fgets(buf, sizeof buf, f))
        if (strncmp(buf, "VmRSS:", 6) == 0)
            *rss_mb = strtod(buf + 6, NULL) / 1024.0;
    fclose(f);
    return 0;
}

typedef struct ev_count {
    uint64_t disconnected;
    int64_t last_seq;
} ev_count;

static int count_event(void *arg, const evc_event *e)
{
    ev_count *c = arg;
    c->last_seq = e->seq;
    if (strcmp(e->type, "cp.state") == 0 && e->detail_json &&
        strstr(e->detail_json, "-> DISCONNECTED") && strstr(e->detail_json, "\"LG"))
        c->disconnected++;
    return 0;
}

/* cp.state events "X -> DISCONNECTED" of our CPs after `after_seq`: the
 * generator never stops a heartbeat, so each one is false. */
static uint64_t false_disconnected(lg *g, int64_t after_seq)
{
    evc_store *st = evc_app_store(g->app);
    ev_count c = {.last_seq = after_seq};
    evc_error err = {0};
    for (;;) {
        int64_t before = c.last_seq;
        if (evc_store_event_list(st, c.last_seq, 5000, count_event, &c, &err) != EVC_OK ||
            c.last_seq == before)
            break;
    }
    return c.disconnected;
}


int64_t lg_last_event_seq(lg *g)
{
    evc_store *st = evc_app_store(g->app);
    ev_count c = {.last_seq = 0};
    evc_error err = {0};
    for (;;) {
        int64_t before = c.last_seq;
        if (evc_store_event_list(st, c.last_seq, 5000, count_event, &c, &err) != EVC_OK ||
            c.last_seq == before)
            break;
    }
    return c.last_seq;
}

/* The generator's own stall, ramp to drain: a turn of its wheel is each
 * CP's heartbeat period (1 s when the generator keeps up). */
static double longest_turn_ms(const lg *g)
{
    uint64_t m = 0;
    for (int i = 0; i < 4; i++)
        if (g->turn_max_us[i] > m)
            m = g->turn_max_us[i];
    return (double)m / 1000.0;
}

void lg_report(lg *g)
{
    g->false_disconnected = false_disconnected(g, g->steady_event_seq);
    /* The whole run too: a stall in the ramp or warm-up (issue 14: Central's
     * loop not reading its monitor links) shows there and heals before the
     * steady phase. */
    g->false_disconnected_run = false_disconnected(g, 0);
    double secs = (double)(g->steady_end_ms - g->steady_start_ms) / 1000.0;
    lg_counts *c = &g->c, *b = &g->c_steady0, *e = &g->c_steady1;
    uint64_t hb = e->hb_sent - b->hb_sent, tele = e->tele_sent - b->tele_sent;
    /* Messages Central received in the steady phase: HB frames and bus messages. */
    uint64_t msgs = hb + g->msgs_to_central;
    double per_k = msgs ? g->central_cpu_s * 1000.0 / (double)msgs : 0;
    struct { const char *name; lg_samples *s; } m[] = {
        {"heartbeat ACK", &g->hb_ack}, {"telemetry -> Central (relay)", &g->tele_state},
        {"driver request -> authorised", &g->drv_auth}, {"menu request -> cp.authorise", &g->menu_auth},
        {"generator loop lag", &g->lag},
        {"  request -> engine's authorise", &g->leg_to_engine},
        {"  engine's turn", &g->leg_engine},
        {"  engine's reply -> authorised", &g->leg_to_driver}};
    printf("\n== evc-loadgen report%s%s ==\n", g->label ? ": " : "", g->label ? g->label : "");
    printf("CPs %zu (supplying %zu), looping drivers %zu, steady %.1f s\n", g->ncps,
           g->nsupplying, g->ndrivers, secs);
    printf("%-32s %10s %10s %10s %10s\n", "latency (ms)", "samples", "p50", "p99", "max");
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        printf("%-32s %10" PRIu64 " %10.2f %10.2f %10.2f\n", m[i].name, m[i].s->seen,
               lg_samples_ms(m[i].s, 0.5), lg_samples_ms(m[i].s, 0.99), lg_samples_ms(m[i].s, 1));
    printf("Central: CPU %.1f %% over the steady phase, RSS %.1f MB (%.1f at its start), "
           "%.3f CPU-s per 1000 messages in (%" PRIu64 " messages)\n",
           g->cpu_pct, g->rss_mb, g->rss_start_mb, per_k, msgs);
    printf("steady: HB sent %" PRIu64 ", telemetry sent %" PRIu64 "\n", hb, tele);
    printf("totals: auth_ok %" PRIu64 " denied %" PRIu64 " links lost %" PRIu64
           " connect failed %" PRIu64 " keyed %" PRIu64 " supplies started %" PRIu64 "/%zu\n",
           c->auth_ok, c->auth_denied, c->links_lost, c->connect_failed, c->keyed,
           c->supplies_started, g->nsupplying);
    printf("lost: HB unacked %" PRIu64 " nacked %" PRIu64 ", telemetry not relayed %" PRIu64
           ", publish failures %" PRIu64 ", false DISCONNECTED %" PRIu64 " (steady phase)\n",
           c->hb_unacked, c->hb_nacked, c->tele_lost, c->publish_fail, g->false_disconnected);
    printf("whole run: false DISCONNECTED %" PRIu64 "; generator: longest wheel turn %.0f ms "
           "(ramp) %.0f (warm-up) %.0f (steady)\n",
           g->false_disconnected_run, (double)g->turn_max_us[0] / 1000.0,
           (double)g->turn_max_us[1] / 1000.0, (double)g->turn_max_us[2] / 1000.0);
    printf("in the steady phase: supplies denied %" PRIu64 ", interrupted %" PRIu64
           ", links lost %" PRIu64 "; whole run: denied %" PRIu64 ", interrupted %" PRIu64
           ", links lost %" PRIu64 "%s%s\n",
           e->supply_denied - b->supply_denied, e->interrupted - b->interrupted,
           e->links_lost - b->links_lost, c->supply_denied, c->interrupted, c->links_lost,
           g->last_denial[0] ? "; last denial: " : "", g->last_denial);
    printf("drivers: requests %" PRIu64 " authorised %" PRIu64 " denied %" PRIu64
           " tickets %" PRIu64 "\n",
           c->drv_requests, c->drv_authorised, c->drv_denied, c->drv_tickets);
    lg_restart_report(g, NULL);
    if (!g->json_path)
        return;
    FILE *f = fopen(g->json_path, "w");
    if (!f) {
        perror(g->json_path);
        return;
    }
    fprintf(f, "{\"label\":\"%s\",\"transport\":\"%s\",\"cps\":%zu,\"supplying\":%zu,"
               "\"drivers\":%zu,\"steady_s\":%.1f,\n \"latency_ms\":{",
            g->label ? g->label : "", g->transport_name, g->ncps, g->nsupplying, g->ndrivers,
            secs);
    const char *keys[] = {"hb_ack", "telemetry_state", "driver_request_authorised",
                          "menu_request_authorise", "loop_lag", "request_to_engine",
                          "engine_turn", "reply_to_authorised"};
    for (size_t i = 0; i < sizeof m / sizeof *m; i++)
        fprintf(f, "%s\"%s\":{\"n\":%" PRIu64 ",\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
                i ? ",\n  " : "", keys[i], m[i].s->seen, lg_samples_ms(m[i].s, 0.5),
                lg_samples_ms(m[i].s, 0.99), lg_samples_ms(m[i].s, 1));
    fprintf(f, "},\n \"central\":{\"pid\":%d,\"cpu_pct\":%.1f,\"rss_mb\":%.1f,"
               "\"rss_start_mb\":%.1f,\"cpu_s\":%.3f,\"msgs_in\":%" PRIu64
               ",\"cpu_s_per_1000_msgs\":%.4f},\n",
            g->central_pid, g->cpu_pct, g->rss_mb, g->rss_start_mb, g->central_cpu_s, msgs, per_k);
    fprintf(f, " \"counts\":{\"auth_ok\":%" PRIu64 ",\"auth_denied\":%" PRIu64
               ",\"links_lost\":%" PRIu64 ",\"connect_failed\":%" PRIu64 ",\"keyed\":%" PRIu64
               ",\"supplies_started\":%" PRIu64 ",\"hb_sent\":%" PRIu64 ",\"hb_acked\":%" PRIu64
               ",\"hb_nacked\":%" PRIu64 ",\"hb_unacked\":%" PRIu64 ",\"tele_sent\":%" PRIu64 ",\"tele_relayed\":%" PRIu64
               ",\"tele_lost\":%" PRIu64 ",\"supply_denied\":%" PRIu64 ",\"interrupted\":%" PRIu64
               ",\"false_disconnected\":%" PRIu64 ",\"false_disconnected_run\":%" PRIu64
               ",\"turn_max_ms\":%.1f,\"publish_fail\":%" PRIu64
               ",\"drv_requests\":%" PRIu64 ",\"drv_authorised\":%" PRIu64 ",\"drv_denied\":%" PRIu64
               ",\"drv_tickets\":%" PRIu64 "},\n \"steady\":{\"supply_denied\":%" PRIu64
               ",\"interrupted\":%" PRIu64 ",\"links_lost\":%" PRIu64 ",\"drv_denied\":%" PRIu64
               ",\"hb_sent\":%" PRIu64 ",\"tele_sent\":%" PRIu64 "},\"last_denial\":\"%s\"",
            c->auth_ok, c->auth_denied, c->links_lost, c->connect_failed, c->keyed,
            c->supplies_started, c->hb_sent, c->hb_acked, c->hb_nacked, c->hb_unacked, c->tele_sent,
            c->tele_relayed, c->tele_lost, c->supply_denied, c->interrupted,
            g->false_disconnected, g->false_disconnected_run,
            longest_turn_ms(g),
            c->publish_fail, c->drv_requests, c->drv_authorised,
            c->drv_denied, c->drv_tickets, e->supply_denied - b->supply_denied,
            e->interrupted - b->interrupted, e->links_lost - b->links_lost,
            e->drv_denied - b->drv_denied, hb, tele, g->last_denial);
    lg_restart_report(g, f);
    fprintf(f, "}\n");
    fclose(f);
}
