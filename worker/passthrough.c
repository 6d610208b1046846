/*
 * passthrough: which requests are relayed as they are, where to, and with
 * which headers (see passthrough.h): this file dispatches and checks the
 * client (key, method), passthrough_request.c builds the upstream request by
 * the rules below, passthrough_relay.c carries it.
 *
 * The files-API pass-through (llmgate.files_deployment) goes to that one
 * deployment: OpenAI-style {api_base}/{op}; Azure's dated API
 * {api_base}/openai/{op}?api-version={its api_version}, its v1 API
 * {api_base}/openai/v1/{op} (the client's own api-version is dropped, the
 * deployment's is sent), with the deployment's credential (provider_request:
 * Authorization, api-key or the Entra token) and organization and
 * extra_headers; the client's key (Authorization, api-key, x-api-key) never
 * goes upstream. A general_settings.pass_through_endpoints entry goes to its
 * target (+ the path below it with include_subpath) with its headers, the
 * client's only with forward_headers (a header carrying the gateway's own
 * key never: auth: true checked it, and it is no upstream's business);
 * without forward_headers only the body's Content-Type goes along. Both:
 * the client's query string goes on, hop-by-hop headers (Connection,
 * Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade, Proxy-*), Host,
 * Content-Length and Expect are the connection's own and dropped, the body
 * is sent as received.
 */
#include "passthrough.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "answer.h"
#include "client_keys.h"
#include "config.h"
#include "config_passthrough.h"
#include "http_server.h"
#include "passthrough_call.h"
#include "proxy_keys.h"
#include "token_store.h"

struct passthrough *passthrough_new(const struct config *config, struct upstream *up,
                                    struct request_stats *stats)
{
	struct passthrough *pt = calloc(1, sizeof(*pt));

	if (pt) {
		pt->config = config;
		pt->up = up;
		pt->stats = stats;
	}
	return pt;
}

void passthrough_free(struct passthrough *pt)
{
	free(pt);
}

/* The files deployment's request, with its Entra ID token when it has a
 * credential (-2: none yet). */
static int files_request(struct pt_call *call, const struct http_request *req, const char *op)
{
	const struct config *c = call->pt->config;
	const struct deployment *dep = &c->deployments[c->files_deployment];
	const char *token =
	        dep->entra ? token_store_get(dep->credential, (int64_t)time(NULL)) : NULL;

	if (dep->entra && !token)
		return -2;
	return pt_request_files(call, req, op, token);
}

size_t passthrough_body_limit(void *ctx, const char *path, size_t path_len)
{
	const struct config *c = ctx;
	struct http_request req = {.path = path, .path_len = path_len};
	const char *op;

	if ((c->has_files_deployment && config_passthrough_files_path(path, path_len, &op)) ||
	    pt_request_find(c, &req))
		return c->passthrough_max_request_size;
	return 0;
}

static const char *method_literal(const char *method)
{
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(method, methods[i]) == 0)
			return methods[i];
	return NULL;
}

static struct pt_call *call_new(struct passthrough *pt, const struct early_answer *e)
{
	const struct http_request *req = e->req;
	struct pt_call *call = calloc(1, sizeof(*call));

	if (!call)
		return NULL;
	call->pt = pt;
	call->ex = e->ex;
	call->deployment = -1;
	call->received_us = e->received_us;
	call->ttfb_us = -1;
	call->bytes_in = req->body_len;
	snprintf(call->id, sizeof(call->id), "%s", e->id);
	snprintf(call->peer, sizeof(call->peer), "%s", req->peer ? req->peer : "");
	snprintf(call->method, sizeof(call->method), "%s", req->method);
	call->path_len =
	        req->path_len < sizeof(call->path) ? req->path_len : sizeof(call->path) - 1;
	memcpy(call->path, req->path, call->path_len);
	return call;
}

static void call_drop(struct pt_call *call)
{
	client_limits_finish(&call->hold, NULL, 0);
	explicit_bzero(call->auth, sizeof(call->auth));
	free(call);
}

bool passthrough_handle(struct passthrough *pt, const struct early_answer *e, bool authorized,
                        const struct client_key *key)
{
	const struct http_request *req = e->req;
	const struct config *c = pt->config;
	const struct passthrough_endpoint *ep = NULL;
	const char *op = NULL, *method;
	bool files = config_passthrough_files_path(req->path, req->path_len, &op);
	struct pt_call *call;
	struct client_limit_hold hold = {.slot = CLIENT_KEY_NO_SLOT};
	int r;

	if (!files || !c->has_files_deployment) {
		ep = pt_request_find(c, req);
		if (!ep && files) {
			answer_early_error(
			        e, 404, "not_found",
			        "llmgate relays %.*s only to a configured deployment: set "
			        "llmgate.files_deployment to the model_info.id of the one "
			        "deployment whose files, batches, fine-tuning jobs and vector "
			        "stores clients use",
			        (int)(req->path_len > 200 ? 200 : req->path_len), req->path);
			return true;
		}
		if (!ep)
			return false;
	}
	if ((files || ep->auth) && !authorized) {
		answer_early_error(e, 401, "invalid_api_key",
		                   "missing or wrong API key for this gateway");
		return true;
	}
	if (!(method = method_literal(req->method))) {
		HTTP_EXCHANGE_ADD_KNOWN(e->ex, "Allow", "GET, POST, PUT, PATCH, DELETE");
		answer_early_error(e, 405, "method_not_allowed",
		                   "use GET, POST, PUT, PATCH or DELETE");
		return true;
	}
	/* a client key is held to its budget, rpm and parallel limits where
	 * the route checks the gateway key (no tokens: nothing names a model) */
	if ((files || ep->auth) && key && proxy_keys_admit_limits(key, 0, e, &hold) < 0)
		return true;
	if (!(call = call_new(pt, e))) {
		client_limits_finish(&hold, NULL, 0);
		answer_early_error(e, 500, "internal_error", "out of memory");
		return true;
	}
	call->hold = hold;
	call->key_id = key && (files || ep->auth) ? key->id : NULL;
	r = ep ? pt_request_endpoint(call, req, ep) : files_request(call, req, op);
	if (r < 0) {
		call_drop(call);
		if (r == -2)
			answer_early_error(e, 503, "credential_unavailable",
			                   "the files deployment has no Entra ID token yet");
		else
			answer_early_error(e, 400, "request_too_large",
			                   "the request's URL or headers are too large to relay");
		return true;
	}
	pt_relay_start(call, method, req);
	return true;
}
