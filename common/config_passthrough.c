/*
 * config_passthrough: general_settings.pass_through_endpoints and
 * llmgate.files_deployment (see config_passthrough.h). Part of the config
 * loader: reads through the loader's callbacks, never logs, never quotes a
 * header value (they carry upstream credentials).
 */
#include "config_passthrough.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_paths.h"
#include "config.h"
#include "config_yaml.h"
#include "http_header.h"

#define PT_MAX_ENDPOINTS 256
#define PT_MAX_HEADERS   64
#define PT_MAX_PATH      512

/* llmgate's own route prefixes (api_paths.h); the files-API ones are
 * llmgate's only with llmgate.files_deployment. */
static const char *const own_routes[] = API_OWN_ROUTES;

#define FILES_OP_NAME(name, upload) name,
static const char *const files_ops[] = {API_FILES_OPS(FILES_OP_NAME)};

/* PATH (LEN bytes) is PREFIX or under it. */
static bool under(const char *path, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(path, prefix, n) == 0 && (len == n || path[n] == '/');
}

bool config_passthrough_files_path(const char *path, size_t len, const char **ret_op)
{
	static const char *const prefixes[] = API_BASES;

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t n = strlen(prefixes[i]);

		if (len <= n || memcmp(path, prefixes[i], n) != 0)
			continue;
		for (size_t j = 0; j < sizeof(files_ops) / sizeof(files_ops[0]); j++) {
			size_t m = strlen(files_ops[j]);

			if (len - n >= m && memcmp(path + n, files_ops[j], m) == 0 &&
			    (len - n == m || path[n + m] == '/')) {
				*ret_op = path + n;
				return true;
			}
		}
		return false; /* the longest matching prefix decides */
	}
	return false;
}

const char *config_passthrough_own_route(const char *path, size_t len)
{
	for (size_t i = 0; i < sizeof(own_routes) / sizeof(own_routes[0]); i++)
		if (under(path, len, own_routes[i]))
			return own_routes[i];
	return NULL;
}

static bool valid_path(const char *p)
{
	if (p[0] != '/' || strlen(p) > PT_MAX_PATH)
		return false;
	for (; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("?#%\\", *p))
			return false;
	return true;
}

static bool valid_target(const char *t)
{
	const char *host;

	if (strncasecmp(t, "http://", 7) == 0)
		host = t + 7;
	else if (strncasecmp(t, "https://", 8) == 0)
		host = t + 8;
	else
		return false;
	if (!*host || *host == '/' || *host == '?' || strchr(t, '#'))
		return false;
	for (const char *p = t; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return true;
}

/* LiteLLM's rule for header values: "os.environ/NAME" after other text
 * ("Bearer os.environ/KEY") is replaced by the variable (NAME runs to the
 * end). Unset: an error, never the literal text. 0, or -1 reported (*VALUE
 * freed). */
static int embedded_env(char **value, const struct config_yaml_node *node, const char *path,
                        const struct config_passthrough_reader *rd)
{
	char *at = strstr(*value, "os.environ/"), *out;
	const char *env;

	if (!at)
		return 0;
	env = getenv(at + 11);
	if (!env || !env[0]) {
		rd->report(rd->ctx, true, node, "%s: environment variable '%s' is not set", path,
		           at + 11);
		free(*value);
		return -1;
	}
	if (asprintf(&out, "%.*s%s", (int)(at - *value), *value, env) < 0) {
		rd->oom(rd->ctx);
		free(*value);
		return -1;
	}
	explicit_bzero(*value, strlen(*value));
	free(*value);
	*value = out;
	return 0;
}

/* K.again's key stands earlier in its mapping too: the main config's rule
 * (config_yaml.h), the later value is read. */
static void duplicate(const struct config_passthrough_reader *rd, const struct config_yaml_key *k,
                      const char *path)
{
	rd->report(rd->ctx, false, k->again->key,
	           "%s is given twice; the later value is used (first at %d:%d)", path,
	           k->first->key->line, k->first->key->col);
}

/* NAME in another case is one header too (as extra_headers of the main
 * config): VALUE, the later, replaces it. False when E has no such header. */
static bool replace_header(struct passthrough_endpoint *e, const char *name, char *value,
                           const struct config_yaml_pair *p, const char *path,
                           const struct config_passthrough_reader *rd)
{
	for (size_t j = 0; j < e->n_headers; j++) {
		struct header_kv *h = &e->headers[j];

		if (strcasecmp(h->name, name) != 0)
			continue;
		rd->report(rd->ctx, false, p->key,
		           "%s: the header '%s' is given twice; the later value is used", path,
		           h->name);
		explicit_bzero(h->value, strlen(h->value));
		free(h->value);
		h->value = value;
		return true;
	}
	return false;
}

static void headers_load(struct passthrough_endpoint *e, const struct config_yaml_node *map,
                         const char *at, const struct config_passthrough_reader *rd)
{
	char path[PT_MAX_PATH + 64];

	if (config_yaml_is_null(map))
		return;
	if (map->kind != CONFIG_YAML_MAPPING) {
		rd->report(rd->ctx, true, map,
		           "%s.headers must be a mapping of header names to values", at);
		return;
	}
	if (map->n_pairs > PT_MAX_HEADERS) {
		rd->report(rd->ctx, true, map, "%s.headers has more than %d headers", at,
		           PT_MAX_HEADERS);
		return;
	}
	e->headers = calloc(map->n_pairs ? map->n_pairs : 1, sizeof(*e->headers));
	if (!e->headers) {
		rd->oom(rd->ctx);
		return;
	}
	struct config_yaml_key k;
	for (size_t pos = 0; config_yaml_next_key(map, CONFIG_YAML_LATER_WINS, &pos, &k);) {
		const char *name;
		char *value = NULL;

		if (k.again) {
			snprintf(path, sizeof(path), "%s.headers.%s", at, k.again->key->value);
			duplicate(rd, &k, path);
		}
		if (!k.pair)
			continue;
		name = k.pair->key->value;
		if (!http_header_name_valid(name) || strlen(name) > 100) {
			rd->report(rd->ctx, true, k.pair->key,
			           "%s.headers: a header name is not a valid token", at);
			continue;
		}
		snprintf(path, sizeof(path), "%s.headers.%s", at, name);
		if (rd->text(rd->ctx, k.pair->value, path, true, &value) != 0)
			continue;
		if (embedded_env(&value, k.pair->value, path, rd) < 0)
			continue;
		if (!http_header_value_valid(value)) {
			rd->report(rd->ctx, true, k.pair->value,
			           "%s: the value contains a line break or control character",
			           path);
			free(value);
			continue;
		}
		if (http_header_is_own(name, HTTP_OWN_UPSTREAM) || strcasecmp(name, "host") == 0) {
			rd->report(rd->ctx, false, k.pair->key,
			           "%s: llmgate frames the request itself; ignored", path);
			free(value);
			continue;
		}
		if (replace_header(e, name, value, k.pair, path, rd))
			continue;
		e->headers[e->n_headers].name = strdup(name);
		e->headers[e->n_headers].value = value;
		if (!e->headers[e->n_headers].name) {
			free(value);
			rd->oom(rd->ctx);
			return;
		}
		e->n_headers++;
	}
}

/* The overlap rules of the path of E (see config_passthrough.h). False:
 * reported as an error. */
static bool check_overlap(const struct config *c, const struct passthrough_endpoint *e,
                          const struct config_yaml_node *node, const char *at,
                          const struct config_passthrough_reader *rd)
{
	size_t len = strlen(e->path);
	const char *op, *own = config_passthrough_own_route(e->path, len);

	if (own) {
		rd->report(rd->ctx, true, node,
		           "%s.path '%s' is one of llmgate's own routes (%s...); choose another "
		           "path",
		           at, e->path, own);
		return false;
	}
	for (size_t i = 0; i < sizeof(own_routes) / sizeof(own_routes[0]); i++) {
		if (e->include_subpath && under(own_routes[i], strlen(own_routes[i]), e->path))
			rd->report(
			        rd->ctx, false, node,
			        "%s.path '%s' with include_subpath covers llmgate's own route %s; "
			        "llmgate's routes win there",
			        at, e->path, own_routes[i]);
	}
	if (c->has_files_deployment && config_passthrough_files_path(e->path, len, &op)) {
		rd->report(rd->ctx, true, node,
		           "%s.path '%s' is served by llmgate.files_deployment; remove one of them",
		           at, e->path);
		return false;
	}
	for (size_t i = 0; i < c->n_passthrough; i++)
		if (strcmp(c->passthrough[i].path, e->path) == 0) {
			rd->report(rd->ctx, true, node, "%s.path '%s' is given twice", at, e->path);
			return false;
		}
	return true;
}

static void endpoint_free(struct passthrough_endpoint *e)
{
	for (size_t i = 0; i < e->n_headers; i++) {
		free(e->headers[i].name);
		if (e->headers[i].value)
			explicit_bzero(e->headers[i].value, strlen(e->headers[i].value));
		free(e->headers[i].value);
	}
	free(e->headers);
	free(e->path);
	free(e->target);
	memset(e, 0, sizeof(*e));
}

/* A boolean field: NODE's value into *DST. */
static void flag(const struct config_passthrough_reader *rd, const struct config_yaml_node *node,
                 const char *at, const char *name, bool *dst)
{
	char path[PT_MAX_PATH + 64];

	snprintf(path, sizeof(path), "%s.%s", at, name);
	rd->boolean(rd->ctx, node, path, dst);
}

static void endpoint_load(struct config *c, const struct config_yaml_node *item, size_t index,
                          const struct config_passthrough_reader *rd)
{
	struct passthrough_endpoint e = {0};
	const struct config_yaml_node *path_node = NULL, *target_node = NULL;
	char at[96];
	bool ok = true;

	snprintf(at, sizeof(at), "general_settings.pass_through_endpoints[%zu]", index);
	if (item->kind != CONFIG_YAML_MAPPING) {
		rd->report(rd->ctx, true, item, "%s must be a mapping with path and target", at);
		return;
	}
	struct config_yaml_key f;
	for (size_t pos = 0; config_yaml_next_key(item, CONFIG_YAML_LATER_WINS, &pos, &f);) {
		const struct config_yaml_pair *p = f.pair ? f.pair : f.again;
		const char *k = p->key->value;
		const struct config_yaml_node *v = p->value;
		char path[160];

		snprintf(path, sizeof(path), "%s.%s", at, k);
		if (f.again)
			duplicate(rd, &f, path);
		if (!f.pair)
			continue;
		if (strcmp(k, "path") == 0) {
			path_node = v;
			ok &= rd->text(rd->ctx, v, path, false, &e.path) == 0;
		} else if (strcmp(k, "target") == 0) {
			target_node = v;
			ok &= rd->text(rd->ctx, v, path, false, &e.target) == 0;
		} else if (strcmp(k, "headers") == 0) {
			headers_load(&e, v, at, rd);
		} else if (strcmp(k, "forward_headers") == 0) {
			flag(rd, v, at, k, &e.forward_headers);
		} else if (strcmp(k, "auth") == 0) {
			flag(rd, v, at, k, &e.auth);
		} else if (strcmp(k, "include_subpath") == 0) {
			flag(rd, v, at, k, &e.include_subpath);
		} else if (strcmp(k, "merge_query_params") == 0) {
			bool merge; /* always so: both queries are sent */

			flag(rd, v, at, k, &merge);
		} else if (strcmp(k, "id") == 0) {
			/* LiteLLM's handle for its admin API: nothing to do */
		} else if (strcmp(k, "cost_per_request") == 0 || strcmp(k, "guardrails") == 0) {
			rd->report(rd->ctx, false, f.pair->key,
			           "%s: a LiteLLM setting llmgate does not implement; ignored",
			           path);
		} else {
			rd->report(rd->ctx, false, f.pair->key,
			           "%s: unknown field (pass_through_endpoints take path, target, "
			           "headers, forward_headers, auth, include_subpath, "
			           "merge_query_params); ignored",
			           path);
		}
	}
	if (!path_node || !e.path) {
		if (ok)
			rd->report(rd->ctx, true, item, "%s has no path", at);
		ok = false;
	} else if (!valid_path(e.path)) {
		rd->report(rd->ctx, true, path_node,
		           "%s.path must start with '/' and hold no blank, '?', '#', '%%' or '\\'",
		           at);
		ok = false;
	} else {
		size_t n = strlen(e.path);

		while (n > 1 && e.path[n - 1] == '/')
			e.path[--n] = '\0';
	}
	if (!target_node || !e.target) {
		if (ok)
			rd->report(rd->ctx, true, item, "%s has no target", at);
		ok = false;
	} else if (!valid_target(e.target)) {
		rd->report(rd->ctx, true, target_node,
		           "%s.target must be an http:// or https:// URL with a host", at);
		ok = false;
	} else {
		size_t n = strlen(e.target);
		char *q = strchr(e.target, '?');

		if (!q)
			while (n > 0 && e.target[n - 1] == '/')
				e.target[--n] = '\0';
	}
	if (ok && e.auth && !c->master_key)
		rd->report(rd->ctx, false, item,
		           "%s.auth is true but general_settings.master_key is not set: the "
		           "endpoint is open to every client",
		           at);
	if (ok && !e.auth && c->master_key)
		rd->report(rd->ctx, false, item,
		           "%s has no 'auth: true': as in LiteLLM, it is served without the "
		           "gateway key",
		           at);
	if (ok)
		ok = check_overlap(c, &e, path_node, at, rd);
	if (!ok) {
		endpoint_free(&e);
		return;
	}
	c->passthrough[c->n_passthrough++] = e;
}

void config_passthrough_load(struct config *c, const struct config_yaml_node *list,
                             const struct config_passthrough_reader *rd)
{
	if (config_yaml_is_null(list))
		return;
	if (list->kind != CONFIG_YAML_SEQUENCE) {
		rd->report(rd->ctx, true, list,
		           "general_settings.pass_through_endpoints must be a list of {path, "
		           "target, ...}");
		return;
	}
	if (list->n_items > PT_MAX_ENDPOINTS) {
		rd->report(rd->ctx, true, list,
		           "general_settings.pass_through_endpoints has more than %d entries",
		           PT_MAX_ENDPOINTS);
		return;
	}
	c->passthrough = calloc(list->n_items ? list->n_items : 1, sizeof(*c->passthrough));
	if (!c->passthrough) {
		rd->oom(rd->ctx);
		return;
	}
	for (size_t i = 0; i < list->n_items; i++)
		endpoint_load(c, list->items[i], i, rd);
}

void config_passthrough_files(struct config *c, const char *name,
                              const struct config_yaml_node *node,
                              const struct config_passthrough_reader *rd)
{
	const struct group *g;

	for (size_t i = 0; i < c->n_deployments; i++)
		if (strcmp(c->deployments[i].id, name) == 0) {
			if (c->deployments[i].not_served) {
				rd->report(
				        rd->ctx, true, node,
				        "llmgate.files_deployment '%s' is a deployment llmgate does "
				        "not serve",
				        name);
				return;
			}
			c->files_deployment = i;
			c->has_files_deployment = true;
			return;
		}
	g = config_find_group(c, name);
	if (!g || g->n_deployments == 0) {
		rd->report(
		        rd->ctx, true, node,
		        "llmgate.files_deployment '%s' is no served deployment id (model_info.id) "
		        "nor model_name",
		        name);
		return;
	}
	if (g->n_deployments > 1) {
		rd->report(
		        rd->ctx, true, node,
		        "llmgate.files_deployment '%s' is a model_name with %zu deployments; file "
		        "and batch ids belong to one resource: name one by its model_info.id",
		        name, g->n_deployments);
		return;
	}
	c->files_deployment = g->deployments[0];
	c->has_files_deployment = true;
}

void config_passthrough_batch_mode(struct config *c, const struct config_passthrough_reader *rd)
{
	size_t n = 0, first = 0;

	for (size_t i = 0; i < c->n_deployments; i++) {
		const struct deployment *d = &c->deployments[i];

		if (!d->not_served && d->mode && strcmp(d->mode, "batch") == 0 && n++ == 0)
			first = i;
	}
	if (n == 1) {
		c->files_deployment = first;
		c->has_files_deployment = true;
	} else if (n > 1) {
		rd->report(
		        rd->ctx, false, NULL,
		        "%zu deployments have model_info.mode batch; the files API's ids belong "
		        "to one resource, so llmgate relays /v1/files and /v1/batches to none of "
		        "them: set llmgate.files_deployment to one model_info.id",
		        n);
	}
}

void config_passthrough_free(struct config *c)
{
	for (size_t i = 0; i < c->n_passthrough; i++)
		endpoint_free(&c->passthrough[i]);
	free(c->passthrough);
	c->passthrough = NULL;
	c->n_passthrough = 0;
}
