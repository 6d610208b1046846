/*
 * proxy_request: the upstream request of one attempt (see proxy_request.h).
 * Runs in a worker, on the request path.
 *
 * The client's bytes are forwarded untouched unless the deployment needs a
 * different `model` or has request defaults the client did not set; then a
 * shallow copy of the parsed body gets the changes and is serialized. The
 * client's own key never goes upstream: the deployment's does. A header of
 * extra_headers replaces ours of the same name (the operator asked for it).
 *
 * drop_params: LiteLLM drops the parameters a provider does not support from
 * its own per-provider tables; llmgate forwards unknown fields (SPEC 4) and
 * has no such table, so drop_params is accepted and changes nothing.
 */
#include "proxy_request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"

static const char *const op_paths[PROXY_OP__COUNT] = {
        [PROXY_OP_CHAT] = "chat/completions",
        [PROXY_OP_COMPLETIONS] = "completions",
        [PROXY_OP_EMBEDDINGS] = "embeddings",
};

static int build_url(const struct deployment *dep, enum proxy_op op, char *buf, size_t len)
{
	int n;

	if (dep->provider == PROVIDER_AZURE) {
		const char *v = dep->api_version;

		if (strcmp(v, "v1") == 0 || strcmp(v, "latest") == 0 || strcmp(v, "preview") == 0)
			n = snprintf(buf, len, "%s/openai/v1/%s", dep->api_base, op_paths[op]);
		else
			n = snprintf(buf, len, "%s/openai/deployments/%s/%s?api-version=%s",
			             dep->api_base, dep->upstream_model, op_paths[op], v);
	} else {
		n = snprintf(buf, len, "%s/%s", dep->api_base, op_paths[op]);
	}
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static bool extra_header(const struct deployment *dep, const char *name)
{
	for (size_t i = 0; i < dep->n_extra_headers; i++)
		if (strcasecmp(dep->extra_headers[i].name, name) == 0)
			return true;
	return false;
}

static void add_header(struct proxy_request *r, const struct deployment *dep, const char *name,
                       const char *value)
{
	if (!extra_header(dep, name))
		r->headers[r->n_headers++] = (struct upstream_header){name, value};
}

static int build_headers(struct proxy_request *r, const struct deployment *dep)
{
	r->headers = calloc(dep->n_extra_headers + 4, sizeof(*r->headers));
	if (!r->headers)
		return -ENOMEM;
	add_header(r, dep, "Content-Type", "application/json");
	if (dep->provider == PROVIDER_AZURE && dep->azure_ad_token) {
		snprintf(r->auth, sizeof(r->auth), "Bearer %s", dep->azure_ad_token);
		add_header(r, dep, "Authorization", r->auth);
	} else if (dep->provider == PROVIDER_AZURE && dep->api_key) {
		add_header(r, dep, "api-key", dep->api_key);
	} else if (dep->api_key) {
		snprintf(r->auth, sizeof(r->auth), "Bearer %s", dep->api_key);
		add_header(r, dep, "Authorization", r->auth);
	}
	if (dep->organization)
		add_header(r, dep, "OpenAI-Organization", dep->organization);
	for (size_t i = 0; i < dep->n_extra_headers; i++)
		r->headers[r->n_headers++] = (struct upstream_header){dep->extra_headers[i].name,
		                                                      dep->extra_headers[i].value};
	return 0;
}

/* Keys of DEFAULTS that may be added: not those that change what the
 * client's request is (its model, or the framing of the answer). */
static bool default_allowed(const char *key)
{
	return strcmp(key, "model") != 0 && strcmp(key, "stream") != 0;
}

static bool needs_rewrite(const struct deployment *dep, const char *model, bool named_by_path)
{
	return dep->provider == PROVIDER_OPENAI &&
	       (named_by_path || strcmp(model, dep->upstream_model) != 0);
}

bool proxy_request_needs_tree(const struct deployment *dep, const char *model, bool named_by_path,
                              const json_t *defaults)
{
	const char *key;
	json_t *value;

	if (needs_rewrite(dep, model, named_by_path))
		return true;
	json_object_foreach((json_t *)defaults, key, value)
	{
		if (default_allowed(key))
			return true;
	}
	return false;
}

static int build_body(struct proxy_request *r, const struct deployment *dep, json_t *root,
                      const char *model, bool named_by_path, const json_t *defaults)
{
	bool rewrite = needs_rewrite(dep, model, named_by_path);
	bool add_defaults = false;
	const char *key;
	json_t *value, *copy;

	json_object_foreach((json_t *)defaults, key, value)
	{
		if (default_allowed(key) && !json_object_get(root, key))
			add_defaults = true;
	}
	if (!rewrite && !add_defaults)
		return 0;
	copy = json_copy(root); /* shallow: the client's values are shared, not changed */
	if (!copy)
		return -ENOMEM;
	if (rewrite)
		json_object_set_new(copy, "model", json_string(dep->upstream_model));
	json_object_foreach((json_t *)defaults, key, value)
	{
		if (default_allowed(key) && !json_object_get(root, key))
			json_object_set(copy, key, value);
	}
	r->body = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (!r->body)
		return -ENOMEM;
	r->body_len = strlen(r->body);
	return 0;
}

int proxy_request_build(struct proxy_request *r, const struct deployment *dep, enum proxy_op op,
                        json_t *root, const char *model, bool named_by_path, const json_t *defaults)
{
	int err;

	/* not memset: url and auth are 6 KiB, written before they are read */
	r->url[0] = r->auth[0] = '\0';
	r->headers = NULL;
	r->n_headers = 0;
	r->body = NULL;
	r->body_len = 0;
	err = build_url(dep, op, r->url, sizeof(r->url));
	if (err < 0)
		return err;
	err = build_headers(r, dep);
	if (err < 0)
		return err;
	return build_body(r, dep, root, model, named_by_path, defaults);
}

void proxy_request_clear(struct proxy_request *r)
{
	free(r->headers);
	free(r->body);
	explicit_bzero(r->auth, strnlen(r->auth, sizeof(r->auth))); /* the key's copy, if any */
	r->headers = NULL;
	r->body = NULL;
	r->n_headers = 0;
}
