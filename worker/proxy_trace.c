/*
 * proxy_trace: a proxied request's spans and the traceparent it sends
 * upstream (see proxy_trace.h). Runs in a worker, on the request path: the
 * work per request is a header lookup, two or three ids from the worker's
 * generator (no system call), a clock read per span edge (vDSO) and, for a
 * sampled request, its spans encoded into the exporter's queue when they
 * end. Attributes come from the call and the config only: never a byte of
 * the request or answer bodies, never a header value but the trace headers.
 */
#include "proxy_trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "http_server.h"
#include "otlp_export.h"
#include "providers.h"
#include "proxy_call.h"
#include "trace_sampler.h"
#include "trace_span.h"

struct proxy_tracer {
	const struct otel_config *c;
	struct trace_rng rng;
	struct otlp_export *export;
};

int proxy_tracer_new(const struct otel_config *c, struct upstream *up, struct event_base *base,
                     struct proxy_tracer **ret)
{
	struct proxy_tracer *t = calloc(1, sizeof(*t));
	uint8_t seed[32];
	int r;

	*ret = NULL;
	if (!t)
		return -ENOMEM;
	/* once per worker: every id after this is arithmetic */
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		free(t);
		return -errno;
	}
	trace_rng_seed(&t->rng, seed);
	t->c = c;
	r = otlp_export_new(c, up, base, &t->export);
	if (r < 0) {
		free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void proxy_tracer_free(struct proxy_tracer *t)
{
	if (!t)
		return;
	otlp_export_free(t->export);
	free(t);
}

struct otlp_export *proxy_tracer_export(struct proxy_tracer *t)
{
	return t ? t->export : NULL;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* gen_ai.operation.name of OP (GenAI's names; the Responses API's own). */
static const char *operation(enum proxy_op op)
{
	switch (op) {
	case PROXY_OP_CHAT:
		return "chat";
	case PROXY_OP_COMPLETIONS:
		return "text_completion";
	case PROXY_OP_EMBEDDINGS:
		return "embeddings";
	default:
		return "responses";
	}
}

/* gen_ai.provider.name: the convention's value where it has one, else
 * LiteLLM's prefix (groq, mistral, ...), which the convention uses too. */
static const char *provider(enum provider p)
{
	switch (p) {
	case PROVIDER_OPENAI:
	case PROVIDER_TEXT_COMPLETION_OPENAI:
		return "openai";
	case PROVIDER_AZURE:
		return "azure.ai.openai";
	case PROVIDER_AZURE_AI:
		return "azure.ai.inference";
	case PROVIDER_MISTRAL:
		return "mistral_ai";
	case PROVIDER_DEEPSEEK:
		return "deepseek";
	case PROVIDER_XAI:
		return "x_ai";
	case PROVIDER_GEMINI:
		return "gcp.gemini";
	default:
		return provider_name(p);
	}
}

/* server.address and server.port of an api_base (scheme://host[:port]/...). */
static void server_of(const char *base, struct trace_span *s)
{
	const char *host = strstr(base, "://"), *end;
	long port = strncmp(base, "https", 5) == 0 ? 443 : 80;

	host = host ? host + 3 : base;
	if (*host == '[') {
		end = strchr(host, ']');
		if (!end)
			return;
		trace_span_str(s, TRACE_ATTR_SERVER_ADDRESS, host + 1, (size_t)(end - host - 1));
		end++;
	} else {
		end = host + strcspn(host, ":/?#");
		trace_span_str(s, TRACE_ATTR_SERVER_ADDRESS, host, (size_t)(end - host));
	}
	if (*end == ':')
		port = strtol(end + 1, NULL, 10);
	trace_span_int(s, TRACE_ATTR_SERVER_PORT, port);
}

static void ids(const struct proxy_trace *t, struct trace_span *s)
{
	memcpy(s->trace_id, t->trace_id, TRACE_ID_LEN);
}

static void export(struct proxy_call *call, const struct trace_span *s)
{
	otlp_export_add(call->proxy->tracer->export, s);
}

/* Ends the open attempt span at END: an error when ERROR_TYPE is set, or
 * when the upstream's status is 4xx/5xx (ERRBUF holds its text). */
static void end_attempt(struct proxy_call *call, const char *error_type)
{
	struct proxy_trace *t = &call->trace;
	const struct deployment *dep = t->attempt_dep;
	struct trace_span s = {.kind = TRACE_KIND_CLIENT, .has_parent = true};
	char status[24];

	t->attempt_open = false;
	ids(t, &s);
	memcpy(s.span_id, t->attempt_id, TRACE_SPAN_ID_LEN);
	memcpy(s.parent_id, t->span_id, TRACE_SPAN_ID_LEN);
	s.name_op = operation(call->op);
	s.name_model = dep->upstream_model;
	s.start_ns = t->attempt_start_ns;
	s.end_ns = now_ns();
	trace_span_str(&s, TRACE_ATTR_OPERATION, s.name_op, strlen(s.name_op));
	if (dep->upstream_model)
		trace_span_str(&s, TRACE_ATTR_REQUEST_MODEL, dep->upstream_model,
		               strlen(dep->upstream_model));
	{
		const char *p = provider(dep->provider);

		trace_span_str(&s, TRACE_ATTR_PROVIDER, p, strlen(p));
	}
	server_of(dep->api_base, &s);
	if (call->status > 0)
		trace_span_int(&s, TRACE_ATTR_HTTP_STATUS, call->status);
	if (!error_type && call->status >= 400) {
		snprintf(status, sizeof(status), "%ld", call->status);
		error_type = status;
	}
	if (error_type) {
		s.error = true;
		trace_span_str(&s, TRACE_ATTR_ERROR_TYPE, error_type, strlen(error_type));
	}
	{
		const char *route = route_name(t->attempt_route);

		trace_span_str(&s, TRACE_ATTR_ROUTE, route, strlen(route));
	}
	trace_span_str(&s, TRACE_ATTR_DEPLOYMENT, dep->id, strlen(dep->id));
	trace_span_int(&s, TRACE_ATTR_ATTEMPT, t->attempt_no);
	export(call, &s);
}

/* The client's tracestate: its header lines joined by ',' (the spec's
 * combination), passed on only when the whole is valid. */
static void take_state(struct proxy_trace *t, const struct http_request *req)
{
	char buf[TRACESTATE_MAX + 1];
	size_t used = 0;

	for (size_t i = 0; i < req->n_headers; i++) {
		size_t n;

		if (strcasecmp(req->headers[i].name, "tracestate") != 0)
			continue;
		n = strlen(req->headers[i].value);
		if (used + (used > 0) + n > TRACESTATE_MAX)
			return;
		if (used)
			buf[used++] = ',';
		memcpy(buf + used, req->headers[i].value, n);
		used += n;
	}
	if (!trace_state_valid(buf, used))
		return;
	t->state = strndup(buf, used);
	t->state_len = t->state ? used : 0;
}

void proxy_trace_begin(struct proxy_call *call, const struct http_request *req)
{
	struct proxy_tracer *tr = call->proxy->tracer;
	struct proxy_trace *t = &call->trace;
	struct trace_parent parent;
	const char *value = NULL;
	int n = 0;

	if (!tr)
		return;
	t->on = true;
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, "traceparent") == 0) {
			value = req->headers[i].value;
			n++;
		}
	/* a repeated traceparent is as invalid as a malformed one */
	t->has_parent = n == 1 && trace_parent_parse(value, strlen(value), &parent) == 0;
	if (t->has_parent) {
		memcpy(t->trace_id, parent.trace_id, TRACE_ID_LEN);
		memcpy(t->parent_id, parent.span_id, TRACE_SPAN_ID_LEN);
		take_state(t, req);
	} else {
		trace_rng_trace_id(&tr->rng, t->trace_id);
	}
	trace_rng_span_id(&tr->rng, t->span_id);
	t->sampled = trace_sampler_decide(tr->c->sample_ratio, t->has_parent ? &parent : NULL,
	                                  t->trace_id);
	if (t->sampled)
		t->start_ns = now_ns() - (clock_now_us() - call->received_us) * 1000;
}

const char *proxy_trace_attempt_start(struct proxy_call *call)
{
	struct proxy_trace *t = &call->trace;

	if (!t->on)
		return NULL;
	if (t->attempt_open)
		end_attempt(call, NULL); /* one that went on without a failure (a walk) */
	trace_rng_span_id(&call->proxy->tracer->rng, t->attempt_id);
	trace_parent_format(t->trace_id, t->attempt_id, t->sampled ? TRACE_FLAG_SAMPLED : 0,
	                    t->traceparent);
	if (t->sampled) {
		t->attempt_open = true;
		t->attempt_start_ns = now_ns();
		t->attempt_dep = &call->proxy->config->deployments[call->plan.deployment];
		t->attempt_route = proxy_plan_current(&call->plan)->route;
		t->attempt_no = call->attempts + 1;
	}
	return t->traceparent;
}

void proxy_trace_attempt_outcome(struct proxy_call *call, enum outcome outcome)
{
	if (!call->trace.attempt_open || !outcome_is_failure(outcome))
		return;
	/* HTTP failures are named by their status (end_attempt); the others by
	 * their outcome: connect, timeout, auth_token */
	end_attempt(call, call->status > 0 ? NULL : outcome_name(outcome));
}

void proxy_trace_end(struct proxy_call *call, int status, bool answered, enum route route)
{
	struct proxy_trace *t = &call->trace;
	struct trace_span s = {.kind = TRACE_KIND_SERVER};
	const char *op = operation(call->op);
	char text[24];

	if (!t->sampled)
		return;
	if (t->attempt_open)
		end_attempt(call, t->broken          ? t->broken
		                  : call->status > 0 ? NULL
		                  : status == 499    ? "cancelled"
		                  : status >= 500    ? "aborted"
		                                     : NULL);
	t->sampled = false; /* once */
	ids(t, &s);
	memcpy(s.span_id, t->span_id, TRACE_SPAN_ID_LEN);
	if (t->has_parent) {
		s.has_parent = true;
		memcpy(s.parent_id, t->parent_id, TRACE_SPAN_ID_LEN);
	}
	s.trace_state = t->state;
	s.trace_state_len = t->state_len;
	s.name_op = op;
	s.name_model = call->model;
	s.start_ns = t->start_ns;
	s.end_ns = now_ns();
	trace_span_str(&s, TRACE_ATTR_OPERATION, op, strlen(op));
	trace_span_str(&s, TRACE_ATTR_REQUEST_MODEL, call->model, strlen(call->model));
	trace_span_int(&s, TRACE_ATTR_HTTP_STATUS, status);
	if (t->broken) {
		s.error = true;
		trace_span_str(&s, TRACE_ATTR_ERROR_TYPE, t->broken, strlen(t->broken));
	} else if (status >= 500) {
		snprintf(text, sizeof(text), "%d", status);
		s.error = true;
		trace_span_str(&s, TRACE_ATTR_ERROR_TYPE, text, strlen(text));
	}
	if (answered) {
		const char *r = route_name(route);

		trace_span_str(&s, TRACE_ATTR_ROUTE, r, strlen(r));
		trace_span_str(&s, TRACE_ATTR_DEPLOYMENT, call->dep->id, strlen(call->dep->id));
	}
	trace_span_int(&s, TRACE_ATTR_ATTEMPTS, call->attempts);
	if (call->key_id)
		trace_span_str(&s, TRACE_ATTR_KEY_ID, call->key_id, strlen(call->key_id));
	trace_span_str(&s, TRACE_ATTR_REQUEST_ID, call->id, strlen(call->id));
	if (call->usage.known) {
		trace_span_int(&s, TRACE_ATTR_INPUT_TOKENS, call->usage.prompt);
		trace_span_int(&s, TRACE_ATTR_OUTPUT_TOKENS, call->usage.completion);
	}
	export(call, &s);
}

void proxy_trace_broken(struct proxy_call *call, const char *code)
{
	call->trace.broken = code;
}

void proxy_trace_free(struct proxy_trace *trace)
{
	free(trace->state);
	trace->state = NULL;
}
