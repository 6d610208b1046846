/*
 * proxy_admit: admission of a proxied request (see proxy_call.h). Runs in a
 * worker, on the request path. Reads the body just enough to find the model
 * group (json_scan's bounded scan; a body it cannot vouch for goes through
 * jansson, whose errors the client gets), answers what cannot be proxied
 * (bad JSON, no or unknown model) through the one early-answer path of
 * answer.h, and makes the call: its copy of what the accounting record needs
 * and its plan (the group's global mode, a probe grant when one is due).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "api_error.h"
#include "fallback_state.h"
#include "http_server.h"
#include "ingress.h"
#include "json_scan.h"
#include "proxy_call.h"
#include "proxy_form.h"
#include "response_id_scan.h"
#include "str_cat.h"

static void model_not_found(const struct proxy *proxy, const struct early_answer *e)
{
	const struct config *config = proxy->config;
	char list[1024] = "";
	size_t used = 0;

	for (size_t i = 0; i < config->n_groups && used < sizeof(list); i++) {
		int n;

		if (config->groups[i].n_deployments == 0)
			continue;
		n = snprintf(list + used, sizeof(list) - used, "%s'%s'", used ? ", " : "",
		             config->groups[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	answer_early_error(e, 404, "model_not_found",
	                   "model '%s' is not served here; available models: %s", e->model,
	                   list[0] ? list : "(none)");
}

static int group_of(const struct proxy *proxy, struct early_answer *e, enum proxy_op op,
                    json_t *root, char **ret_owned, json_t **ret_root,
                    const struct group **ret_group);

/* Reads the body and finds the group (named by E->model, or else by the
 * body's "model"); answers the client itself on error (-1). A body that
 * json_scan vouches for is not parsed into a tree (*RET_ROOT stays NULL;
 * E->model then points to *RET_OWNED, a copy to free); anything else goes
 * through ingress_parse_body(), whose errors the client gets. */
static int parse_request(const struct proxy *proxy, struct early_answer *e, enum proxy_op op,
                         json_t **ret_root, char **ret_owned, bool *ret_stream,
                         const struct group **ret_group)
{
	const struct http_request *req = e->req;
	struct json_scan_result scan;
	json_t *root = NULL;

	*ret_owned = NULL;
	if (json_scan_request(req->body, req->body_len, &scan) == 0) {
		/* a scanned model has no escapes, so no NUL either */
		*ret_stream = scan.stream;
		if (!e->model && scan.model) {
			*ret_owned = strndup(scan.model, scan.model_len);
			if (!*ret_owned) {
				api_error_send(e->ex, 500, "server_error", NULL, "out of memory");
				return -1;
			}
			e->model = *ret_owned;
		}
	} else {
		char why[JSON_ERROR_TEXT_LENGTH + 8];
		int r = ingress_parse_body(req->body, req->body_len, e->model, &root, &e->model,
		                           why, sizeof(why));

		if (r == -EBADMSG) {
			answer_early_error(e, 400, "invalid_json",
			                   "the request body is not a JSON object%s", why);
			return -1;
		}
		if (r == -EILSEQ) {
			answer_early_error(e, 400, "invalid_model",
			                   "the request's 'model' contains a NUL character");
			return -1;
		}
		if (r == 0)
			*ret_stream = json_is_true(json_object_get(root, "stream"));
	}
	return group_of(proxy, e, op, root, ret_owned, ret_root, ret_group);
}

/* The group E->model names (checked), else the client is answered (-1) and
 * ROOT and *RET_OWNED are freed. */
static int group_of(const struct proxy *proxy, struct early_answer *e, enum proxy_op op,
                    json_t *root, char **ret_owned, json_t **ret_root,
                    const struct group **ret_group)
{
	if ((!e->model || !e->model[0]) && op == PROXY_OP_MODERATIONS) {
		e->model = NULL;
		answer_early_error(e, 400, "missing_model",
		                   "the request has no 'model', and llmgate.moderation_model names "
		                   "no default group for moderations");
	} else if (!e->model || !e->model[0]) {
		e->model = NULL;
		answer_early_error(e, 400, "missing_model", "the request has no 'model'");
	} else if ((*ret_group = config_find_group(proxy->config, e->model)) &&
	           (*ret_group)->n_deployments == 0 && (*ret_group)->not_served) {
		/* The group exists in the config, but llmgate speaks none of its
		 * providers: not a model that does not exist. */
		answer_early_error(e, 501, "provider_not_supported",
		                   "model '%s' has no deployment llmgate can serve: %s", e->model,
		                   (*ret_group)->not_served);
	} else if (!*ret_group || (*ret_group)->n_deployments == 0) {
		model_not_found(proxy, e);
	} else {
		*ret_root = root;
		return 0;
	}
	json_decref(root);
	free(*ret_owned);
	*ret_owned = NULL;
	return -1;
}

/* An upload: reads its form (proxy_form.h) and finds the group its model
 * names; answers the client itself on error (-1). */
static int parse_form(const struct proxy *proxy, struct early_answer *e, enum proxy_op op,
                      struct proxy_form *form, char **ret_owned, bool *ret_stream,
                      const struct group **ret_group)
{
	const struct http_request *req = e->req;
	char model[PROXY_FORM_MODEL_MAX + 1];
	const char *why;
	json_t *none = NULL;
	int r;

	*ret_owned = NULL;
	if (req->body_in_file)
		r = proxy_form_scan_file(req->body_fd, req->body_len,
		                         http_request_header(req, "content-type"), form, model,
		                         sizeof(model), ret_stream, &why);
	else
		r = proxy_form_scan(req->body, req->body_len,
		                    http_request_header(req, "content-type"), form, model,
		                    sizeof(model), ret_stream, &why);
	if (r == -EIO) {
		api_error_send(e->ex, 500, "server_error", NULL, "%s", why);
		return -1;
	}
	if (r == -EINVAL) {
		answer_early_error(e, 400, "invalid_content_type",
		                   "%s: %.*s takes a multipart/form-data upload", why,
		                   (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
		return -1;
	}
	if (r < 0) {
		answer_early_error(e, 400, "invalid_multipart",
		                   "the request body is not a valid multipart/form-data form: %s",
		                   why);
		return -1;
	}
	if (!e->model && model[0]) {
		*ret_owned = strdup(model);
		if (!*ret_owned) {
			api_error_send(e->ex, 500, "server_error", NULL, "out of memory");
			return -1;
		}
		e->model = *ret_owned;
	}
	return group_of(proxy, e, op, NULL, ret_owned, &none, ret_group);
}

/* Plans the call for group GI as the worker's fallback state has it. A call
 * that names a stored response goes where the response is instead: its walk's
 * first deployment, in the normal mode (no other route has the response). */
static void plan(struct proxy_call *call, size_t gi)
{
	struct proxy *proxy = call->proxy;
	enum fallback_mode mode = MODE_NORMAL;
	long direct = -1, first;
	bool probe = false;

	if (proxy->fallback_state && !call->walk.active) {
		mode = fallback_state_mode(proxy->fallback_state, gi);
		direct = fallback_state_direct_azure(proxy->fallback_state, gi);
		if (mode == MODE_FALLBACK && direct >= 0)
			probe = fallback_state_take_probe(proxy->fallback_state, gi);
	}
	proxy_plan_init(&call->plan, proxy->config, gi, mode, direct, probe);
	proxy_plan_first(&call->plan, proxy->balancer);
	if (call->walk.active && (first = proxy_walk_next(&call->walk)) >= 0)
		call->plan.deployment = (size_t)first;
	call->dep = &proxy->config->deployments[call->plan.deployment];
}

/* A call with the parts every request has; NULL when out of memory (the
 * client was answered). MODEL is copied unless OWNED, which it then is. */
static struct proxy_call *new_call(struct proxy *proxy, const struct early_answer *e,
                                   enum proxy_op op, char *owned)
{
	const struct http_request *req = e->req;
	struct proxy_call *call = proxy_call_take(proxy);

	if (call) {
		call->hold.slot = CLIENT_KEY_NO_SLOT; /* holds nothing until proxy_keys_admit() */
		call->ceiling.slot = CLIENT_KEY_NO_SLOT;
		call->proxy = proxy;
		call->model = owned ? owned : strdup(e->model);
	} else {
		free(owned);
	}
	if (!call || !call->model || (!call->body && !(call->body = evbuffer_new())) ||
	    proxy_attempt_timers_new(call) < 0) {
		api_error_send(e->ex, 500, "server_error", NULL, "out of memory");
		if (call)
			proxy_call_free(call);
		return NULL;
	}
	call->ex = e->ex;
	call->op = op;
	call->raw = req->body;
	call->raw_len = req->body_len;
	call->raw_fd = req->body_in_file ? req->body_fd : -1;
	call->last_failure = OUTCOME_SUCCESS;
	str_copy(call->id, sizeof(call->id), e->id);
	call->received_us = e->received_us;
	call->ttfb_us = -1;
	call->bytes_in = req->body_len;
	str_copy(call->peer, sizeof(call->peer), req->peer ? req->peer : "");
	str_copy(call->method, sizeof(call->method), req->method);
	call->path_len = req->path_len < sizeof(call->path) ? req->path_len : sizeof(call->path);
	memcpy(call->path, req->path, call->path_len);
	proxy_trace_begin(call, req);
	return call;
}

/* A create's previous_response_id, when its body has one: found by a
 * string search first (most bodies have none), then read from the tree
 * (parsed here if json_scan left none). -1: the client was answered (an
 * id that cannot be one). */
static int previous_response_id(struct proxy_call *call, const struct early_answer *e,
                                const char **ret_id)
{
	static const char key[] = "\"previous_response_id\"";
	const json_t *value;

	*ret_id = NULL;
	if (!memmem(call->raw, call->raw_len, key, sizeof(key) - 1))
		return 0;
	if (!call->root)
		call->root = json_loadb(call->raw, call->raw_len,
		                        JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
	value = json_object_get(call->root, "previous_response_id");
	if (!value || json_is_null(value))
		return 0;
	if (!json_is_string(value) ||
	    !response_id_valid(json_string_value(value), json_string_length(value))) {
		answer_early_error(e, 400, "invalid_previous_response_id",
		                   "'previous_response_id' must be a response id (1 to %d letters, "
		                   "digits, '_' or '-')",
		                   PROXY_RESPONSE_ID_MAX);
		return -1;
	}
	*ret_id = json_string_value(value);
	return 0;
}

/* The client's query for an op by id, without the Azure-SDK's api-version
 * (the deployment's own goes upstream): *RET_QUERY is NULL when nothing is
 * left. 0 or -ENOMEM. */
static int passed_query(const struct http_request *req, char **ret_query)
{
	size_t used = 0;
	char *out;

	*ret_query = NULL;
	if (!req->query || !req->query_len)
		return 0;
	out = malloc(req->query_len + 1);
	if (!out)
		return -ENOMEM;
	for (const char *p = req->query; *p;) {
		size_t len = strcspn(p, "&");

		if (len && strncmp(p, "api-version=", 12) != 0) {
			if (used)
				out[used++] = '&';
			memcpy(out + used, p, len);
			used += len;
		}
		p += len + (p[len] == '&');
	}
	out[used] = '\0';
	if (used)
		*ret_query = out;
	else
		free(out);
	return 0;
}

static bool query_has(const struct http_request *req, const char *param)
{
	size_t n = strlen(param);

	for (const char *p = req->query ? req->query : ""; *p;) {
		size_t len = strcspn(p, "&");

		if (len == n && memcmp(p, param, n) == 0)
			return true;
		p += len + (p[len] == '&');
	}
	return false;
}

/* An op on a stored response by its id: no body to read, no model; the walk
 * says where the response may be. */
static struct proxy_call *admit_by_id(struct proxy *proxy, struct early_answer *e,
                                      const struct proxy_target *target)
{
	const struct config *config = proxy->config;
	struct proxy_walk walk;
	struct proxy_call *call;
	size_t first;

	proxy_walk_init(&walk, config, -1, target->response_id, strlen(target->response_id));
	if (walk.n == 0) {
		answer_early_error(e, 404, "model_not_found",
		                   "no deployment here serves the Responses API");
		return NULL;
	}
	first = walk.deps[0];
	e->model = config->deployments[first].model_name;
	call = new_call(proxy, e, target->op, NULL);
	if (!call)
		return NULL;
	call->walk = walk;
	call->group = (long)(config_find_group(config, e->model) - config->groups);
	call->stream_requested =
	        target->op == PROXY_OP_RESPONSE_GET && query_has(e->req, "stream=true");
	if (passed_query(e->req, &call->query) < 0) {
		api_error_send(e->ex, 500, "server_error", NULL, "out of memory");
		proxy_call_free(call);
		return NULL;
	}
	if (proxy_keys_admit(call, target, e) < 0) {
		call->ex = NULL; /* answered */
		proxy_call_free(call);
		return NULL;
	}
	plan(call, (size_t)call->group);
	return call;
}

/* Whether a JSON body may name a model (a cheap look: the scan decides). */
static bool body_names_model(const struct http_request *req)
{
	return memmem(req->body, req->body_len, "\"model\"", 7) != NULL;
}

struct proxy_call *proxy_admit(struct proxy *proxy, struct http_exchange *ex,
                               const struct http_request *req, const struct proxy_target *target,
                               const char *request_id)
{
	const struct group *group = NULL;
	struct proxy_call *call;
	const char *previous;
	bool stream = false;
	json_t *root = NULL;
	char *owned;
	struct early_answer early = {
	        .stats = proxy->stats,
	        .ex = ex,
	        .req = req,
	        .id = request_id,
	        .model = target->model,
	        /* the endpoints' reading; a caller without one gets this instant */
	        .received_us = target->received_us ? target->received_us : clock_now_us(),
	        .key_id = target->key ? target->key->id : NULL,
	};

	struct proxy_form form;
	bool by_default = false;

	if (proxy_op_by_id(target->op))
		return admit_by_id(proxy, &early, target);
	if (proxy_op_multipart(target->op)) {
		if (parse_form(proxy, &early, target->op, &form, &owned, &stream, &group) < 0)
			return NULL;
	} else {
		if (req->body_in_file) {
			/* endpoint_table_body_spool() names the uploads only: not reached */
			api_error_send(ex, 500, "server_error", NULL, "a JSON body was spooled");
			return NULL;
		}
		if (target->op == PROXY_OP_MODERATIONS && !early.model &&
		    proxy->config->moderation_model && !body_names_model(req))
			early.model = proxy->config->moderation_model; /* LiteLLM: model optional */
		by_default = early.model && early.model != target->model;
		if (parse_request(proxy, &early, target->op, &root, &owned, &stream, &group) < 0)
			return NULL;
	}
	call = new_call(proxy, &early, target->op, owned);
	if (!call) {
		json_decref(root);
		return NULL;
	}
	call->root = root;
	/* the group came from the path or the default: the body's model (if
	 * any) is not the client's choice, and is written for the upstream */
	call->named_by_path = target->model != NULL || by_default;
	if (proxy_op_multipart(target->op)) {
		call->form = form;
		call->has_form = true;
	}
	call->stream_requested = stream;
	call->group = (long)(group - proxy->config->groups);
	if (target->op == PROXY_OP_RESPONSES) {
		if (previous_response_id(call, &early, &previous) < 0) {
			call->ex = NULL; /* answered */
			proxy_call_free(call);
			return NULL;
		}
		if (previous)
			proxy_walk_init(&call->walk, proxy->config, call->group, previous,
			                strlen(previous));
	}
	if (proxy_keys_admit(call, target, &early) < 0) {
		call->ex = NULL; /* answered */
		proxy_call_free(call);
		return NULL;
	}
	plan(call, (size_t)call->group);
	return call;
}
