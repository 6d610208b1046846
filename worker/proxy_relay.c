/*
 * proxy_relay: the stream relay of a proxied request (see proxy_call.h).
 * Runs in a worker, on its event loop.
 *
 * A stream (the client asked "stream": true and the upstream answers 2xx
 * text/event-stream, or any 2xx of an op that answers bytes: speech's audio)
 * commits at its first byte: the client's response starts
 * then and every upstream read becomes one outgoing chunk, byte for byte. A
 * stream has no size limit, only its idle timeout (re-armed on every chunk,
 * stopped while the transfer is paused: a paused stream is not idle). A
 * stream that fails after its first byte ends with an SSE error event and a
 * broken chunked body: never a [DONE] or a finish_reason we did not get, and
 * no retry (the client has seen part of an answer). The event is the op's:
 * chat and completions get "data: {"error":...}"; the Responses API, whose
 * events are named and carry no [DONE], its "event: error" with the next
 * sequence_number, never an invented response.completed.
 *
 * Backpressure is decided in one place, after every write to the client
 * (after_write): the transfer pauses when the client is gone or its pending
 * output is past the exchange's high watermark; it flows again only on
 * on_writable, which the exchange calls once it drained under the low one.
 */
#include <event2/buffer.h>
#include <jansson.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "api_error.h"
#include "clock.h"
#include "http_server.h"
#include "log.h"
#include "proxy_call.h"
#include "proxy_request.h"
#include "upstream.h"

/* The one backpressure decision: WRITTEN is what the write to the client
 * returned (< 0: the client is gone, on_abort follows; stop the flow
 * meanwhile). */
static void after_write(struct proxy_call *call, int written)
{
	if (call->paused ||
	    (written >= 0 && http_exchange_pending(call->ex) <= HTTP_EXCHANGE_HIGH_WATERMARK))
		return;
	call->paused = true;
	upstream_pause(call->t);
	evtimer_del(call->attempt_timer); /* a paused stream is not idle */
}

/* Responses streams number their events (sequence_number from 0): counting
 * the blank lines that end them tells the number our error event takes. */
static void count_events(struct proxy_call *call, const char *data, size_t len)
{
	const char *p = data, *end = data + len;

	if (len && data[0] == '\n' && call->tail[1] == '\n')
		call->sse_events++;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		if (p + 1 < end && p[1] == '\n')
			call->sse_events++;
		p++;
	}
}

static void relay(struct proxy_call *call, const char *data, size_t len)
{
	int r = http_exchange_stream_write(call->ex, data, len);

	if (r >= 0 && proxy_op_responses(call->op))
		count_events(call, data, len);
	if (r >= 0) {
		call->bytes_out += len;
		if (len >= 2) {
			call->tail[0] = data[len - 2];
			call->tail[1] = data[len - 1];
		} else if (len == 1) {
			call->tail[0] = call->tail[1];
			call->tail[1] = data[0];
		}
	}
	after_write(call, r);
}

static bool is_event_stream(const char *content_type)
{
	return strncasecmp(content_type, "text/event-stream", 17) == 0;
}

/* The stream's first byte: from here on the client has the answer. False
 * when the client is gone already. */
static bool commit_stream(struct proxy_call *call, long status)
{
	proxy_attempt_record(call, OUTCOME_SUCCESS);
	evtimer_del(call->deadline_timer);
	call->streaming = true;
	proxy_answer_route_headers(call, call->dep, proxy_plan_current(&call->plan)->route);
	proxy_answer_overhead(call, clock_now_us());
	proxy_attempt_log_answered(call);
	after_write(call, http_exchange_stream_start(call->ex, (int)status, call->content_type));
	return !call->paused;
}

bool proxy_relay_data(struct proxy_call *call, long status, const char *data, size_t len)
{
	if (!call->streaming) {
		/* speech's audio bytes go out as they come, like a stream */
		bool bytes = proxy_request_answer(call->op) == PROXY_ANSWER_BYTES;

		if (status < 200 || status >= 300 ||
		    (!bytes && (!call->stream_requested || !is_event_stream(call->content_type))))
			return false;
		if (proxy_op_responses(call->op))
			proxy_answer_learn(call, NULL, 0);
		proxy_usage_stream_start(call, status);
		if (!commit_stream(call, status))
			return true;
	}
	if (call->id_pending)
		proxy_answer_learn_stream(call, data, len);
	proxy_usage_stream_data(call, data, len, relay);
	proxy_arm_idle(call);
	return true;
}

/* The stream is over, WHOLE or broken: counted and logged, then ended. */
static void end_stream(struct proxy_call *call, bool whole)
{
	proxy_answer_record(call, (int)call->status, call->bytes_out, true,
	                    proxy_plan_current(&call->plan)->route, call->ttfb_us, clock_now_us());
	if (whole)
		http_exchange_stream_end(call->ex);
	else
		http_exchange_abort(call->ex);
	call->ex = NULL;
	proxy_call_free(call);
}

void proxy_relay_end(struct proxy_call *call)
{
	proxy_usage_stream_end(call, relay);
	end_stream(call, true);
}

/* The Responses API's own ending of a failed stream: its "error" event
 * (type, code, message, param, sequence_number), never a response.completed
 * nor a [DONE]. JSON is our OpenAI error body, whose message is taken. */
static void add_responses_error(struct proxy_call *call, struct evbuffer *event, const char *code,
                                const char *json)
{
	json_t *err = json_loads(json, 0, NULL);
	const char *message =
	        json_string_value(json_object_get(json_object_get(err, "error"), "message"));
	json_t *ev = json_pack("{s:s, s:s, s:s, s:n, s:I}", "type", "error", "code", code,
	                       "message", message ? message : "the upstream stream failed", "param",
	                       "sequence_number", (json_int_t)call->sse_events);
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;

	if (text)
		evbuffer_add_printf(event, "event: error\ndata: %s\n\n", text);
	free(text);
	json_decref(ev);
	json_decref(err);
}

void proxy_relay_fail(struct proxy_call *call, const char *code, const char *fmt, ...)
{
	va_list ap;
	char *json;
	struct evbuffer *event = evbuffer_new();

	proxy_usage_stream_end(call, relay);
	va_start(ap, fmt);
	json = api_error_json("upstream_error", code, fmt, ap);
	va_end(ap);
	if (event && !is_event_stream(call->content_type)) {
		/* bytes (speech's audio): no event to add, the broken body says it */
	} else if (event) {
		/* close an event the upstream left half-written, so ours stands alone */
		if (call->tail[1] != '\n' && call->tail[1] != '\0')
			evbuffer_add(event, "\n\n", 2);
		else if (call->tail[0] != '\n')
			evbuffer_add(event, "\n", 1);
		if (proxy_op_responses(call->op))
			add_responses_error(call, event, code, json);
		else
			evbuffer_add_printf(event, "data: %s\n\n", json);
		http_exchange_stream_write(call->ex, evbuffer_pullup(event, -1),
		                           evbuffer_get_length(event));
	}
	if (event)
		evbuffer_free(event);
	api_error_json_free(json);
	proxy_trace_broken(call, code);
	end_stream(call, false);
}

void proxy_relay_on_writable(void *ctx)
{
	struct proxy_call *call = ctx;

	if (call->paused && call->t) {
		call->paused = false;
		proxy_arm_idle(call);
		upstream_resume(call->t);
	}
}
