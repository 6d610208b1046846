/*
 * passthrough: requests llmgate relays as they are, without routing by
 * model (issue 22): LiteLLM's general_settings.pass_through_endpoints, and
 * the files-API paths (/v1/files, /v1/batches, /v1/fine_tuning,
 * /v1/vector_stores, /v1/uploads, also under /openai/v1 and /openai) to
 * llmgate.files_deployment. One upstream transfer per request: no retry,
 * no fallback; the body goes upstream byte for byte and the answer comes
 * back as it arrives, with backpressure. Counted and logged with route
 * "passthrough". Runs in a worker, on its event loop.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct config;
struct client_key;
struct early_answer;
struct passthrough;
struct request_stats;
struct upstream;

struct passthrough *passthrough_new(const struct config *config, struct upstream *up,
                                    struct request_stats *stats);
/* Call after every exchange has ended. */
void passthrough_free(struct passthrough *pt);

/* The http_server's body_limit (CTX: the config): the body limit of PATH
 * when a pass-through serves it (llmgate.passthrough_max_request_size_mb),
 * else 0 (the server's own). */
size_t passthrough_body_limit(void *ctx, const char *path, size_t path_len);

/*
 * Takes the request of E when a pass-through serves its path (or, for a
 * files-API path without llmgate.files_deployment, answers 404 saying how to
 * serve it) and returns true; false: not ours. AUTHORIZED: the client gave
 * the gateway key, or none is needed; KEY: the client key it gave (NULL for
 * the master key or none), held to its budget, rpm and parallel limits on a
 * route that checks the key.
 */
bool passthrough_handle(struct passthrough *pt, const struct early_answer *e, bool authorized,
                        const struct client_key *key);
