/*
 * key: `llmgatectl key create` and `key list` (see key.h). create reads 32
 * bytes from getrandom(), writes them base64url after the "sk-llmgate-"
 * prefix, prints the key once and the YAML entry with its key_sha256; the
 * key is kept nowhere. list is the control command `keys`, printed as a
 * table (or its JSON with --json).
 */
#include "key.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "client_keys.h"
#include "control_client.h"

#define REQUEST_TIMEOUT_MS 10000

static void create_usage(FILE *out)
{
	fprintf(out, "Usage: llmgatectl key create [--id ID] [--alias TEXT] [--models A,B]\n"
	             "           [--rpm N] [--tpm N] [--max-parallel N] [--max-budget X]\n"
	             "           [--budget-duration 30d|7d|1mo...] [--expires TIME]\n"
	             "       llmgatectl key list\n");
}

static int random_key(char *out, size_t len)
{
	static const char b64[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char raw[33];
	size_t n = 0, o;

	while (n < 32) {
		ssize_t r = getrandom(raw + n, 32 - n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		n += (size_t)r;
	}
	raw[32] = 0;
	o = (size_t)snprintf(out, len, "%s", CLIENT_KEY_PREFIX);
	/* 32 bytes: ten whole groups of three, then two: 43 characters */
	for (size_t i = 0; i < 32 && o + 4 < len; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 |
		             (i + 2 < 32 ? raw[i + 2] : 0);

		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = b64[v >> 6 & 63];
		if (i + 2 < 32)
			out[o++] = b64[v & 63];
	}
	out[o] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

static int key_create(int argc, char **argv, int json)
{
	static const struct option options[] = {
	        {"id", required_argument, NULL, 'i'},
	        {"alias", required_argument, NULL, 'a'},
	        {"models", required_argument, NULL, 'm'},
	        {"rpm", required_argument, NULL, 'r'},
	        {"tpm", required_argument, NULL, 't'},
	        {"max-parallel", required_argument, NULL, 'p'},
	        {"max-budget", required_argument, NULL, 'b'},
	        {"budget-duration", required_argument, NULL, 'd'},
	        {"expires", required_argument, NULL, 'e'},
	        {"json", no_argument, NULL, 'j'},
	        {"help", no_argument, NULL, 'h'},
	        {0},
	};
	const char *id = NULL, *alias = NULL, *models = NULL, *budget = NULL, *duration = NULL,
	           *expires = NULL;
	long rpm = -1, tpm = -1, parallel = -1;
	char key[128], hex[65], gen_id[32], entry[2048];
	struct budget_period period;
	size_t used = 0;
	int opt;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		char *end;

		switch (opt) {
		case 'i':
			id = optarg;
			break;
		case 'a':
			alias = optarg;
			break;
		case 'm':
			models = optarg;
			break;
		case 'r':
		case 't':
		case 'p': {
			long v = strtol(optarg, &end, 10);

			if (*end || end == optarg || v < 0) {
				fprintf(stderr, "llmgatectl: key create: '%s' is not a count\n",
				        optarg);
				return 2;
			}
			*(opt == 'r' ? &rpm : opt == 't' ? &tpm : &parallel) = v;
			break;
		}
		case 'b':
			strtod(optarg, &end);
			if (*end || end == optarg) {
				fprintf(stderr, "llmgatectl: key create: '%s' is not a number\n",
				        optarg);
				return 2;
			}
			budget = optarg;
			break;
		case 'd':
			if (budget_period_parse(optarg, &period) < 0) {
				fprintf(stderr,
				        "llmgatectl: key create: '%s' is not a budget duration "
				        "(30d, 7d, 1mo, 12h)\n",
				        optarg);
				return 2;
			}
			duration = optarg;
			break;
		case 'e':
			expires = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			create_usage(stdout);
			return 0;
		default:
			create_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		create_usage(stderr);
		return 2;
	}
	if (id && (strlen(id) > CLIENT_KEY_ID_MAX || strcspn(id, " \t\n:#\"'") != strlen(id))) {
		fprintf(stderr,
		        "llmgatectl: key create: the id must be 1 to %d letters, digits, "
		        "'-', '_' or '.'\n",
		        CLIENT_KEY_ID_MAX);
		return 2;
	}
	if (random_key(key, sizeof(key)) < 0) {
		fprintf(stderr, "llmgatectl: key create: getrandom: %s\n", strerror(errno));
		return 1;
	}
	client_key_sha256_hex(key, strlen(key), hex);
	if (!id) {
		snprintf(gen_id, sizeof(gen_id), "key-%.8s", hex);
		id = gen_id;
	}
#define ADD(...)                                                                    \
	do {                                                                        \
		int n_ = snprintf(entry + used, sizeof(entry) - used, __VA_ARGS__); \
		if (n_ > 0 && (size_t)n_ < sizeof(entry) - used)                    \
			used += (size_t)n_;                                         \
	} while (0)
	ADD("  - id: %s\n    key_sha256: %s\n", id, hex);
	if (alias)
		ADD("    alias: \"%s\"\n", alias);
	if (models)
		ADD("    models: [%s]\n", models);
	if (rpm >= 0)
		ADD("    rpm: %ld\n", rpm);
	if (tpm >= 0)
		ADD("    tpm: %ld\n", tpm);
	if (parallel >= 0)
		ADD("    max_parallel_requests: %ld\n", parallel);
	if (budget)
		ADD("    max_budget: %s\n", budget);
	if (duration)
		ADD("    budget_duration: %s\n", duration);
	if (expires)
		ADD("    expires: %s\n", expires);
#undef ADD
	if (json) {
		json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "key", key, "id", id, "key_sha256",
		                        hex, "entry", entry);

		json_dumpf(out, stdout, JSON_INDENT(2));
		printf("\n");
		json_decref(out);
	} else {
		printf("key: %s\n"
		       "(shown once: llmgate keeps only its SHA-256; give it to the client now)\n"
		       "\n"
		       "add this entry under 'keys:' in the keys file (llmgate.keys_file), then "
		       "llmgatectl reload:\n"
		       "%s",
		       key, entry);
	}
	explicit_bzero(key, sizeof(key));
	return 0;
}

static const char *text(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

/* "12/600" or "12" when there is no limit. */
static void use_of(char *buf, size_t len, json_t *k, const char *used, const char *lim)
{
	json_t *l = json_object_get(k, lim);

	if (json_is_integer(l))
		snprintf(buf, len, "%lld/%lld",
		         (long long)json_integer_value(json_object_get(k, used)),
		         (long long)json_integer_value(l));
	else
		snprintf(buf, len, "%lld", (long long)json_integer_value(json_object_get(k, used)));
}

void print_keys(json_t *result)
{
	json_t *keys = json_object_get(result, "keys"), *k;
	size_t i;

	if (json_array_size(keys) == 0) {
		printf("no client keys (llmgate.keys_file %s)\n",
		       json_is_string(json_object_get(result, "keys_file")) ? "has none"
		                                                            : "is unset");
		return;
	}
	printf("%-16s %-14s %-8s %-22s %-13s %-15s %-9s %-20s %s\n", "ID", "ALIAS", "STATE",
	       "MODELS", "RPM", "TPM", "PARALLEL", "SPEND/BUDGET", "PERIOD ENDS");
	json_array_foreach(keys, i, k)
	{
		char models[256] = "all", rpm[32], tpm[40], par[24], spend[48], ends[32] = "-";
		json_t *m = json_object_get(k, "models"), *b = json_object_get(k, "max_budget"),
		       *e = json_object_get(k, "period_end"), *name;
		size_t j, used = 0;

		if (json_is_array(m)) {
			models[0] = '\0';
			json_array_foreach(m, j, name)
			{
				int n = snprintf(models + used, sizeof(models) - used, "%s%s",
				                 used ? "," : "", json_string_value(name));

				if (n < 0 || (size_t)n >= sizeof(models) - used)
					break;
				used += (size_t)n;
			}
		}
		use_of(rpm, sizeof(rpm), k, "rpm_used", "rpm");
		use_of(tpm, sizeof(tpm), k, "tpm_used", "tpm");
		use_of(par, sizeof(par), k, "parallel", "max_parallel_requests");
		if (json_is_number(b))
			snprintf(spend, sizeof(spend), "%.4f/%.2f",
			         json_real_value(json_object_get(k, "spend")),
			         json_number_value(b));
		else
			snprintf(spend, sizeof(spend), "%.4f",
			         json_real_value(json_object_get(k, "spend")));
		if (json_is_integer(e)) {
			time_t t = (time_t)json_integer_value(e);
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(ends, sizeof(ends), "%Y-%m-%d %H:%MZ", &tm);
		}
		printf("%-16s %-14s %-8s %-22s %-13s %-15s %-9s %-20s %s\n", text(k, "id"),
		       text(k, "alias"), text(k, "state"), models, rpm, tpm, par, spend, ends);
	}
}

int key_main(int argc, char **argv, const char *socket_path, int json)
{
	json_t *reply = NULL, *args;
	char err[512];
	int r, ok;

	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return key_create(argc - 1, argv + 1, json);
	if (argc != 2 || strcmp(argv[1], "list") != 0) {
		create_usage(stderr);
		return 2;
	}
	args = json_array();
	r = control_request(socket_path, "keys", args, REQUEST_TIMEOUT_MS, &reply, err,
	                    sizeof(err));
	json_decref(args);
	if (r < 0) {
		fprintf(stderr, "llmgatectl: %s\n", err);
		return 2;
	}
	ok = json_is_true(json_object_get(reply, "ok"));
	if (json) {
		json_dumpf(reply, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (ok) {
		print_keys(json_object_get(reply, "result"));
	} else {
		fprintf(stderr, "llmgatectl: key list: %s\n",
		        json_string_value(json_object_get(reply, "error")));
	}
	json_decref(reply);
	return ok ? 0 : 1;
}
