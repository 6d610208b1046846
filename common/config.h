/*
 * config: the LiteLLM proxy config format plus llmgate's own `llmgate:`
 * section, loaded into plain data. Loading never logs: every problem becomes a
 * located diagnostic (see diag.h). Secrets (api keys, tokens, master key) are
 * resolved into memory here and must only ever be shown through secret_mask().
 *
 * The loaded struct is immutable after config_load() returns; the supervisor
 * keeps one per generation and workers (forked) read it directly.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config_otel.h"
#include "diag.h"
#include "entra.h"
#include "config_tls.h"
#include "providers.h"
#include "usage_cost.h"

enum fallback_setting {
	FALLBACK_SETTING_AUTO,
	FALLBACK_SETTING_ON,
	FALLBACK_SETTING_OFF,
	FALLBACK_SETTING__COUNT,
};

const char *fallback_setting_name(enum fallback_setting setting);

struct header_kv {
	char *name;
	char *value;
};

/* One entry of model_list: one upstream endpoint ("deployment"). */
struct deployment {
	char *id;         /* model_info.id, or a stable generated "<model_name>#<n>" */
	char *model_name; /* the group it belongs to */
	char *model;      /* litellm_params.model as written, e.g. "azure/gpt-4o" */
	enum provider provider;
	/* the `model` sent upstream, the model's provider prefix stripped;
	 * azure: the deployment in the URL
	 * (deployment_id wins over the name after "azure/", as in LiteLLM). */
	char *upstream_model;
	/* Normalized: scheme://host[:port][/path], no trailing slash, no
	 * "/openai/deployments/..." or "/chat/completions" tail.
	 * Without api_base: the provider's default (providers.h). */
	char *api_base;
	char *api_version;    /* azure, azure_ai: normalized (no "api-version="); else NULL */
	char *api_key;        /* resolved secret, or NULL */
	char *azure_ad_token; /* resolved secret, or NULL */
	/* azure with an Entra ID credential (config_entra.h): its index into
	 * config.credentials, whose token the requests carry */
	bool entra;
	size_t credential;
	char *organization; /* or NULL */
	struct header_kv *extra_headers;
	size_t n_extra_headers;
	long timeout_ms;        /* whole non-streamed request; 0 = use config default */
	long stream_timeout_ms; /* time to first byte of a stream; 0 = use default */
	int max_retries;        /* -1 = unset */
	long rpm, tpm;          /* 0 = unset */
	uint32_t ceiling_slot;  /* its rpm/tpm counters (client_limits.h), set by the supervisor */
	long order;             /* litellm_params.order, lower first; 0 = unset (last) */
	int drop_params;        /* -1 = unset, else 0/1 */
	/* additional_drop_params (or drop_params as a list): request body keys
	 * removed before a request goes upstream; never "model" or "stream" */
	char **drop_keys;
	size_t n_drop_keys;
	/* Other litellm_params keys (temperature, max_tokens...) as compact JSON
	 * object text, applied as request defaults; NULL when none. */
	char *request_defaults_json;
	char *mode; /* model_info.mode ("chat", "completion", "embedding"...), or NULL */
	struct usage_price price; /* litellm_params' (each wins) or model_info's */
	/* NULL when llmgate serves this deployment; else why not ("bedrock/:
	 * needs ..."): it is kept for `deployments` and left out of its group. */
	char *not_served;
	char *file; /* where the entry was written, for messages */
	int line, col;
};

/* LiteLLM's fallbacks for one kind of upstream error, taken before the
 * first byte reaches the client. */
enum error_fallback {
	ERROR_FALLBACK_CONTEXT_WINDOW, /* context_window_fallbacks: context_length_exceeded */
	ERROR_FALLBACK_CONTENT_POLICY, /* content_policy_fallbacks: Azure's content_filter */
	ERROR_FALLBACK__COUNT,
};

/* A model_name with its deployments and its fallback chain. */
struct group {
	char *name;
	size_t *deployments; /* indexes into config.deployments, in file order; served only */
	size_t n_deployments;
	size_t n_written; /* entries of this model_name, served or not */
	/* n_deployments == 0: the not_served of its first deployment (why its
	 * requests get 501 provider_not_supported); else NULL */
	const char *not_served;
	char **fallbacks; /* group names, in order, all known groups */
	size_t n_fallbacks;
	/* context_window_fallbacks, content_policy_fallbacks: group names */
	char **error_fallbacks[ERROR_FALLBACK__COUNT];
	size_t n_error_fallbacks[ERROR_FALLBACK__COUNT];
};

/* router_settings.model_group_alias: requests for NAME go to a group. */
struct group_alias {
	char *name;
	size_t group; /* index into config.groups */
	bool hidden;  /* {model: ..., hidden: true}: left out of /v1/models */
};

/* llmgate.fallback. Every setting's default is in config_keys.h. */
struct fallback_policy {
	enum fallback_setting mode;
	long window_ms;
	long min_requests;
	double failure_ratio;
	long consecutive_failures;
	long cooldown_ms;
	long probe_interval_ms;
	long recover_successes;
	long report_interval_ms; /* > 0 */
};

/* The loaded config. Defaults are those of the key table (config_keys.h),
 * applied by the loader; the comments below say what a value means. */
struct config {
	char *path;

	struct deployment *deployments;
	size_t n_deployments;
	struct group *groups;
	size_t n_groups;
	struct group_alias *aliases;
	size_t n_aliases;

	/* litellm_settings and router_settings merged (router_settings wins). */
	long num_retries;
	long router_timeout_ms;  /* deadline per client request */
	long request_timeout_ms; /* per-attempt timeout of deployments without one */
	bool drop_params;
	bool verbose;                /* litellm_settings.set_verbose */
	bool azure_ad_token_refresh; /* litellm_settings.enable_azure_ad_token_refresh */
	bool deployment_ceilings;    /* router_settings.enable_pre_call_checks */

	/* The distinct Entra ID credentials of the azure deployments: one token
	 * each for the whole instance (entra/, supervisor/tokens.c). */
	struct entra_credential *credentials;
	size_t n_credentials;

	/* general_settings */
	char *master_key;        /* resolved secret, or NULL (no client auth) */
	size_t max_request_size; /* bytes */
	/* pass_through_endpoints (config_passthrough.h) */
	struct passthrough_endpoint *passthrough;
	size_t n_passthrough;
	size_t max_upload_size; /* bytes: the upload endpoints' bodies (issue 22) */
	char *moderation_model; /* the group of a /v1/moderations without model, or NULL */

	/* llmgate: */
	char *listen; /* "HOST:PORT" */
	long workers; /* 0 = number of CPUs */
	char *control_socket;
	char *admin_listen; /* NULL = off */
	char *user;
	long drain_timeout_ms;
	char *access_log; /* NULL = off, "stderr" or a path */
	bool core_dumps;  /* false: PR_SET_DUMPABLE 0 */
	bool sched_batch; /* cpu_scheduling_policy: batch (SCHED_OTHER workers -> SCHED_BATCH) */

	long header_timeout_ms; /* a client's request head */
	long body_timeout_ms;   /* a client's request body */
	long idle_timeout_ms;   /* a keep-alive connection between requests */
	char *ca_file;          /* upstream TLS trust (CURLOPT_CAINFO); NULL = libcurl's default */
	bool upstream_http2;    /* offer HTTP/2 to TLS upstreams */
	long response_affinity_entries; /* shared response-id table size; 0 = off */
	struct fallback_policy fallback;
	struct config_tls tls; /* TLS for clients (config_tls.h); tls.on false: plain HTTP */
	bool strict; /* entries and fallbacks llmgate cannot serve are errors, not warnings */
	/* llmgate.files_deployment: the deployment of the files-API pass-through */
	bool has_files_deployment;
	size_t files_deployment;             /* index into deployments */
	size_t passthrough_max_request_size; /* bytes: the body limit of pass-through paths */
	bool usage;                          /* count answers' token usage (llmgate.usage) */
	bool stream_usage_inject;            /* llmgate.stream_usage: inject */
	struct otel_config otel;             /* llmgate.otel, the otel callback (config_otel.h) */
	char *keys_file;                     /* llmgate.keys_file, as resolved; NULL = off */
	char *state_dir;                     /* llmgate.state_dir */
	struct client_keys *client_keys;     /* client_keys.h; NULL = no keys file */
};

/*
 * Loads and validates PATH (following `include`). Every problem is appended to
 * DIAGS with its location. Returns 0 and sets *ret_config when there is no
 * error (warnings allowed); otherwise returns a negative errno (-EINVAL for
 * config errors, the open/read errno for I/O problems, also described in
 * DIAGS) and sets *ret_config to NULL.
 * `environment_variables` are exported with setenv() before references are
 * resolved, as LiteLLM does.
 */
int config_load(const char *path, struct config **ret_config, struct diag_list *diags);

void config_free(struct config *config);

/* The group named NAME, or the one NAME is an alias of
 * (router_settings.model_group_alias), or NULL. */
const struct group *config_find_group(const struct config *config, const char *name);

/*
 * Every key the loader knows, from the one table in config_keys.h (used for
 * validation and did-you-mean, and by the man page check).
 */
struct config_key_doc {
	/* "" (top level), "model_list[]", "litellm_params", "model_info",
	 * "litellm_settings", "router_settings", "general_settings", "llmgate",
	 * "llmgate.fallback", "llmgate.otel" */
	const char *section;
	const char *key;
	/* "string", "secret", "url", "address", "boolean", "integer", "number",
	 * "duration", "list", "mapping", "fallbacks", "headers", "request
	 * parameter", "accepted, ignored", "ignored" */
	const char *type;
	const char *default_value; /* as documented, or NULL */
	/* NULL: DEFAULT_VALUE, if any, is a fixed value the loader applies;
	 * else the code that computes the default DEFAULT_VALUE describes */
	const char *computed_by;
	const char *description;
	/* false: a LiteLLM key llmgate accepts but ignores, with a warning */
	bool implemented;
};

const struct config_key_doc *config_keys(size_t *ret_n);
