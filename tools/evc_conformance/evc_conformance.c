/* evc_conformance.c: evc-conformance, the conformance checks of transport
 * and store plugins as a program (README.md next to this file).
 *
 *   evc-conformance transport --plugin NAME [--plugin-dir DIR]
 *                   (--fixture FILE.so | --endpoint EP [--section [VARIANT=]FILE]...)
 *   evc-conformance store --plugin NAME [--plugin-dir DIR]
 *                   [--fixture FILE.so | --section [VARIANT=]FILE...]
 *   common: [--only PREFIX]... [--jobs N] [--list] [--delivery-ms MS]
 *
 * Exit codes: 0 every check passed, 1 a check failed, 2 usage or setup error
 * (bad option, fixture that does not load), 3 nothing failed but some checks
 * were skipped (the table says why).
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck.h"
#include "ck_runner.h"

#define MAX_SECTIONS 16
#define MAX_CHECKS 128

static const char usage_text[] =
    "usage: evc-conformance transport --plugin NAME [--plugin-dir DIR]\n"
    "                       (--fixture FILE.so | --endpoint EP [--section [VARIANT=]FILE]...)\n"
    "       evc-conformance store --plugin NAME [--plugin-dir DIR]\n"
    "                       [--fixture FILE.so | --section [VARIANT=]FILE...]\n"
    "options for both: --only PREFIX (repeatable; checks whose name starts with it),\n"
    "  --jobs N (checks run at once, default 1), --list (print the checks, run none),\n"
    "  --delivery-ms MS (transport: how long a message may take to arrive, default 45000)\n"
    "exit: 0 all passed, 1 a check failed, 2 usage or setup error, 3 some skipped\n";

/* --section: the plugin's section text per variant ("default" when no
 * VARIANT= is given). Read once, kept for the life of the process. */
static struct {
    const char *variant;
    char *text;
} sections[MAX_SECTIONS];
static size_t nsections;
static const char *endpoint;

static const char *section_of(const char *variant)
{
    for (size_t i = 0; i < nsections; i++)
        if (strcmp(sections[i].variant, variant) == 0)
            return sections[i].text;
    return strcmp(variant, "default") == 0 ? "" : NULL;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + len, 1, cap - 1 - len, f)) > 0) {
        len += got;
        if (len == cap - 1) {
            char *nbuf = realloc(buf, cap * 2);
            if (nbuf == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nbuf;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    return buf;
}

/* ---- fixtures built from the command line -------------------------------- */

/* Transport peer given by --endpoint: the tool does not control it, so the
 * checks needing a restart or a broker down are skipped. */
static int ep_start(conformance_peer **out, int brokers, char *ep, size_t cap)
{
    *out = NULL;
    if ((size_t)snprintf(ep, cap, "%s", endpoint) >= cap) {
        fprintf(stderr, "evc-conformance: --endpoint longer than %zu bytes\n", cap - 1);
        return -1;
    }
    return 0;
}

static void ep_stop(conformance_peer *peer) {}

static const conformance_fixture endpoint_fixture = {
    .plugin = "(--endpoint)",
    .peer_start = ep_start,
    .peer_stop = ep_stop,
    .plugin_yaml = section_of,
};

/* Store without a fixture: a database file in the check's directory, the
 * sections given; checks needing the database's own tools are skipped. */
static const store_fixture sections_store_fixture = {
    .plugin = "(--section)",
    .yaml = section_of,
};

/* Loads a fixture module; returns its exported struct or NULL (printed). */
static const void *load_fixture(const char *path, const char *symbol)
{
    /* The fixture stays loaded for the life of the process. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "evc-conformance: --fixture %s: %s\n", path, dlerror());
        return NULL;
    }
    const void *sym = dlsym(h, symbol);
    if (sym == NULL)
        fprintf(stderr, "evc-conformance: --fixture %s exports no %s\n", path, symbol);
    return sym;
}

static int usage(const char *why)
{
    if (why)
        fprintf(stderr, "evc-conformance: %s\n", why);
    fputs(usage_text, stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc < 2)
        return usage("say which kind of plugin: transport or store");
    bool transport = strcmp(argv[1], "transport") == 0;
    if (!transport && strcmp(argv[1], "store") != 0)
        return usage("the first argument is transport or store");
    const char *fixture = NULL, *only[16];
    size_t nonly = 0;
    unsigned jobs = 1;
    bool list = false;
    ck.delivery_ms = DELIVERY_DEADLINE_MS_DEFAULT;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        bool has = i + 1 < argc;
        if (strcmp(a, "--list") == 0) {
            list = true;
        } else if (!has && strncmp(a, "--", 2) == 0) {
            char why[128];
            snprintf(why, sizeof why, "%s needs a value", a);
            return usage(why);
        } else if (strcmp(a, "--plugin") == 0) {
            ck.plugin = argv[++i];
        } else if (strcmp(a, "--plugin-dir") == 0) {
            ck.plugin_dir = argv[++i];
        } else if (strcmp(a, "--fixture") == 0) {
            fixture = argv[++i];
        } else if (strcmp(a, "--endpoint") == 0 && transport) {
            endpoint = argv[++i];
        } else if (strcmp(a, "--jobs") == 0) {
            char *end = NULL;
            long n = strtol(argv[++i], &end, 10);
            if (*end != '\0' || n < 1 || n > 32)
                return usage("--jobs takes 1..32");
            jobs = (unsigned)n;
        } else if (strcmp(a, "--delivery-ms") == 0) {
            char *end = NULL;
            long ms = strtol(argv[++i], &end, 10);
            if (*end != '\0' || ms < 100 || ms > 600000)
                return usage("--delivery-ms takes 100..600000");
            ck.delivery_ms = (unsigned)ms;
        } else if (strcmp(a, "--only") == 0) {
            if (nonly == sizeof only / sizeof only[0])
                return usage("too many --only");
            only[nonly++] = argv[++i];
        } else if (strcmp(a, "--section") == 0) {
            const char *v = argv[++i], *eq = strchr(v, '=');
            if (nsections == MAX_SECTIONS)
                return usage("too many --section");
            char *variant = eq ? strndup(v, (size_t)(eq - v)) : strdup("default");
            const char *path = eq ? eq + 1 : v;
            char *text = read_text(path);
            if (variant == NULL || text == NULL) {
                fprintf(stderr, "evc-conformance: --section %s: %s\n", path, strerror(errno));
                return 2;
            }
            sections[nsections].variant = variant;
            sections[nsections++].text = text;
        } else {
            char why[160];
            snprintf(why, sizeof why, "unknown option %s", a);
            return usage(why);
        }
    }

    const ck_group *groups[8];
    size_t ngroups = 0;
    if (transport) {
        groups[ngroups++] = &ck_transport_checks;
        groups[ngroups++] = &ck_transport_keys_checks;
    } else {
        groups[ngroups++] = &ck_store_repos_checks;
        groups[ngroups++] = &ck_store_txn_checks;
        groups[ngroups++] = &ck_store_outbox_checks;
        groups[ngroups++] = &ck_store_failures_checks;
        groups[ngroups++] = &ck_store_seed_checks;
    }
    static const ck_check *chosen[MAX_CHECKS];
    static ck_result results[MAX_CHECKS];
    size_t n = 0;
    for (size_t g = 0; g < ngroups; g++)
        for (size_t i = 0; i < groups[g]->n && n < MAX_CHECKS; i++) {
            const ck_check *c = &groups[g]->checks[i];
            bool take = nonly == 0;
            for (size_t k = 0; k < nonly && !take; k++)
                take = strncmp(c->name, only[k], strlen(only[k])) == 0;
            if (take)
                chosen[n++] = c;
        }
    if (list) {
        for (size_t i = 0; i < n; i++)
            printf("%-64s %s\n", chosen[i]->name, chosen[i]->guarantee);
        return 0;
    }
    if (n == 0)
        return usage("no check matches --only");
    if (ck.plugin == NULL)
        return usage("--plugin NAME is required");
    if (fixture != NULL && (endpoint != NULL || nsections > 0))
        return usage("--fixture gives the peer and settings: no --endpoint or --section with it");

    if (transport) {
        if (fixture != NULL)
            ck.transport = load_fixture(fixture, EVC_CONFORMANCE_TRANSPORT_SYMBOL);
        else if (endpoint != NULL)
            ck.transport = &endpoint_fixture;
        else
            return usage("a transport needs a peer: --fixture FILE.so or --endpoint EP");
        if (ck.transport == NULL)
            return 2;
    } else {
        ck.store = fixture ? load_fixture(fixture, EVC_CONFORMANCE_STORE_SYMBOL)
                           : &sections_store_fixture;
        if (ck.store == NULL)
            return 2;
    }
    printf("evc-conformance %s: plugin %s, plugin dir %s, %s %s, %zu checks, %u at a time\n",
           argv[1], ck.plugin, ck.plugin_dir ? ck.plugin_dir : "(the loader's search)",
           fixture ? "fixture" : transport ? "endpoint" : "no fixture",
           fixture ? fixture : transport ? endpoint : "(sections only)", n, jobs);
    fflush(stdout);
    if (ck_run(chosen, n, jobs, stdout, results) != 0)
        fprintf(stderr, "evc-conformance: some checks could not be started\n");
    return ck_print_table(stdout, results, n);
}
