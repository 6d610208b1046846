/*
 * proxy_request: what one attempt sends to one deployment (SPEC 5): the URL
 * and headers by the rules of provider_request.h, and the client's body with
 * `model` rewritten (or inserted) for OpenAI-style upstreams and Azure's v1
 * API and the deployment's request
 * defaults added where the client sent nothing.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "provider_request.h"
#include "proxy.h"
#include "upstream.h"

struct deployment;

/* headers that fit here are not allocated (the usual deployment has no
 * or a few extra_headers) */
#define PROXY_REQUEST_INLINE_HEADERS (PROVIDER_REQUEST_OWN_HEADERS + 5)

struct proxy_request {
	char url[2048];
	struct upstream_header *headers; /* inline_headers, or allocated */
	size_t n_headers;
	struct upstream_header inline_headers[PROXY_REQUEST_INLINE_HEADERS];
	char auth[PROVIDER_REQUEST_AUTH_MAX];
	char *body; /* the rewritten body, or NULL: the client's is sent as is */
	size_t body_len;
	/* An upload spooled to a file: what is sent instead of BODY (the form's
	 * head from memory with `model` rewritten, the rest from the file). */
	struct upstream_body *src;
	bool usage_injected; /* stream_options.include_usage added (inject_usage) */
};

/* What a 2xx answer of an op may be: a JSON object (anything else is the
 * attempt's failure, SPEC 4), bytes of any type (audio/speech: relayed as
 * they come), or text whose JSON form must be an object (transcriptions and
 * translations answer json, text, srt, verbose_json or vtt). */
enum proxy_answer_kind {
	PROXY_ANSWER_JSON,
	PROXY_ANSWER_BYTES,
	PROXY_ANSWER_TEXT,
};

/* A multipart/form-data body (the upload ops): where its `model` field's
 * value is, and where a field inserted first goes. */
struct proxy_form {
	const char *content_type; /* the client's, with its boundary */
	char boundary[71];
	bool has_model;
	size_t model_at, model_len; /* the value's bytes in the body */
	size_t first;               /* the first delimiter's offset */
};

/* What the client's request named. */
struct proxy_request_target {
	const char *model;       /* the group name the client asked for (ops with a model) */
	bool named_by_path;      /* MODEL came from the Azure-SDK path, not the body */
	const char *response_id; /* the ops by id: the response (response_id_valid) */
	const char *query;       /* passed on as the upstream URL's query, or NULL */
	/* llmgate.stream_usage: inject, for a chat stream: ask for its usage
	 * (stream_options.include_usage) when the client did not. Without ROOT
	 * it is inserted into RAW (the client's bytes), which must then hold no
	 * "stream_options" (else parse ROOT: proxy_request_inject_needs_tree) */
	bool inject_usage;
	/* the upload ops: the client's body and its form */
	const struct proxy_form *form;
	const char *raw;
	size_t raw_len;
	int raw_fd; /* >= 0: RAW_LEN bytes in this file instead of RAW (a spooled upload) */
};

/*
 * Fills R for DEP and OP. ROOT is the client's body parsed (left unchanged);
 * when nothing needs a rewrite R->body stays NULL and the client's bytes go
 * upstream as received. DEFAULTS (a JSON object or NULL) are the
 * deployment's request defaults (never added to the Responses API's
 * bodies). Returns 0 or a negative errno; free R with proxy_request_clear()
 * either way.
 */
int proxy_request_build(struct proxy_request *r, const struct deployment *dep, enum proxy_op op,
                        const struct proxy_request_target *target, json_t *root,
                        const json_t *defaults);

/* Whether proxy_request_build() for DEP needs ROOT (the parsed body): a
 * rewritten model or request defaults. Without, ROOT may be NULL. */
bool proxy_request_needs_tree(const struct deployment *dep, enum proxy_op op, const char *model,
                              bool named_by_path, const json_t *defaults);

/* Whether inject_usage for the client's body RAW needs the parsed tree:
 * the body names stream_options somewhere (its own options are merged). */
static inline bool proxy_request_inject_needs_tree(const char *raw, size_t len)
{
	return memmem(raw, len, "\"stream_options\"", 16) != NULL;
}
/* What a 2xx answer of OP may be. */
enum proxy_answer_kind proxy_request_answer(enum proxy_op op);
/* OP's upstream path under the API root ("audio/speech"; by id: "responses/"). */
const char *proxy_request_path(enum proxy_op op);
/* The attempt's W3C trace headers (proxy_trace.h), replacing any of the
 * same names (an extra_headers entry): R has room for both. TRACESTATE may
 * be NULL. The strings are borrowed until R is sent. */
void proxy_request_trace_headers(struct proxy_request *r, const char *traceparent,
                                 const char *tracestate);

/* The upstream method of OP: "POST", "GET" or "DELETE" (a literal). */
const char *proxy_request_method(enum proxy_op op);

/* Frees what R holds and wipes the auth header's copy of the key. */
void proxy_request_clear(struct proxy_request *r);
