/* h_expect.c: the assertions every scenario suite makes, in one place: a
 * CP's state at Central, a line in a program's output, a field of a bus
 * message. Each fails the test with every program's recent output. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

void h_expect_cp_state(h_env *env, const char *cp, const char *state, int timeout_ms)
{
    char now[64];
    H_ASSERT(env, h_wait_cp_state(env, cp, state, timeout_ms),
             "%s: expected %s within %d ms, got '%s'", cp, state, timeout_ms,
             h_cp_state(env, cp, now, sizeof now));
}

void h_expect_output(h_env *env, const h_proc *p, const char *needle, int timeout_ms)
{
    H_ASSERT(env, h_wait_output(p, needle, 1, timeout_ms), "%s never printed \"%s\" (%d ms)",
             p->name, needle, timeout_ms);
}

const char *h_jstr(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "";
}

bool h_cp_has_energy(h_env *env, void *cp_id)
{
    json_t *root = NULL;
    json_t *cp = h_api_cp(env, cp_id, &root);
    bool ok = cp && json_integer_value(json_object_get(cp, "wh")) > 0;
    json_decref(root);
    return ok;
}
