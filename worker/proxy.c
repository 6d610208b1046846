/*
 * proxy: one client request -> one or more upstream attempts (see proxy.h).
 * Runs in a worker, on its event loop. This file holds the proxy (its config,
 * balancer and per-deployment request defaults) and the entry point,
 * proxy_handle(); a request's way through the other files:
 *
 *   proxy_admit.c    reads the request, answers what cannot be proxied,
 *                    makes the call and its plan;
 *   proxy_attempt.c  starts, times, retries and fails over its attempts
 *                    (outcomes counted in fallback_state), gives up;
 *   proxy_relay.c    relays a stream from its first byte, backpressure;
 *   proxy_answer.c   delivers the answer and the request's accounting.
 *
 * Their shared state is struct proxy_call (proxy_call.h). A call lives until
 * its exchange is over; its transfer and retry timer go with it, and its
 * shell (the struct, its body buffer, its deadline and attempt timers) is
 * kept in the proxy's small pool for the next call (proxy_call_take()).
 */
#include "proxy.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "proxy_call.h"
#include "spare_poison.h"
#include "upstream.h"

struct proxy *proxy_new(const struct config *config, struct upstream *up, struct fallback_state *fs)
{
	struct proxy *proxy = calloc(1, sizeof(*proxy));

	if (!proxy)
		return NULL;
	proxy->config = config;
	proxy->up = up;
	proxy->base = upstream_event_base(up);
	proxy->fallback_state = fs;
	proxy->balancer = proxy_balancer_new(config);
	proxy->defaults =
	        calloc(config->n_deployments ? config->n_deployments : 1, sizeof(*proxy->defaults));
	if (!proxy->balancer || !proxy->defaults) {
		proxy_free(proxy);
		return NULL;
	}
	for (size_t i = 0; i < config->n_deployments; i++) {
		const char *text = config->deployments[i].request_defaults_json;

		if (text) {
			json_t *defaults = json_loads(text, 0, NULL);

			if (json_is_object(defaults))
				proxy->defaults[i] = defaults;
			else
				json_decref(defaults);
		}
	}
	return proxy;
}

void proxy_set_request_stats(struct proxy *proxy, struct request_stats *stats)
{
	proxy->stats = stats;
}

void proxy_set_tracer(struct proxy *proxy, struct proxy_tracer *tracer)
{
	proxy->tracer = tracer;
}

/* What a call keeps in the pool, and the call. */
static void shell_free(struct proxy_call *call)
{
	if (call->deadline_timer)
		event_free(call->deadline_timer);
	if (call->attempt_timer)
		event_free(call->attempt_timer);
	if (call->body)
		evbuffer_free(call->body);
	free(call);
}

void proxy_free(struct proxy *proxy)
{
	if (!proxy)
		return;
	for (size_t i = 0; proxy->defaults && i < proxy->config->n_deployments; i++)
		json_decref(proxy->defaults[i]);
	free(proxy->defaults);
	proxy_balancer_free(proxy->balancer);
	while (proxy->pool) {
		struct proxy_call *call = proxy->pool;

		SPARE_UNPOISON(call, sizeof(*call));
		proxy->pool = call->pool_next;
		shell_free(call);
	}
	free(proxy);
}

struct proxy_call *proxy_call_take(struct proxy *proxy)
{
	struct proxy_call *call = proxy->pool;
	struct event *deadline, *attempt;
	struct evbuffer *body;

	if (!call)
		return calloc(1, sizeof(*call));
	SPARE_UNPOISON(call, sizeof(*call));
	proxy->pool = call->pool_next;
	proxy->n_pool--;
	deadline = call->deadline_timer;
	attempt = call->attempt_timer;
	body = call->body;
	memset(call, 0, sizeof(*call));
	call->deadline_timer = deadline;
	call->attempt_timer = attempt;
	call->body = body;
	return call;
}

/* Keeps CALL's shell for the next call when there is room: 0, or -1 (the
 * caller frees what is left). */
static int keep(struct proxy_call *call)
{
	struct proxy *proxy = call->proxy;

	if (!proxy || proxy->n_pool >= PROXY_CALL_POOL || !call->deadline_timer ||
	    !call->attempt_timer || !call->body)
		return -1;
	evtimer_del(call->deadline_timer);
	evtimer_del(call->attempt_timer);
	evbuffer_drain(call->body, evbuffer_get_length(call->body));
	call->pool_next = proxy->pool;
	proxy->pool = call;
	proxy->n_pool++;
	SPARE_POISON(call, sizeof(*call));
	return 0;
}

void proxy_call_free(struct proxy_call *call)
{
	proxy_keys_finish(call); /* when no answer was recorded; else done already */
	if (call->t)
		upstream_abort(call->t);
	if (call->retry_timer)
		event_free(call->retry_timer);
	if (call->id_head)
		evbuffer_free(call->id_head);
	if (call->kept.body)
		evbuffer_free(call->kept.body);
	proxy_usage_free(call);
	json_decref(call->root);
	proxy_trace_free(&call->trace);
	free(call->model);
	free(call->query);
	if (keep(call) < 0)
		shell_free(call);
}

void proxy_handle(struct proxy *proxy, struct http_exchange *ex, const struct http_request *req,
                  const struct proxy_target *target, const char *request_id)
{
	static const struct http_exchange_callbacks ex_callbacks = {
	        .on_writable = proxy_relay_on_writable,
	        .on_abort = proxy_answer_on_abort,
	};
	struct proxy_call *call = proxy_admit(proxy, ex, req, target, request_id);

	if (!call)
		return; /* answered */
	http_exchange_set_callbacks(ex, &ex_callbacks, call);
	proxy_attempt_first(call);
}
