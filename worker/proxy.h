/*
 * proxy: forwards a client's completion request to the deployments of the
 * model group it names and relays the answer (SPEC 4-7). Owns request
 * validation (JSON, model), the attempts of one request (deployment choice,
 * retries, per-request fallbacks, the global fallback mode's routing, probes),
 * their timeouts and the request's deadline, the outcome of every attempt
 * (fallback_state), the mapping of upstream failures to client-facing statuses,
 * and the streaming relay (SSE bytes passed through as they arrive, with
 * backpressure both ways). Helpers: proxy_plan (which deployment next, and
 * when) and proxy_request (what goes upstream).
 */
#pragma once

struct config;
struct http_exchange;
struct http_request;
struct upstream;

#include <stdbool.h>
#include <stdint.h>

struct client_key;

enum proxy_op {
	PROXY_OP_CHAT,
	PROXY_OP_COMPLETIONS,
	PROXY_OP_EMBEDDINGS,
	/* the media and moderation ops (issue 22), routed by model: */
	PROXY_OP_IMAGES_GENERATIONS,     /* POST images/generations (JSON) */
	PROXY_OP_AUDIO_SPEECH,           /* POST audio/speech (JSON; answers audio bytes) */
	PROXY_OP_MODERATIONS,            /* POST moderations (JSON; model optional) */
	PROXY_OP_AUDIO_TRANSCRIPTIONS,   /* POST audio/transcriptions (multipart) */
	PROXY_OP_AUDIO_TRANSLATIONS,     /* POST audio/translations (multipart) */
	PROXY_OP_IMAGES_EDITS,           /* POST images/edits (multipart) */
	PROXY_OP_RESPONSES,              /* POST responses: create, routed by model */
	PROXY_OP_RESPONSES_INPUT_TOKENS, /* POST responses/input_tokens, routed by model */
	/* the Responses API's operations on one stored response, by its id: */
	PROXY_OP_RESPONSE_GET,         /* GET responses/{id} */
	PROXY_OP_RESPONSE_DELETE,      /* DELETE responses/{id} */
	PROXY_OP_RESPONSE_CANCEL,      /* POST responses/{id}/cancel */
	PROXY_OP_RESPONSE_INPUT_ITEMS, /* GET responses/{id}/input_items */
	PROXY_OP__COUNT,
};

/* Whether OP names a stored response by its id (and no model). */
static inline bool proxy_op_by_id(enum proxy_op op)
{
	return op >= PROXY_OP_RESPONSE_GET && op < PROXY_OP__COUNT;
}

/* Whether OP belongs to the Responses API (its streams, its errors). */
static inline bool proxy_op_responses(enum proxy_op op)
{
	return op >= PROXY_OP_RESPONSES && op < PROXY_OP__COUNT;
}

/* Whether OP's body is multipart/form-data (an upload), not JSON. */
static inline bool proxy_op_multipart(enum proxy_op op)
{
	return op >= PROXY_OP_AUDIO_TRANSCRIPTIONS && op <= PROXY_OP_IMAGES_EDITS;
}

struct proxy;

struct fallback_state;

/* FS: the worker's fallback mode and outcome counters (fallback_state.h). */
struct proxy *proxy_new(const struct config *config, struct upstream *up,
                        struct fallback_state *fs);
struct request_stats;
struct proxy_tracer;
/* Counts and logs every request in STATS (request_stats.h) from now on. */
/* Traces the proxy's requests with TRACER (proxy_trace.h; NULL: off). */
void proxy_set_tracer(struct proxy *proxy, struct proxy_tracer *tracer);
void proxy_set_request_stats(struct proxy *proxy, struct request_stats *stats);

/* Call after every exchange has ended (http_server_free() aborts them). */
void proxy_free(struct proxy *proxy);

/* What the client's request names besides its body. */
struct proxy_target {
	enum proxy_op op;
	const char *model;            /* the model group instead of the body's "model"
	                               * (the Azure-SDK ingress), or NULL */
	const char *response_id;      /* by-id ops: the stored response, a valid id */
	const struct client_key *key; /* the client's key (client_keys.h); NULL: admin or open */
	int64_t received_us;          /* monotonic: when the endpoints took the request;
	                               * 0: unknown, taken when the proxy admits it */
};

/* Takes over EX and answers it, now or when the upstream has. The client is
 * already authorized. REQUEST_ID is for the logs. */
void proxy_handle(struct proxy *proxy, struct http_exchange *ex, const struct http_request *req,
                  const struct proxy_target *target, const char *request_id);
