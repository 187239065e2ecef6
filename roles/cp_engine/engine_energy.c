/* engine_energy.c: see engine_energy.h. */
#include "engine_energy.h"

void engine_energy_reset(engine_energy *e)
{
    e->wh = 0;
    e->rem_wms = 0;
}

void engine_energy_add(engine_energy *e, int64_t w, int64_t ms)
{
    if (w <= 0 || ms <= 0)
        return;
    /* w <= a few MW and ms <= hours keeps w * ms far below INT64_MAX; split
     * anyway so that a pathological gap cannot overflow. */
    while (ms > 0) {
        int64_t step = ms > 3600000 ? 3600000 : ms;
        int64_t total = e->rem_wms + w * step;
        e->wh += total / ENGINE_WMS_PER_WH;
        e->rem_wms = total % ENGINE_WMS_PER_WH;
        ms -= step;
    }
}

int64_t engine_cents(int64_t wh, int64_t price)
{
    if (wh < 0 || price < 0)
        return -1;
    if (price != 0 && wh > (INT64_MAX - 500) / price)
        return -1;
    return (wh * price + 500) / 1000;
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

void engine_power_init(engine_power *p, int64_t base_w, int64_t pct, uint64_t seed)
{
    p->state = seed ? seed : UINT64_C(0x9E3779B97F4A7C15);
    p->base_w = base_w < 0 ? 0 : base_w;
    p->pct = pct < 0 ? 0 : (pct > 100 ? 100 : pct);
}

int64_t engine_power_next(engine_power *p)
{
    int64_t span = p->base_w * p->pct / 100;
    if (span == 0)
        return p->base_w;
    uint64_t r = xorshift64(&p->state) % (uint64_t)(2 * span + 1);
    return p->base_w - span + (int64_t)r;
}
