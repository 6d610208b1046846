/*
 * api_paths: llmgate's own client paths, as far as code outside the worker
 * must know them (the config loader keeps pass-through endpoints off them):
 * the bases an API path is served under, the files-API operations relayed to
 * llmgate.files_deployment, and the prefixes of llmgate's own routes. One
 * source: worker/endpoint_table.c (the route table) makes its files rows
 * from API_FILES_OPS, common/config_passthrough.c reads all three, and
 * test_endpoint_table checks that every other row of the table lies under
 * API_OWN_ROUTES and that each of those covers a row.
 */
#pragma once

/* clang-format off */

/* The bases an API path is served under, longest first (the first one a
 * path starts with decides): Azure's v1 base URL, Azure's other forms,
 * OpenAI's /v1, and none (LiteLLM takes the bare paths too). */
#define API_BASES {"/openai/v1/", "/openai/", "/v1/", "/"}

/* The files-API operations, the first segment after a base, relayed as they
 * are to llmgate.files_deployment: X(NAME, UPLOAD), UPLOAD when the body is
 * an upload (llmgate.max_upload_size_mb, else max_request_size_mb). */
#define API_FILES_OPS(X) \
	X("files", true) \
	X("batches", false) \
	X("fine_tuning", false) \
	X("vector_stores", false) \
	X("uploads", true)

/* The prefixes of llmgate's own routes (every row of the route table but
 * the files ones, with and without /v1, and Azure's /openai): a pass-through
 * endpoint may take none of them, nor a path under one. */
#define API_OWN_ROUTES { \
	"/health", \
	"/v1/models", "/models", \
	"/v1/chat", "/chat", \
	"/v1/completions", "/completions", \
	"/v1/embeddings", "/embeddings", \
	"/v1/responses", "/responses", \
	"/v1/conversations", "/conversations", \
	"/v1/images", "/images", \
	"/v1/audio", "/audio", \
	"/v1/moderations", "/moderations", \
	"/openai", \
}

/* clang-format on */
