/*
 * Unit tests of the LiteLLM shapes the loader accepts as LiteLLM does
 * (issue 17): YAML 1.1 integers with underscores (plain only: a quoted one
 * is a string there too), drop_params as a list and additional_drop_params.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "tap.h"

#ifndef FIXTURES_DIR
#error "FIXTURES_DIR must point at tests/fixtures"
#endif

static int load(const char *name, struct config **ret, struct diag_list *d)
{
	char path[512];
	int r;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	memset(d, 0, sizeof(*d));
	r = config_load(path, ret, d);
	diag_sort(d);
	return r;
}

static bool has_diag(const struct diag_list *d, enum diag_severity sev, int line, int col,
                     const char *text)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].severity == sev && d->items[i].line == line &&
		    d->items[i].col == col && strstr(d->items[i].message, text))
			return true;
	return false;
}

static void show(const struct diag_list *d)
{
	for (size_t i = 0; i < d->n; i++)
		printf("#   %d:%d: %s\n", d->items[i].line, d->items[i].col, d->items[i].message);
}

static void test_yaml11(void)
{
	struct config *c = NULL;
	struct diag_list d;
	int r = load("litellm_yaml11.yaml", &c, &d);

	tap_ok(r == -EINVAL, "a quoted '30_000' is a string, as in YAML 1.1: an error");
	tap_ok(has_diag(&d, DIAG_ERROR, 15, 12,
	                "model_list[1].litellm_params.tpm must be an integer, not '30_000'"),
	       "quoted tpm: error at 15:12");
	tap_ok(has_diag(&d, DIAG_WARNING, 10, 7,
	                "model_list[0].litellm_params.drop_params is a list: read as "
	                "additional_drop_params"),
	       "drop_params as a list: said at 10:7");
	tap_ok(has_diag(
	               &d, DIAG_WARNING, 16, 38,
	               "model_list[1].litellm_params.additional_drop_params[1]: 'stream' cannot be "
	               "dropped"),
	       "stream cannot be dropped: 16:38");
	tap_ok(!has_diag(&d, DIAG_ERROR, 8, 12, "") && !has_diag(&d, DIAG_ERROR, 9, 12, ""),
	       "tpm: 20_000 and rpm: 1_000 are integers");
	tap_ok(d.n == 3, "nothing else said (%zu)", d.n);
	if (d.n != 3)
		show(&d);
	diag_free(&d);
}

static void test_values(void)
{
	/* The same file without the quoted tpm loads, with the values. */
	char path[] = "/tmp/llmgate-compat-XXXXXX";
	struct config *c = NULL;
	struct diag_list d;
	const char *yaml = "model_list:\n"
	                   "  - model_name: gpt-4o\n"
	                   "    litellm_params:\n"
	                   "      model: openai/gpt-4o\n"
	                   "      api_key: sk-test-0000000000000000\n"
	                   "      tpm: 20_000\n"
	                   "      rpm: +1_000\n"
	                   "      max_retries: 0\n"
	                   "      drop_params: [logit_bias, seed]\n"
	                   "      additional_drop_params: [user, seed]\n";
	int fd = mkstemp(path), r;

	tap_ok(fd >= 0 && write(fd, yaml, strlen(yaml)) == (ssize_t)strlen(yaml), "temp file");
	close(fd);
	memset(&d, 0, sizeof(d));
	r = config_load(path, &c, &d);
	unlink(path);
	tap_ok(r == 0, "loads");
	if (r != 0) {
		show(&d);
		diag_free(&d);
		return;
	}
	tap_ok(c->deployments[0].tpm == 20000 && c->deployments[0].rpm == 1000,
	       "tpm 20000, rpm 1000");
	tap_ok(c->deployments[0].n_drop_keys == 3 &&
	               strcmp(c->deployments[0].drop_keys[0], "logit_bias") == 0 &&
	               strcmp(c->deployments[0].drop_keys[1], "seed") == 0 &&
	               strcmp(c->deployments[0].drop_keys[2], "user") == 0,
	       "drop keys: both lists, each key once");
	tap_ok(c->deployments[0].drop_params == -1, "drop_params as a list is not a boolean");
	config_free(c);
	diag_free(&d);
}

int main(void)
{
	test_yaml11();
	test_values();
	return tap_done();
}
