/* engine_energy.h: the engine's metering in integers -- energy accumulated
 * from power and elapsed time without drift, the simulated supply power with
 * its seeded variation, and the cents of the energy so far. Pure: no I/O, no
 * global state; unit-tested in tests/unit/cp_engine. */
#ifndef ENGINE_ENERGY_H
#define ENGINE_ENERGY_H

#include <stdint.h>

/* Energy so far. Watt-milliseconds that do not yet make a whole Wh are kept
 * in `rem_wms` (always < 3 600 000), so adding 3600 ticks of 1 s at 1000 W is
 * exactly 1000 Wh, whatever the split of the time into ticks. */
typedef struct engine_energy {
    int64_t wh;
    int64_t rem_wms;
} engine_energy;

#define ENGINE_WMS_PER_WH INT64_C(3600000)

void engine_energy_reset(engine_energy *e);
/* Adds w watts during ms milliseconds (negative values count as 0). */
void engine_energy_add(engine_energy *e, int64_t w, int64_t ms);

/* cents = (wh * price + 500) / 1000 (round half up, docs/PROTOCOL.md
 * section 5); -1 on negative input or overflow. */
int64_t engine_cents(int64_t wh, int64_t price_cents_per_kwh);

/* Supply power: base_w with a uniform variation of +-pct percent, from a
 * seeded xorshift generator (the same seed gives the same sequence). */
typedef struct engine_power {
    uint64_t state;
    int64_t base_w;
    int64_t pct;
} engine_power;

void engine_power_init(engine_power *p, int64_t base_w, int64_t pct, uint64_t seed);
int64_t engine_power_next(engine_power *p);

#endif
