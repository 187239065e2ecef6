/* config_load.c: YAML text -> evc_cfg tree, with libyaml's event parser.
 *
 * The event API (rather than yaml_parser_load) is used because the document
 * API resolves anchors, silently keeps the last of duplicate keys and loses
 * nothing we need: events carry the marks every node must remember. Only the
 * subset of YAML a configuration needs is accepted; the rest (anchors,
 * aliases, tags, several documents, non-scalar keys) is refused with a
 * message rather than half-supported. */
#include "config_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct loader {
    yaml_parser_t parser;
    const char *file; /* interned in cfg */
    const unsigned char *input;
    size_t len;
    evc_error *err;
} loader;

static evc_cfg_pos mark_pos(const loader *ld, yaml_mark_t m)
{
    /* libyaml marks are 0-based; positions are 1-based like editors. */
    return (evc_cfg_pos){ld->file, (unsigned)m.line + 1, (unsigned)m.column + 1};
}

/* Turns an input byte offset into a 1-based line and column (in bytes),
 * for reader errors whose mark libyaml leaves unset. */
static evc_cfg_pos offset_pos(const loader *ld, size_t off)
{
    evc_cfg_pos pos = {ld->file, 1, 1};
    for (size_t i = 0; i < off && i < ld->len; i++) {
        if (ld->input[i] == '\n') {
            pos.line++;
            pos.column = 1;
        } else {
            pos.column++;
        }
    }
    return pos;
}

static int fail_at(loader *ld, evc_cfg_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(loader *ld, evc_cfg_pos pos, const char *fmt, ...)
{
    char at[EVC_CFG_POS_MAX], msg[EVC_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return evc_error_set(ld->err, EVC_ECONFIG, "%s: %s", evc_cfg_pos_format(pos, at, sizeof at),
                         msg);
}

/* True when the leading blanks of 0-based `line` hold a tab: libyaml then
 * only says "found character that cannot start any token". */
static int tab_indented(const loader *ld, size_t line)
{
    size_t i = 0;
    for (size_t l = 0; l < line && i < ld->len; i++)
        if (ld->input[i] == '\n')
            l++;
    for (; i < ld->len && (ld->input[i] == ' ' || ld->input[i] == '\t'); i++)
        if (ld->input[i] == '\t')
            return 1;
    return 0;
}

static int parser_failed(loader *ld)
{
    yaml_parser_t *p = &ld->parser;
    char at[EVC_CFG_POS_MAX];
    const char *problem = p->problem ? p->problem : "unknown YAML error";
    if (p->error == YAML_MEMORY_ERROR)
        return evc_error_set(ld->err, EVC_ENOMEM, "%s: out of memory parsing YAML", ld->file);
    if (p->error == YAML_READER_ERROR) {
        evc_cfg_pos pos = offset_pos(ld, p->problem_offset);
        /* problem_value is an octet for encoding errors, a code point for
         * characters YAML forbids. */
        if (p->problem_value > 0xFF)
            return evc_error_set(ld->err, EVC_ECONFIG, "%s: %s (character U+%04X)",
                                 evc_cfg_pos_format(pos, at, sizeof at), problem,
                                 (unsigned)p->problem_value);
        if (p->problem_value >= 0)
            return evc_error_set(ld->err, EVC_ECONFIG, "%s: %s (byte 0x%02X)",
                                 evc_cfg_pos_format(pos, at, sizeof at), problem,
                                 (unsigned)p->problem_value);
        return evc_error_set(ld->err, EVC_ECONFIG, "%s: %s",
                             evc_cfg_pos_format(pos, at, sizeof at), problem);
    }
    evc_cfg_pos pos = mark_pos(ld, p->problem_mark);
    const char *hint = tab_indented(ld, p->problem_mark.line)
                           ? "; YAML indentation must use spaces, not tabs"
                           : "";
    if (p->context)
        return evc_error_set(ld->err, EVC_ECONFIG, "%s: %s (%s at %zu:%zu)%s",
                             evc_cfg_pos_format(pos, at, sizeof at), problem, p->context,
                             p->context_mark.line + 1, p->context_mark.column + 1, hint);
    return evc_error_set(ld->err, EVC_ECONFIG, "%s: %s%s", evc_cfg_pos_format(pos, at, sizeof at),
                         problem, hint);
}

static int next_event(loader *ld, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&ld->parser, ev))
        return parser_failed(ld);
    return EVC_OK;
}

/* Refuses anchors and explicit tags on a node event. */
static int check_props(loader *ld, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag)
{
    evc_cfg_pos pos = mark_pos(ld, ev->start_mark);
    if (anchor)
        return fail_at(ld, pos,
                       "YAML anchors ('&%s') are not supported; repeat the value instead",
                       (const char *)anchor);
    /* libyaml hands the resolved tag; show it as written ("!!str"). */
    static const char core_prefix[] = "tag:yaml.org,2002:";
    if (tag && strncmp((const char *)tag, core_prefix, sizeof core_prefix - 1) == 0)
        return fail_at(ld, pos,
                       "YAML tags ('!!%s') are not supported; write the plain value (quote it "
                       "to keep it a string)",
                       (const char *)tag + sizeof core_prefix - 1);
    if (tag)
        return fail_at(ld, pos,
                       "YAML tags ('%s') are not supported; write the plain value (quote it "
                       "to keep it a string)",
                       (const char *)tag);
    return EVC_OK;
}

/* Copies a scalar's text, refusing embedded NULs that a C string would
 * silently cut. */
static int scalar_text(loader *ld, const yaml_event_t *ev, char **out)
{
    size_t n = ev->data.scalar.length;
    if (memchr(ev->data.scalar.value, '\0', n))
        return fail_at(ld, mark_pos(ld, ev->start_mark),
                       "value contains a NUL character");
    *out = strndup((const char *)ev->data.scalar.value, n);
    if (!*out)
        return evc_error_set(ld->err, EVC_ENOMEM, "%s: out of memory", ld->file);
    return EVC_OK;
}

static int parse_node(loader *ld, yaml_event_t *ev, int depth, evc_cfg_node **out);

/* ---- duplicate keys in linear time --------------------------------------
 * Each key of a map is checked against the ones before it. A linear search
 * made a map of n keys cost n^2/2 comparisons (80k keys: 12.7 s); past
 * KEY_INDEX_FROM keys the map being parsed gets a hash index (open
 * addressing, entry positions + 1, 0 = empty slot), kept at most half full.
 * The index lives only while the map is parsed: lookups after loading are
 * by known key names, few and in small sections. */
#define KEY_INDEX_FROM 16

typedef struct key_index {
    size_t *slots;
    size_t cap; /* a power of two, or 0 before the index is built */
} key_index;

static size_t key_hash(const char *k)
{
    size_t h = 1469598103934665603u; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211u;
    return h;
}

/* The entry of `map` with `key`, or NULL. */
static const evc_cfg_entry *key_index_find(const key_index *ix, const evc_cfg_node *map,
                                           const char *key)
{
    if (ix->cap == 0)
        return evc_cfg__map_find(map, key);
    for (size_t i = key_hash(key) & (ix->cap - 1);; i = (i + 1) & (ix->cap - 1)) {
        size_t e = ix->slots[i];
        if (e == 0)
            return NULL;
        if (strcmp(map->entries[e - 1].key, key) == 0)
            return &map->entries[e - 1];
    }
}

static void key_index_put(key_index *ix, const evc_cfg_node *map, size_t entry)
{
    size_t i = key_hash(map->entries[entry].key) & (ix->cap - 1);
    while (ix->slots[i] != 0)
        i = (i + 1) & (ix->cap - 1);
    ix->slots[i] = entry + 1;
}

/* Called after each entry added: builds the index at KEY_INDEX_FROM entries,
 * doubles it at half full. EVC_ENOMEM when it cannot. */
static int key_index_added(key_index *ix, const evc_cfg_node *map)
{
    if (map->count < KEY_INDEX_FROM)
        return EVC_OK;
    if (ix->cap != 0 && map->count * 2 <= ix->cap) {
        key_index_put(ix, map, map->count - 1);
        return EVC_OK;
    }
    size_t cap = ix->cap ? ix->cap * 2 : 64;
    while (map->count * 2 > cap)
        cap *= 2;
    size_t *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return EVC_ENOMEM;
    free(ix->slots);
    ix->slots = slots;
    ix->cap = cap;
    for (size_t e = 0; e < map->count; e++)
        key_index_put(ix, map, e);
    return EVC_OK;
}

static int parse_map_entries(loader *ld, evc_cfg_node *map, int depth, key_index *ix);

static int parse_map(loader *ld, evc_cfg_node *map, int depth)
{
    key_index ix = {0};
    int rc = parse_map_entries(ld, map, depth, &ix);
    free(ix.slots);
    return rc;
}

static int parse_map_entries(loader *ld, evc_cfg_node *map, int depth, key_index *ix)
{
    for (;;) {
        yaml_event_t kev;
        int rc = next_event(ld, &kev);
        if (rc != EVC_OK)
            return rc;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return EVC_OK;
        }
        evc_cfg_pos kpos = mark_pos(ld, kev.start_mark);
        if (kev.type == YAML_ALIAS_EVENT)
            rc = fail_at(ld, kpos, "YAML aliases ('*%s') are not supported; repeat the value instead",
                         (const char *)kev.data.alias.anchor);
        else if (kev.type != YAML_SCALAR_EVENT)
            rc = fail_at(ld, kpos, "keys must be plain scalars, not %s",
                         kev.type == YAML_MAPPING_START_EVENT ? "maps" : "lists");
        else
            rc = check_props(ld, &kev, kev.data.scalar.anchor, kev.data.scalar.tag);
        char *key = NULL;
        if (rc == EVC_OK)
            rc = scalar_text(ld, &kev, &key);
        yaml_event_delete(&kev);
        if (rc != EVC_OK)
            return rc;
        const evc_cfg_entry *dup = key_index_find(ix, map, key);
        if (dup) {
            char first[EVC_CFG_POS_MAX];
            evc_cfg_pos_format(dup->key_pos, first, sizeof first);
            rc = fail_at(ld, kpos, "duplicate key '%s' (first defined at %s)", key, first);
            free(key);
            return rc;
        }
        yaml_event_t vev;
        evc_cfg_node *value = NULL;
        rc = next_event(ld, &vev);
        if (rc == EVC_OK)
            rc = parse_node(ld, &vev, depth + 1, &value);
        if (rc == EVC_OK && evc_cfg__map_add(map, key, kpos, value) != EVC_OK)
            rc = evc_error_set(ld->err, EVC_ENOMEM, "%s: out of memory", ld->file);
        if (rc != EVC_OK) {
            free(key);
            evc_cfg__node_free(value);
            return rc;
        }
        if (key_index_added(ix, map) != EVC_OK) /* the map owns the entry now */
            return evc_error_set(ld->err, EVC_ENOMEM, "%s: out of memory", ld->file);
    }
}

static int parse_seq(loader *ld, evc_cfg_node *seq, int depth)
{
    for (;;) {
        yaml_event_t ev;
        int rc = next_event(ld, &ev);
        if (rc != EVC_OK)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return EVC_OK;
        }
        evc_cfg_node *item = NULL;
        rc = parse_node(ld, &ev, depth + 1, &item);
        if (rc == EVC_OK && evc_cfg__seq_add(seq, item) != EVC_OK)
            rc = evc_error_set(ld->err, EVC_ENOMEM, "%s: out of memory", ld->file);
        if (rc != EVC_OK) {
            evc_cfg__node_free(item);
            return rc;
        }
    }
}

/* Builds the node that starts with `ev` (consumed: deleted here) and reads
 * the events up to its end. */
static int parse_node(loader *ld, yaml_event_t *ev, int depth, evc_cfg_node **out)
{
    evc_cfg_pos pos = mark_pos(ld, ev->start_mark);
    int rc = EVC_OK;
    *out = NULL;
    if (depth > EVC_CFG_MAX_DEPTH) {
        rc = fail_at(ld, pos, "nesting deeper than %d levels", EVC_CFG_MAX_DEPTH);
    } else if (ev->type == YAML_ALIAS_EVENT) {
        rc = fail_at(ld, pos, "YAML aliases ('*%s') are not supported; repeat the value "
                              "instead",
                     (const char *)ev->data.alias.anchor);
    } else if (ev->type == YAML_SCALAR_EVENT) {
        rc = check_props(ld, ev, ev->data.scalar.anchor, ev->data.scalar.tag);
        char *raw = NULL;
        if (rc == EVC_OK)
            rc = scalar_text(ld, ev, &raw);
        evc_cfg_node *n = NULL;
        if (rc == EVC_OK && !(n = evc_cfg__node_new(EVC_CFG_NODE_SCALAR, pos)))
            rc = evc_error_set(ld->err, EVC_ENOMEM, "%s: out of memory", ld->file);
        if (rc == EVC_OK)
            rc = evc_cfg__substitute(raw, pos, &n->scalar, ld->err);
        free(raw);
        if (rc == EVC_OK)
            *out = n;
        else
            evc_cfg__node_free(n);
    } else if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT) {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        rc = is_map ? check_props(ld, ev, ev->data.mapping_start.anchor,
                                  ev->data.mapping_start.tag)
                    : check_props(ld, ev, ev->data.sequence_start.anchor,
                                  ev->data.sequence_start.tag);
        evc_cfg_node *n = NULL;
        if (rc == EVC_OK &&
            !(n = evc_cfg__node_new(is_map ? EVC_CFG_NODE_MAP : EVC_CFG_NODE_SEQ, pos)))
            rc = evc_error_set(ld->err, EVC_ENOMEM, "%s: out of memory", ld->file);
        if (rc == EVC_OK)
            rc = is_map ? parse_map(ld, n, depth) : parse_seq(ld, n, depth);
        if (rc == EVC_OK)
            *out = n;
        else
            evc_cfg__node_free(n);
    } else {
        rc = fail_at(ld, pos, "unexpected YAML event");
    }
    yaml_event_delete(ev);
    return rc;
}

/* Reads the stream: nothing (empty file: empty root map) or exactly one
 * document whose root is a map (or empty). */
static int parse_stream(loader *ld, evc_cfg *cfg)
{
    yaml_event_t ev;
    int rc = next_event(ld, &ev); /* STREAM-START */
    if (rc != EVC_OK)
        return rc;
    yaml_event_delete(&ev);
    if ((rc = next_event(ld, &ev)) != EVC_OK)
        return rc;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return EVC_OK;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if ((rc = next_event(ld, &ev)) != EVC_OK)
        return rc;
    evc_cfg_pos pos = mark_pos(ld, ev.start_mark);
    if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 && !ev.data.scalar.anchor &&
        !ev.data.scalar.tag && ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        /* "---" alone, or a document of comments: an empty configuration. */
        yaml_event_delete(&ev);
    } else if (ev.type == YAML_MAPPING_START_EVENT) {
        evc_cfg_node *root = NULL;
        if ((rc = parse_node(ld, &ev, 1, &root)) != EVC_OK)
            return rc;
        evc_cfg__node_free(cfg->root);
        cfg->root = root;
    } else {
        const char *got = ev.type == YAML_SEQUENCE_START_EVENT ? "a list"
                          : ev.type == YAML_SCALAR_EVENT      ? "a scalar"
                                                              : "an alias";
        yaml_event_delete(&ev);
        return fail_at(ld, pos, "the top level must be a map of keys, got %s", got);
    }
    if ((rc = next_event(ld, &ev)) != EVC_OK) /* DOCUMENT-END */
        return rc;
    yaml_event_delete(&ev);
    if ((rc = next_event(ld, &ev)) != EVC_OK)
        return rc;
    pos = mark_pos(ld, ev.start_mark);
    int more = ev.type != YAML_STREAM_END_EVENT;
    yaml_event_delete(&ev);
    if (more)
        return fail_at(ld, pos,
                       "a second YAML document starts here; a configuration file holds "
                       "exactly one");
    return EVC_OK;
}

int evc_cfg_load_string(const char *name, const char *yaml, size_t len, evc_cfg **out,
                        evc_error *err)
{
    *out = NULL;
    if (!yaml && len)
        return evc_error_set(err, EVC_EINVAL, "evc_cfg_load_string: NULL text");
    if (len > EVC_CFG_MAX_BYTES)
        return evc_error_set(err, EVC_ECONFIG,
                             "%s: configuration too large (%zu bytes; at most %u accepted)",
                             name ? name : "<string>", len, EVC_CFG_MAX_BYTES);
    evc_cfg *cfg = evc_cfg__alloc(name ? name : "<string>", 1, 1);
    if (!cfg)
        return evc_error_set(err, EVC_ENOMEM, "out of memory loading configuration");
    loader ld = {.file = cfg->root->pos.file,
                 .input = (const unsigned char *)(yaml ? yaml : ""),
                 .len = len,
                 .err = err};
    if (!yaml_parser_initialize(&ld.parser)) {
        evc_cfg_free(cfg);
        return evc_error_set(err, EVC_ENOMEM, "%s: cannot initialise the YAML parser", ld.file);
    }
    yaml_parser_set_input_string(&ld.parser, ld.input, len);
    int rc = parse_stream(&ld, cfg);
    yaml_parser_delete(&ld.parser);
    if (rc != EVC_OK) {
        evc_cfg_free(cfg);
        return rc;
    }
    *out = cfg;
    return EVC_OK;
}

int evc_cfg_load_file(const char *path, evc_cfg **out, evc_error *err)
{
    *out = NULL;
    if (!path)
        return evc_error_set(err, EVC_EINVAL, "evc_cfg_load_file: NULL path");
    FILE *f = fopen(path, "rb");
    if (!f)
        return evc_error_set(err, EVC_EIO, "%s: cannot open configuration file: %s", path,
                             strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            char *p = realloc(text, cap);
            if (!p) {
                free(text);
                fclose(f);
                return evc_error_set(err, EVC_ENOMEM, "%s: out of memory reading", path);
            }
            text = p;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
        /* Stop reading at the bound: a huge file (or /dev/zero) is refused
         * after 4 MB read, not after all of it. */
        if (len > EVC_CFG_MAX_BYTES) {
            free(text);
            fclose(f);
            return evc_error_set(err, EVC_ECONFIG,
                                 "%s: configuration file too large (over %u bytes; a "
                                 "configuration is a few KB)",
                                 path, EVC_CFG_MAX_BYTES);
        }
    }
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) {
        free(text);
        return evc_error_set(err, EVC_EIO, "%s: cannot read configuration file: %s", path,
                             strerror(saved));
    }
    int rc = evc_cfg_load_string(path, text, len, out, err);
    free(text);
    return rc;
}
