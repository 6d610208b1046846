/*
 * proxy_request: the upstream request of one attempt (see proxy_request.h).
 * Runs in a worker, on the request path. The URL and headers follow the
 * rules shared with `llmgatectl probe` (provider_request.c); this file owns
 * the body.
 *
 * The client's bytes are forwarded untouched unless the deployment needs a
 * different `model` (OpenAI-style upstreams and Azure's v1 API take the
 * deployment's name there, from either ingress) or has request defaults the
 * client did not set; then a
 * shallow copy of the parsed body gets the changes and is serialized.
 *
 * drop_params: LiteLLM drops the parameters a provider does not support from
 * its own per-provider tables; llmgate forwards unknown fields (SPEC 4) and
 * has no such table, so drop_params is accepted and changes nothing. The
 * parameters a deployment names in additional_drop_params (or drop_params
 * written as a list) are removed.
 */
#include "proxy_request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "provider_request.h"
#include "proxy_walk.h"
#include "str_cat.h"
#include "token_store.h"

/* Each op's upstream method and path, under the provider's API root; the
 * ops by id have the response id, then SUFFIX, after "responses/". */
static const struct {
	const char *method;
	const char *path;
	const char *suffix;
} ops[PROXY_OP__COUNT] = {
        [PROXY_OP_CHAT] = {"POST", "chat/completions", NULL},
        [PROXY_OP_COMPLETIONS] = {"POST", "completions", NULL},
        [PROXY_OP_EMBEDDINGS] = {"POST", "embeddings", NULL},
        [PROXY_OP_RESPONSES] = {"POST", "responses", NULL},
        [PROXY_OP_RESPONSES_INPUT_TOKENS] = {"POST", "responses/input_tokens", NULL},
        [PROXY_OP_RESPONSE_GET] = {"GET", "responses/", ""},
        [PROXY_OP_RESPONSE_DELETE] = {"DELETE", "responses/", ""},
        [PROXY_OP_RESPONSE_CANCEL] = {"POST", "responses/", "/cancel"},
        [PROXY_OP_RESPONSE_INPUT_ITEMS] = {"GET", "responses/", "/input_items"},
};

const char *proxy_request_method(enum proxy_op op)
{
	return ops[op].method;
}

static int add_header(void *ctx, const char *name, const char *value)
{
	struct proxy_request *r = ctx;

	r->headers[r->n_headers++] = (struct upstream_header){name, value};
	return 0;
}

static int build_headers(struct proxy_request *r, const struct deployment *dep)
{
	size_t n = PROVIDER_REQUEST_OWN_HEADERS + dep->n_extra_headers;

	r->headers = n <= PROXY_REQUEST_INLINE_HEADERS ? r->inline_headers
	                                               : calloc(n, sizeof(*r->headers));
	if (!r->headers)
		return -ENOMEM;
	const char *token =
	        dep->entra ? token_store_get(dep->credential, (int64_t)time(NULL)) : NULL;

	return provider_request_headers(dep, token, r->auth, add_header, r);
}

/* Keys of DEFAULTS that may be added: not those that change what the
 * client's request is (its model, or the framing of the answer). */
static bool default_allowed(const char *key)
{
	return strcmp(key, "model") != 0 && strcmp(key, "stream") != 0;
}

/* Whether the body's "model" must name the deployment's upstream model: on
 * OpenAI-style upstreams and Azure's v1 API (whose URL names no deployment)
 * the body's model is what the upstream serves, so the client's group name
 * is replaced, or inserted when the Azure-SDK path named the group. */
static bool needs_rewrite(const struct deployment *dep, enum proxy_op op, const char *model,
                          bool named_by_path)
{
	return !proxy_op_by_id(op) && provider_request_body_names_deployment(dep, ops[op].path) &&
	       (named_by_path || strcmp(model, dep->upstream_model) != 0);
}

/* The Responses API's bodies go as the client sent them, but for model: a
 * gateway that injected fields there broke Azure for Codex users. */
static bool takes_defaults(enum proxy_op op)
{
	return !proxy_op_responses(op);
}

bool proxy_request_needs_tree(const struct deployment *dep, enum proxy_op op, const char *model,
                              bool named_by_path, const json_t *defaults)
{
	const char *key;
	json_t *value;

	if (needs_rewrite(dep, op, model, named_by_path) || dep->n_drop_keys > 0)
		return true;
	if (!takes_defaults(op))
		return false;
	json_object_foreach((json_t *)defaults, key, value)
	{
		if (default_allowed(key))
			return true;
	}
	return false;
}

static int build_body(struct proxy_request *r, const struct deployment *dep, enum proxy_op op,
                      json_t *root, const char *model, bool named_by_path, const json_t *defaults)
{
	bool rewrite = needs_rewrite(dep, op, model, named_by_path);
	bool add_defaults = false, drop = false;
	const char *key;
	json_t *value, *copy;

	if (!takes_defaults(op))
		defaults = NULL;
	json_object_foreach((json_t *)defaults, key, value)
	{
		if (default_allowed(key) && !json_object_get(root, key))
			add_defaults = true;
	}
	for (size_t i = 0; i < dep->n_drop_keys; i++)
		drop |= json_object_get(root, dep->drop_keys[i]) != NULL;
	if (!rewrite && !add_defaults && !drop)
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
	for (size_t i = 0; i < dep->n_drop_keys; i++)
		json_object_del(copy, dep->drop_keys[i]);
	r->body = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (!r->body)
		return -ENOMEM;
	r->body_len = strlen(r->body);
	return 0;
}

int proxy_request_build(struct proxy_request *r, const struct deployment *dep, enum proxy_op op,
                        const struct proxy_request_target *target, json_t *root,
                        const json_t *defaults)
{
	char path[64 + PROXY_RESPONSE_ID_MAX];
	int err;

	/* not memset: url and auth are 10 KiB, written before they are read */
	r->url[0] = r->auth[0] = '\0';
	r->headers = NULL;
	r->n_headers = 0;
	r->body = NULL;
	r->body_len = 0;
	if (proxy_op_by_id(op)) {
		if (str_cat(path, sizeof(path), ops[op].path, target->response_id, ops[op].suffix,
		            (char *)NULL) < 0)
			return -ENAMETOOLONG;
	} else {
		str_copy(path, sizeof(path), ops[op].path);
	}
	err = provider_request_url_query(dep, path, target->query, r->url, sizeof(r->url));
	if (err < 0)
		return err;
	err = build_headers(r, dep);
	if (err < 0)
		return err;
	return build_body(r, dep, op, root, target->model, target->named_by_path, defaults);
}

void proxy_request_clear(struct proxy_request *r)
{
	if (r->headers != r->inline_headers)
		free(r->headers);
	free(r->body);
	explicit_bzero(r->auth, strnlen(r->auth, sizeof(r->auth))); /* the key's copy, if any */
	r->headers = NULL;
	r->body = NULL;
	r->n_headers = 0;
}
