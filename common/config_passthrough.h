/*
 * config_passthrough: the pass-through settings of the config, as the loader
 * reads them (config.c calls in after llmgate: is read):
 *
 *   - LiteLLM's general_settings.pass_through_endpoints: a list of
 *     {path, target, headers, forward_headers, auth, include_subpath,
 *     merge_query_params, id, cost_per_request, guardrails}; a request under
 *     `path` goes to `target` (see worker/passthrough.c for the wire rules).
 *     merge_query_params is read as a boolean and needs nothing more: the
 *     target's query and the client's are always both sent;
 *   - llmgate.files_deployment: the one deployment (a model_info.id, or a
 *     model_name with a single deployment) that serves /v1/files,
 *     /v1/batches, /v1/fine_tuning, /v1/vector_stores and /v1/uploads;
 *     without it, the one deployment with LiteLLM's model_info.mode: batch.
 *
 * Validation (config --check): a path starts with '/', is not one of
 * llmgate's own routes nor under them (llmgate's routes win: a warning when
 * an include_subpath prefix covers some of them), two endpoints never share a
 * path; a target is an http(s) URL without a fragment; header names and
 * values are valid and their values (os.environ/... allowed) are secrets,
 * never shown. Unknown fields are warned about and ignored.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct config;
struct config_yaml_node;
struct header_kv;

/* One entry of general_settings.pass_through_endpoints. */
struct passthrough_endpoint {
	char *path;                /* starts with '/', no trailing '/' (but "/"), no query */
	char *target;              /* an http(s) URL, no trailing '/' */
	struct header_kv *headers; /* sent upstream; values are secrets */
	size_t n_headers;
	bool forward_headers; /* the client's headers go upstream too */
	bool auth;            /* the gateway key is required */
	bool include_subpath; /* path/... goes to target/... */
};

/* How config.c lets this file read values and report problems. */
struct config_passthrough_reader {
	void *ctx;
	/* The scalar NODE's text with references resolved (PATH labels
	 * messages; SECRET: never quoted). 0: *RET set (owned); 1: null; -1:
	 * bad, reported. */
	int (*text)(void *ctx, const struct config_yaml_node *node, const char *path, bool secret,
	            char **ret);
	/* The same for a YAML boolean. */
	int (*boolean)(void *ctx, const struct config_yaml_node *node, const char *path, bool *ret);
	void (*report)(void *ctx, bool error, const struct config_yaml_node *node, const char *fmt,
	               ...) __attribute__((format(printf, 4, 5)));
	void (*oom)(void *ctx);
};

/* Reads LIST (general_settings.pass_through_endpoints, may be NULL) into
 * CONFIG->passthrough. */
void config_passthrough_load(struct config *config, const struct config_yaml_node *list,
                             const struct config_passthrough_reader *rd);

/* Resolves NAME (llmgate.files_deployment, written at NODE) into
 * CONFIG->files_deployment. */
void config_passthrough_files(struct config *config, const char *name,
                              const struct config_yaml_node *node,
                              const struct config_passthrough_reader *rd);

/* Without llmgate.files_deployment: LiteLLM's spelling, the one served
 * deployment with model_info.mode batch (its managed batches' marker),
 * becomes CONFIG->files_deployment; several are a warning (llmgate cannot
 * spread one resource's ids over several: name one). */
void config_passthrough_batch_mode(struct config *config,
                                   const struct config_passthrough_reader *rd);

void config_passthrough_free(struct config *config);

/* Whether PATH (LEN bytes) is one of the files-API paths the default
 * pass-through serves (with /v1, without, or under /openai/v1 or /openai);
 * *RET_OP points at its part after the prefix ("files/...", "batches"...). */
bool config_passthrough_files_path(const char *path, size_t len, const char **ret_op);

/* The prefix of llmgate's own routes (api_paths.h) PATH (LEN bytes) is or
 * lies under, or NULL: no pass-through endpoint may take it. */
const char *config_passthrough_own_route(const char *path, size_t len);
