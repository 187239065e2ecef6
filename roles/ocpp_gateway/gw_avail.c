/* gw_avail.c: a charger's availability kept in line with Central's admin
 * state (docs/OCPP.md "ChangeAvailability answered Scheduled").
 *
 * Central's stop/resume of a CP is ChangeAvailability Inoperative/Operative
 * (gw_bus.c). A charger busy with a transaction on that connector answers
 * "Scheduled": OCPP 1.6 (5.2) has it apply the change itself when the
 * transaction ends. Not every charger does, and nothing else would tell:
 * the connector would go on offering itself while Central shows it STOPPED
 * (or stay Unavailable while Central shows it ACTIVATED). So a Scheduled
 * answer arms a check: once the connector's transaction ended, a
 * StatusNotification whose status disagrees with Central's admin state gets
 * the same ChangeAvailability again. Bounded: only when the status changed
 * since the last one routed to that CP (a charger repeating "Available" is
 * asked once, not once per report), and nothing is sent on our side
 * without a report from the charger, so there is no loop. A status that
 * agrees disarms it, as does a Rejected (or failed) answer: the charger
 * refuses, asking again would not help (logged).
 *
 * The same check is armed when Central accepts the CP (gw_avail_accepted): a
 * charger keeps its availability across reconnections and reboots, while
 * Central's admin state may have changed meanwhile (a CP stopped while its
 * charger was away, or a charger that rebooted and forgot its Inoperative).
 */
#include <string.h>

#include "evc/log.h"
#include "gw.h"

#define LOGC(cp, lvl, ...) evc_log((lvl), GW_LOG, &(evc_log_ids){.cp = (cp)->id}, __VA_ARGS__)

/* 1 when a connector status agrees with the admin state, -1 when it
 * disagrees, 0 when it says nothing about it: Faulted either way, and
 * Finishing while Inoperative is due (OCPP 1.6's Finishing -> Unavailable:
 * the change is applied once the user is done, e.g. unplugged). */
static int agrees(const char *status, bool inoperative)
{
    if (strcmp(status, "Faulted") == 0)
        return 0;
    bool unavailable = strcmp(status, "Unavailable") == 0;
    if (!inoperative)
        return unavailable ? -1 : 1;
    if (unavailable)
        return 1;
    return strcmp(status, "Finishing") == 0 ? 0 : -1;
}

bool gw_avail_in_line(const gw_cp *cp, bool inoperative)
{
    return cp->last_status[0] && agrees(cp->last_status, inoperative) > 0;
}

void gw_avail_answer(gw_cp *cp, const char *status, bool accepted)
{
    if (cp->avail_pending > 0)
        cp->avail_pending--;
    if (status && strcmp(status, "Scheduled") == 0) {
        cp->avail_check = true;
        LOGC(cp, EVC_LOG_INFO, "ChangeAvailability %s scheduled by the charger (busy): checked "
                               "when the transaction ends",
             cp->inoperative ? "Inoperative" : "Operative");
    } else if (!accepted && cp->avail_check) {
        cp->avail_check = false;
        LOGC(cp, EVC_LOG_WARN, "ChangeAvailability %s not applied by the charger (%s): its "
                               "availability may differ from Central's admin state",
             cp->inoperative ? "Inoperative" : "Operative", status ? status : "no answer");
    }
}

void gw_avail_accepted(gw_cp *cp)
{
    const gw_cp *ch = cp->parent ? cp->parent : cp;
    if (cp->sup == GW_SUP_SUPPLYING)
        return; /* Central's commands during a supply take the Scheduled path */
    if (!ch->booted) {
        /* A new connection: the status the charger reports after its boot
         * decides (one from an earlier connection says nothing). */
        cp->last_status[0] = '\0';
        cp->avail_check = true;
        return;
    }
    if (cp->last_status[0] && agrees(cp->last_status, cp->inoperative) < 0) {
        LOGC(cp, EVC_LOG_WARN, "the charger reports %s, Central has the CP %s: "
                               "ChangeAvailability %s",
             cp->last_status, cp->inoperative ? "STOPPED" : "IN_SERVICE",
             cp->inoperative ? "Inoperative" : "Operative");
        cp->avail_check = true; /* its answer (Accepted / Scheduled) decides */
        gw_bus_availability(cp);
        return;
    }
    cp->avail_check = true;
}

void gw_avail_status(gw_cp *cp, const char *status)
{
    bool changed = strcmp(status, cp->last_status) != 0;
    size_t len = strlen(status);
    /* the schema's enum: the longest, "SuspendedEVSE", fits */
    if (len < sizeof cp->last_status)
        memcpy(cp->last_status, status, len + 1);
    if (!cp->avail_check || !changed || cp->sup == GW_SUP_SUPPLYING)
        return;
    int a = agrees(status, cp->inoperative);
    if (a > 0) {
        cp->avail_check = false;
        LOGC(cp, EVC_LOG_INFO, "the charger reports %s, in line with Central's admin state (%s)",
             status, cp->inoperative ? "STOPPED" : "IN_SERVICE");
    } else if (a < 0) {
        LOGC(cp, EVC_LOG_WARN, "the charger reports %s, Central has the CP %s: "
                               "ChangeAvailability %s",
             status, cp->inoperative ? "STOPPED" : "IN_SERVICE",
             cp->inoperative ? "Inoperative" : "Operative");
        gw_bus_availability(cp);
    }
}
