/*
 * proxy_request: the upstream request of one attempt (see proxy_request.h).
 * Runs in a worker, on the request path. The URL and headers follow the
 * rules shared with `llmgatectl probe` (provider_request.c); this file owns
 * the body.
 *
 * The client's bytes are forwarded untouched unless the deployment needs a
 * different `model` or has request defaults the client did not set; then a
 * shallow copy of the parsed body gets the changes and is serialized.
 *
 * drop_params: LiteLLM drops the parameters a provider does not support from
 * its own per-provider tables; llmgate forwards unknown fields (SPEC 4) and
 * has no such table, so drop_params is accepted and changes nothing.
 */
#include "proxy_request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "provider_request.h"
#include "token_store.h"

static const char *const op_paths[PROXY_OP__COUNT] = {
        [PROXY_OP_CHAT] = "chat/completions",
        [PROXY_OP_COMPLETIONS] = "completions",
        [PROXY_OP_EMBEDDINGS] = "embeddings",
};

static int add_header(void *ctx, const char *name, const char *value)
{
	struct proxy_request *r = ctx;

	r->headers[r->n_headers++] = (struct upstream_header){name, value};
	return 0;
}

static int build_headers(struct proxy_request *r, const struct deployment *dep)
{
	r->headers =
	        calloc(PROVIDER_REQUEST_OWN_HEADERS + dep->n_extra_headers, sizeof(*r->headers));
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

	/* not memset: url and auth are 10 KiB, written before they are read */
	r->url[0] = r->auth[0] = '\0';
	r->headers = NULL;
	r->n_headers = 0;
	r->body = NULL;
	r->body_len = 0;
	err = provider_request_url(dep, op_paths[op], r->url, sizeof(r->url));
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
