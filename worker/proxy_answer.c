/*
 * proxy_answer: answer delivery of a proxied request (see proxy_call.h).
 * Runs in a worker, on its event loop. Owns what the client gets once the
 * attempts are over: an upstream's answer as it came (with the
 * x-llmgate-deployment/-route/-attempts headers, and retry-after on a 4xx),
 * the kept 4xx answer of an earlier attempt, or our own OpenAI-shaped error;
 * and the request's accounting record (request_stats), made once per
 * request, also when the client leaves (499). Between attempts nothing
 * reaches the client: a failed attempt's answer is kept only as long as it
 * may be the one the client gets.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "answer.h"
#include "api_error.h"
#include "http_header.h"
#include "http_server.h"
#include "log.h"
#include "proxy_call.h"
#include "response_id_scan.h"
#include "request_stats.h"
#include "str_cat.h"

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, lit) put(p, lit, sizeof(lit) - 1)

/* The three route headers as lines, in one append: constant names, a route
 * name, digits, and the deployment's id when it is a valid field value of
 * room in LINES (else it goes the checked way, which leaves out an invalid
 * one, as it always did). */
void proxy_answer_route_headers(struct proxy_call *call, const struct deployment *dep,
                                enum route route)
{
	const char *name = route_name(route);
	size_t id_len = strlen(dep->id), name_len = strlen(name);
	char lines[256], *p = lines;

	if (id_len <= 128 && http_header_value_valid(dep->id)) {
		p = PUT_LIT(p, "x-llmgate-deployment: ");
		p = put(p, dep->id, id_len);
		p = PUT_LIT(p, "\r\n");
	} else {
		HTTP_EXCHANGE_ADD_KNOWN(call->ex, "x-llmgate-deployment", dep->id);
	}
	p = PUT_LIT(p, "x-llmgate-route: ");
	p = put(p, name, name_len); /* a short constant */
	p = PUT_LIT(p, "\r\nx-llmgate-attempts: ");
	p += str_int(p, call->attempts);
	p = PUT_LIT(p, "\r\n");
	http_exchange_add_header_lines(call->ex, lines, (size_t)(p - lines));
}

static void add_retry_headers(struct proxy_call *call, const struct retry_headers *retry)
{
	if (retry->after[0])
		HTTP_EXCHANGE_ADD_KNOWN(call->ex, "retry-after", retry->after);
	if (retry->after_ms[0]) {
		HTTP_EXCHANGE_ADD_KNOWN(call->ex, "retry-after-ms", retry->after_ms);
		HTTP_EXCHANGE_ADD_KNOWN(call->ex, "x-ms-retry-after-ms", retry->after_ms);
	}
}

/* The time spent with upstreams so far: from the first attempt's start to
 * the last one's end (retry waits included), or to now while one runs. */
static int64_t upstream_us(const struct proxy_call *call, int64_t now)
{
	int64_t end = call->t ? now : call->upstream_end_us;

	if (!call->attempts || end < call->first_attempt_us)
		return 0;
	return end - call->first_attempt_us;
}

void proxy_answer_learn(struct proxy_call *call, const char *data, size_t len)
{
	const char *id;
	size_t id_len;

	switch (call->op) {
	case PROXY_OP_RESPONSES:
		if (!data) {
			call->id_pending = true; /* a stream: its first event names it */
			return;
		}
		if (response_id_scan_body(data, len, &id, &id_len) == 0)
			proxy_walk_learn(call->proxy->config, proxy_dep_index(call, call->dep), id,
			                 id_len);
		return;
	case PROXY_OP_RESPONSE_GET:
	case PROXY_OP_RESPONSE_CANCEL:
	case PROXY_OP_RESPONSE_INPUT_ITEMS:
		proxy_walk_learn(call->proxy->config, proxy_dep_index(call, call->dep),
		                 call->walk.id, strlen(call->walk.id));
		return;
	default:
		return; /* a deleted response, or no Responses op */
	}
}

void proxy_answer_learn_stream(struct proxy_call *call, const char *data, size_t len)
{
	const char *id, *head = data;
	size_t id_len, head_len = len;
	int r;

	if (call->id_head || (r = response_id_scan_stream(data, len, &id, &id_len)) == -EAGAIN) {
		/* the first event comes in pieces: keep them (bounded by the scan) */
		if (!call->id_head && !(call->id_head = evbuffer_new())) {
			call->id_pending = false;
			return;
		}
		head_len = evbuffer_get_length(call->id_head) + len;
		if (evbuffer_add(call->id_head, data, len) < 0 ||
		    !(head = (const char *)evbuffer_pullup(call->id_head, -1))) {
			r = -ENOMEM;
		} else {
			r = response_id_scan_stream(head, head_len, &id, &id_len);
		}
	}
	if (r == -EAGAIN)
		return;
	if (r == 0)
		proxy_walk_learn(call->proxy->config, proxy_dep_index(call, call->dep), id, id_len);
	call->id_pending = false;
	if (call->id_head) {
		evbuffer_free(call->id_head);
		call->id_head = NULL;
	}
}

void proxy_answer_overhead(struct proxy_call *call, int64_t now)
{
	answer_add_overhead(call->ex, request_stats_overhead_us(now - call->received_us,
	                                                        upstream_us(call, now)));
}

void proxy_answer_record(struct proxy_call *call, int status, size_t bytes_out, bool answered,
                         enum route route, int64_t ttfb_us, int64_t now)
{
	struct request_record rec = {
	        .id = call->id,
	        .peer = call->peer,
	        .method = call->method,
	        .path = call->path,
	        .path_len = call->path_len,
	        .model = call->model,
	        .group = call->group,
	        .deployment = answered ? (long)proxy_dep_index(call, call->dep) : -1,
	        .route = answered ? (int)route : -1,
	        .status = status,
	        .attempts = call->attempts,
	        .bytes_in = call->bytes_in,
	        .bytes_out = bytes_out,
	        .start_us = call->received_us,
	        .ttfb_us = ttfb_us,
	        .upstream_us = upstream_us(call, now),
	        .end_us = now,
	        .usage = call->usage,
	        .usage_expected = answered && call->usage_expected,
	        .key_id = call->key_id,
	};

	request_stats_done(call->proxy->stats, &rec);
	proxy_trace_end(call, status, answered, route, now);
	/* before the answer's last bytes leave: a client that sends its next
	 * request at once finds its key's parallel count released */
	proxy_keys_finish(call);
}

void proxy_answer_error(struct proxy_call *call, int status, const char *type, const char *code,
                        const char *fmt, ...)
{
	int64_t now = clock_now_us();
	va_list ap;
	char *json;

	if (call->attempts > 0)
		proxy_answer_route_headers(call, call->dep, proxy_plan_current(&call->plan)->route);
	va_start(ap, fmt);
	json = api_error_json(type, code, fmt, ap);
	va_end(ap);
	proxy_answer_overhead(call, now);
	proxy_answer_record(call, status, strlen(json), call->attempts > 0,
	                    proxy_plan_current(&call->plan)->route, call->ttfb_us, now);
	api_json_send(call->ex, status, json);
	api_error_json_free(json);
	call->ex = NULL;
	proxy_call_free(call);
}

/* Sends an upstream's answer as it came, except an error whose body is not
 * JSON (a proxy's HTML page, the 404 page of a wrong api_base): the client
 * gets our OpenAI-shaped error with its status instead, never an HTML page
 * (SPEC 4). Ends the call. */
void proxy_answer_send(struct proxy_call *call, long status, const struct deployment *dep,
                       enum route route, const struct retry_headers *retry,
                       const char *content_type, struct evbuffer *body, bool json, int64_t ttfb_us)
{
	int64_t now = clock_now_us();

	proxy_answer_route_headers(call, dep, route);
	if (status >= 400)
		add_retry_headers(call, retry);
	proxy_answer_overhead(call, now);
	proxy_usage_body(call, status, body);
	proxy_answer_record(call, (int)status, evbuffer_get_length(body), true, route, ttfb_us,
	                    now);
	if (status >= 400 && !json) {
		log_warning("upstream '%s': %ld with a body that is not JSON ('%s'), replaced",
		            dep->id, status, content_type[0] ? content_type : "no content type");
		api_error_send(
		        call->ex, (int)status, "upstream_error", "invalid_response",
		        "deployment '%s' answered %ld with a body that is not JSON (%zu bytes "
		        "of '%s')",
		        dep->id, status, evbuffer_get_length(body),
		        content_type[0] ? content_type : "no content type");
	} else {
		if (status < 300 && proxy_op_responses(call->op)) {
			size_t len = evbuffer_get_length(body);

			proxy_answer_learn(
			        call, (const char *)evbuffer_pullup(body, (ev_ssize_t)len), len);
		}
		http_exchange_send_buffer(call->ex, (int)status,
		                          content_type[0] ? content_type : "application/json",
		                          body);
	}
	call->ex = NULL;
	proxy_call_free(call);
}

void proxy_answer_send_kept(struct proxy_call *call)
{
	struct kept_answer *k = &call->kept;

	call->dep = k->dep;
	proxy_answer_send(call, k->status, k->dep, k->route, &k->retry, k->content_type, k->body,
	                  k->json, k->ttfb_us);
}

void proxy_answer_on_abort(void *ctx)
{
	struct proxy_call *call = ctx;

	log_debug("request %s: client left, aborting the upstream transfer", call->id);
	/* nginx's 499: the client closed the request */
	proxy_answer_record(call, 499, call->bytes_out, call->streaming,
	                    proxy_plan_current(&call->plan)->route, call->ttfb_us, clock_now_us());
	call->ex = NULL;
	proxy_call_free(call); /* a client leaving is no deployment's failure: nothing counted */
}
