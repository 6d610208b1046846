/*
 * endpoints: the worker's request dispatch, the one handler of its HTTP server.
 * Maps method and path to the health endpoints, the model list and the
 * proxy (OpenAI paths and the Azure-SDK ingress); checks the gateway key;
 * gives every response its x-request-id.
 */
#pragma once

#include <stddef.h>

#include <stdbool.h>
#include <stdint.h>

struct config;
struct http_exchange;
struct http_request;
struct proxy;
struct fallback_state;
struct request_stats;
struct upstream;

struct endpoints_options {
	const struct config *config;
	struct proxy *proxy;
	struct fallback_state *fallback_state; /* for the mode in /health/readiness */
	uint32_t generation;
	const bool *draining;        /* the worker's drain flag: readiness answers 503 */
	struct request_stats *stats; /* counts and logs requests; may be NULL */
	struct upstream *up;         /* pass-through transfers (passthrough.h) */
};

struct endpoints;

int endpoints_new(const struct endpoints_options *opts, struct endpoints **ret);
void endpoints_free(struct endpoints *eps);

/* The http_server handler; CTX is the struct endpoints. */
void endpoints_handle(void *ctx, struct http_exchange *ex, const struct http_request *req);
/* The http_server_options body_limit callback: the body limit of the
 * route PATH names (endpoint_table.h), asked at its head. */
size_t endpoints_body_limit(void *ctx, const char *path, size_t path_len, size_t max_body);
/* The http_server_options body_spool callback: the uploads' bodies
 * (endpoint_table_body_spool) and the pass-through routes' go to a file as
 * they are read, not into memory. */
bool endpoints_body_spool(void *ctx, const char *path, size_t path_len);
