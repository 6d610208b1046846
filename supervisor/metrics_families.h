/*
 * metrics_families: every metric family of /metrics, defined once. The table
 * drives the HELP and TYPE lines and the sample names metrics_render()
 * writes, and a unit test checks it against llmgated(8)'s METRICS section
 * (every family documented there, with these labels; nothing else).
 *
 * X(id, name, type, labels, help): TYPE is the Prometheus type, LABELS the
 * label names as the man page lists them ("" for none; histograms get "le"
 * besides). Rows are in the order of the output.
 */
#pragma once

#define METRICS_FAMILIES(X)                                                                        \
	X(BUILD_INFO, llmgate_build_info, gauge, "version",                                        \
	  "Version of the running llmgated (always 1).")                                           \
	X(START_TIME, llmgate_start_time_seconds, gauge, "",                                       \
	  "Unix time the daemon started, in seconds.")                                             \
	X(GENERATION, llmgate_generation, gauge, "",                                               \
	  "The serving worker generation (grows with every successful reload).")                   \
	X(WORKERS, llmgate_workers, gauge, "state", "Worker processes by state.")                  \
	X(WORKER_RESTARTS, llmgate_worker_restarts_total, counter, "",                             \
	  "Workers respawned after they died unexpectedly.")                                       \
	X(REQUESTS, llmgate_requests_total, counter, "model, deployment, route, status_class",     \
	  "Client requests answered, by the model named, the deployment and route that "           \
	  "answered, and status class.")                                                           \
	X(HTTP_REJECTED, llmgate_http_rejected_total, counter, "status, reason",                   \
	  "Requests the HTTP layer answered itself before any route ran (malformed, too "          \
	  "large, too slow, unsupported), by status and reason; not in "                           \
	  "llmgate_requests_total.")                                                               \
	X(REQUEST_DURATION, llmgate_request_duration_seconds, histogram, "model",                  \
	  "Time from the complete client request to the response handed to the "                   \
	  "connection (streams: to their end).")                                                   \
	X(UPSTREAM_TTFB, llmgate_upstream_ttfb_seconds, histogram, "model",                        \
	  "Time from the start of the answering upstream attempt to its response head.")           \
	X(OVERHEAD, llmgate_overhead_seconds, histogram, "model",                                  \
	  "The gateway's own time per request: total minus the time spent with upstreams.")        \
	X(DEPLOYMENT_ATTEMPTS, llmgate_deployment_attempts_total, counter,                         \
	  "deployment, group, outcome", "Upstream attempts by deployment and outcome.")            \
	X(DEPLOYMENT_FAILURES, llmgate_deployment_failures_total, counter,                         \
	  "deployment, group, class", "Failed upstream attempts by deployment and failure class.") \
	X(FALLBACK_MODE, llmgate_fallback_mode, gauge, "group, mode",                              \
	  "Global fallback mode of each primary group: 1 for the current mode.")                   \
	X(FALLBACK_TRANSITIONS, llmgate_fallback_transitions_total, counter, "group",              \
	  "Transitions of the global fallback mode of each primary group.")                        \
	X(TOKENS, llmgate_tokens_total, counter, "model, deployment, route, type",                 \
	  "Tokens the answers reported, by the model named, the deployment and route that "        \
	  "answered, and type (prompt, completion, cached_prompt, reasoning).")                    \
	X(COST, llmgate_cost_total, counter, "model, deployment",                                  \
	  "Cost of the answers at the deployment's configured prices (LiteLLM's "                  \
	  "input_cost_per_token...); no built-in prices: a deployment without any has no sample.") \
	X(USAGE_UNKNOWN, llmgate_usage_unknown_total, counter, "model, deployment, route",         \
	  "Answers that reported no usage (a chat stream without include_usage, a stream cut "     \
	  "before its usage): counted, never estimated.")                                          \
	X(LITELLM_INPUT, litellm_input_tokens_metric_total, counter,                               \
	  "requested_model, model, model_id",                                                      \
	  "LiteLLM's name for the prompt tokens (model: litellm_params.model, model_id: the "      \
	  "deployment).")                                                                          \
	X(LITELLM_OUTPUT, litellm_output_tokens_metric_total, counter,                             \
	  "requested_model, model, model_id", "LiteLLM's name for the completion tokens.")         \
	X(LITELLM_TOTAL, litellm_total_tokens_metric_total, counter,                               \
	  "requested_model, model, model_id", "LiteLLM's name for prompt plus completion tokens.") \
	X(LITELLM_SPEND, litellm_spend_metric_total, counter, "model, model_id",                   \
	  "LiteLLM's name for the cost; no sample without configured prices.")                     \
	X(ACCESS_LOG_DROPPED, llmgate_access_log_dropped_total, counter, "",                       \
	  "Access log lines lost (log unwritable or its buffer full).")                            \
	X(AFFINITY_ENTRIES, llmgate_response_affinity_entries, gauge, "",                          \
	  "Response ids the shared affinity table holds.")                                         \
	X(AFFINITY_CAPACITY, llmgate_response_affinity_capacity, gauge, "",                        \
	  "Response ids the affinity table can hold (0: off).")                                    \
	X(AFFINITY_LOOKUPS, llmgate_response_affinity_lookups_total, counter, "result",            \
	  "Lookups of a response id in the affinity table, by result (hit, miss).")                \
	X(AFFINITY_LEARNED, llmgate_response_affinity_learned_total, counter, "",                  \
	  "Response ids recorded in the affinity table.")                                          \
	X(AFFINITY_EVICTIONS, llmgate_response_affinity_evictions_total, counter, "",              \
	  "Response ids dropped from the full affinity table, oldest first.")                      \
	X(ENTRA_TOKEN_FETCHES, llmgate_entra_token_fetches_total, counter, "deployment, source",   \
	  "Entra ID tokens fetched for the credential of a keyless Azure deployment.")             \
	X(ENTRA_TOKEN_FAILURES, llmgate_entra_token_fetch_failures_total, counter,                 \
	  "deployment, source", "Failed Entra ID token fetches for that credential.")              \
	X(ENTRA_TOKEN_EXPIRY, llmgate_entra_token_expiry_seconds, gauge, "deployment, source",     \
	  "Seconds until the deployment's current Entra ID token expires (0: no valid token).")    \
	X(OTEL_SPANS_EXPORTED, llmgate_otel_spans_exported_total, counter, "",                     \
	  "OpenTelemetry spans the collector accepted.")                                           \
	X(OTEL_SPANS_DROPPED, llmgate_otel_spans_dropped_total, counter, "",                       \
	  "OpenTelemetry spans lost: the export queue full, an export failed, or a worker exited " \
	  "with spans queued.")                                                                    \
	X(KEY_REQUESTS, llmgate_client_key_requests_total, counter, "key, alias",                  \
	  "Requests a client key's limits admitted (llmgate.keys_file), by key id and alias.")     \
	X(KEY_REFUSED, llmgate_client_key_refused_total, counter, "key, alias, limit",             \
	  "Requests of a client key refused by a limit: budget, parallel, rpm or tpm.")            \
	X(KEY_TOKENS, llmgate_client_key_tokens_total, counter, "key, alias, type",                \
	  "Tokens of a client key's answers by type: prompt and completion as they report them, "  \
	  "estimated (reserved at admission) for an answer that reported none.")                   \
	X(KEY_COST, llmgate_client_key_cost_total, counter, "key, alias",                          \
	  "Cost of a client key's answers at the deployments' prices, in the cost unit of the "    \
	  "prices, every budget period (since the key's counters were made).")                     \
	X(KEY_IN_FLIGHT, llmgate_client_key_in_flight, gauge, "key, alias",                        \
	  "Requests of a client key in flight, all workers.")                                      \
	X(KEY_SPEND, llmgate_client_key_spend, gauge, "key, alias",                                \
	  "A client key's spend in its current budget period, in the cost unit of the prices.")

enum metric_family {
#define METRIC_ENUM(id, name, type, labels, help) METRIC_##id,
	METRICS_FAMILIES(METRIC_ENUM)
#undef METRIC_ENUM
	        METRIC__COUNT,
};

struct metric_family_info {
	const char *name;
	const char *type;   /* gauge, counter or histogram */
	const char *labels; /* "a, b" as llmgated(8) lists them; "" for none */
	const char *help;
};

extern const struct metric_family_info metric_families[METRIC__COUNT];
