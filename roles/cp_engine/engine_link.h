/* engine_link.h: the PONG of the monitor link (docs/PROTOCOL.md M2), apart
 * from engine.h so that tests can build and read it directly.
 *
 * PONG seq, health                                    (any link)
 * PONG seq, health, state, w, wh, session_id, admin   (the proved monitor link)
 * state: idle / authorised / supplying; w and wh 0 and session_id "" when
 * idle; admin: in_service / stopped. A monitor reads the fields it knows
 * and ignores any later ones. */
#ifndef ENGINE_LINK_H
#define ENGINE_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "engine.h"

#define ENGINE_PONG_FIELDS 7

/* "idle", "authorised", "supplying". */
const char *engine_phase_wire(engine_phase p);

/* Fills out[] with the PONG's fields for a PING of `seq` (borrowed), the
 * supply figures only when `proved`; w and wh are the caller's buffers the
 * fields point into. Returns the number of fields (2 or ENGINE_PONG_FIELDS). */
size_t engine_pong_fields(const engine *e, const char *seq, bool proved, char w[24], char wh[24],
                          evc_frame_field out[ENGINE_PONG_FIELDS]);

#endif
