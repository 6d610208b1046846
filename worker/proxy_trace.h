/*
 * proxy_trace: the spans of a proxied request (see proxy_call.h): one SERVER
 * span per client request, one CLIENT child span per upstream attempt, by
 * the OpenTelemetry GenAI conventions (trace_span.h lists the attributes),
 * and the W3C traceparent each attempt sends upstream, naming its own span.
 * A client's valid traceparent continues its trace (and its tracestate is
 * carried); without one a new trace starts. With tracing off (no
 * llmgate.otel, no otel callback) the call's trace is inert: nothing is
 * parsed, generated or sent.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config_otel.h"
#include "outcome.h"
#include "response_model.h"
#include "route.h"
#include "trace_context.h"

struct config;
struct deployment;
struct event_base;
struct http_request;
struct otlp_export;
struct proxy_call;
struct proxy_tracer;
struct upstream;

/* A worker's tracer: its id generator, sampler settings, exporter, and what
 * each deployment's attempt spans share (CONFIG->otel is its settings;
 * CONFIG must outlive it). */
int proxy_tracer_new(const struct config *config, struct upstream *up, struct event_base *base,
                     struct proxy_tracer **ret);
void proxy_tracer_free(struct proxy_tracer *t);
struct otlp_export *proxy_tracer_export(struct proxy_tracer *t);

/* The trace state of one call (in struct proxy_call). */
struct proxy_trace {
	bool on;      /* tracing is on: traceparent goes upstream */
	bool sampled; /* spans are recorded */
	bool has_parent;
	bool attempt_open;
	uint8_t trace_id[TRACE_ID_LEN];
	uint8_t span_id[TRACE_SPAN_ID_LEN]; /* the server span's */
	uint8_t parent_id[TRACE_SPAN_ID_LEN];
	char *state;        /* the client's tracestate (owned), or NULL */
	const char *broken; /* a stream that failed after its first byte: why (static) */
	size_t state_len;
	int64_t start_ns;
	/* the current attempt's span */
	uint8_t attempt_id[TRACE_SPAN_ID_LEN];
	const struct deployment *attempt_dep;
	enum route attempt_route;
	int attempt_no;
	char traceparent[TRACEPARENT_LEN + 1]; /* what it sends upstream */
	/* the model its answer names (gen_ai.response.model), "" until found;
	 * ANSWER_CHUNKS: chunks of the answer looked at (PROXY_TRACE_ANSWER_CHUNKS:
	 * no more) */
	char response_model[RESPONSE_MODEL_MAX];
	uint8_t response_model_len;
	uint8_t answer_chunks;
};

#define PROXY_TRACE_ANSWER_CHUNKS 4

/* At admission: reads the client's traceparent/tracestate, decides. */
void proxy_trace_begin(struct proxy_call *call, const struct http_request *req);
/* An attempt starts: its span's id; returns the traceparent value to send
 * upstream (NULL: tracing off). The span starts when the attempt is sent:
 * at CALL->attempt_us, read when CALL->attempts counts it; one never sent
 * (a deployment skipped at its ceiling) spans no time. */
const char *proxy_trace_attempt_start(struct proxy_call *call);
/* A chunk of the current attempt's answer (STATUS): the model it names is
 * looked for in the first PROXY_TRACE_ANSWER_CHUNKS chunks of a 2xx answer
 * of a sampled request. The caller checks proxy_trace_wants_answer() first. */
void proxy_trace_answer_data(struct proxy_trace *t, long status, const char *data, size_t len);
static inline bool proxy_trace_wants_answer(const struct proxy_trace *t)
{
	return t->sampled && t->answer_chunks < PROXY_TRACE_ANSWER_CHUNKS;
}
/* The current attempt's outcome is known (proxy_attempt_record): a failed
 * attempt's span ends now; a successful one's when the request ends. */
void proxy_trace_attempt_outcome(struct proxy_call *call, enum outcome outcome);
/* The request is answered (proxy_answer_record) at NOW_US (clock_now_us()):
 * the open attempt's span and the server span end. ANSWERED: the current
 * deployment answered. */
void proxy_trace_end(struct proxy_call *call, int status, bool answered, enum route route,
                     int64_t now_us);
/* The call's stream broke after its first byte, as CODE (a static string):
 * its spans end as errors of that type. */
void proxy_trace_broken(struct proxy_call *call, const char *code);
/* Frees what the call's trace holds. */
void proxy_trace_free(struct proxy_trace *trace);
