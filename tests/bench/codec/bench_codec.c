/* bench_codec: speed of the frame and envelope codecs, each as a ratio to a
 * baseline measured in the same run on the same data (median of RUNS).
 * Baselines: frame encode vs snprintf of the same text (no escaping, no
 * LRC); frame decode vs memcpy + XOR of the same bytes (the least any
 * decoder must do); envelope decode vs jansson's json_loadb alone; envelope
 * encode vs json_dumps of a pre-built object. Numbers go to stderr; the
 * asserts only check that the work was really done. */
#include <criterion/criterion.h>
#include <evc/envelope.h>
#include <evc/frame.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define RUNS 7

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

static void report(const char *what, double ours, double base, size_t n, const char *unit_note)
{
    fprintf(stderr, "bench_codec: %-16s %8.1f ns/op  baseline %8.1f ns/op  ratio %.2f  (%s)\n", what,
            ours / (double)n * 1e9, base / (double)n * 1e9, ours / base, unit_note);
}

static volatile size_t sink;

Test(bench, frame_encode)
{
    enum { N = 500000 };
    evc_frame_field f[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR("OK"), EVC_FRAME_STR("7.400"),
                           EVC_FRAME_STR("1700000000123")};
    char buf[128];
    double ours[RUNS], base[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        for (int i = 0; i < N; i++) {
            size_t len;
            evc_frame_encode("HB", f, 4, buf, sizeof buf, &len, NULL);
            sink += len;
        }
        double t1 = now_s();
        for (int i = 0; i < N; i++)
            sink += (size_t)snprintf(buf, sizeof buf, "\x02%s#%s#%s#%s#%s\x03", "HB", f[0].data,
                                     f[1].data, f[2].data, f[3].data);
        double t2 = now_s();
        ours[r] = t1 - t0;
        base[r] = t2 - t1;
    }
    report("frame encode", median(ours), median(base), N, "41-byte heartbeat vs snprintf");
    cr_assert_gt(sink, 0);
}

Test(bench, frame_decode)
{
    /* 20k frames of 4 fields, some needing escapes, ~1 MB of stream. */
    enum { FRAMES = 20000 };
    size_t cap = FRAMES * 64, len = 0;
    char *stream = malloc(cap), *copy = malloc(cap);
    for (int i = 0; i < FRAMES; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        evc_frame_field f[] = {EVC_FRAME_STR("CP_001"), EVC_FRAME_STR(num),
                               EVC_FRAME_STR(i % 4 ? "OK" : "K#O\\"), EVC_FRAME_STR("7.400")};
        size_t n;
        cr_assert_eq(evc_frame_encode("HB", f, 4, stream + len, cap - len, &n, NULL), EVC_OK);
        len += n;
    }
    evc_frame_decoder *d = evc_frame_decoder_new(NULL, NULL);
    double ours[RUNS], base[RUNS];
    for (int r = 0; r < RUNS; r++) {
        size_t frames = 0;
        double t0 = now_s();
        for (size_t off = 0; off < len;) {
            size_t chunk = len - off < 4096 ? len - off : 4096, end = off + chunk;
            while (off < end) {
                evc_frame_event ev;
                off += evc_frame_decode(d, stream + off, end - off, &ev);
                frames += ev.kind == EVC_FRAME_EV_FRAME;
            }
        }
        double t1 = now_s();
        unsigned char x = 0;
        for (size_t off = 0; off < len; off += 4096) {
            size_t chunk = len - off < 4096 ? len - off : 4096;
            memcpy(copy + off, stream + off, chunk);
            for (size_t i = 0; i < chunk; i++)
                x ^= (unsigned char)copy[off + i];
        }
        double t2 = now_s();
        sink += x;
        cr_assert_eq(frames, FRAMES);
        ours[r] = t1 - t0;
        base[r] = t2 - t1;
    }
    double mo = median(ours), mb = median(base);
    report("frame decode", mo, mb, FRAMES, "per frame, 4 KiB reads vs memcpy+XOR");
    fprintf(stderr, "bench_codec: frame decode     %.0f MB/s, %.2f M frames/s\n", (double)len / mo / 1e6,
            FRAMES / mo / 1e6);
    evc_frame_decoder_free(d);
    free(stream);
    free(copy);
}

static const char payload[] = "{\"cp_id\":\"CP_001\",\"kw\":7.4,\"kwh\":12.345,\"eur\":4.32,"
                              "\"driver_id\":\"driver1\",\"state\":\"SUPPLYING\"}";

Test(bench, envelope)
{
    enum { N = 20000 };
    evc_envelope e = {.type = "telemetry", .correlation_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7",
                      .source = "CP_001", .payload = payload};
    char id[EVC_UUID_STR_SIZE];
    evc_envelope_stamp(&e, id, NULL);
    char *text;
    size_t tlen;
    cr_assert_eq(evc_envelope_encode(&e, &text, &tlen, NULL), EVC_OK);
    json_t *prebuilt = json_loadb(text, tlen, 0, NULL);
    double dec[RUNS], dec_base[RUNS], enc[RUNS], enc_base[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_s();
        for (int i = 0; i < N; i++) {
            evc_envelope *out;
            cr_assert_eq(evc_envelope_decode(text, tlen, NULL, &out, NULL), EVC_OK);
            sink += (size_t)out->ts_ms;
            evc_envelope_free(out);
        }
        double t1 = now_s();
        for (int i = 0; i < N; i++) {
            json_t *j = json_loadb(text, tlen, 0, NULL);
            sink += json_object_size(j);
            json_decref(j);
        }
        double t2 = now_s();
        for (int i = 0; i < N; i++) {
            char *o;
            size_t ol;
            evc_envelope_encode(&e, &o, &ol, NULL);
            sink += ol;
            free(o);
        }
        double t3 = now_s();
        for (int i = 0; i < N; i++) {
            char *o = json_dumps(prebuilt, JSON_COMPACT);
            sink += strlen(o);
            free(o);
        }
        double t4 = now_s();
        dec[r] = t1 - t0;
        dec_base[r] = t2 - t1;
        enc[r] = t3 - t2;
        enc_base[r] = t4 - t3;
    }
    char note[64];
    snprintf(note, sizeof note, "%zu-byte telemetry envelope", tlen);
    report("envelope decode", median(dec), median(dec_base), N, note);
    report("envelope encode", median(enc), median(enc_base), N, note);
    json_decref(prebuilt);
    free(text);
}
