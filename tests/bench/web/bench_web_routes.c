/* bench_web_routes: registering 2 x 2,500 and 2 x 20,000 exact routes (the
 * two per CP Central used to register), each as a ratio to a baseline of the
 * same run on the same paths (median of RUNS): formatting and copying every
 * path, the least a table of them must do. A hash table keeps the ratio
 * about the same at both sizes; the linear duplicate check (2.6 s for
 * 20,000 CPs) made it grow eightfold. The assert allows three times the
 * small ratio at the big size: noise moves both, a quadratic term cannot
 * hide in it. Numbers go to stderr. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "evc/loop.h"
#include "evc/web.h"

#define RUNS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof *v, cmpd);
    return v[RUNS / 2];
}

static void h_none(const evc_web_request *req, evc_web_response *res, void *arg)
{
    evc_web_respond_json(res, 200, "{}");
}

/* Seconds to register stop and resume of ncp CPs on a fresh server. */
static double time_routes(evc_loop *loop, int ncp)
{
    evc_web_opts o = {.struct_size = sizeof o, .host = "127.0.0.1"};
    evc_web *web = NULL;
    evc_error err;
    cr_assert_eq(evc_web_start(loop, &o, &web, &err), EVC_OK, "%s", err.msg);
    char p[64];
    double t0 = now_s();
    for (int i = 0; i < ncp; i++) {
        snprintf(p, sizeof p, "/api/cps/CP%06d/stop", i);
        cr_assert_eq(evc_web_route(web, "POST", p, h_none, NULL, &err), EVC_OK, "%s", err.msg);
        snprintf(p, sizeof p, "/api/cps/CP%06d/resume", i);
        cr_assert_eq(evc_web_route(web, "POST", p, h_none, NULL, &err), EVC_OK, "%s", err.msg);
    }
    double t = now_s() - t0;
    evc_web_stop(web);
    return t;
}

/* The baseline: the same paths formatted and copied. */
static double time_copies(int ncp)
{
    char **keep = malloc(2 * (size_t)ncp * sizeof *keep);
    cr_assert_not_null(keep);
    char p[64];
    double t0 = now_s();
    for (int i = 0; i < ncp; i++) {
        snprintf(p, sizeof p, "/api/cps/CP%06d/stop", i);
        keep[2 * i] = strdup(p);
        snprintf(p, sizeof p, "/api/cps/CP%06d/resume", i);
        keep[2 * i + 1] = strdup(p);
    }
    double t = now_s() - t0;
    for (int i = 0; i < 2 * ncp; i++)
        free(keep[i]);
    free(keep);
    return t;
}

static double ratio(evc_loop *loop, int ncp)
{
    double r[RUNS], c[RUNS];
    for (int i = 0; i < RUNS; i++) {
        r[i] = time_routes(loop, ncp);
        c[i] = time_copies(ncp);
    }
    double mr = median(r), mc = median(c);
    fprintf(stderr, "bench_web_routes: %d CPs (%d routes): %.2f ms, baseline %.2f ms, ratio %.1f\n",
            ncp, 2 * ncp, mr * 1e3, mc * 1e3, mr / mc);
    return mr / mc;
}

Test(bench_web_routes, registration_is_linear_in_the_routes)
{
    evc_loop *loop = NULL;
    evc_error err;
    cr_assert_eq(evc_loop_new(&loop, &err), EVC_OK, "%s", err.msg);
    double small = ratio(loop, 2500), big = ratio(loop, 20000);
    cr_expect(big < 3 * small,
              "registering 40,000 routes costs %.1fx its baseline, 5,000 routes %.1fx: "
              "growing faster than the routes",
              big, small);
    evc_loop_free(loop);
}
