/*
 * endpoints: dispatch of a worker's client requests (see endpoints.h). Runs in a
 * worker, once per request, synchronously: health and model-list answers go
 * out at once; completions are handed to the proxy, which answers later.
 *
 * Routes: the health endpoints, the model list, the OpenAI paths (with and
 * without /v1) and the Azure-SDK ingress /openai/deployments/{name}/{op},
 * where {name} is a model_name. Every response carries x-request-id (the
 * client's when sane, else a new one); health endpoints are open, everything
 * else needs the gateway key when general_settings.master_key is set.
 */
#include "endpoints.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "api_error.h"
#include "build_config.h"
#include "config.h"
#include "http_server.h"
#include "ingress.h"
#include "proxy.h"
#include "request_id.h"
#include "fallback_state.h"
#include "secret.h"
#include "clock.h"

struct endpoints {
	struct endpoints_options opts;
	char *models_json; /* the model list never changes within a generation */
};

enum endpoint_kind {
	ENDPOINT_LIVENESS,
	ENDPOINT_READINESS,
	ENDPOINT_MODELS,
	ENDPOINT_PROXY,
};

struct endpoint {
	const char *path;
	enum endpoint_kind kind;
	const char *method;
	enum proxy_op op;
};

static const struct endpoint endpoint_table[] = {
        {"/health/liveliness", ENDPOINT_LIVENESS, "GET", 0},
        {"/health/liveness", ENDPOINT_LIVENESS, "GET", 0},
        {"/health/readiness", ENDPOINT_READINESS, "GET", 0},
        {"/v1/models", ENDPOINT_MODELS, "GET", 0},
        {"/models", ENDPOINT_MODELS, "GET", 0},
        {"/v1/chat/completions", ENDPOINT_PROXY, "POST", PROXY_OP_CHAT},
        {"/chat/completions", ENDPOINT_PROXY, "POST", PROXY_OP_CHAT},
        {"/v1/completions", ENDPOINT_PROXY, "POST", PROXY_OP_COMPLETIONS},
        {"/completions", ENDPOINT_PROXY, "POST", PROXY_OP_COMPLETIONS},
        {"/v1/embeddings", ENDPOINT_PROXY, "POST", PROXY_OP_EMBEDDINGS},
        {"/embeddings", ENDPOINT_PROXY, "POST", PROXY_OP_EMBEDDINGS},
};

static char *models_json(const struct config *config)
{
	json_t *data = json_array(), *root;
	char *text;

	for (size_t i = 0; i < config->n_groups; i++)
		json_array_append_new(data, json_pack("{s:s, s:s, s:i, s:s}", "id",
		                                      config->groups[i].name, "object", "model",
		                                      "created", 0, "owned_by", "llmgate"));
	/* model_group_alias names are models too, unless hidden (as in LiteLLM) */
	for (size_t i = 0; i < config->n_aliases; i++)
		if (!config->aliases[i].hidden)
			json_array_append_new(data,
			                      json_pack("{s:s, s:s, s:i, s:s}", "id",
			                                config->aliases[i].name, "object", "model",
			                                "created", 0, "owned_by", "llmgate"));
	root = json_pack("{s:s, s:o}", "object", "list", "data", data);
	text = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return text;
}

int endpoints_new(const struct endpoints_options *opts, struct endpoints **ret)
{
	struct endpoints *eps = calloc(1, sizeof(*eps));

	if (!eps)
		return -ENOMEM;
	eps->opts = *opts;
	eps->models_json = models_json(opts->config);
	if (!eps->models_json) {
		free(eps);
		return -ENOMEM;
	}
	*ret = eps;
	return 0;
}

void endpoints_free(struct endpoints *eps)
{
	if (!eps)
		return;
	free(eps->models_json);
	free(eps);
}

static bool client_authorized(const struct config *config, const struct http_request *req)
{
	const char *auth = http_request_header(req, "authorization");
	const char *key = NULL;

	if (!config->master_key)
		return true;
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		key = auth + 7;
	if (!key)
		key = http_request_header(req, "api-key");
	if (!key)
		key = http_request_header(req, "x-api-key");
	return key && secret_equal(key, config->master_key);
}

static void readiness(struct endpoints *eps, struct http_exchange *ex)
{
	const struct config *config = eps->opts.config;
	bool draining = eps->opts.draining && *eps->opts.draining;
	json_t *modes = json_object();
	char *text;

	/* The global mode of every primary group, as this worker applies it. */
	for (size_t i = 0; eps->opts.fallback_state && i < config->n_groups; i++)
		if (fallback_state_direct_azure(eps->opts.fallback_state, i) >= 0)
			json_object_set_new(modes, config->groups[i].name,
			                    json_string(fallback_mode_name(fallback_state_mode(
			                            eps->opts.fallback_state, i))));
	json_t *body = json_pack("{s:s, s:i, s:s, s:o}", "status", draining ? "draining" : "ready",
	                         "generation", (int)eps->opts.generation, "version",
	                         LLMGATE_VERSION, "mode", modes);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	api_json_send(ex, draining ? 503 : 200, text ? text : "{\"status\":\"error\"}");
	free(text);
	json_decref(body);
}

static const struct endpoint *find_endpoint(const struct http_request *req)
{
	for (size_t i = 0; i < sizeof(endpoint_table) / sizeof(endpoint_table[0]); i++)
		if (http_request_path_is(req, endpoint_table[i].path))
			return &endpoint_table[i];
	return NULL;
}

void endpoints_handle(void *ctx, struct http_exchange *ex, const struct http_request *req)
{
	struct endpoints *eps = ctx;
	const char *given = http_request_header(req, "x-request-id");
	const struct endpoint *route = find_endpoint(req);
	static const struct endpoint azure = {INGRESS_AZURE_PREFIX "{name}/...", ENDPOINT_PROXY,
	                                      "POST", 0};
	char id[REQUEST_ID_MAX + 1], deployment[INGRESS_MAX_DEPLOYMENT_NAME + 1];
	enum proxy_op op = PROXY_OP_CHAT;
	bool head, by_path = false;
	struct early_answer early = {
	        .stats = eps->opts.stats,
	        .ex = ex,
	        .req = req,
	        .id = id,
	        .received_us = clock_now_us(),
	};

	if (given && request_id_valid(given))
		snprintf(id, sizeof(id), "%s", given);
	else
		request_id_generate(id);
	http_exchange_add_header(ex, "x-request-id", id);

	if (!route && ingress_azure_path(req->path, req->path_len, deployment, &op)) {
		route = &azure;
		by_path = true;
	}
	if (!route) {
		answer_early_error(&early, 404, "not_found", "no route for %s %.*s", req->method,
		                   (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
		return;
	}
	head = strcmp(req->method, "HEAD") == 0 && strcmp(route->method, "GET") == 0;
	if (strcmp(req->method, route->method) != 0 && !head) {
		http_exchange_add_header(ex, "Allow", route->method);
		answer_early_error(&early, 405, "method_not_allowed", "use %s for %s",
		                   route->method, route->path);
		return;
	}
	switch (route->kind) {
	case ENDPOINT_LIVENESS:
		answer_add_overhead(ex, clock_now_us() - early.received_us);
		api_json_send(ex, 200, "{\"status\":\"alive\"}");
		return;
	case ENDPOINT_READINESS:
		answer_add_overhead(ex, clock_now_us() - early.received_us);
		readiness(eps, ex);
		return;
	default:
		break;
	}
	if (!client_authorized(eps->opts.config, req)) {
		answer_early_error(&early, 401, "invalid_api_key",
		                   "missing or wrong API key for this gateway");
		return;
	}
	if (route->kind == ENDPOINT_MODELS)
		answer_early(&early, 200, eps->models_json);
	else
		proxy_handle(eps->opts.proxy, ex, req, by_path ? op : route->op,
		             by_path ? deployment : NULL, id);
}
