/*
 * endpoints: dispatch of a worker's client requests (see endpoints.h). Runs in a
 * worker, once per request, synchronously: health and model-list answers go
 * out at once; completions are handed to the proxy, which answers later.
 *
 * Routes (the table is endpoint_table.c): the health endpoints, the model
 * list, the OpenAI paths (with and
 * without /v1, and under /openai/v1 for clients with an Azure v1 base URL),
 * the Responses API (/v1/responses, its routes on a stored response by id,
 * and the Azure SDK's /openai/responses), and the Azure-SDK ingress
 * /openai/deployments/{name}/{op}, where {name} is a model_name. A
 * WebSocket upgrade on any route is answered 426; the Conversations API 501. Every response carries
 * x-request-id (the client's when sane, else a new one); health endpoints are open, everything else
 * needs the gateway key when general_settings.master_key is set, or a client
 * key of llmgate.keys_file (client_keys.h; its limits are the proxy's).
 */
#include "endpoints.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "answer.h"
#include "api_error.h"
#include "build_config.h"
#include "config.h"
#include "endpoint_table.h"
#include "http_server.h"
#include "ingress.h"
#include "passthrough.h"
#include "proxy.h"
#include "proxy_walk.h"
#include "request_id.h"
#include "fallback_state.h"
#include "secret.h"
#include "clock.h"
#include "client_keys.h"
#include "client_key_cache.h"

struct endpoints {
	struct endpoints_options opts;
	char *models_json; /* the model list never changes within a generation */
	struct passthrough *passthrough;
	struct client_key_cache *key_cache; /* NULL: no keys file, or no memory */
};

/* The model list; for a client KEY with a models list, only the groups and
 * aliases it may use (as LiteLLM lists a virtual key's models). */
static char *models_json(const struct config *config, const struct client_key *key)
{
	json_t *data = json_array(), *root;
	char *text;

	for (size_t i = 0; i < config->n_groups; i++)
		if (!key || client_key_allows(key, i))
			json_array_append_new(data,
			                      json_pack("{s:s, s:s, s:i, s:s}", "id",
			                                config->groups[i].name, "object", "model",
			                                "created", 0, "owned_by", "llmgate"));
	/* model_group_alias names are models too, unless hidden (as in LiteLLM) */
	for (size_t i = 0; i < config->n_aliases; i++)
		if (!config->aliases[i].hidden &&
		    (!key || client_key_allows(key, config->aliases[i].group)))
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
	eps->models_json = models_json(opts->config, NULL);
	eps->passthrough = passthrough_new(opts->config, opts->up, opts->stats);
	/* made in the worker (after fork): each worker has its own seed */
	if (opts->config->client_keys)
		eps->key_cache =
		        client_key_cache_new(opts->config->client_keys, CLIENT_KEY_CACHE_SLOTS);
	if (!eps->models_json || !eps->passthrough) {
		passthrough_free(eps->passthrough);
		free(eps->models_json);
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
	passthrough_free(eps->passthrough);
	client_key_cache_free(eps->key_cache);
	free(eps);
}

/* Who the request's key says the client is (Authorization: Bearer, api-key
 * or x-api-key, as LiteLLM's clients send it): the master key (admin), a
 * client key of llmgate.keys_file (*RET_KEY), or nobody: false, with the
 * reason in *RET_WHY (and a disabled or expired key in *RET_KEY, for the
 * log). Without a master key and a keys file, everyone. */
static bool client_authorized(const struct endpoints *eps, const struct http_request *req,
                              const struct client_key **ret_key, const char **ret_why)
{
	const struct config *config = eps->opts.config;
	const char *auth = http_request_header(req, "authorization");
	const char *key = NULL;
	const struct client_key *k;

	*ret_key = NULL;
	*ret_why = "missing or wrong API key for this gateway";
	if (!config->master_key && !config->client_keys)
		return true;
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
		key = auth + 7;
	if (!key)
		key = http_request_header(req, "api-key");
	if (!key)
		key = http_request_header(req, "x-api-key");
	if (!key)
		return false;
	if (config->master_key && secret_equal(key, config->master_key))
		return true;
	k = client_key_cache_find(eps->key_cache, config->client_keys, key, strlen(key));
	if (!k)
		return false;
	*ret_key = k;
	if (k->disabled) {
		*ret_why = "this API key is disabled";
		return false;
	}
	if (k->expires && (int64_t)time(NULL) >= k->expires) {
		*ret_why = "this API key has expired";
		return false;
	}
	return true;
}

/* client_authorized() for a pass-through: the master key or a valid client
 * key, in *RET_KEY (a key's model list does not apply to what names no
 * model; its budget and limits do: passthrough_handle()). */
static bool passthrough_authorized(const struct endpoints *eps, const struct http_request *req,
                                   const struct client_key **ret_key)
{
	const char *why;
	bool ok = client_authorized(eps, req, ret_key, &why);

	if (!ok)
		*ret_key = NULL;
	return ok;
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

/* What a request's path names: a table entry, or a proxied target. */
struct routed {
	const struct endpoint *route;
	struct proxy_target target;
	const char *allow; /* the methods of a by-id route, for a 405 */
	bool by_id;        /* a route on a stored response */
	bool bad_id;       /* one with an id that cannot be one */
	bool unserved;     /* a route we answer 501 */
	bool pass_through; /* a pass-through route (ENDPOINT_PASS_THROUGH) */
	const char *path;  /* the path as matched (after /openai/v1) */
	size_t path_len;
};

/* An op on a stored response by the request's method, or false (R->allow
 * says which methods the route takes). */
static bool by_id_op(struct routed *r, enum ingress_response_route kind, const char *method)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

	switch (kind) {
	case INGRESS_RESPONSE_ITEM:
		r->allow = "GET, DELETE";
		r->target.op = strcmp(method, "DELETE") == 0 ? PROXY_OP_RESPONSE_DELETE
		                                             : PROXY_OP_RESPONSE_GET;
		return get || strcmp(method, "DELETE") == 0;
	case INGRESS_RESPONSE_CANCEL:
		r->allow = "POST";
		r->target.op = PROXY_OP_RESPONSE_CANCEL;
		return strcmp(method, "POST") == 0;
	default:
		r->allow = "GET";
		r->target.op = PROXY_OP_RESPONSE_INPUT_ITEMS;
		return get;
	}
}

/*
 * Routes REQ: the table's paths, the same under /openai/v1 (Azure's v1 base
 * URL) and the Responses paths under /openai (the Azure SDK's dated
 * ingress), the routes on a stored response, the Azure-SDK deployments
 * ingress. False: no route.
 */
static bool route_request(const struct http_request *req, struct routed *r, char *deployment,
                          char *response_id)
{
	const struct endpoint *prefix;
	const char *path = req->path;
	size_t len = req->path_len;
	bool under;
	enum ingress_response_route kind;

	path = endpoint_table_api_path(path, &len, &under);
	r->path = path;
	r->path_len = len;
	if ((r->route = endpoint_table_find(path, len, under))) {
		r->target.op = r->route->op;
		return true;
	}
	if ((prefix = endpoint_table_prefix(path, len))) {
		r->route = prefix;
		if (prefix->kind == ENDPOINT_PASS_THROUGH)
			return (r->pass_through = true);
		return (r->unserved = true);
	}
	kind = ingress_response_path(path, len, response_id);
	if (kind == INGRESS_RESPONSE_BAD_ID)
		return (r->bad_id = true);
	if (kind != INGRESS_RESPONSE_NONE) {
		r->route = endpoint_table_kind(ENDPOINT_BY_ID);
		r->by_id = true;
		r->target.response_id = response_id;
		return true;
	}
	if (!under && ingress_azure_path(req->path, req->path_len, deployment, &r->target.op)) {
		r->route = endpoint_table_kind(ENDPOINT_AZURE);
		r->target.model = deployment;
		return true;
	}
	return false;
}

/* A WebSocket upgrade (Codex tries one first): not served, and said so
 * with 426, on which clients fall back to plain HTTP at once. */
static bool websocket_upgrade(const struct http_request *req)
{
	const char *upgrade = http_request_header(req, "upgrade");

	return upgrade && strcasestr(upgrade, "websocket") != NULL;
}

void endpoints_handle(void *ctx, struct http_exchange *ex, const struct http_request *req)
{
	struct endpoints *eps = ctx;
	const char *given = http_request_header(req, "x-request-id");
	char id[REQUEST_ID_MAX + 1], deployment[INGRESS_MAX_DEPLOYMENT_NAME + 1];
	char response_id[PROXY_RESPONSE_ID_MAX + 1];
	struct routed r = {0};
	const struct endpoint *route;
	const struct client_key *key;
	const char *why;
	bool head, authorized, ok;
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
	HTTP_EXCHANGE_ADD_KNOWN(ex, "x-request-id", id);

	if (websocket_upgrade(req)) {
		answer_early_error(&early, 426, "websocket_not_supported",
		                   "llmgate serves the Responses API (and every route) over HTTP, "
		                   "not WebSocket: send %s %.*s without 'Upgrade: websocket'",
		                   req->method, (int)(req->path_len > 200 ? 200 : req->path_len),
		                   req->path);
		return;
	}
	if (!route_request(req, &r, deployment, response_id)) {
		/* pass-through (issue 22): after every route of llmgate's own */
		ok = passthrough_authorized(eps, req, &key);
		early.key_id = key ? key->id : NULL;
		if (passthrough_handle(eps->passthrough, &early, ok, key))
			return;
		answer_early_error(&early, 404, "not_found", "no route for %s %.*s", req->method,
		                   (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
		return;
	}
	if (r.bad_id) {
		answer_early_error(&early, 400, "invalid_response_id",
		                   "the response id in %.*s is not one (1 to %d letters, digits, "
		                   "'_' or '-')",
		                   (int)(req->path_len > 200 ? 200 : req->path_len), req->path,
		                   PROXY_RESPONSE_ID_MAX);
		return;
	}
	if (r.pass_through) {
		/* ENDPOINT_PASS_THROUGH rows (the files API): worker/passthrough*.c,
		 * which also says how to serve them when no deployment does */
		ok = passthrough_authorized(eps, req, &key);
		early.key_id = key ? key->id : NULL;
		if (!passthrough_handle(eps->passthrough, &early, ok, key))
			answer_early_error(
			        &early, 404, "not_found", "no route for %s %.*s", req->method,
			        (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
		return;
	}
	if (r.unserved) {
		answer_early_error(&early, 501, "not_implemented",
		                   "llmgate does not serve the Conversations API (%.*s); use "
		                   "previous_response_id to chain responses",
		                   (int)(r.path_len > 200 ? 200 : r.path_len), r.path);
		return;
	}
	route = r.route;
	if (r.by_id) {
		if (!by_id_op(&r,
		              (enum ingress_response_route)ingress_response_path(r.path, r.path_len,
		                                                                 response_id),
		              req->method)) {
			HTTP_EXCHANGE_ADD_KNOWN(ex, "Allow", r.allow);
			answer_early_error(&early, 405, "method_not_allowed", "use %s for %.*s",
			                   r.allow, (int)(r.path_len > 200 ? 200 : r.path_len),
			                   r.path);
			return;
		}
	} else {
		head = strcmp(req->method, "HEAD") == 0 && strcmp(route->method, "GET") == 0;
		if (strcmp(req->method, route->method) != 0 && !head) {
			HTTP_EXCHANGE_ADD_KNOWN(ex, "Allow", route->method);
			answer_early_error(&early, 405, "method_not_allowed", "use %s for %s",
			                   route->method, route->path);
			return;
		}
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
	authorized = client_authorized(eps, req, &r.target.key, &why);
	early.key_id = r.target.key ? r.target.key->id : NULL;
	if (!authorized) {
		answer_early_error(&early, 401, "invalid_api_key", "%s", why);
		return;
	}
	if (route->kind == ENDPOINT_MODELS && r.target.key && r.target.key->groups) {
		char *own = models_json(eps->opts.config, r.target.key);

		if (own)
			answer_early(&early, 200, own);
		else
			answer_early_error(&early, 500, "server_error", "out of memory");
		free(own);
	} else if (route->kind == ENDPOINT_MODELS)
		answer_early(&early, 200, eps->models_json);
	else {
		r.target.received_us = early.received_us;
		proxy_handle(eps->opts.proxy, ex, req, &r.target, id);
	}
}

bool endpoints_body_spool(void *ctx, const char *path, size_t path_len)
{
	const struct endpoints *eps = ctx;

	if (passthrough_body_limit((void *)eps->opts.config, path, path_len))
		return true; /* a pass-through: relayed from the file */
	return endpoint_table_body_spool(path, path_len);
}

size_t endpoints_body_limit(void *ctx, const char *path, size_t path_len, size_t max_body)
{
	const struct endpoints *eps = ctx;

	size_t pass_through = passthrough_body_limit((void *)eps->opts.config, path, path_len);

	(void)max_body; /* the table's limits are the config's */
	return pass_through ? pass_through
	                    : endpoint_table_body_limit(eps->opts.config, path, path_len);
}
