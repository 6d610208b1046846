/*
 * Unit tests of duplicate keys, one rule per file (common/config_yaml.h):
 * config_yaml_next_key() on parsed mappings (few keys, found pairwise; many,
 * sorted; thrice; merges; aliases), then every mapping reader of the main
 * config (the later value is read, a warning at each repetition, as
 * LiteLLM's PyYAML) and of the keys file (refused, an error, nothing read).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_keys.h"
#include "config.h"
#include "config_passthrough.h"
#include "config_yaml.h"
#include "diag.h"
#include "tap.h"

static struct config_yaml_node *parse(const char *text)
{
	struct config_yaml_node *root = NULL;
	struct diag_list d = {0};

	if (config_yaml_parse("t.yaml", text, strlen(text), &root, &d) < 0)
		root = NULL;
	diag_free(&d);
	return root;
}

/* The pairs read from MAP under RULE as "key=value ..." (in visiting
 * order), and the repetitions as "key@line ...". */
static void walk(const struct config_yaml_node *map, enum config_yaml_dups rule, char *read,
                 char *again, size_t size)
{
	struct config_yaml_key k;
	size_t r = 0, a = 0;

	read[0] = again[0] = '\0';
	for (size_t pos = 0; config_yaml_next_key(map, rule, &pos, &k);) {
		if (k.again && a < size)
			a += (size_t)snprintf(again + a, size - a, "%s%s@%d<%d", a ? " " : "",
			                      k.again->key->value, k.again->key->line,
			                      k.first->key->line);
		if (k.pair && r < size)
			r += (size_t)snprintf(read + r, size - r, "%s%s=%s", r ? " " : "",
			                      k.pair->key->value,
			                      k.pair->value->value ? k.pair->value->value : "{}");
	}
}

static const struct config_yaml_node *get(const struct config_yaml_node *map, const char *key)
{
	struct config_yaml_key k;

	for (size_t pos = 0; config_yaml_next_key(map, CONFIG_YAML_LATER_WINS, &pos, &k);)
		if (k.pair && strcmp(k.pair->key->value, key) == 0)
			return k.pair->value;
	return NULL;
}

static void test_next_key(void)
{
	struct config_yaml_node *root;
	char read[1024], again[1024], text[4096];
	size_t n = 0;

	root = parse("a: 1\nb: 2\na: 3\nc: 4\na: 5\nb: 6\n");
	walk(root, CONFIG_YAML_LATER_WINS, read, again, sizeof(read));
	tap_str(read, "c=4 a=5 b=6", "later wins: each key's last pair, at its place");
	tap_str(again, "a@3<1 a@5<1 b@6<2", "each repetition, with its key's first pair");
	walk(root, CONFIG_YAML_REFUSED, read, again, sizeof(read));
	tap_str(read, "c=4", "refused: no pair of a repeated key is read");
	tap_str(again, "a@3<1 a@5<1 b@6<2", "each repetition is reported");
	config_yaml_free(root);

	/* past the pairwise limit: the sorted path */
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "k%02d: %d\n", i % 30, i);
	root = parse(text);
	walk(root, CONFIG_YAML_LATER_WINS, read, again, sizeof(read));
	tap_ok(strncmp(read, "k10=10 k11=11", 13) == 0 && strstr(read, "k00=30") &&
	               strstr(read, "k09=39") && !strstr(read, "k00=0 "),
	       "40 pairs, 30 keys: the later ten win (%.40s...)", read);
	tap_ok(strncmp(again, "k00@31<1 k01@32<2", 17) == 0, "and are the repetitions (%.30s)",
	       again);
	config_yaml_free(root);

	/* merged keys lose to the mapping's own; an alias copies the settlement */
	root = parse("base: &b {x: 1, y: 2}\n"
	             "m:\n  <<: *b\n  y: 3\n  y: 4\n"
	             "copy: *b\n");
	walk(get(root, "m"), CONFIG_YAML_LATER_WINS, read, again, sizeof(read));
	tap_str(read, "x=1 y=4", "a merge and a repeated own key");
	tap_str(again, "y@5<4", "only the own key's repetition is one");
	walk(get(root, "copy"), CONFIG_YAML_REFUSED, read, again, sizeof(read));
	tap_str(read, "x=1 y=2", "an alias's copy reads as its anchor");
	config_yaml_free(root);

	root = parse("[1, 2]");
	n = 0;
	tap_ok(root && !config_yaml_next_key(root, CONFIG_YAML_LATER_WINS, &n, NULL),
	       "a list is no mapping: nothing to visit");
	tap_ok(!config_yaml_next_key(NULL, CONFIG_YAML_REFUSED, &n, NULL), "nor is null");
	config_yaml_free(root);
}

static char tmp[] = "/tmp/llmgate-test-dups-XXXXXX";

static int load_text(const char *text, struct config **ret, struct diag_list *d)
{
	char path[sizeof(tmp) + 16];
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.yaml", tmp);
	f = fopen(path, "we");
	if (!f)
		return -1;
	fputs(text, f);
	fclose(f);
	memset(d, 0, sizeof(*d));
	return config_load(path, ret, d);
}

static bool has(const struct diag_list *d, enum diag_severity sev, int line, const char *text)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].severity == sev && d->items[i].line == line &&
		    strstr(d->items[i].message, text))
			return true;
	for (size_t i = 0; i < d->n; i++)
		printf("#   %d:%d: %s\n", d->items[i].line, d->items[i].col, d->items[i].message);
	return false;
}

/* Every mapping reader of the main config: the later value, a warning. */
static void test_main_config(void)
{
	static const char text[] =
	        "environment_variables:\n"                                 /* 1 */
	        "  LLMGATE_TEST_DUP: first\n"                              /* 2 */
	        "  LLMGATE_TEST_DUP: second\n"                             /* 3 */
	        "model_list:\n"                                            /* 4 */
	        "  - model_name: gpt-4o\n"                                 /* 5 */
	        "    litellm_params:\n"                                    /* 6 */
	        "      model: openai/gpt-4o\n"                             /* 7 */
	        "      api_key: sk-test-0000000000000000\n"                /* 8 */
	        "      response_format: {type: text, type: json_object}\n" /* 9 */
	        "      extra_headers: {X-A: one, X-A: two}\n"              /* 10 */
	        "router_settings:\n"                                       /* 11 */
	        "  model_group_alias: {gpt4: gpt-4o, gpt4: {model: gpt-4o, hidden: true}}\n"
	        "  fallbacks: [{gpt-4o: [gpt4o-none], gpt-4o: []}]\n"      /* 13 */
	        "general_settings:\n"                                      /* 14 */
	        "  pass_through_endpoints:\n"                              /* 15 */
	        "    - {path: /first, target: 'http://127.0.0.1:9/a'}\n"   /* 16 */
	        "  pass_through_endpoints:\n"                              /* 17 */
	        "    - path: /vendor/old\n"                                /* 18 */
	        "      target: 'http://127.0.0.1:9/b'\n"                   /* 19 */
	        "      path: /vendor\n"                                    /* 20 */
	        "      headers: {X-Key: old, X-Key: new, x-key: newer}\n"; /* 21 */
	struct config *c = NULL;
	struct diag_list d;
	int r = load_text(text, &c, &d);

	tap_ok(r == 0 && c, "a config with duplicate keys everywhere loads (%d)", r);
	tap_ok(has(&d, DIAG_WARNING, 3,
	           "duplicate key 'LLMGATE_TEST_DUP' in environment_variables"),
	       "environment_variables: a warning");
	tap_str(getenv("LLMGATE_TEST_DUP"), "second", "and the later value is set");
	tap_ok(has(&d, DIAG_WARNING, 9, "duplicate key 'type' in "),
	       "a request parameter's mapping: a warning");
	tap_ok(has(&d, DIAG_WARNING, 10, "duplicate key 'X-A' in "), "extra_headers: a warning");
	tap_ok(has(&d, DIAG_WARNING, 12, "duplicate key 'gpt4' in "),
	       "model_group_alias: a warning");
	tap_ok(has(&d, DIAG_WARNING, 13, "duplicate key 'gpt-4o' in "),
	       "a fallbacks entry: a warning");
	tap_ok(has(&d, DIAG_WARNING, 17, "duplicate key 'pass_through_endpoints'"),
	       "general_settings.pass_through_endpoints: a warning");
	tap_ok(has(&d, DIAG_WARNING, 20, "pass_through_endpoints[0].path is given twice"),
	       "a pass-through endpoint's field: a warning");
	tap_ok(has(&d, DIAG_WARNING, 21, "headers.X-Key is given twice") &&
	               has(&d, DIAG_WARNING, 21, "the header 'X-Key' is given twice"),
	       "a pass-through endpoint's header: a warning (also in another case)");
	if (c) {
		const struct deployment *dep = &c->deployments[0];
		const struct passthrough_endpoint *e = c->passthrough;

		tap_ok(dep->request_defaults_json &&
		               strstr(dep->request_defaults_json, "json_object") &&
		               !strstr(dep->request_defaults_json, "\"text\""),
		       "the later parameter value (%s)", dep->request_defaults_json);
		tap_ok(dep->n_extra_headers == 1 && strcmp(dep->extra_headers[0].value, "two") == 0,
		       "one extra header, the later value");
		tap_ok(c->n_aliases == 1 && c->aliases[0].hidden, "one alias, the later (hidden)");
		tap_ok(c->n_passthrough == 1 && strcmp(e[0].path, "/vendor") == 0 &&
		               strstr(e[0].target, "/b"),
		       "the later pass_through_endpoints list, its later path");
		tap_ok(c->n_passthrough == 1 && e[0].n_headers == 1 &&
		               strcmp(e[0].headers[0].value, "newer") == 0,
		       "one header, the later value (also in another case)");
		config_free(c);
	}
	diag_free(&d);
	unsetenv("LLMGATE_TEST_DUP");
}

/* model_group_alias as a string holding JSON (LiteLLM reads it so): a
 * repeated alias there is an error naming where, not a mapping read half or
 * reported as not being one. */
static void test_alias_json_string(void)
{
	static const char text[] =
	        "model_list:\n"                                                      /* 1 */
	        "  - model_name: gpt-4o\n"                                           /* 2 */
	        "    litellm_params: {model: openai/gpt-4o, api_key: sk-x}\n"        /* 3 */
	        "router_settings:\n"                                                 /* 4 */
	        "  model_group_alias: '{\"gpt4\": \"gpt-4o\", \"gpt4\": \"o1\"}'\n"; /* 5 */
	struct config *c = NULL;
	struct diag_list d;
	int r = load_text(text, &c, &d);

	tap_ok(r != 0 && !c, "a repeated alias in a JSON string: the config is refused (%d)", r);
	tap_ok(has(&d, DIAG_ERROR, 5, "holding JSON that cannot be read: duplicate object key"),
	       "an error at the alias map saying why");
	tap_ok(!has(&d, DIAG_WARNING, 5, "not a mapping"),
	       "not called a string that is no mapping");
	config_free(c);
	diag_free(&d);
}

/* The keys file: refused, with an error, and nothing read twice. */
static void test_keys_file(void)
{
	static struct config config;
	static const char hash[] =
	        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	char text[1024];
	struct client_keys *keys = NULL;
	struct diag_list d = {0};
	int r;

	snprintf(text, sizeof(text),
	         "keys:\n"
	         "  - id: a\n"
	         "    key_sha256: %s\n"
	         "    models: [gpt-4o]\n"
	         "    models: [gpt-4o, o1]\n"
	         "    id: b\n",
	         hash);
	r = client_keys_parse(&config, "keys.yaml", text, strlen(text), &keys, &d);
	tap_ok(r == -EINVAL && !keys, "a keys entry with fields twice is refused");
	tap_ok(has(&d, DIAG_ERROR, 5, "keys[].models is given twice (first at 4:5)"),
	       "an error at the repeated models");
	tap_ok(has(&d, DIAG_ERROR, 6, "keys[].id is given twice (first at 2:5)"),
	       "an error at the repeated id");
	tap_ok(d.n == 2, "and nothing else (no 'has no id') (%zu)", d.n);
	diag_free(&d);

	memset(&d, 0, sizeof(d));
	snprintf(text, sizeof(text),
	         "keys:\n"
	         "  - {id: a, key_sha256: %s}\n"
	         "keys: []\n",
	         hash);
	r = client_keys_parse(&config, "keys.yaml", text, strlen(text), &keys, &d);
	tap_ok(r == -EINVAL && !keys && has(&d, DIAG_ERROR, 3, "'keys' is given twice"),
	       "'keys' twice: refused, not the later list silently");
	diag_free(&d);
}

int main(void)
{
	if (!mkdtemp(tmp))
		return 1;
	test_next_key();
	test_main_config();
	test_alias_json_string();
	test_keys_file();
	{
		char path[sizeof(tmp) + 16];

		snprintf(path, sizeof(path), "%s/c.yaml", tmp);
		unlink(path);
		rmdir(tmp);
	}
	return tap_done();
}
