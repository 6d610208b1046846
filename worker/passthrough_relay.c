/*
 * passthrough_relay: the one upstream transfer of a relayed request (see
 * passthrough.h) and its answer. Runs in a worker, on its event loop.
 *
 * The upstream's status, its end-to-end response headers (not the
 * hop-by-hop ones, not the framing, Date or Server, which are the
 * connection's) and its body go to the client as they arrive: the client's
 * response starts with the first body bytes (a body-less answer is sent
 * whole at the end), each upstream read becomes one chunk, byte for byte.
 * Backpressure: past the exchange's high watermark the transfer pauses; it
 * resumes on on_writable. Time: the attempt timeout (the files deployment's
 * timeout, else router_settings.timeout / request_timeout) bounds the wait
 * for the response head and every silence between body chunks; a paused
 * transfer is not idle. Never retried, never sent elsewhere: an upstream
 * failure before the first byte is a 502 (504 on time), after it the
 * client's response breaks off. A request body the server spooled to a file
 * (a long upload: see endpoints_body_spool()) is sent from the file as the
 * upstream's connection takes it, never held in memory.
 */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "api_error.h"
#include "clock.h"
#include "config.h"
#include "http_header.h"
#include "http_server.h"
#include "log.h"
#include "passthrough_call.h"
#include "request_stats.h"
#include "route.h"

static void call_free(struct pt_call *call)
{
	client_limits_finish(&call->hold, NULL, 0); /* once: a no-op after record() */
	if (call->t)
		upstream_abort(call->t);
	if (call->timer)
		event_free(call->timer);
	for (size_t i = 0; i < call->n_resp; i++) {
		free(call->resp_names[i]);
		free(call->resp_values[i]);
	}
	explicit_bzero(call->auth, sizeof(call->auth));
	free(call);
}

/* Counted and logged once, as the exchange ends with STATUS. */
static void record(struct pt_call *call, int status)
{
	int64_t now = clock_now_us();
	struct request_record rec =
	        request_record_early(call->id, call->peer, call->method, call->path, call->path_len,
	                             status, call->bytes_in, call->bytes_out);

	rec.deployment = call->deployment;
	rec.route = ROUTE_PASSTHROUGH;
	rec.attempts = 1;
	rec.start_us = call->received_us;
	rec.ttfb_us = call->ttfb_us;
	rec.upstream_us = now - call->upstream_start_us;
	rec.end_us = now;
	rec.key_id = call->key_id;
	request_stats_done(call->pt->stats, &rec);
	/* before the answer's last bytes leave: a client that sends its next
	 * request at once finds its key's parallel count released */
	client_limits_finish(&call->hold, NULL, 0);
}

static void arm(struct pt_call *call)
{
	struct timeval tv = clock_tv_ms(call->timeout_ms);

	if (call->timeout_ms > 0 && !call->paused)
		evtimer_add(call->timer, &tv);
}

/* Our own error before the first byte: the call ends. */
static void fail(struct pt_call *call, int status, const char *code, const char *message)
{
	record(call, status);
	answer_add_overhead(call->ex, clock_now_us() - call->received_us);
	api_error_send(call->ex, status, "upstream_error", code, "%s", message);
	call->ex = NULL;
	call_free(call);
}

static bool passed_back(const char *name)
{
	static const char *const dropped[] = {"keep-alive", "proxy-connection", "te",
	                                      "trailer",    "upgrade",          "x-request-id"};

	if (http_header_is_own(name, HTTP_OWN_RESPONSE | HTTP_OWN_UPSTREAM))
		return false;
	for (size_t i = 0; i < sizeof(dropped) / sizeof(dropped[0]); i++)
		if (strcasecmp(name, dropped[i]) == 0)
			return false;
	return true;
}

static void on_header(void *ctx, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
	struct pt_call *call = ctx;
	char *n, *v;

	if (name_len == 12 && strncasecmp(name, "content-type", 12) == 0) {
		snprintf(call->content_type, sizeof(call->content_type), "%.*s", (int)value_len,
		         value);
		return;
	}
	if (call->n_resp >= PT_MAX_RESP_HEADS || name_len > 128 || value_len > 4096)
		return;
	n = strndup(name, name_len);
	v = strndup(value, value_len);
	if (!n || !v || !passed_back(n)) {
		free(n);
		free(v);
		return;
	}
	call->resp_names[call->n_resp] = n;
	call->resp_values[call->n_resp++] = v;
}

static void on_head(void *ctx, long status)
{
	struct pt_call *call = ctx;

	call->status = status;
	call->ttfb_us = clock_now_us() - call->upstream_start_us;
	arm(call);
}

/* The response head: status, the upstream's headers, ours. */
static void add_headers(struct pt_call *call)
{
	for (size_t i = 0; i < call->n_resp; i++)
		http_exchange_add_header(call->ex, call->resp_names[i], call->resp_values[i]);
	if (call->deployment >= 0)
		HTTP_EXCHANGE_ADD_KNOWN(call->ex, "x-llmgate-deployment",
		                        call->pt->config->deployments[call->deployment].id);
	HTTP_EXCHANGE_ADD_KNOWN(call->ex, "x-llmgate-route", "passthrough");
	HTTP_EXCHANGE_ADD_KNOWN(call->ex, "x-llmgate-attempts", "1");
	/* ours: from the request's arrival to the transfer's start */
	answer_add_overhead(call->ex, call->upstream_start_us - call->received_us);
}

static void after_write(struct pt_call *call, int written)
{
	if (call->paused ||
	    (written >= 0 && http_exchange_pending(call->ex) <= HTTP_EXCHANGE_HIGH_WATERMARK))
		return;
	call->paused = true;
	upstream_pause(call->t);
	evtimer_del(call->timer); /* a paused transfer is not idle */
}

static void on_data(void *ctx, long status, const char *data, size_t len)
{
	struct pt_call *call = ctx;
	int r;

	if (!call->ex)
		return;
	if (!call->started) {
		call->status = status;
		add_headers(call);
		r = http_exchange_stream_start(call->ex, (int)status,
		                               call->content_type[0] ? call->content_type : NULL);
		call->started = true;
		if (r < 0) {
			after_write(call, r);
			return;
		}
	}
	r = http_exchange_stream_write(call->ex, data, len);
	if (r >= 0)
		call->bytes_out += len;
	after_write(call, r);
	arm(call);
}

static void on_done(void *ctx, enum upstream_result result, long status, const char *error)
{
	struct pt_call *call = ctx;

	call->t = NULL;
	evtimer_del(call->timer);
	if (result != UPSTREAM_OK) {
		log_warning("request %s: pass-through to %s failed: %s (%s)", call->id,
		            call->deployment >= 0 ? "the files deployment" : "its target",
		            upstream_result_name(result), error ? error : "");
		if (!call->started) {
			fail(call, result == UPSTREAM_ERR_TIMEOUT ? 504 : 502,
			     result == UPSTREAM_ERR_TIMEOUT ? "upstream_timeout" : "upstream_error",
			     "the pass-through upstream did not answer");
			return;
		}
		record(call, (int)call->status);
		http_exchange_abort(call->ex);
		call->ex = NULL;
		call_free(call);
		return;
	}
	record(call, (int)status);
	if (call->started) {
		http_exchange_stream_end(call->ex);
	} else {
		add_headers(call);
		http_exchange_send(call->ex, (int)status,
		                   call->content_type[0] ? call->content_type : NULL, "", 0);
	}
	call->ex = NULL;
	call_free(call);
}

static void on_timer(evutil_socket_t fd, short what, void *ctx)
{
	struct pt_call *call = ctx;

	(void)fd;
	(void)what;
	log_warning("request %s: pass-through upstream silent for %ld ms; given up", call->id,
	            call->timeout_ms);
	upstream_abort(call->t);
	call->t = NULL;
	if (!call->started) {
		fail(call, 504, "upstream_timeout",
		     "the pass-through upstream did not answer in time");
		return;
	}
	record(call, (int)call->status);
	http_exchange_abort(call->ex);
	call->ex = NULL;
	call_free(call);
}

static void on_writable(void *ctx)
{
	struct pt_call *call = ctx;

	if (call->paused && call->t) {
		call->paused = false;
		arm(call);
		upstream_resume(call->t);
	}
}

static void on_abort(void *ctx)
{
	struct pt_call *call = ctx;

	record(call, 499);
	call->ex = NULL;
	call_free(call);
}

void pt_relay_start(struct pt_call *call, const char *method, const struct http_request *req)
{
	static const struct upstream_callbacks up_callbacks = {
	        .on_header = on_header,
	        .on_head = on_head,
	        .on_data = on_data,
	        .on_done = on_done,
	};
	static const struct http_exchange_callbacks ex_callbacks = {
	        .on_writable = on_writable,
	        .on_abort = on_abort,
	};
	struct upstream_body_part file = {.fd = req->body_fd, .len = req->body_len};
	struct upstream_request up_req = {
	        .method = method,
	        .url = call->url,
	        .headers = call->headers,
	        .n_headers = call->n_headers,
	        .body = req->body,
	        .body_len = req->body_len,
	};
	int err;

	call->upstream_start_us = clock_now_us();
	call->timer = evtimer_new(upstream_event_base(call->pt->up), on_timer, call);
	if (!call->timer) {
		fail(call, 500, "internal_error", "out of memory");
		return;
	}
	http_exchange_set_callbacks(call->ex, &ex_callbacks, call);
	if (req->body_in_file && !(up_req.body_src = upstream_body_new(&file, 1))) {
		fail(call, 500, "internal_error", "out of memory");
		return;
	}
	err = upstream_start(call->pt->up, &up_req, &up_callbacks, call, &call->t);
	upstream_body_unref(up_req.body_src); /* the transfer holds its own */
	if (err < 0) {
		call->t = NULL;
		fail(call, 502, "upstream_error", "the pass-through request could not be started");
		return;
	}
	arm(call);
}
