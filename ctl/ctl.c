/*
 * ctl: llmgatectl's command line. Sends one command to llmgated's control
 * socket and prints the answer as tables for people or as JSON (--json) for
 * scripts; `probe` runs without the daemon (probe.c).
 * Exit status: 0 ok, 1 the command failed, 2 usage or connection error.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "config_keys.h"
#include "control_client.h"
#include "control_commands.h"
#include "key.h"
#include "probe.h"

#define REQUEST_TIMEOUT_MS 120000 /* a reload waits for a whole new generation */

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: llmgatectl [-s SOCKET] [--json] COMMAND [ARGS]\n"
	        "       llmgatectl probe [-c FILE] [--json] [--timeout DURATION] [MODEL...]\n"
	        "\n"
	        "Commands (sent to llmgated's control socket, default %s):\n",
	        CONFIG_DEFAULT_CONTROL_SOCKET);
	for (int i = 0; i < CONTROL_CMD__COUNT; i++) {
		const struct control_command_info *c =
		        control_command_info((enum control_command)i);
		char name[32];

		fprintf(out, "  %-10s %-14s %s%s\n",
		        control_command_shown((enum control_command)i, name, sizeof(name)), c->args,
		        c->help, c->mutating ? " (root or the daemon's user)" : "");
	}
	fprintf(out, "  %-10s %-14s %s\n", "key", "create|list",
	        "create: a new client key and its keys-file entry (no daemon); list: = keys");
	fprintf(out, "  %-10s %-14s %s\n", "probe", "[MODEL...]",
	        "send one minimal request to every deployment of a config, without the daemon");
	fprintf(out, "\nOptions:\n"
	             "  -s, --socket PATH  control socket\n"
	             "  -j, --json         print the daemon's JSON answer\n"
	             "  -h, --help         show this help\n"
	             "  -V, --version      show the version\n"
	             "\nExit status: 0 ok, 1 the command failed, 2 usage or connection error.\n");
}

static void print_duration(long ms)
{
	long s = ms / 1000;

	if (s >= 86400)
		printf("%ldd%02ldh", s / 86400, (s % 86400) / 3600);
	else if (s >= 3600)
		printf("%ldh%02ldm", s / 3600, (s % 3600) / 60);
	else if (s >= 60)
		printf("%ldm%02lds", s / 60, s % 60);
	else
		printf("%lds", s);
}

static const char *str(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return v ? v : "-";
}

static long num(json_t *obj, const char *key)
{
	return (long)json_integer_value(json_object_get(obj, key));
}

static void print_workers(json_t *workers)
{
	size_t i;
	json_t *w;

	printf("%-6s %-8s %-9s %-4s %-9s %-8s %s\n", "WORKER", "PID", "STATE", "GEN", "RESTARTS",
	       "UPTIME", "LAST EXIT");
	json_array_foreach(workers, i, w)
	{
		printf("%-6ld %-8ld %-9s %-4ld %-9ld ", num(w, "slot"), num(w, "pid"),
		       str(w, "state"), num(w, "generation"), num(w, "restarts"));
		print_duration(num(w, "uptime_ms"));
		printf("%*s%s", 4, "", str(w, "last_exit"));
		if (json_object_get(w, "next_restart_ms"))
			printf(" (restart in %ld ms)", num(w, "next_restart_ms"));
		printf("\n");
	}
}

/* An Entra ID deployment's token: state, expiry, fetches, the last error. */
static void print_token(json_t *t)
{
	if (!json_is_object(t))
		return;
	printf("  entra %s: token %s", str(t, "source"), str(t, "state"));
	if (json_object_get(t, "expires_in_s"))
		printf(", expires in %lds", num(t, "expires_in_s"));
	if (json_object_get(t, "last_refresh_s_ago"))
		printf(", refreshed %lds ago", num(t, "last_refresh_s_ago"));
	if (json_object_get(t, "next_fetch_in_s"))
		printf(", next fetch in %lds", num(t, "next_fetch_in_s"));
	printf(", %ld fetches, %ld failed", num(t, "fetches"), num(t, "failures"));
	if (str(t, "last_error")[0] && strcmp(str(t, "last_error"), "-") != 0)
		printf("; last error: %s", str(t, "last_error"));
	printf("\n");
}

/* A deployment's rpm/tpm ceiling beside this minute's use. */
static void print_ceiling(json_t *c)
{
	printf("  ceiling this minute:");
	if (json_is_integer(json_object_get(c, "rpm")))
		printf(" rpm %ld/%ld", num(c, "rpm_used"), num(c, "rpm"));
	if (json_is_integer(json_object_get(c, "tpm")))
		printf(" tpm %ld/%ld", num(c, "tpm_used"), num(c, "tpm"));
	printf("\n");
}

static void print_deployments(json_t *deployments)
{
	size_t i;
	json_t *b;

	printf("%-18s %-14s %-8s %-10s %9s %9s %10s %-22s %s\n", "DEPLOYMENT", "MODEL", "PROVIDER",
	       "KEY", "REQUESTS", "FAIL(10s)", "TOKENS(1m)", "FAILURES BY CLASS", "LAST ERROR");
	json_array_foreach(deployments, i, b)
	{
		char classes[128] = "-", ratio[16];
		size_t used = 0;
		const char *k;
		json_t *v;

		json_object_foreach(json_object_get(b, "window_failures_by_class"), k, v)
		{
			long n = (long)json_integer_value(v);
			int w;

			if (!n || used >= sizeof(classes))
				continue;
			w = snprintf(classes + used, sizeof(classes) - used, "%s%s %ld",
			             used ? ", " : "", k, n);
			if (w > 0)
				used += (size_t)w;
		}
		snprintf(ratio, sizeof(ratio), "%.0f%%",
		         100.0 * json_real_value(json_object_get(b, "window_failure_ratio")));
		printf("%-18s %-14s %-8s %-10s %9ld %9s %10ld %-22s %s\n", str(b, "id"),
		       str(b, "model_name"), str(b, "provider"), str(b, "key"), num(b, "requests"),
		       ratio, num(b, "tokens_last_minute"), classes, str(b, "last_error"));
		if (json_object_get(b, "not_served")) {
			printf("  not served: %s\n", str(b, "not_served"));
			continue;
		}
		printf("  %s", str(b, "api_base"));
		if (json_object_get(b, "api_version"))
			printf(" (api-version %s)", str(b, "api_version"));
		printf("\n");
		if (json_object_get(b, "ceiling"))
			print_ceiling(json_object_get(b, "ceiling"));
		print_token(json_object_get(b, "token"));
	}
}

static void print_groups(json_t *groups)
{
	size_t i;
	json_t *g;

	if (json_array_size(groups) == 0) {
		printf("mode: normal (no group has a direct-Azure fallback)\n");
		return;
	}
	json_array_foreach(groups, i, g)
	{
		printf("group '%s': mode %s for ", str(g, "group"), str(g, "mode"));
		print_duration(num(g, "for_ms"));
		printf(" (direct Azure: '%s'): %s\n", str(g, "direct_azure"), str(g, "reason"));
	}
}

static void print_fallback(json_t *f)
{
	printf("fallback override: %s (set by %s", str(f, "override"),
	       json_object_get(f, "set_by_uid") ? "uid " : str(f, "set_by"));
	if (json_object_get(f, "set_by_uid"))
		printf("%ld", num(f, "set_by_uid"));
	printf(" at %s)\n", str(f, "since"));
}

static void print_status(json_t *s)
{
	printf("llmgated %s, pid %ld, up ", str(s, "version"), num(s, "pid"));
	print_duration(num(s, "uptime_ms"));
	printf(", generation %ld (%ld/%ld workers ready)%s\n", num(s, "generation"),
	       num(s, "workers_ready"), num(s, "workers_configured"),
	       json_is_true(json_object_get(s, "reloading")) ? ", reloading" : "");
	printf("config %s, listening on %s", str(s, "config"), str(s, "listen"));
	if (json_object_get(s, "tls"))
		printf(" (TLS: certificate %s, expires %s%s)",
		       str(json_object_get(s, "tls"), "certificate"),
		       str(json_object_get(s, "tls"), "expires"),
		       json_is_true(json_object_get(json_object_get(s, "tls"), "mtls")) ? ", mTLS"
		                                                                        : "");
	printf("\n");
	print_groups(json_object_get(s, "groups"));
	print_fallback(json_object_get(s, "fallback"));
	printf("\n");
	print_workers(json_object_get(s, "workers"));
	printf("\n");
	print_deployments(json_object_get(s, "deployments"));
}

static void print_help(json_t *list)
{
	size_t i;
	json_t *c;

	json_array_foreach(list, i, c)
	        printf("  %-10s %-14s %s\n", str(c, "command"), str(c, "args"), str(c, "help"));
}

static void print_version(json_t *result)
{
	printf("llmgated %s\n", str(result, "version"));
}

static void print_reload(json_t *result)
{
	printf("reloaded: %s\n", str(result, "message"));
}

static void print_log_level(json_t *result)
{
	printf("log level: %s\n", str(result, "level"));
}

/* How each command's answer is printed for people: print_NAME, one per
 * command of control_commands.h. */
static void (*const printers[CONTROL_CMD__COUNT])(json_t *result) = {
#define CONTROL_PRINTER(n, m, a, h) [CONTROL_CMD_##n] = print_##n,
        CONTROL_COMMANDS(CONTROL_PRINTER)
#undef CONTROL_PRINTER
};

int main(int argc, char **argv)
{
	static const struct option options[] = {
	        {"socket", required_argument, NULL, 's'},
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},
	        {0},
	};
	const char *socket_path = CONFIG_DEFAULT_CONTROL_SOCKET, *command;
	json_t *args, *reply = NULL;
	char err[512];
	int json = 0, opt, r, which;

	/* "+": stop at the command, so its own options (probe -c) stay its own. */
	while ((opt = getopt_long(argc, argv, "+s:jhV", options, NULL)) != -1) {
		switch (opt) {
		case 's':
			socket_path = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("llmgatectl %s\n", LLMGATE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	command = argv[optind];
	if (strcmp(command, "probe") == 0) {
		/* probe parses its own options; a --json given before it is passed on */
		int pargc = argc - optind + (json ? 1 : 0);
		char **pargv = calloc((size_t)pargc + 1, sizeof(char *));
		int n = 0;

		if (!pargv)
			return 2;
		pargv[n++] = argv[optind];
		if (json)
			pargv[n++] = (char *)"--json";
		for (int i = optind + 1; i < argc; i++)
			pargv[n++] = argv[i];
		optind = 0; /* probe_main runs getopt again */
		r = probe_main(pargc, pargv);
		free(pargv);
		return r;
	}
	if (strcmp(command, "key") == 0)
		return key_main(argc - optind, argv + optind, socket_path, json);
	which = control_command_find(command);
	if (which < 0) {
		fprintf(stderr, "llmgatectl: unknown command '%s'\n\n", command);
		usage(stderr);
		return 2;
	}

	args = json_array();
	for (int i = optind + 1; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	r = control_request(socket_path, command, args, REQUEST_TIMEOUT_MS, &reply, err,
	                    sizeof(err));
	json_decref(args);
	if (r < 0) {
		fprintf(stderr, "llmgatectl: %s\n", err);
		return 2;
	}

	int ok = json_is_true(json_object_get(reply, "ok"));
	if (json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (ok) {
		printers[which](json_object_get(reply, "result"));
	} else {
		size_t i;
		json_t *d;

		fprintf(stderr, "llmgatectl: %s: %s\n", command, str(reply, "error"));
		json_array_foreach(json_object_get(reply, "diagnostics"), i, d)
		        fprintf(stderr, "%s\n", json_string_value(d));
	}
	json_decref(reply);
	return ok ? 0 : 1;
}
