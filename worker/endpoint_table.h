/*
 * endpoint_table: every client route a worker answers, in one table: method,
 * path (exact, or a pattern), how the target is chosen, what the body must
 * be and which size limit applies. endpoints.c dispatches from it, the HTTP
 * server asks it for a request's body limit when the head arrives
 * (endpoint_table_body_limit), and test_endpoint_table checks README's
 * client API table and llmgated(8) against it.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"

struct config;

/* How the target of a route is chosen. */
enum endpoint_kind {
	ENDPOINT_LIVENESS,
	ENDPOINT_READINESS,
	ENDPOINT_MODELS,
	ENDPOINT_PROXY,        /* the body's model names the group (JSON or form) */
	ENDPOINT_BY_ID,        /* a stored response by its id (pattern) */
	ENDPOINT_AZURE,        /* /openai/deployments/{group}/{op}: the path's group (pattern) */
	ENDPOINT_UNSERVED,     /* answered 501 (prefix) */
	ENDPOINT_PASS_THROUGH, /* a configured target, relayed byte for byte (prefix):
	                        * served by worker/passthrough*.c, wired at the merge
	                        * of issue 22's pass-through part; until then such a
	                        * row has no target and the route answers 404 */
};

/* What the request body must be. */
enum endpoint_body {
	ENDPOINT_BODY_NONE,
	ENDPOINT_BODY_JSON,      /* a JSON object */
	ENDPOINT_BODY_FORM,      /* multipart/form-data (an upload) */
	ENDPOINT_BODY_BY_METHOD, /* by id: POST .../cancel takes none either */
	ENDPOINT_BODY_ANY,       /* pass-through: bytes */
};

/* Which size limit the body has. */
enum endpoint_limit {
	ENDPOINT_LIMIT_REQUEST, /* general_settings.max_request_size_mb */
	ENDPOINT_LIMIT_UPLOAD,  /* llmgate.max_upload_size_mb */
};

struct endpoint {
	const char *method; /* "GET", "POST"; "" for a pattern whose methods vary */
	const char *path;   /* exact; a pattern as documented ("/v1/responses/{id}") */
	size_t path_len;
	enum endpoint_kind kind;
	enum proxy_op op; /* ENDPOINT_PROXY */
	enum endpoint_body body;
	enum endpoint_limit limit;
	bool api; /* also under /openai/v1 (Azure v1 base URLs) */
};

/* The table, and its number of rows. */
const struct endpoint *endpoint_table(size_t *ret_n);

/* The row of an exact PATH (LEN bytes), or NULL. UNDER_PREFIX: the path came
 * after /openai/v1, where only the API rows live. */
const struct endpoint *endpoint_table_find(const char *path, size_t len, bool under_prefix);

/* The first row of KIND (the pattern rows: ENDPOINT_BY_ID, ENDPOINT_AZURE). */
const struct endpoint *endpoint_table_kind(enum endpoint_kind kind);

/* The row of a prefix route (unserved, pass-through) PATH falls under, or
 * NULL. */
const struct endpoint *endpoint_table_prefix(const char *path, size_t len);

/* The API path PATH (*LEN bytes) names under Azure's base URLs: what
 * follows /openai/v1, and the Azure SDK's forms that name no deployment
 * (/openai/responses..., and /openai/images/edits, where the openai SDK's
 * AzureOpenAI sends image edits); *LEN is updated and *RET_UNDER set then.
 * Else PATH itself. */
const char *endpoint_table_api_path(const char *path, size_t *len, bool *ret_under);

/* The body limit of a request for PATH (LEN bytes, the path as sent, with
 * /openai/v1 or the Azure-SDK form) under CONFIG. */
size_t endpoint_table_body_limit(const struct config *config, const char *path, size_t len);
/* Whether the body of a request for PATH is spooled to a file as it is read
 * (http_server_options.body_spool): the uploads (ENDPOINT_BODY_FORM). */
bool endpoint_table_body_spool(const char *path, size_t len);
