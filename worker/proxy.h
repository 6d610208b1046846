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

enum proxy_op {
	PROXY_OP_CHAT,
	PROXY_OP_COMPLETIONS,
	PROXY_OP_EMBEDDINGS,
	PROXY_OP__COUNT,
};

struct proxy;

struct fallback_state;

/* FS: the worker's fallback mode and outcome counters (fallback_state.h). */
struct proxy *proxy_new(const struct config *config, struct upstream *up,
                        struct fallback_state *fs);
struct request_stats;
/* Counts and logs every request in STATS (request_stats.h) from now on. */
void proxy_set_request_stats(struct proxy *proxy, struct request_stats *stats);

/* Call after every exchange has ended (http_server_free() aborts them). */
void proxy_free(struct proxy *proxy);

/* Takes over EX and answers it, now or when the upstream has. The client is
 * already authorized. MODEL, when not NULL, names the model group instead of
 * the body's "model" (the Azure-SDK ingress). REQUEST_ID is for the logs. */
void proxy_handle(struct proxy *proxy, struct http_exchange *ex, const struct http_request *req,
                  enum proxy_op op, const char *model, const char *request_id);
