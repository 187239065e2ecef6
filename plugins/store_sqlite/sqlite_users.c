/* sqlite_users.c: the users and charging_points repositories. */
#include <string.h>

#include "sqlite_internal.h"

static bool is_argon2id(const char *h)
{
    return h && strncmp(h, "$argon2id$", 10) == 0 && strlen(h) < EVC_STORE_HASH_MAX;
}

/* A CP secret: argon2id, or the fast verifier of a strong secret. */
static bool is_cp_hash(const char *h)
{
    return is_argon2id(h) || (h && strncmp(h, "$evc-cpk$v=1$", 13) == 0 &&
                              strlen(h) < EVC_STORE_HASH_MAX);
}

static const char *role_text(evc_user_role r)
{
    return r == EVC_ROLE_ADMIN ? "admin" : r == EVC_ROLE_DRIVER ? "driver" : NULL;
}

static void read_user(sqlite3_stmt *st, evc_user *u)
{
    memset(u, 0, sizeof *u);
    sqlite_col_text(st, 0, u->id, sizeof u->id);
    u->role = strcmp(sqlite_col_str(st, 1), "admin") == 0 ? EVC_ROLE_ADMIN : EVC_ROLE_DRIVER;
    sqlite_col_text(st, 2, u->password_hash, sizeof u->password_hash);
    u->balance_cents = sqlite3_column_int64(st, 3);
    u->created_ms = sqlite3_column_int64(st, 4);
}

int sqlite_user_insert(sqlite_store *s, const evc_user *u, evc_error *err)
{
    const char *op = "insert user";
    if (!u)
        return evc_error_set(err, EVC_EINVAL, "%s: NULL user", op);
    int rc = sqlite_check_id(u->id, "user id", op, err);
    if (rc != EVC_OK)
        return rc;
    if (!role_text(u->role))
        return evc_error_set(err, EVC_EINVAL, "%s %s: bad role %d", op, u->id, (int)u->role);
    if (!is_argon2id(u->password_hash))
        return evc_error_set(err, EVC_EINVAL, "%s %s: the password must be an argon2id hash "
                             "(evc_password_hash), never clear text", op, u->id);
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_USER_INSERT);
    sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, role_text(u->role), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, u->password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, u->balance_cents);
    sqlite3_bind_int64(st, 5, u->created_ms ? u->created_ms : sqlite_now_ms(s));
    rc = sqlite_step_done(s, st, op, NULL, err);
    if (rc == EVC_EEXIST)
        evc_error_set(err, rc, "database %s: %s: user '%s' already exists", s->path, op, u->id);
    return rc;
}

int sqlite_user_get(sqlite_store *s, const char *id, evc_user *out, evc_error *err)
{
    const char *op = "get user";
    int rc = sqlite_check_id(id, "user id", op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_USER_GET);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (out)
            read_user(st, out);
        sqlite3_reset(st);
        return EVC_OK;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return evc_error_set(err, EVC_ENOTFOUND, "database %s: %s: no user '%s'", s->path, op,
                             id);
    return sqlite_fail(s, rc, op, err);
}

int sqlite_user_list(sqlite_store *s, evc_user_cb cb, void *arg, evc_error *err)
{
    sqlite3_stmt *st = sqlite_stmt(s, SQ_USER_LIST);
    int rc;
    evc_user u;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_user(st, &u);
        if (cb && cb(arg, &u) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? EVC_OK : sqlite_fail(s, rc, "list users", err);
}

static int exists_or(sqlite_store *s, enum sqlite_stmt_id get, const char *what, const char *id,
                     const char *op, int other, evc_error *err)
{
    sqlite3_stmt *st = sqlite_stmt(s, get);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return evc_error_set(err, EVC_ENOTFOUND, "database %s: %s: no %s '%s'", s->path, op,
                             what, id);
    if (rc != SQLITE_ROW)
        return sqlite_fail(s, rc, op, err);
    return other;
}

/* Runs a one-row UPDATE/DELETE keyed by id (bound as ?1); 0 rows changed is
 * EVC_ENOTFOUND. */
static int update_by_id(sqlite_store *s, sqlite3_stmt *st, enum sqlite_stmt_id get,
                        const char *what, const char *id, const char *op, evc_error *err)
{
    int changes = 0;
    int rc = sqlite_step_done(s, st, op, &changes, err);
    if (rc == EVC_OK && changes == 0)
        return exists_or(s, get, what, id, op, EVC_OK, err);
    return rc;
}

int sqlite_user_set_password(sqlite_store *s, const char *id, const char *hash, evc_error *err)
{
    const char *op = "set user password";
    int rc = sqlite_check_id(id, "user id", op, err);
    if (rc != EVC_OK)
        return rc;
    if (!is_argon2id(hash))
        return evc_error_set(err, EVC_EINVAL, "%s %s: not an argon2id hash", op, id);
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_USER_SETPW);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    return update_by_id(s, st, SQ_USER_GET, "user", id, op, err);
}

int sqlite_user_add_balance(sqlite_store *s, const char *id, int64_t delta, int64_t *new_balance,
                            evc_error *err)
{
    const char *op = "add to user balance";
    int rc = sqlite_check_id(id, "user id", op, err);
    if (rc != EVC_OK)
        return rc;
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_USER_ADDBAL);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, delta);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        if (new_balance)
            *new_balance = sqlite3_column_int64(st, 0);
        src = sqlite3_step(st);
    } else if (src == SQLITE_DONE) {
        sqlite3_reset(st);
        return exists_or(s, SQ_USER_GET, "user", id, op,
                         evc_error_set(err, EVC_ECONFLICT, "database %s: %s: user '%s' would "
                                       "have a negative balance; nothing changed",
                                       s->path, op, id), err);
    }
    if (src != SQLITE_DONE)
        rc = sqlite_fail(s, sqlite3_extended_errcode(s->db), op, err);
    sqlite3_reset(st);
    return rc;
}

int sqlite_user_delete(sqlite_store *s, const char *id, evc_error *err)
{
    const char *op = "delete user";
    int rc = sqlite_check_id(id, "user id", op, err);
    if (rc != EVC_OK || (rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_USER_DELETE);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = update_by_id(s, st, SQ_USER_GET, "user", id, op, err);
    if (rc == EVC_ECONFLICT)
        evc_error_set(err, rc, "database %s: %s: user '%s' has sessions or tickets", s->path,
                      op, id);
    return rc;
}

/* ---- charging points --------------------------------------------------- */

static void read_cp(sqlite3_stmt *st, evc_charging_point *cp)
{
    memset(cp, 0, sizeof *cp);
    sqlite_col_text(st, 0, cp->id, sizeof cp->id);
    sqlite_col_text(st, 1, cp->location, sizeof cp->location);
    cp->price_cents_per_kwh = sqlite3_column_int64(st, 2);
    cp->max_w = sqlite3_column_int64(st, 3);
    cp->admin_state = strcmp(sqlite_col_str(st, 4), "stopped") == 0 ? EVC_CP_STOPPED
                                                                     : EVC_CP_IN_SERVICE;
    sqlite_col_text(st, 5, cp->secret_hash, sizeof cp->secret_hash);
    cp->registered_ms = sqlite3_column_int64(st, 6);
    cp->updated_ms = sqlite3_column_int64(st, 7);
}

static int check_cp(const evc_charging_point *cp, const char *op, evc_error *err)
{
    if (!cp)
        return evc_error_set(err, EVC_EINVAL, "%s: NULL charging point", op);
    int rc = sqlite_check_id(cp->id, "CP id", op, err);
    if (rc != EVC_OK)
        return rc;
    if (cp->price_cents_per_kwh < 0 || cp->max_w < 0)
        return evc_error_set(err, EVC_EINVAL, "%s %s: negative price or power", op, cp->id);
    if (!memchr(cp->location, '\0', sizeof cp->location))
        return evc_error_set(err, EVC_EINVAL, "%s %s: location not terminated", op, cp->id);
    return EVC_OK;
}

int sqlite_cp_insert(sqlite_store *s, const evc_charging_point *cp, evc_error *err)
{
    const char *op = "insert charging point";
    int rc = check_cp(cp, op, err);
    if (rc != EVC_OK)
        return rc;
    if (cp->secret_hash[0] && !is_cp_hash(cp->secret_hash))
        return evc_error_set(err, EVC_EINVAL, "%s %s: the secret must be an argon2id or "
                             "evc-cpk hash",
                             op, cp->id);
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    int64_t now = sqlite_now_ms(s);
    sqlite3_stmt *st = sqlite_stmt(s, SQ_CP_INSERT);
    sqlite3_bind_text(st, 1, cp->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cp->location, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cp->price_cents_per_kwh);
    sqlite3_bind_int64(st, 4, cp->max_w);
    sqlite3_bind_text(st, 5, cp->admin_state == EVC_CP_STOPPED ? "stopped" : "in_service", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 6, cp->secret_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, cp->registered_ms ? cp->registered_ms : now);
    sqlite3_bind_int64(st, 8, now);
    rc = sqlite_step_done(s, st, op, NULL, err);
    if (rc == EVC_EEXIST)
        evc_error_set(err, rc, "database %s: %s: CP '%s' already exists", s->path, op, cp->id);
    return rc;
}

int sqlite_cp_update(sqlite_store *s, const evc_charging_point *cp, evc_error *err)
{
    const char *op = "update charging point";
    int rc = check_cp(cp, op, err);
    if (rc != EVC_OK || (rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_CP_UPDATE);
    sqlite3_bind_text(st, 1, cp->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, cp->location, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cp->price_cents_per_kwh);
    sqlite3_bind_int64(st, 4, cp->max_w);
    sqlite3_bind_int64(st, 5, sqlite_now_ms(s));
    return update_by_id(s, st, SQ_CP_GET, "CP", cp->id, op, err);
}

int sqlite_cp_get(sqlite_store *s, const char *id, evc_charging_point *out, evc_error *err)
{
    const char *op = "get charging point";
    int rc = sqlite_check_id(id, "CP id", op, err);
    if (rc != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_CP_GET);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && out)
        read_cp(st, out);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return EVC_OK;
    if (rc == SQLITE_DONE)
        return evc_error_set(err, EVC_ENOTFOUND, "database %s: %s: no CP '%s'", s->path, op,
                             id);
    return sqlite_fail(s, rc, op, err);
}

int sqlite_cp_list(sqlite_store *s, evc_cp_cb cb, void *arg, evc_error *err)
{
    sqlite3_stmt *st = sqlite_stmt(s, SQ_CP_LIST);
    int rc;
    evc_charging_point cp;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        read_cp(st, &cp);
        if (cb && cb(arg, &cp) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? EVC_OK : sqlite_fail(s, rc, "list charging points", err);
}

int sqlite_cp_set_admin_state(sqlite_store *s, const char *id, evc_cp_admin_state state,
                              evc_error *err)
{
    const char *op = "set CP admin state";
    int rc = sqlite_check_id(id, "CP id", op, err);
    if (rc != EVC_OK)
        return rc;
    if (state != EVC_CP_IN_SERVICE && state != EVC_CP_STOPPED)
        return evc_error_set(err, EVC_EINVAL, "%s %s: bad state %d", op, id, (int)state);
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_CP_SETSTATE);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, state == EVC_CP_STOPPED ? "stopped" : "in_service", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, sqlite_now_ms(s));
    return update_by_id(s, st, SQ_CP_GET, "CP", id, op, err);
}

int sqlite_cp_set_secret(sqlite_store *s, const char *id, const char *hash, evc_error *err)
{
    const char *op = "set CP secret";
    int rc = sqlite_check_id(id, "CP id", op, err);
    if (rc != EVC_OK)
        return rc;
    if (!hash || (hash[0] && !is_cp_hash(hash)))
        return evc_error_set(err, EVC_EINVAL, "%s %s: not an argon2id or evc-cpk hash", op, id);
    if ((rc = sqlite_write_prepare(s, op, err)) != EVC_OK)
        return rc;
    sqlite3_stmt *st = sqlite_stmt(s, SQ_CP_SETSECRET);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, sqlite_now_ms(s));
    return update_by_id(s, st, SQ_CP_GET, "CP", id, op, err);
}
