/*
 * passthrough_call: one relayed request, shared by passthrough.c (which
 * request goes where, with which headers) and passthrough_relay.c (the
 * transfer, the answer as it comes, backpressure, accounting).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client_limits.h"
#include "http_server.h"

#include "provider_request.h"
#include "request_id.h"
#include "upstream.h"

struct config;
struct event;
struct http_exchange;
struct request_stats;

#define PT_MAX_HEADERS    128 /* request headers sent upstream */
#define PT_MAX_RESP_HEADS 64  /* response headers passed back */

struct passthrough {
	const struct config *config;
	struct upstream *up;
	struct request_stats *stats;
};

struct pt_call {
	struct passthrough *pt;
	struct http_exchange *ex;    /* NULL once over */
	struct upstream_transfer *t; /* NULL once done */
	struct event *timer;         /* head wait, then idle between chunks */
	long timeout_ms;
	long deployment; /* the files deployment, or -1 */
	long status;
	char content_type[128];
	char *resp_names[PT_MAX_RESP_HEADS], *resp_values[PT_MAX_RESP_HEADS];
	size_t n_resp;
	bool started; /* the client's response has begun */
	bool paused;
	size_t bytes_in, bytes_out;
	int64_t received_us, upstream_start_us, ttfb_us;
	char id[REQUEST_ID_MAX + 1];
	char peer[64];
	char method[8];
	char path[128];
	size_t path_len;
	/* the upstream request: url and headers (values point into req or the
	 * config, or into auth) */
	char url[4096];
	struct upstream_header headers[PT_MAX_HEADERS];
	size_t n_headers;
	char auth[PROVIDER_REQUEST_AUTH_MAX];
	/* the client key's id (a key of llmgate.keys_file, on a route that
	 * checks the gateway key) and what its limits hold until the answer */
	const char *key_id;
	struct client_limit_hold hold;
};

struct http_request;
struct passthrough_endpoint;

/* passthrough_request.c: the entry of CONFIG's pass_through_endpoints that
 * serves REQ's path (the longest path that is the request's or, with
 * include_subpath, a prefix of it at a '/'), or NULL. */
const struct passthrough_endpoint *pt_request_find(const struct config *config,
                                                   const struct http_request *req);
/* The URL and headers of REQ to the files deployment (OP: the path from
 * "files", "batches"... on; ENTRA_TOKEN: the deployment's token, or NULL),
 * or to entry E. 0, or -1 when they do not fit the call. */
int pt_request_files(struct pt_call *call, const struct http_request *req, const char *op,
                     const char *entra_token);
int pt_request_endpoint(struct pt_call *call, const struct http_request *req,
                        const struct passthrough_endpoint *e);

/* passthrough_relay.c: starts CALL's transfer of BODY (the exchange's,
 * valid while it is) and takes over the exchange; on failure to start,
 * answers 502. Ends with the call freed. */
/* REQ's body goes along: from memory, or from the file the server spooled
 * it to (http_request.body_in_file), read as the upstream takes it. */
void pt_relay_start(struct pt_call *call, const char *method, const struct http_request *req);
