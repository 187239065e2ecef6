/* engine_journal.h: the engine's private store (R31, R33).
 *
 * Journal: the supply in progress (from authorisation to its end) is one
 * key-value record, rewritten at every telemetry tick with the Wh so far.
 * When a supply ends, its supply.ended report goes into the outbox in the
 * same transaction that deletes the journal, so a crash leaves exactly one of
 * the two. After a crash, an unfinished journal becomes a supply.ended with
 * reason `engine_restart`, the Wh last journalled and, as its end, the moment
 * they were journalled (not the restart: an outage supplies nothing).
 *
 * Ended sessions: the same transaction remembers the session as ended until
 * an hour past its authorisation's expiry, so that a cp.authorise delivered
 * again (an at-least-once bus after a restart) never starts it twice.
 *
 * Outbox: every report stays until Central's supply.end_ack for its session;
 * the engine re-sends what is due on a timer and everything when Central
 * comes back. Each send is a fresh envelope (new message id, same payload and
 * correlation id), so a consumer that deduplicates by message id still sees
 * a re-send, and Central's idempotence by session_id does the rest.
 *
 * Layout in the kv repository: ns "cp_engine", key "journal" (the record
 * below as text); ns "cp_engine.outbox", key <session_id>, value the outbox
 * row id in decimal; ns "cp_engine.ended", key <session_id>, value the wall
 * ms until which it is kept, in decimal. Loop thread only, like the store. */
#ifndef ENGINE_JOURNAL_H
#define ENGINE_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "evc/envelope.h"
#include "evc/error.h"
#include "evc/store.h"

#define ENGINE_KV_NS "cp_engine"
#define ENGINE_KV_JOURNAL "journal"
#define ENGINE_KV_OUTBOX_NS "cp_engine.outbox"
#define ENGINE_KV_ENDED_NS "cp_engine.ended"
/* How long an ended session is remembered past its authorisation's expiry
 * (or its end, if later): a margin for the engine's own clock being reset. */
#define ENGINE_ENDED_KEEP_MS (3600 * 1000)

typedef struct engine_journal {
    char cp_id[EVC_STORE_ID_MAX];
    char session_id[EVC_STORE_ID_MAX];
    char driver_id[EVC_STORE_ID_MAX];
    int64_t price_cents_per_kwh;
    int64_t authorised_at; /* wall ms */
    int64_t started_at;    /* wall ms of the plug; 0 = not plugged yet */
    int64_t wh;            /* energy so far */
    int64_t recorded_at;   /* wall ms when wh was measured; 0 = unknown (v1) */
    int64_t expires_at;    /* Central's expiry of the authorisation (wall ms) */
} engine_journal;

/* Text form "v2|cp|session|driver|price|authorised_at|started_at|wh|
 * recorded_at|expires_at" (a v1 journal, without the last two, still
 * decodes, with both 0). encode returns the length written (NUL-terminated)
 * or -1 when cap is too small or an id holds '|'; decode returns 0, or -1 on
 * anything malformed. */
int engine_journal_encode(const engine_journal *j, char *buf, size_t cap);
int engine_journal_decode(const char *text, size_t len, engine_journal *out);

/* Writes / reads the journal. load: EVC_ENOTFOUND when there is none,
 * EVC_ECORRUPT when it cannot be decoded. */
int engine_journal_save(evc_store *s, const engine_journal *j, evc_error *err);
int engine_journal_load(evc_store *s, engine_journal *out, evc_error *err);

/* The supply.ended envelope of journal j (source = j->cp_id, correlation =
 * session). *out malloc'd JSON text, caller frees. */
int engine_ended_envelope(const engine_journal *j, int64_t ended_at, const char *reason,
                          char **out, size_t *out_len, evc_error *err);

/* Ends the supply of j in one transaction: deletes the journal (absent is
 * fine), queues the supply.ended report for `topic` with key j->cp_id in the
 * outbox, maps its session to the outbox row and remembers the session as
 * ended (engine_session_ended). */
int engine_journal_finish(evc_store *s, const engine_journal *j, int64_t ended_at,
                          const char *reason, const char *topic, evc_error *err);

/* At start-up: when a journal exists, finishes it with reason
 * `engine_restart`, its last Wh and its recorded_at as the end (now_wall for
 * a v1 journal, which has none), and copies it to *recovered (may be NULL);
 * *found tells whether there was one. A corrupt journal is deleted and
 * reported as EVC_ECORRUPT (nothing can be billed from it). */
int engine_journal_recover(evc_store *s, const char *topic, int64_t now_wall,
                           engine_journal *recovered, bool *found, evc_error *err);

/* Sends (through `send`) every outbox report due at now_ms, or every one when
 * `all`, and schedules each for another attempt retry_ms later: a report is
 * re-sent until engine_outbox_ack. `send` gets the stored envelope decoded
 * (borrowed for the call) and returns an evc status (ignored beyond logging:
 * the next attempt is scheduled anyway). *sent (may be NULL) counts sends. */
typedef int (*engine_send_fn)(void *arg, const char *topic, const char *key,
                              const evc_envelope *env);
int engine_outbox_flush(evc_store *s, int64_t now_ms, int64_t retry_ms, bool all,
                        engine_send_fn send, void *arg, unsigned *sent, evc_error *err);

/* Central acknowledged the report of session_id: deletes it from the outbox.
 * *found (may be NULL): whether one was pending (a repeated ack finds none). */
int engine_outbox_ack(evc_store *s, const char *session_id, bool *found, evc_error *err);

/* Whether session_id was ended here (and is still remembered): *ended.
 * Store errors are returned; the caller then must not start the session. */
int engine_session_ended(evc_store *s, const char *session_id, bool *ended, evc_error *err);

/* Forgets the ended sessions whose keep-until time is before now_wall.
 * *forgotten (may be NULL) counts them. */
int engine_ended_prune(evc_store *s, int64_t now_wall, unsigned *forgotten, evc_error *err);

/* Reports still waiting for their ack. */
int engine_outbox_pending(evc_store *s, int64_t *count, evc_error *err);

#endif
