/*
 * proxy: one client request -> one or more upstream attempts (see proxy.h).
 * Runs in a worker, on its event loop.
 *
 * Attempts: proxy_plan says which deployment comes next (round-robin within
 * the group, retries on other deployments, then the fallback groups; in the
 * global fallback mode the direct-Azure group, after one probe of the primary
 * when the supervisor granted one). Every attempt's outcome is counted in
 * fallback_state, with its latency to the response head; a client that leaves
 * is no backend's failure, so nothing is counted for the attempt it cut.
 * Between attempts nothing reaches the client: a failed attempt's answer is
 * kept only as long as it may be the one the client gets.
 *
 * Time: one deadline per client request (router_settings.timeout) over all
 * attempts and waits, until the response is committed; then one timer per
 * attempt: the whole transfer for a non-streamed request; for a stream, the
 * time to its first body byte (stream_timeout), then the idle time between
 * chunks, re-armed on every chunk and stopped while backpressure pauses the
 * transfer, so that a long healthy stream is never cut.
 *
 * Commit: a non-streamed answer is buffered (up to PROXY_MAX_RESPONSE: past
 * it the transfer stops and the client gets a 502) and sent whole; a 2xx one
 * must look like a JSON object, or it is the attempt's failure (an HTML page
 * from a proxy in front of the upstream, a garbled body): only its first and
 * last bytes are looked at, as parsing every answer costs more than it
 * finds. A stream has no size limit, only its idle timeout. A stream (the
 * client asked "stream": true and the upstream answers 2xx text/event-stream)
 * commits at its first byte: the client's response starts then and every
 * upstream read becomes one outgoing chunk, byte for byte. Past the
 * exchange's high watermark the transfer is paused and it resumes on
 * on_writable. A stream that fails after its first byte ends with an SSE
 * error event and a broken chunked body: never a [DONE] or a finish_reason
 * we did not get, and no retry (the client has seen part of an answer).
 *
 * A call lives until its exchange is over; its transfer and timers go with it.
 */
#include "proxy.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "answer.h"
#include "api_error.h"
#include "config.h"
#include "http_server.h"
#include "ingress.h"
#include "json_scan.h"
#include "log.h"
#include "outcome.h"
#include "proxy_plan.h"
#include "proxy_request.h"
#include "request_id.h"
#include "request_stats.h"
#include "fallback_state.h"
#include "upstream.h"
#include "clock.h"

#define PROXY_MAX_RESPONSE       (64 * 1024 * 1024) /* non-streamed upstream body */
#define PROXY_STREAM_IDLE_MAX_MS 60000L             /* between stream chunks, at most */
#define PROXY_TRIED_MAX          512                /* the "tried" list of an error message */

struct proxy {
	const struct config *config;
	struct upstream *up;
	struct event_base *base;
	struct fallback_state *fallback_state; /* global mode, outcome counters */
	struct proxy_balancer *balancer;
	json_t **defaults;           /* per deployment: its request defaults, or NULL */
	struct request_stats *stats; /* NULL: not counted */
};

/* Retry-after headers of an answer, passed on with it when it is a 4xx. */
struct retry_headers {
	char after[32];    /* retry-after */
	char after_ms[32]; /* retry-after-ms, x-ms-retry-after-ms */
};

/* An upstream's 4xx answer of a failed attempt (401, 429...): what the
 * client gets if no later attempt does better. */
struct kept_answer {
	long status; /* 0: none */
	struct evbuffer *body;
	char content_type[128];
	struct retry_headers retry;
	const struct deployment *dep;
	enum route route;
	int64_t ttfb_us;
	bool json; /* its body looks like a JSON object */
};

struct proxy_call {
	struct proxy *proxy;
	struct http_exchange *ex;    /* NULL once the exchange is over */
	struct upstream_transfer *t; /* the current attempt's; NULL between attempts */
	struct proxy_plan plan;
	const struct deployment *dep; /* of the current (or last) attempt */
	enum proxy_op op;
	json_t *root;    /* the client's body, parsed when an attempt needs it */
	const char *raw; /* its bytes, valid as long as the exchange */
	size_t raw_len;
	char *model; /* the group the client named */
	bool named_by_path;

	struct event *deadline_timer; /* the request's, until the response commits */
	struct event *attempt_timer;  /* the current attempt's (see above) */
	struct event *retry_timer;    /* the wait before the next attempt */
	int64_t started_us;           /* monotonic */
	int64_t deadline_us;          /* 0: none */
	int attempts;                 /* started */

	/* for request_stats: */
	int64_t received_us; /* handed to us, before the body was parsed */
	int64_t first_attempt_us;
	int64_t upstream_end_us; /* the last attempt's end */
	int64_t ttfb_us;         /* the current attempt's; -1: no head yet */
	size_t bytes_in, bytes_out;
	long group;
	char peer[64];
	char method[8];
	char path[128];
	size_t path_len;

	/* the current attempt */
	int64_t attempt_us;
	int64_t head_us; /* 0 before its response head */
	long idle_ms;    /* stream: between chunks */
	long status;
	struct evbuffer *body; /* non-streamed answer */
	char body_first;       /* its first and last bytes other than JSON white space */
	char body_last;
	char content_type[128];
	struct retry_headers retry;
	long retry_after_ms; /* -1: not asked */
	bool retry_precise;  /* from a millisecond header */
	bool probe;          /* a granted probe of the primary */
	bool recorded;       /* its outcome is counted */

	struct kept_answer kept;
	enum outcome last_failure;
	char tried[PROXY_TRIED_MAX]; /* "'a' (500), 'b' (connect)" */

	bool stream_requested;
	bool streaming; /* the client's response has started */
	bool paused;    /* we paused the transfer (backpressure) */
	char tail[2];   /* the last two bytes relayed: where an SSE event ends */
	char id[REQUEST_ID_MAX + 1];
};

static void timer_set(struct event *ev, long ms)
{
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(ev, &tv);
}

struct proxy *proxy_new(const struct config *config, struct upstream *up, struct fallback_state *rs)
{
	struct proxy *proxy = calloc(1, sizeof(*proxy));

	if (!proxy)
		return NULL;
	proxy->config = config;
	proxy->up = up;
	proxy->base = upstream_event_base(up);
	proxy->fallback_state = rs;
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

void proxy_free(struct proxy *proxy)
{
	if (!proxy)
		return;
	for (size_t i = 0; proxy->defaults && i < proxy->config->n_deployments; i++)
		json_decref(proxy->defaults[i]);
	free(proxy->defaults);
	proxy_balancer_free(proxy->balancer);
	free(proxy);
}

/* Ends the call: its exchange is over or handed back, its transfer gone. */
static void call_free(struct proxy_call *call)
{
	if (call->t)
		upstream_abort(call->t);
	if (call->deadline_timer)
		event_free(call->deadline_timer);
	if (call->attempt_timer)
		event_free(call->attempt_timer);
	if (call->retry_timer)
		event_free(call->retry_timer);
	if (call->body)
		evbuffer_free(call->body);
	if (call->kept.body)
		evbuffer_free(call->kept.body);
	json_decref(call->root);
	free(call->model);
	free(call);
}

static size_t dep_index(const struct proxy_call *call, const struct deployment *dep)
{
	return (size_t)(dep - call->proxy->config->deployments);
}

/* Counts the current attempt's outcome, once. */
static void record(struct proxy_call *call, enum outcome outcome)
{
	int64_t end = call->head_us ? call->head_us : clock_now_us();

	call->upstream_end_us = end > call->upstream_end_us ? end : call->upstream_end_us;
	if (call->recorded || !call->proxy->fallback_state)
		return;
	call->recorded = true;
	fallback_state_record(call->proxy->fallback_state, dep_index(call, call->dep), outcome,
	                      (long)(end - call->attempt_us), call->probe);
}

static void add_tried(struct proxy_call *call, const char *what)
{
	size_t used = strlen(call->tried);

	snprintf(call->tried + used, sizeof(call->tried) - used, "%s'%s' (%s)", used ? ", " : "",
	         call->dep->id, what);
}

static void add_route_headers(struct proxy_call *call, const struct deployment *dep,
                              enum route route)
{
	char attempts[16];

	snprintf(attempts, sizeof(attempts), "%d", call->attempts);
	http_exchange_add_header(call->ex, "x-llmgate-deployment", dep->id);
	http_exchange_add_header(call->ex, "x-llmgate-route", route_name(route));
	http_exchange_add_header(call->ex, "x-llmgate-attempts", attempts);
}

static void add_retry_headers(struct proxy_call *call, const struct retry_headers *retry)
{
	if (retry->after[0])
		http_exchange_add_header(call->ex, "retry-after", retry->after);
	if (retry->after_ms[0]) {
		http_exchange_add_header(call->ex, "retry-after-ms", retry->after_ms);
		http_exchange_add_header(call->ex, "x-ms-retry-after-ms", retry->after_ms);
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

/* x-llmgate-overhead-ms, just before the response head leaves. */
static void overhead_header(struct proxy_call *call)
{
	int64_t now = clock_now_us();

	answer_add_overhead(call->ex, request_stats_overhead_us(now - call->received_us,
	                                                        upstream_us(call, now)));
}

/* The request is answered (or the client left): counted and logged once. */
static void finish(struct proxy_call *call, int status, size_t bytes_out, bool answered,
                   enum route route, int64_t ttfb_us)
{
	int64_t now = clock_now_us();
	struct request_record rec = {
	        .id = call->id,
	        .peer = call->peer,
	        .method = call->method,
	        .path = call->path,
	        .path_len = call->path_len,
	        .model = call->model,
	        .group = call->group,
	        .deployment = answered ? (long)dep_index(call, call->dep) : -1,
	        .route = answered ? (int)route : -1,
	        .status = status,
	        .attempts = call->attempts,
	        .bytes_in = call->bytes_in,
	        .bytes_out = bytes_out,
	        .start_us = call->received_us,
	        .ttfb_us = ttfb_us,
	        .upstream_us = upstream_us(call, now),
	        .end_us = now,
	};

	request_stats_done(call->proxy->stats, &rec);
}

/* Our own error for the request, after its attempts: ends the call. */
static void reply_error(struct proxy_call *call, int status, const char *type, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void reply_error(struct proxy_call *call, int status, const char *type, const char *code,
                        const char *fmt, ...)
{
	va_list ap;
	char *json;

	if (call->attempts > 0)
		add_route_headers(call, call->dep, proxy_plan_current(&call->plan)->route);
	va_start(ap, fmt);
	json = api_error_json(type, code, fmt, ap);
	va_end(ap);
	overhead_header(call);
	finish(call, status, strlen(json), call->attempts > 0,
	       proxy_plan_current(&call->plan)->route, call->ttfb_us);
	api_json_send(call->ex, status, json);
	api_error_json_free(json);
	call->ex = NULL;
	call_free(call);
}

static void copy_value(char *dst, size_t size, const char *value, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, value, len);
	dst[len] = '\0';
}

static void on_header(void *ctx, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
	struct proxy_call *call = ctx;
	bool precise = false;
	long wait;

	if (name_len == 12 && strncasecmp(name, "content-type", 12) == 0) {
		copy_value(call->content_type, sizeof(call->content_type), value, value_len);
		return;
	}
	wait = proxy_retry_after_ms(name, name_len, value, value_len, &precise);
	if (wait < 0)
		return;
	if (precise) {
		call->retry_after_ms = wait;
		call->retry_precise = true;
		copy_value(call->retry.after_ms, sizeof(call->retry.after_ms), value, value_len);
	} else {
		if (!call->retry_precise)
			call->retry_after_ms = wait;
		copy_value(call->retry.after, sizeof(call->retry.after), value, value_len);
	}
}

static void on_head(void *ctx, long status)
{
	struct proxy_call *call = ctx;

	call->head_us = clock_now_us();
	call->status = status;
	call->ttfb_us = call->head_us - call->attempt_us;
}

static void arm_idle(struct proxy_call *call)
{
	if (!call->paused && call->t)
		timer_set(call->attempt_timer, call->idle_ms);
}

static void pause_transfer(struct proxy_call *call)
{
	call->paused = true;
	upstream_pause(call->t);
	evtimer_del(call->attempt_timer); /* a paused stream is not idle */
}

static void relay(struct proxy_call *call, const char *data, size_t len)
{
	if (http_exchange_stream_write(call->ex, data, len) < 0) {
		/* the client is gone: on_abort follows; stop the flow meanwhile */
		pause_transfer(call);
		return;
	}
	call->bytes_out += len;
	if (len >= 2) {
		call->tail[0] = data[len - 2];
		call->tail[1] = data[len - 1];
	} else if (len == 1) {
		call->tail[0] = call->tail[1];
		call->tail[1] = data[0];
	}
	if (!call->paused && http_exchange_pending(call->ex) > HTTP_EXCHANGE_HIGH_WATERMARK)
		pause_transfer(call);
}

static bool is_event_stream(const char *content_type)
{
	return strncasecmp(content_type, "text/event-stream", 17) == 0;
}

/* The stream's first byte: from here on the client has the answer. */
static void commit_stream(struct proxy_call *call, long status)
{
	record(call, OUTCOME_SUCCESS);
	evtimer_del(call->deadline_timer);
	call->streaming = true;
	add_route_headers(call, call->dep, proxy_plan_current(&call->plan)->route);
	overhead_header(call);
	if (call->attempts > 1)
		log_info("request %s: deployment '%s' answered after %d attempts (%s)", call->id,
		         call->dep->id, call->attempts, call->tried);
	if (http_exchange_stream_start(call->ex, (int)status, call->content_type) < 0)
		pause_transfer(call); /* the client is gone: on_abort follows */
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Notes the ends of a non-streamed body as it arrives (see the top). */
static void note_body_ends(struct proxy_call *call, const char *data, size_t len)
{
	for (size_t i = 0; !call->body_first && i < len; i++)
		if (!is_json_space(data[i]))
			call->body_first = data[i];
	for (size_t i = len; i > 0; i--) {
		if (!is_json_space(data[i - 1])) {
			call->body_last = data[i - 1];
			break;
		}
	}
}

static void on_data(void *ctx, long status, const char *data, size_t len)
{
	struct proxy_call *call = ctx;

	if (!call->ex)
		return;
	if (!call->head_us)
		on_head(call, status);
	if (call->streaming) {
		relay(call, data, len);
		arm_idle(call);
		return;
	}
	if (call->stream_requested && status >= 200 && status < 300 &&
	    is_event_stream(call->content_type)) {
		commit_stream(call, status);
		if (!call->paused)
			relay(call, data, len);
		arm_idle(call);
		return;
	}
	if (call->stream_requested)
		arm_idle(call); /* a stream request answered in one piece: its body flows */
	if (evbuffer_get_length(call->body) + len > PROXY_MAX_RESPONSE) {
		/* stop downloading now; on_done will not come */
		upstream_abort(call->t);
		call->t = NULL;
		/* a 2xx the client cannot get is the backend's failure, like an
		 * invalid one (see on_done) */
		record(call, status < 300 ? OUTCOME_5XX
		                          : outcome_from_status(status, call->dep->provider ==
		                                                                PROVIDER_AZURE));
		log_warning("upstream '%s': response over %d bytes, refused", call->dep->id,
		            PROXY_MAX_RESPONSE);
		reply_error(
		        call, 502, "upstream_error", "response_too_large",
		        "the upstream response of deployment '%s' is over the limit of %d bytes",
		        call->dep->id, PROXY_MAX_RESPONSE);
		return;
	}
	note_body_ends(call, data, len);
	evbuffer_add(call->body, data, len);
}

/* The stream failed after its first byte: say so in-band, then break it. */
static void fail_stream(struct proxy_call *call, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void fail_stream(struct proxy_call *call, const char *code, const char *fmt, ...)
{
	va_list ap;
	char *json;
	struct evbuffer *event = evbuffer_new();

	va_start(ap, fmt);
	json = api_error_json("upstream_error", code, fmt, ap);
	va_end(ap);
	if (event) {
		/* close an event the upstream left half-written, so ours stands alone */
		if (call->tail[1] != '\n' && call->tail[1] != '\0')
			evbuffer_add(event, "\n\n", 2);
		else if (call->tail[0] != '\n')
			evbuffer_add(event, "\n", 1);
		evbuffer_add_printf(event, "data: %s\n\n", json);
		http_exchange_stream_write(call->ex, evbuffer_pullup(event, -1),
		                           evbuffer_get_length(event));
		evbuffer_free(event);
	}
	api_error_json_free(json);
	finish(call, (int)call->status, call->bytes_out, true,
	       proxy_plan_current(&call->plan)->route, call->ttfb_us);
	http_exchange_abort(call->ex);
	call->ex = NULL;
	call_free(call);
}

static int start_attempt(struct proxy_call *call);

/* Sends an upstream's answer as it came, except an error whose body is not
 * JSON (a proxy's HTML page, the 404 page of a wrong api_base): the client
 * gets our OpenAI-shaped error with its status instead, never an HTML page
 * (SPEC 4). Ends the call. */
static void send_answer(struct proxy_call *call, long status, const struct deployment *dep,
                        enum route route, const struct retry_headers *retry,
                        const char *content_type, struct evbuffer *body, bool json, int64_t ttfb_us)
{
	add_route_headers(call, dep, route);
	if (status >= 400)
		add_retry_headers(call, retry);
	overhead_header(call);
	finish(call, (int)status, evbuffer_get_length(body), true, route, ttfb_us);
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
		http_exchange_send_buffer(call->ex, (int)status,
		                          content_type[0] ? content_type : "application/json",
		                          body);
	}
	call->ex = NULL;
	call_free(call);
}

static bool body_is_json_object(const struct proxy_call *call)
{
	return call->body_first == '{' && call->body_last == '}';
}

static void send_kept(struct proxy_call *call)
{
	struct kept_answer *k = &call->kept;

	call->dep = k->dep;
	send_answer(call, k->status, k->dep, k->route, &k->retry, k->content_type, k->body, k->json,
	            k->ttfb_us);
}

/* No attempt is left: the client gets the best we have. */
static void give_up(struct proxy_call *call)
{
	if (call->kept.status) {
		log_info("request %s: no deployment answered well (%s); passing on %ld from '%s'",
		         call->id, call->tried, call->kept.status, call->kept.dep->id);
		send_kept(call);
	} else if (call->last_failure == OUTCOME_TIMEOUT) {
		log_warning("request %s: no deployment answered in time (%s)", call->id,
		            call->tried);
		reply_error(call, 504, "timeout", "upstream_timeout",
		            "no deployment of model '%s' answered in time; tried %s", call->model,
		            call->tried);
	} else {
		log_warning("request %s: no deployment answered (%s)", call->id, call->tried);
		reply_error(call, 502, "upstream_error", "upstream_unavailable",
		            "no deployment of model '%s' answered; tried %s", call->model,
		            call->tried);
	}
}

static long remaining_ms(const struct proxy_call *call)
{
	int64_t left;

	if (!call->deadline_us)
		return -1;
	left = call->deadline_us - clock_now_us();
	return left > 0 ? (long)((left + 999) / 1000) : 0;
}

static void deadline_passed(struct proxy_call *call)
{
	log_warning("request %s: deadline of %ld ms passed after %d attempt%s (%s)", call->id,
	            call->proxy->config->router_timeout_ms, call->attempts,
	            call->attempts == 1 ? "" : "s", call->tried[0] ? call->tried : "none");
	reply_error(call, 504, "timeout", "deadline_exceeded",
	            "the request to model '%s' took longer than %ld ms; tried %s", call->model,
	            call->proxy->config->router_timeout_ms,
	            call->tried[0] ? call->tried : "nothing");
}

/* The current attempt failed as WHAT (its outcome counted; DETAIL, when not
 * NULL, for the log): the next one, or the end. WAIT_MS is the retry-after
 * the upstream asked for, or -1. */
static void attempt_failed(struct proxy_call *call, enum outcome outcome, const char *what,
                           const char *detail, long wait_ms)
{
	const struct deployment *prev = call->dep;
	size_t prev_step = call->plan.step;
	long left = remaining_ms(call), wait;

	add_tried(call, what);
	call->last_failure = outcome;
	log_info("request %s: deployment '%s' failed (%s%s%s)", call->id, prev->id, what,
	         detail ? ": " : "", detail ? detail : "");
	if (left == 0) {
		deadline_passed(call);
		return;
	}
	if (!proxy_plan_next(&call->plan, call->proxy->balancer, outcome_retry_class(outcome))) {
		give_up(call);
		return;
	}
	wait = proxy_plan_wait_ms(wait_ms, call->plan.step == prev_step,
	                          call->plan.deployment == dep_index(call, prev),
	                          call->plan.retries, left);
	if (wait < 0) {
		/* the deployment asked for a wait the deadline does not leave */
		if (!proxy_plan_next_group(&call->plan, call->proxy->balancer)) {
			give_up(call);
			return;
		}
		wait = 0;
	}
	log_info("request %s: retrying on deployment '%s' (%s) in %ld ms", call->id,
	         call->proxy->config->deployments[call->plan.deployment].id,
	         route_name(proxy_plan_current(&call->plan)->route), wait);
	timer_set(call->retry_timer, wait);
}

static enum outcome transport_outcome(enum upstream_result result)
{
	switch (result) {
	case UPSTREAM_ERR_TIMEOUT:
		return OUTCOME_TIMEOUT;
	default:
		/* refused, reset, DNS, TLS; also a body cut short */
		return OUTCOME_CONNECT;
	}
}

static void keep_answer(struct proxy_call *call, long status)
{
	struct kept_answer *k = &call->kept;

	if (!k->body && !(k->body = evbuffer_new()))
		return;
	evbuffer_drain(k->body, evbuffer_get_length(k->body));
	evbuffer_add_buffer(k->body, call->body);
	k->status = status;
	memcpy(k->content_type, call->content_type, sizeof(k->content_type));
	k->retry = call->retry;
	k->dep = call->dep;
	k->route = proxy_plan_current(&call->plan)->route;
	k->ttfb_us = call->ttfb_us;
	k->json = body_is_json_object(call);
}

static void on_done(void *ctx, enum upstream_result result, long status, const char *error)
{
	struct proxy_call *call = ctx;
	bool azure = call->dep->provider == PROVIDER_AZURE;
	char what[64];

	call->t = NULL;
	call->upstream_end_us = clock_now_us();
	evtimer_del(call->attempt_timer);
	if (!call->ex) {
		call_free(call);
		return;
	}
	if (call->streaming) {
		if (result == UPSTREAM_OK) {
			finish(call, (int)call->status, call->bytes_out, true,
			       proxy_plan_current(&call->plan)->route, call->ttfb_us);
			http_exchange_stream_end(call->ex);
			call->ex = NULL;
			call_free(call);
			return;
		}
		log_warning("upstream '%s': stream broken (%s error): %s", call->dep->id,
		            upstream_result_name(result), error);
		fail_stream(call,
		            result == UPSTREAM_ERR_TIMEOUT ? "upstream_timeout"
		                                           : upstream_result_name(result),
		            "the stream from deployment '%s' failed (%s error)", call->dep->id,
		            upstream_result_name(result));
		return;
	}
	if (result == UPSTREAM_ERR_ABORTED || result == UPSTREAM_ERR_INTERNAL) {
		log_warning("upstream '%s': %s error: %s", call->dep->id,
		            upstream_result_name(result), error);
		reply_error(call, 502, "upstream_error", upstream_result_name(result),
		            "the request to deployment '%s' failed (%s error)", call->dep->id,
		            upstream_result_name(result));
		return;
	}
	if (result != UPSTREAM_OK) {
		enum outcome outcome = transport_outcome(result);

		record(call, outcome);
		attempt_failed(call, outcome, upstream_result_name(result), error, -1);
		return;
	}

	enum outcome outcome = outcome_from_status(status, azure);

	if (status >= 300 && status < 400) {
		/* a redirect (an http api_base moved to https...): we do not follow it,
		 * and the client cannot, without the location we do not pass on */
		record(call, OUTCOME_5XX);
		snprintf(what, sizeof(what), "%ld", status);
		attempt_failed(call, OUTCOME_5XX, what, "a redirect, not followed", -1);
		return;
	}
	if (status >= 200 && status < 300 && !body_is_json_object(call)) {
		char detail[256];

		record(call, OUTCOME_5XX);
		snprintf(detail, sizeof(detail),
		         "%ld with a body that is not a JSON object (%zu bytes of '%s')", status,
		         evbuffer_get_length(call->body),
		         call->content_type[0] ? call->content_type : "no content type");
		attempt_failed(call, OUTCOME_5XX, "invalid response", detail, -1);
		return;
	}
	record(call, outcome);
	if (outcome_retry_class(outcome) == OUTCOME_RETRY_NONE) {
		if (status < 400 && call->attempts > 1)
			log_info("request %s: deployment '%s' answered after %d attempts (%s)",
			         call->id, call->dep->id, call->attempts, call->tried);
		send_answer(call, status, call->dep, proxy_plan_current(&call->plan)->route,
		            &call->retry, call->content_type, call->body, body_is_json_object(call),
		            call->ttfb_us);
		return;
	}
	if (status < 500)
		keep_answer(call, status);
	snprintf(what, sizeof(what), "%ld", status);
	attempt_failed(call, outcome, what, NULL, call->retry_after_ms);
}

static void on_writable(void *ctx)
{
	struct proxy_call *call = ctx;

	if (call->paused && call->t) {
		call->paused = false;
		arm_idle(call);
		upstream_resume(call->t);
	}
}

static void on_abort(void *ctx)
{
	struct proxy_call *call = ctx;

	log_debug("request %s: client left, aborting the upstream transfer", call->id);
	/* nginx's 499: the client closed the request */
	finish(call, 499, call->bytes_out, call->streaming, proxy_plan_current(&call->plan)->route,
	       call->ttfb_us);
	call->ex = NULL;
	call_free(call); /* a client leaving is no backend's failure: nothing counted */
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_call *call = arg;

	(void)fd;
	(void)what;
	if (call->streaming)
		return;
	if (call->t) {
		/* cut by the deadline, it did not answer in the time it had */
		upstream_abort(call->t);
		call->t = NULL;
		record(call, OUTCOME_TIMEOUT);
		add_tried(call, "timeout");
	}
	deadline_passed(call);
}

static void on_attempt_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_call *call = arg;
	long elapsed = (long)((clock_now_us() - call->attempt_us) / 1000);
	char detail[64];

	(void)fd;
	(void)what;
	if (!call->t)
		return;
	upstream_abort(call->t);
	call->t = NULL;
	if (call->streaming) {
		log_warning("upstream '%s': stream idle for %ld ms, cut", call->dep->id,
		            call->idle_ms);
		fail_stream(call, "upstream_timeout",
		            "the stream from deployment '%s' stalled for %ld ms", call->dep->id,
		            call->idle_ms);
		return;
	}
	record(call, OUTCOME_TIMEOUT);
	snprintf(detail, sizeof(detail), "no %s after %ld ms",
	         call->stream_requested ? "stream data" : "complete answer", elapsed);
	attempt_failed(call, OUTCOME_TIMEOUT, "timeout", detail, -1);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_call *call = arg;
	int err;

	(void)fd;
	(void)what;
	err = start_attempt(call);
	if (err < 0)
		reply_error(call, 500, "server_error", NULL,
		            "cannot start the upstream request: %s", strerror(-err));
}

static int start_attempt(struct proxy_call *call)
{
	const struct config *config = call->proxy->config;
	const struct deployment *dep = &config->deployments[call->plan.deployment];
	struct proxy_request r;
	long timeout_ms, first_ms;
	int err;

	call->dep = dep;
	call->probe = proxy_plan_current(&call->plan)->probe;
	call->status = 0;
	call->head_us = 0;
	call->ttfb_us = -1;
	call->recorded = false;
	call->retry_after_ms = -1;
	call->retry_precise = false;
	call->content_type[0] = '\0';
	call->body_first = call->body_last = '\0';
	memset(&call->retry, 0, sizeof(call->retry));
	evbuffer_drain(call->body, evbuffer_get_length(call->body));

	if (!call->root && proxy_request_needs_tree(dep, call->model, call->named_by_path,
	                                            call->proxy->defaults[dep_index(call, dep)])) {
		/* json_scan vouched for the body: this parse does not fail */
		call->root = json_loadb(call->raw, call->raw_len,
		                        JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
		if (!call->root)
			return -ENOMEM;
	}
	err = proxy_request_build(&r, dep, call->op, call->root, call->model, call->named_by_path,
	                          call->proxy->defaults[dep_index(call, dep)]);
	if (err < 0) {
		log_warning("request %s: cannot build the request to deployment '%s': %s", call->id,
		            dep->id, strerror(-err));
		proxy_request_clear(&r);
		return err;
	}
	timeout_ms = dep->timeout_ms > 0 ? dep->timeout_ms : config->request_timeout_ms;
	first_ms = timeout_ms;
	if (call->stream_requested && dep->stream_timeout_ms > 0)
		first_ms = dep->stream_timeout_ms;
	call->idle_ms =
	        timeout_ms < PROXY_STREAM_IDLE_MAX_MS ? timeout_ms : PROXY_STREAM_IDLE_MAX_MS;

	struct upstream_request ureq = {
	        .url = r.url,
	        .headers = r.headers,
	        .n_headers = r.n_headers,
	        .body = r.body ? r.body : call->raw,
	        .body_len = r.body ? r.body_len : call->raw_len,
	        .timeout_ms = 0, /* our timers: see the top of this file */
	};
	static const struct upstream_callbacks callbacks = {
	        .on_header = on_header,
	        .on_head = on_head,
	        .on_data = on_data,
	        .on_done = on_done,
	};
	err = upstream_start(call->proxy->up, &ureq, &callbacks, call, &call->t);
	proxy_request_clear(&r);
	if (err < 0)
		return err;
	call->attempt_us = clock_now_us();
	if (call->attempts++ == 0)
		call->first_attempt_us = call->attempt_us;
	timer_set(call->attempt_timer, first_ms);
	log_debug("request %s: attempt %d: '%s' -> deployment '%s' (%s%s%s)", call->id,
	          call->attempts, call->model, dep->id,
	          route_name(proxy_plan_current(&call->plan)->route), call->probe ? ", probe" : "",
	          call->stream_requested ? ", stream" : "");
	return 0;
}

static void model_not_found(const struct proxy *proxy, const struct early_answer *e)
{
	const struct config *config = proxy->config;
	char list[1024] = "";
	size_t used = 0;

	for (size_t i = 0; i < config->n_groups && used < sizeof(list); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s'%s'", i ? ", " : "",
		                 config->groups[i].name);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	answer_early_error(e, 404, "model_not_found",
	                   "model '%s' is not served here; available models: %s", e->model,
	                   list[0] ? list : "(none)");
}

/* Reads the body and finds the group (named by E->model, or else by the
 * body's "model"); answers the client itself on error (-1). A body that
 * json_scan vouches for is not parsed into a tree (*RET_ROOT stays NULL;
 * E->model then points to *RET_OWNED, a copy to free); anything else goes
 * through ingress_parse_body(), whose errors the client gets. */
static int parse_request(const struct proxy *proxy, struct early_answer *e, json_t **ret_root,
                         char **ret_owned, bool *ret_stream, const struct group **ret_group)
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
	if (!e->model || !e->model[0]) {
		e->model = NULL;
		answer_early_error(e, 400, "missing_model", "the request has no 'model'");
	} else if (!(*ret_group = config_find_group(proxy->config, e->model)) ||
	           (*ret_group)->n_deployments == 0) {
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

void proxy_handle(struct proxy *proxy, struct http_exchange *ex, const struct http_request *req,
                  enum proxy_op op, const char *model, const char *request_id)
{
	const struct config *config = proxy->config;
	const struct group *group = NULL;
	struct proxy_call *call;
	bool named_by_path = model != NULL, probe = false, stream = false;
	json_t *root = NULL;
	char *owned;
	size_t gi;
	enum fallback_mode mode = MODE_NORMAL;
	long direct = -1;
	int err;

	struct early_answer early = {
	        .stats = proxy->stats,
	        .ex = ex,
	        .req = req,
	        .id = request_id,
	        .model = model,
	        .received_us = clock_now_us(),
	};

	if (parse_request(proxy, &early, &root, &owned, &stream, &group) < 0)
		return;
	model = early.model;
	call = calloc(1, sizeof(*call));
	if (call)
		call->model = owned ? owned : strdup(model);
	else
		free(owned);
	if (!call || !call->model || !(call->body = evbuffer_new()) ||
	    !(call->deadline_timer = evtimer_new(proxy->base, on_deadline, call)) ||
	    !(call->attempt_timer = evtimer_new(proxy->base, on_attempt_timeout, call)) ||
	    !(call->retry_timer = evtimer_new(proxy->base, on_retry, call))) {
		api_error_send(ex, 500, "server_error", NULL, "out of memory");
		json_decref(root);
		if (call)
			call_free(call);
		return;
	}
	call->proxy = proxy;
	call->ex = ex;
	call->op = op;
	call->root = root;
	call->raw = req->body;
	call->raw_len = req->body_len;
	call->named_by_path = named_by_path;
	call->stream_requested = stream;
	call->last_failure = OUTCOME_SUCCESS;
	snprintf(call->id, sizeof(call->id), "%s", request_id);
	call->received_us = early.received_us;
	call->ttfb_us = -1;
	call->bytes_in = req->body_len;
	call->group = (long)(group - config->groups);
	snprintf(call->peer, sizeof(call->peer), "%s", req->peer ? req->peer : "");
	snprintf(call->method, sizeof(call->method), "%s", req->method);
	call->path_len = req->path_len < sizeof(call->path) ? req->path_len : sizeof(call->path);
	memcpy(call->path, req->path, call->path_len);

	gi = (size_t)(group - config->groups);
	if (proxy->fallback_state) {
		mode = fallback_state_mode(proxy->fallback_state, gi);
		direct = fallback_state_direct_azure(proxy->fallback_state, gi);
		if (mode == MODE_FALLBACK && direct >= 0)
			probe = fallback_state_take_probe(proxy->fallback_state, gi);
	}
	proxy_plan_init(&call->plan, config, gi, mode, direct, probe);
	proxy_plan_first(&call->plan, proxy->balancer);
	call->dep = &config->deployments[call->plan.deployment];

	call->started_us = clock_now_us();
	if (config->router_timeout_ms > 0) {
		call->deadline_us = call->started_us + (int64_t)config->router_timeout_ms * 1000;
		timer_set(call->deadline_timer, config->router_timeout_ms);
	}
	static const struct http_exchange_callbacks ex_callbacks = {
	        .on_writable = on_writable,
	        .on_abort = on_abort,
	};
	http_exchange_set_callbacks(ex, &ex_callbacks, call);
	err = start_attempt(call);
	if (err < 0)
		reply_error(call, 500, "server_error", NULL,
		            "cannot start the upstream request: %s", strerror(-err));
}
