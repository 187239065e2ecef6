/* test_format.c: stdout lines of the driver, from integers only. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "driver_format.h"

Test(format, euros_from_cents_without_floating_point)
{
    char b[64];
    cr_expect_str_eq(driver_fmt_eur(15000, b, sizeof b), "150.00");
    cr_expect_str_eq(driver_fmt_eur(5, b, sizeof b), "0.05");
    cr_expect_str_eq(driver_fmt_eur(0, b, sizeof b), "0.00");
    cr_expect_str_eq(driver_fmt_eur(-5, b, sizeof b), "-0.05");
    cr_expect_str_eq(driver_fmt_eur(-12345, b, sizeof b), "-123.45");
    /* 2^53 + 1 cents: a double would lose the last cent. */
    cr_expect_str_eq(driver_fmt_eur(INT64_C(9007199254740993), b, sizeof b),
                     "90071992547409.93");
    cr_expect_str_eq(driver_fmt_eur(INT64_MIN, b, sizeof b), "-92233720368547758.08");
}

Test(format, energy_and_power)
{
    char b[64];
    cr_expect_str_eq(driver_fmt_kwh(1234, b, sizeof b), "1.234");
    cr_expect_str_eq(driver_fmt_kwh(7, b, sizeof b), "0.007");
    cr_expect_str_eq(driver_fmt_kw(7400, b, sizeof b), "7.40");
    cr_expect_str_eq(driver_fmt_kw(7404, b, sizeof b), "7.40");
    cr_expect_str_eq(driver_fmt_kw(7405, b, sizeof b), "7.41", "half rounds up");
    cr_expect_str_eq(driver_fmt_kw(0, b, sizeof b), "0.00");
    cr_expect_str_eq(driver_fmt_kw(-2, b, sizeof b), "0.00", "no '-0.00'");
}

Test(format, times_and_durations)
{
    char b[64];
    cr_expect_str_eq(driver_fmt_time(INT64_C(1764154800000), b, sizeof b),
                     "2025-11-26T11:00:00Z");
    cr_expect_str_eq(driver_fmt_time(-1, b, sizeof b), "-");
    cr_expect_str_eq(driver_fmt_time(INT64_MAX, b, sizeof b), "-");
    cr_expect_str_eq(driver_fmt_duration(83, b, sizeof b), "0:01:23");
    cr_expect_str_eq(driver_fmt_duration(3600 * 25 + 61, b, sizeof b), "25:01:01");
    cr_expect_str_eq(driver_fmt_duration(-4, b, sizeof b), "0:00:00");
}

Test(format, every_step_has_its_line)
{
    char b[256];
    cr_expect_str_eq(driver_fmt_step("received", "CP_001", NULL, NULL, b, sizeof b),
                     "Request for CP_001 received by CENTRAL");
    cr_expect_str_eq(driver_fmt_step("checking", "CP_001", "", "", b, sizeof b),
                     "CENTRAL is checking the request for CP_001");
    cr_expect_str_eq(driver_fmt_step("authorised", "CP_001", NULL, NULL, b, sizeof b),
                     "Authorised at CP_001");
    cr_expect_str_eq(driver_fmt_step("denied", "CP_002", "cp_busy", "CP_002 is supplying", b,
                                     sizeof b),
                     "Denied at CP_002: cp_busy (CP_002 is supplying)");
    cr_expect_str_eq(driver_fmt_step("denied", "CP_002", "balance_too_low", NULL, b, sizeof b),
                     "Denied at CP_002: balance_too_low (balance below the minimum)");
    cr_expect_str_eq(driver_fmt_step("plug_in", "CP_001", NULL, NULL, b, sizeof b),
                     "Plug in your vehicle at CP_001");
    cr_expect_str_eq(driver_fmt_step("supplying", "CP_001", NULL, NULL, b, sizeof b),
                     "Supplying at CP_001");
    cr_expect_str_eq(driver_fmt_step("interrupted", "CP_001", "fault", "engine KO", b, sizeof b),
                     "Interrupted at CP_001: fault (engine KO)");
    cr_expect_str_eq(driver_fmt_step("ended", "CP_001", "unplugged", NULL, b, sizeof b),
                     "Ended at CP_001: unplugged (vehicle unplugged)");
    cr_expect_str_eq(driver_fmt_step("teleported", "CP_001", NULL, NULL, b, sizeof b),
                     "Step teleported at CP_001");
}

Test(format, bus_text_cannot_drive_the_terminal)
{
    char b[256];
    driver_fmt_step("denied", "CP_001", "x\033[2Jy", "a\nb", b, sizeof b);
    cr_expect_str_eq(b, "Denied at CP_001: x?[2Jy (a?b)");
    cr_expect_null(strchr(b, '\033'));
}

Test(format, telemetry_ticket_summary)
{
    char b[512];
    cr_expect_str_eq(driver_fmt_telemetry("CP_001", 7400, 1234, 37, b, sizeof b),
                     "Supplying at CP_001: 7.40 kW, 1.234 kWh, EUR 0.37");
    driver_ticket t = {.cp_id = "CP_001",
                       .session_id = "0f8fad5b-d9cb-469f-a165-70867728950e",
                       .reason = "unplugged",
                       .wh = 1234, .cents = 37, .price_cents_per_kwh = 30,
                       .started_at = INT64_C(1764154800000), .ended_at = INT64_C(1764154883000),
                       .duration_s = 83, .balance_cents = 14963, .has_balance = 1};
    cr_expect_str_eq(driver_fmt_ticket(&t, b, sizeof b),
                     "Ticket CP_001: 1.234 kWh, EUR 0.37 at EUR 0.30/kWh, "
                     "start 2025-11-26T11:00:00Z, end 2025-11-26T11:01:23Z, duration 0:01:23, "
                     "reason unplugged (vehicle unplugged), balance EUR 149.63, "
                     "session 0f8fad5b-d9cb-469f-a165-70867728950e");
    t.has_balance = 0;
    cr_expect(strstr(driver_fmt_ticket(&t, b, sizeof b), "balance unknown,"), "%s", b);
    cr_expect_str_eq(driver_fmt_summary(8, 1, 1, 12345, 370, b, sizeof b),
                     "Summary: 8 ok, 1 denied, 1 failed, 12.345 kWh, EUR 3.70");
}

Test(format, ids)
{
    cr_expect(evc_id_valid("CP_001"));
    cr_expect(evc_id_valid("a.b-c_9"));
    char max[65];
    memset(max, 'x', 64);
    max[64] = '\0';
    cr_expect(evc_id_valid(max));
    char over[66];
    memset(over, 'x', 65);
    over[65] = '\0';
    cr_expect_not(evc_id_valid(over));
    cr_expect_not(evc_id_valid(""));
    cr_expect_not(evc_id_valid(NULL));
    cr_expect_not(evc_id_valid("CP 1"));
    cr_expect_not(evc_id_valid("CP#1"));
    cr_expect_not(evc_id_valid("CPé"));
}

Test(format, truncation_is_safe)
{
    char b[8];
    driver_fmt_ticket(&(driver_ticket){.cp_id = "CP_001"}, b, sizeof b);
    cr_expect_eq(strlen(b), 7);
}
