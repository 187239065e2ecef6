/* app_cli.c: command-line parsing and --help/--version for every program. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "app_internal.h"
#include "evc/version.h"

enum {
    OPT_CONFIG = 1000,
    OPT_CHECK,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_PLUGIN_DIR,
    OPT_HELP_CONFIG,
    OPT_ROLE
};

static size_t role_option_count(const evc_role *role)
{
    size_t n = 0;
    while (role->options && role->options[n].name)
        n++;
    return n;
}

static size_t positional_count(const evc_role *role)
{
    size_t n = 0;
    while (role->positionals && role->positionals[n].name)
        n++;
    return n;
}

int app_cli_parse(const evc_role *role, int argc, char **argv, app_cli *cli)
{
    memset(cli, 0, sizeof *cli);
    size_t nrole = role_option_count(role);
    if (nrole > APP_MAX_ROLE_OPTIONS) {
        fprintf(stderr, "%s: too many role options (%zu > %d)\n", role->program, nrole,
                APP_MAX_ROLE_OPTIONS);
        return EVC_EXIT_USAGE;
    }
    struct option opts[16 + APP_MAX_ROLE_OPTIONS] = {
        {"config", required_argument, NULL, OPT_CONFIG},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
        {"help", no_argument, NULL, 'h'},
        {"help-config", no_argument, NULL, OPT_HELP_CONFIG},
        {"version", no_argument, NULL, 'V'},
    };
    size_t base = 8;
    for (size_t i = 0; i < nrole; i++) {
        opts[base + i].name = role->options[i].name;
        opts[base + i].has_arg = role->options[i].has_arg ? required_argument : no_argument;
        opts[base + i].flag = NULL;
        opts[base + i].val = OPT_ROLE + (int)i;
    }
    memset(&opts[base + nrole], 0, sizeof opts[0]);

    optind = 1;
    opterr = 0;
    int c;
    /* '+' stops at the first positional only if POSIXLY_CORRECT; we allow
     * options anywhere, which is what operators expect. ':' reports a
     * missing argument as ':'. */
    while ((c = getopt_long(argc, argv, ":c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
        case OPT_CONFIG: cli->config_path = optarg; break;
        case OPT_CHECK: cli->check_config = true; break;
        case OPT_LOG_LEVEL: cli->log_level = optarg; break;
        case OPT_LOG_FORMAT: cli->log_format = optarg; break;
        case OPT_PLUGIN_DIR: cli->plugin_dir = optarg; break;
        case 'h': cli->help = true; break;
        case OPT_HELP_CONFIG: cli->help_config = true; break;
        case 'V': cli->version = true; break;
        case ':':
            fprintf(stderr, "%s: option '%s' needs an argument (see --help)\n", role->program,
                    argv[optind - 1]);
            return EVC_EXIT_USAGE;
        case '?':
            fprintf(stderr, "%s: unknown option '%s' (see --help)\n", role->program,
                    argv[optind - 1]);
            return EVC_EXIT_USAGE;
        default:
            if (c >= OPT_ROLE && c < OPT_ROLE + (int)nrole)
                cli->role_value[c - OPT_ROLE] = optarg ? optarg : "";
            break;
        }
    }
    for (size_t i = 0; i < nrole; i++)
        if (role->options[i].one_shot && cli->role_value[i])
            cli->one_shot = true;
    size_t npos = positional_count(role);
    int first = optind;
    /* `--check-config FILE` reads naturally: without --config, the first
     * argument is the file to check. */
    if (cli->check_config && !cli->config_path && first < argc)
        cli->config_path = argv[first++];
    for (int i = first; i < argc; i++) {
        if (cli->positional_count >= npos) {
            fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", role->program,
                    argv[i]);
            return EVC_EXIT_USAGE;
        }
        cli->positional[cli->positional_count++] = argv[i];
    }
    return EVC_EXIT_OK;
}

int app_cli_check_required(const evc_role *role, const app_cli *cli, const evc_cfg *cfg)
{
    /* A required positional may also come from the config file; a config
     * being checked may leave them to the command line. */
    if (cli->check_config || cli->help_config)
        return EVC_EXIT_OK;
    if (cli->one_shot)
        return EVC_EXIT_OK;
    for (size_t i = cli->positional_count; i < positional_count(role); i++) {
        const evc_role_positional *p = &role->positionals[i];
        if (p->required && !evc_cfg_path(evc_cfg_root(cfg), p->config_path)) {
            fprintf(stderr, "%s: missing argument <%s> (or set %s in the config; see --help)\n",
                    role->program, p->name, p->config_path);
            return EVC_EXIT_USAGE;
        }
    }
    return EVC_EXIT_OK;
}

int app_cli_apply(const evc_role *role, const app_cli *cli, evc_cfg *cfg, evc_error *err)
{
    for (size_t i = 0; i < cli->positional_count; i++) {
        char origin[96];
        snprintf(origin, sizeof origin, "<argument %zu: %s>", i + 1, role->positionals[i].name);
        int rc = evc_cfg_set(cfg, role->positionals[i].config_path, cli->positional[i], origin,
                             err);
        if (rc != EVC_OK)
            return rc;
    }
    for (size_t i = 0; i < role_option_count(role); i++) {
        const evc_role_option *o = &role->options[i];
        if (!o->config_path || !cli->role_value[i])
            continue;
        char origin[96];
        snprintf(origin, sizeof origin, "<option --%s>", o->name);
        const char *v = o->has_arg ? cli->role_value[i] : "true";
        int rc = evc_cfg_set(cfg, o->config_path, v, origin, err);
        if (rc != EVC_OK)
            return rc;
    }
    return EVC_OK;
}

void app_cli_print_version(const evc_role *role, FILE *out)
{
    fprintf(out, "%s (EVCharging) %s, plugin ABI %d.%d\n", role->program, evc_version(),
            EVC_ABI_MAJOR, EVC_ABI_MINOR);
}

void app_cli_print_help(const evc_role *role, FILE *out)
{
    fprintf(out, "Usage: %s [options]", role->program);
    for (size_t i = 0; i < positional_count(role); i++)
        fprintf(out, role->positionals[i].required ? " <%s>" : " [%s]", role->positionals[i].name);
    fprintf(out, "\n%s\n", role->summary ? role->summary : "");
    if (positional_count(role)) {
        fprintf(out, "\nArguments (each overrides a config key):\n");
        for (size_t i = 0; i < positional_count(role); i++)
            fprintf(out, "  %-22s %s [%s]\n", role->positionals[i].name,
                    role->positionals[i].help ? role->positionals[i].help : "",
                    role->positionals[i].config_path);
    }
    fprintf(out,
            "\nCommon options:\n"
            "  -c, --config FILE      YAML configuration file (default: none, built-in defaults)\n"
            "      --check-config [FILE]  validate the config (FILE or --config), load and create\n"
            "                         the plugins without starting them, then exit\n"
            "      --log-level LEVEL  error, warn, info, debug or trace (overrides log.level)\n"
            "      --log-format FMT   text or json (overrides log.format)\n"
            "      --plugin-dir DIR   look for plugins in DIR first\n"
            "  -h, --help             show this help\n"
            "      --help-config      print every config key this program reads (Markdown)\n"
            "  -V, --version          show the version\n");
    if (role_option_count(role)) {
        fprintf(out, "\n%s options:\n", role->program);
        for (size_t i = 0; i < role_option_count(role); i++) {
            const evc_role_option *o = &role->options[i];
            char left[64];
            snprintf(left, sizeof left, "--%s%s%s", o->name, o->has_arg ? " " : "",
                     o->has_arg ? (o->arg_name ? o->arg_name : "VALUE") : "");
            fprintf(out, "      %-22s %s\n", left, o->help ? o->help : "");
        }
    }
    fprintf(out,
            "\nExit codes: 0 ok, 1 runtime failure, 2 bad command line, 3 invalid config,\n"
            "21-31 plugin refused (see docs/PLUGINS.md).\n");
}
