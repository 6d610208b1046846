/*
 * main: llmgated's command line. `--check` validates a config like `nginx -t`
 * and prints every problem as FILE:LINE:COL; otherwise the config is loaded
 * and the supervisor runs in the foreground until SIGTERM/SIGINT.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "config.h"
#include "diag.h"
#include "log.h"
#include "supervisor.h"
#include "tls_listener.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: llmgated [-c FILE] [--check] [--log-level LEVEL]\n"
	        "\n"
	        "OpenAI-compatible LLM gateway: a supervisor and pre-forked workers.\n"
	        "\n"
	        "  -c, --config FILE      config file (default " LLMGATE_DEFAULT_CONFIG ")\n"
	        "  -t, --check            validate the config, print problems, exit 0 if usable\n"
	        "  -l, --log-level LEVEL  error, warning, notice, info (default) or debug\n"
	        "  -h, --help             show this help\n"
	        "  -V, --version          show the version\n");
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	        {"config", required_argument, NULL, 'c'},    {"check", no_argument, NULL, 't'},
	        {"log-level", required_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 'V'},         {0},
	};
	const char *path = LLMGATE_DEFAULT_CONFIG;
	struct diag_list diags = {0};
	struct config *config = NULL;
	bool check = false;
	int opt, r;

	while ((opt = getopt_long(argc, argv, "c:tl:hV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'l':
			r = log_level_from_name(optarg);
			if (r < 0) {
				fprintf(stderr, "llmgated: unknown log level '%s'\n", optarg);
				return 2;
			}
			log_set_level(r);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("llmgated %s\n", LLMGATE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "llmgated: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	r = config_load(path, &config, &diags);
	if (check && r == 0) {
		/* the certificate and key as a start would load them */
		struct ssl_ctx_st *tls = NULL;

		r = tls_listener_new(config, &tls, &diags);
		tls_listener_free(tls);
	}
	diag_sort(&diags);
	if (check) {
		size_t errors = diag_count(&diags, DIAG_ERROR);
		size_t warnings = diag_count(&diags, DIAG_WARNING);

		diag_print(&diags, stdout);
		printf("%s: %s (%zu error%s, %zu warning%s)\n", path,
		       r == 0 ? "config is usable" : "config has errors", errors,
		       errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
		diag_free(&diags);
		config_free(config);
		return r == 0 ? 0 : 1;
	}

	for (size_t i = 0; i < diags.n; i++) {
		char line[2048];

		diag_format(&diags.items[i], line, sizeof(line));
		log_msg(diags.items[i].severity == DIAG_ERROR ? LOG_ERR : LOG_WARNING, "%s", line);
	}
	diag_free(&diags);
	if (r < 0) {
		log_error("'%s': config not loaded, not starting", path);
		return 1;
	}
	struct supervisor_options run_options = {.config_path = path};
	return supervisor_run(&run_options, config);
}
