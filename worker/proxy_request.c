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
 * llmgate.stream_usage: inject adds stream_options.include_usage to a chat
 * stream request that lacks it: in that same serialisation when there is
 * one, else inserted into the client's bytes after their opening brace (one
 * copy; a body that names stream_options itself is parsed, to merge).
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
#include <strings.h>
#include <time.h>

#include "config.h"
#include "provider_request.h"
#include "proxy_walk.h"
#include "str_cat.h"
#include "token_store.h"
#include "trace_context.h"

/* Each op's upstream method and path, under the provider's API root; the
 * ops by id have the response id, then SUFFIX, after "responses/". ANSWER:
 * what a 2xx answer's body may be (see proxy_request_answer()). */
static const struct {
	const char *method;
	const char *path;
	const char *suffix;
	enum proxy_answer_kind answer;
} ops[PROXY_OP__COUNT] = {
        [PROXY_OP_CHAT] = {"POST", "chat/completions", NULL, PROXY_ANSWER_JSON},
        [PROXY_OP_COMPLETIONS] = {"POST", "completions", NULL, PROXY_ANSWER_JSON},
        [PROXY_OP_EMBEDDINGS] = {"POST", "embeddings", NULL, PROXY_ANSWER_JSON},
        [PROXY_OP_IMAGES_GENERATIONS] = {"POST", "images/generations", NULL, PROXY_ANSWER_JSON},
        [PROXY_OP_AUDIO_SPEECH] = {"POST", "audio/speech", NULL, PROXY_ANSWER_BYTES},
        [PROXY_OP_MODERATIONS] = {"POST", "moderations", NULL, PROXY_ANSWER_JSON},
        [PROXY_OP_AUDIO_TRANSCRIPTIONS] = {"POST", "audio/transcriptions", NULL, PROXY_ANSWER_TEXT},
        [PROXY_OP_AUDIO_TRANSLATIONS] = {"POST", "audio/translations", NULL, PROXY_ANSWER_TEXT},
        [PROXY_OP_IMAGES_EDITS] = {"POST", "images/edits", NULL, PROXY_ANSWER_JSON},
        [PROXY_OP_RESPONSES] = {"POST", "responses", NULL, PROXY_ANSWER_JSON},
        [PROXY_OP_RESPONSES_INPUT_TOKENS] = {"POST", "responses/input_tokens", NULL,
                                             PROXY_ANSWER_JSON},
        [PROXY_OP_RESPONSE_GET] = {"GET", "responses/", "", PROXY_ANSWER_JSON},
        [PROXY_OP_RESPONSE_DELETE] = {"DELETE", "responses/", "", PROXY_ANSWER_JSON},
        [PROXY_OP_RESPONSE_CANCEL] = {"POST", "responses/", "/cancel", PROXY_ANSWER_JSON},
        [PROXY_OP_RESPONSE_INPUT_ITEMS] = {"GET", "responses/", "/input_items", PROXY_ANSWER_JSON},
};

enum proxy_answer_kind proxy_request_answer(enum proxy_op op)
{
	return ops[op].answer;
}

const char *proxy_request_path(enum proxy_op op)
{
	return ops[op].path;
}

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
	/* + traceparent and tracestate (proxy_request_trace_headers) */
	size_t n = PROVIDER_REQUEST_OWN_HEADERS + dep->n_extra_headers + 2;

	r->headers = n <= PROXY_REQUEST_INLINE_HEADERS ? r->inline_headers
	                                               : calloc(n, sizeof(*r->headers));
	if (!r->headers)
		return -ENOMEM;
	const char *token =
	        dep->entra ? token_store_get(dep->credential, (int64_t)time(NULL)) : NULL;

	return provider_request_headers(dep, token, r->auth, add_header, r);
}

void proxy_request_trace_headers(struct proxy_request *r, const char *traceparent,
                                 const char *tracestate)
{
	size_t kept = 0;

	for (size_t i = 0; i < r->n_headers; i++)
		if (!trace_header_is(r->headers[i].name, false) &&
		    !trace_header_is(r->headers[i].name, true))
			r->headers[kept++] = r->headers[i];
	r->n_headers = kept;
	r->headers[r->n_headers++] = (struct upstream_header){"traceparent", traceparent};
	if (tracestate)
		r->headers[r->n_headers++] = (struct upstream_header){"tracestate", tracestate};
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
 * gateway that injected fields there broke Azure for Codex users. An
 * upload's form is no JSON object to add to. */
static bool takes_defaults(enum proxy_op op)
{
	return !proxy_op_responses(op) && !proxy_op_multipart(op);
}

bool proxy_request_needs_tree(const struct deployment *dep, enum proxy_op op, const char *model,
                              bool named_by_path, const json_t *defaults)
{
	const char *key;
	json_t *value;

	if (proxy_op_multipart(op))
		return false; /* a form: rewritten as bytes (build_form) */
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

/* Whether the client asked a chat stream for its usage itself. */
static bool asks_usage(const json_t *root)
{
	return json_is_true(
	        json_object_get(json_object_get(root, "stream_options"), "include_usage"));
}

/* stream_options with include_usage true: the client's other options kept. */
static int add_include_usage(json_t *copy, const json_t *root)
{
	const json_t *opts = json_object_get(root, "stream_options");
	json_t *n = json_is_object(opts) ? json_copy((json_t *)opts) : json_object();

	if (!n || json_object_set_new(n, "include_usage", json_true()) < 0 ||
	    json_object_set_new(copy, "stream_options", n) < 0)
		return -ENOMEM;
	return 0;
}

/* stream_options.include_usage inserted into the client's bytes after the
 * object's '{', when nothing else needs the tree: no re-serialisation, one
 * copy. Only for a body without any "stream_options" (the caller parses the
 * tree for those); R->body stays NULL when RAW is not such a body. */
static int insert_include_usage(struct proxy_request *r, const char *raw, size_t len)
{
	static const char member[] = "\"stream_options\":{\"include_usage\":true}";
	size_t i = 0, j;
	bool empty;

	if (!raw || memmem(raw, len, "\"stream_options\"", 16))
		return 0;
	while (i < len && strchr(" \t\r\n", raw[i]))
		i++;
	if (i >= len || raw[i] != '{')
		return 0;
	for (j = i + 1; j < len && strchr(" \t\r\n", raw[j]); j++)
		;
	empty = j < len && raw[j] == '}';
	r->body = malloc(len + sizeof(member) + 1);
	if (!r->body)
		return -ENOMEM;
	memcpy(r->body, raw, i + 1);
	memcpy(r->body + i + 1, member, sizeof(member) - 1);
	r->body_len = i + 1 + sizeof(member) - 1;
	if (!empty)
		r->body[r->body_len++] = ',';
	memcpy(r->body + r->body_len, raw + i + 1, len - i - 1);
	r->body_len += len - i - 1;
	r->body[r->body_len] = '\0';
	r->usage_injected = true;
	return 0;
}

static int build_body(struct proxy_request *r, const struct deployment *dep, enum proxy_op op,
                      json_t *root, const struct proxy_request_target *target,
                      const json_t *defaults)
{
	const char *model = target->model;
	bool named_by_path = target->named_by_path;
	bool inject = target->inject_usage && op == PROXY_OP_CHAT && !(root && asks_usage(root));
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
	if (!rewrite && !add_defaults && !drop && !inject)
		return 0;
	if (!rewrite && !add_defaults && !drop && !root)
		return insert_include_usage(r, target->raw, target->raw_len);
	if (!root)
		return 0;       /* inject_usage needs the tree here: the caller did not parse it */
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
	if (inject && add_include_usage(copy, root) < 0) {
		json_decref(copy);
		return -ENOMEM;
	}
	r->usage_injected = inject;
	r->body = json_dumps(copy, JSON_COMPACT);
	json_decref(copy);
	if (!r->body)
		return -ENOMEM;
	r->body_len = strlen(r->body);
	return 0;
}

/* A spooled upload as parts (upstream.h): the file's bytes before AT, MID
 * (MID_LEN bytes, from memory), the file's from AT + CUT on. Nothing is
 * copied but MID: the file is read as the upstream takes it. */
static int form_parts(struct proxy_request *r, const struct proxy_request_target *target, size_t at,
                      size_t cut, const char *mid, size_t mid_len)
{
	const struct upstream_body_part parts[] = {
	        {.fd = target->raw_fd, .offset = 0, .len = at},
	        {.data = mid, .len = mid_len},
	        {.fd = target->raw_fd, .offset = at + cut, .len = target->raw_len - at - cut},
	};

	r->src = upstream_body_new(parts, 3);
	return r->src ? 0 : -ENOMEM;
}

/* A spooled form with its model rewritten: the new field's bytes. */
static int form_parts_rewritten(struct proxy_request *r, const struct proxy_request_target *target,
                                size_t at, size_t cut, const char *head, size_t head_len,
                                const char *name, size_t name_len, bool crlf)
{
	size_t mid_len = head_len + name_len + (crlf ? 2 : 0);
	char *mid = malloc(mid_len);
	int err;

	if (!mid)
		return -ENOMEM;
	memcpy(mid, head, head_len);
	memcpy(mid + head_len, name, name_len);
	if (crlf)
		memcpy(mid + head_len + name_len, "\r\n", 2);
	err = form_parts(r, target, at, cut, mid, mid_len);
	free(mid);
	return err;
}

/* An upload's form with its `model` field's value replaced by the
 * deployment's upstream model (inserted first when the form has none: the
 * Azure-SDK path named the group): one copy of the body, the only one made.
 * Nothing changes when the upstream takes the client's form as it is. A
 * form the server spooled to a file is not copied at all: it is sent as
 * parts (form_parts()), the rewritten field from memory. */
static int build_form(struct proxy_request *r, const struct deployment *dep, enum proxy_op op,
                      const struct proxy_request_target *target)
{
	const struct proxy_form *f = target->form;
	size_t name = strlen(dep->upstream_model), at, cut, len;
	char head[160];
	int n = 0;

	if (!f || !needs_rewrite(dep, op, target->model, target->named_by_path))
		return target->raw_fd >= 0 ? form_parts(r, target, 0, 0, NULL, 0) : 0;
	if (f->has_model) {
		at = f->model_at;
		cut = f->model_len;
	} else {
		n = snprintf(head, sizeof(head),
		             "--%s\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n",
		             f->boundary);
		if (n < 0 || (size_t)n >= sizeof(head))
			return -ENAMETOOLONG;
		at = f->first;
		cut = 0;
	}
	if (target->raw_fd >= 0)
		return form_parts_rewritten(r, target, at, cut, head, (size_t)n,
		                            dep->upstream_model, name, !f->has_model);
	len = target->raw_len - cut + name + (size_t)n + (f->has_model ? 0 : 2);
	r->body = malloc(len);
	if (!r->body)
		return -ENOMEM;
	memcpy(r->body, target->raw, at);
	r->body_len = at;
	memcpy(r->body + r->body_len, head, (size_t)n);
	r->body_len += (size_t)n;
	memcpy(r->body + r->body_len, dep->upstream_model, name);
	r->body_len += name;
	if (!f->has_model) {
		memcpy(r->body + r->body_len, "\r\n", 2);
		r->body_len += 2;
	}
	memcpy(r->body + r->body_len, target->raw + at + cut, target->raw_len - at - cut);
	r->body_len += target->raw_len - at - cut;
	return 0;
}

/* An upload goes with the client's Content-Type (its boundary), not ours. */
static void form_content_type(struct proxy_request *r, const struct proxy_request_target *target)
{
	if (!target->form)
		return;
	for (size_t i = 0; i < r->n_headers; i++)
		if (strcasecmp(r->headers[i].name, "Content-Type") == 0) {
			r->headers[i].value = target->form->content_type;
			return;
		}
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
	r->src = NULL;
	r->usage_injected = false;
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
	if (proxy_op_multipart(op)) {
		form_content_type(r, target);
		return build_form(r, dep, op, target);
	}
	return build_body(r, dep, op, root, target, defaults);
}

void proxy_request_clear(struct proxy_request *r)
{
	if (r->headers != r->inline_headers)
		free(r->headers);
	free(r->body);
	if (r->src) /* an upload's: no call per JSON request */
		upstream_body_unref(r->src);
	r->src = NULL;
	explicit_bzero(r->auth, strnlen(r->auth, sizeof(r->auth))); /* the key's copy, if any */
	r->headers = NULL;
	r->body = NULL;
	r->n_headers = 0;
}
