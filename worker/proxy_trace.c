/*
 * proxy_trace: a proxied request's spans and the traceparent it sends
 * upstream (see proxy_trace.h). Runs in a worker, on the request path: the
 * work per request is a header lookup, two or three ids from the worker's
 * generator (no system call) and, for a sampled request, its spans encoded
 * into the exporter's queue when they end; their times are the clock
 * readings the request path takes anyway (received, sent, answered). What
 * a deployment's attempt spans share (provider, server address and port,
 * deployment id, the model sent) is worked out once per worker, and for
 * protobuf encoded once (struct trace_dep). Attributes come from
 * the call and the config only: never a byte of the request or answer
 * bodies, never a header value but the trace headers.
 */
#include "proxy_trace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "config.h"
#include "http_server.h"
#include "otlp_export.h"
#include "otlp_proto.h"
#include "providers.h"
#include "proxy_call.h"
#include "trace_sampler.h"
#include "trace_span.h"

/* The attributes a deployment's attempt spans share, read once. */
struct trace_dep {
	const char *provider, *address; /* ADDRESS in the api_base */
	size_t provider_len, address_len, model_len, id_len;
	long port;
	bool has_address;
	bool proto;             /* protobuf: the two below are set */
	uint32_t pre_set;       /* the attributes in PRE */
	struct otlp_buf pre;    /* all of them, encoded */
	struct otlp_buf pre_id; /* llmgate.deployment alone (server span) */
};

/* gen_ai.operation.name's values: GenAI's names where the convention has one; the
 * Responses API's own; the OpenAI endpoint's name for the media and moderation ops,
 * which the convention does not name. */
enum trace_op {
	OP_CHAT,
	OP_TEXT_COMPLETION,
	OP_EMBEDDINGS,
	OP_RESPONSES,
	OP_IMAGES_GENERATIONS,
	OP_IMAGES_EDITS,
	OP_AUDIO_SPEECH,
	OP_AUDIO_TRANSCRIPTIONS,
	OP_AUDIO_TRANSLATIONS,
	OP_MODERATIONS,
	OP__COUNT
};

struct proxy_tracer {
	const struct otel_config *c;
	struct trace_rng rng;
	struct otlp_export *export;
	struct trace_dep *deps; /* per config deployment */
	size_t n_deps;
	/* protobuf: the operation and route attributes, encoded once */
	bool proto;
	struct otlp_buf op_attr[OP__COUNT], route_attr[ROUTE__COUNT];
	/* CLOCK_REALTIME - CLOCK_MONOTONIC in ns, read at WALL_READ_US (wall_ns()) */
	int64_t wall_offset_ns, wall_read_us;
};

static const char *provider(enum provider p);

struct name {
	const char *s;
	size_t len;
};
#define NAME(s)                  \
	{                        \
		s, sizeof(s) - 1 \
	}

static const struct name op_names[OP__COUNT] = {
        [OP_CHAT] = NAME("chat"),
        [OP_TEXT_COMPLETION] = NAME("text_completion"),
        [OP_EMBEDDINGS] = NAME("embeddings"),
        [OP_RESPONSES] = NAME("responses"),
        [OP_IMAGES_GENERATIONS] = NAME("images.generations"),
        [OP_IMAGES_EDITS] = NAME("images.edits"),
        [OP_AUDIO_SPEECH] = NAME("audio.speech"),
        [OP_AUDIO_TRANSCRIPTIONS] = NAME("audio.transcriptions"),
        [OP_AUDIO_TRANSLATIONS] = NAME("audio.translations"),
        [OP_MODERATIONS] = NAME("moderations"),
};

/* The constant attributes, encoded once. */
static int constants_init(struct proxy_tracer *t)
{
	bool oom = false;

	for (int i = 0; i < OP__COUNT; i++) {
		otlp_proto_attr_string(&t->op_attr[i], TRACE_ATTR_OPERATION, op_names[i].s,
		                       op_names[i].len);
		oom |= otlp_proto_piece_pad(&t->op_attr[i]) < 0 || t->op_attr[i].oom;
	}
	for (int r = 0; r < ROUTE__COUNT; r++) {
		const char *name = route_name((enum route)r);

		otlp_proto_attr_string(&t->route_attr[r], TRACE_ATTR_ROUTE, name, strlen(name));
		oom |= otlp_proto_piece_pad(&t->route_attr[r]) < 0 || t->route_attr[r].oom;
	}
	return oom ? -ENOMEM : 0;
}

static struct trace_bytes bytes_of(const struct otlp_buf *b)
{
	return (struct trace_bytes){b->data, b->len};
}

/* server.address and server.port of an api_base (scheme://host[:port]/...). */
static void server_of(const char *base, struct trace_dep *d)
{
	const char *host = strstr(base, "://"), *end;

	d->port = strncmp(base, "https", 5) == 0 ? 443 : 80;
	host = host ? host + 3 : base;
	if (*host == '[') {
		end = strchr(host, ']');
		if (!end)
			return;
		d->address = host + 1;
		d->address_len = (size_t)(end - host - 1);
		end++;
	} else {
		end = host + strcspn(host, ":/?#");
		d->address = host;
		d->address_len = (size_t)(end - host);
	}
	d->has_address = true;
	if (*end == ':')
		d->port = strtol(end + 1, NULL, 10);
}

static int dep_init(struct trace_dep *d, const struct deployment *dep, bool proto)
{
	d->provider = provider(dep->provider);
	d->provider_len = strlen(d->provider);
	d->model_len = dep->upstream_model ? strlen(dep->upstream_model) : 0;
	d->id_len = strlen(dep->id);
	server_of(dep->api_base, d);
	d->proto = proto;
	if (!proto)
		return 0;
	if (dep->upstream_model) {
		otlp_proto_attr_string(&d->pre, TRACE_ATTR_REQUEST_MODEL, dep->upstream_model,
		                       d->model_len);
		d->pre_set |= 1u << TRACE_ATTR_REQUEST_MODEL;
	}
	otlp_proto_attr_string(&d->pre, TRACE_ATTR_PROVIDER, d->provider, d->provider_len);
	if (d->has_address) {
		otlp_proto_attr_string(&d->pre, TRACE_ATTR_SERVER_ADDRESS, d->address,
		                       d->address_len);
		otlp_proto_attr_int(&d->pre, TRACE_ATTR_SERVER_PORT, d->port);
		d->pre_set |= 1u << TRACE_ATTR_SERVER_ADDRESS | 1u << TRACE_ATTR_SERVER_PORT;
	}
	d->pre_set |= 1u << TRACE_ATTR_PROVIDER | 1u << TRACE_ATTR_DEPLOYMENT;
	otlp_proto_attr_string(&d->pre, TRACE_ATTR_DEPLOYMENT, dep->id, d->id_len);
	otlp_proto_attr_string(&d->pre_id, TRACE_ATTR_DEPLOYMENT, dep->id, d->id_len);
	if (otlp_proto_piece_pad(&d->pre) < 0 || otlp_proto_piece_pad(&d->pre_id) < 0)
		return -ENOMEM;
	return d->pre.oom || d->pre_id.oom ? -ENOMEM : 0;
}

int proxy_tracer_new(const struct config *config, struct upstream *up, struct event_base *base,
                     struct proxy_tracer **ret)
{
	struct proxy_tracer *t = calloc(1, sizeof(*t));
	const struct otel_config *c = &config->otel;
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
	t->deps = calloc(config->n_deployments ? config->n_deployments : 1, sizeof(*t->deps));
	if (!t->deps) {
		free(t);
		return -ENOMEM;
	}
	t->n_deps = config->n_deployments;
	t->proto = c->protocol == OTEL_PROTOCOL_PROTOBUF;
	if (t->proto && constants_init(t) < 0) {
		proxy_tracer_free(t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n_deps; i++)
		if (dep_init(&t->deps[i], &config->deployments[i],
		             c->protocol == OTEL_PROTOCOL_PROTOBUF) < 0) {
			proxy_tracer_free(t);
			return -ENOMEM;
		}
	r = otlp_export_new(c, up, base, &t->export);
	if (r < 0) {
		proxy_tracer_free(t);
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
	for (size_t i = 0; i < t->n_deps; i++) {
		otlp_buf_free(&t->deps[i].pre);
		otlp_buf_free(&t->deps[i].pre_id);
	}
	for (int i = 0; i < OP__COUNT; i++)
		otlp_buf_free(&t->op_attr[i]);
	for (int r = 0; r < ROUTE__COUNT; r++)
		otlp_buf_free(&t->route_attr[r]);
	free(t->deps);
	free(t);
}

struct otlp_export *proxy_tracer_export(struct proxy_tracer *t)
{
	return t ? t->export : NULL;
}

/* The Unix time in ns of MONO_US, a CLOCK_MONOTONIC reading (the request
 * path's clock_now_us()): spans carry wall-clock times, and the request
 * already read the monotonic clock; the offset between the two is read again
 * at most once a second, so a step of the wall clock shows within a second. */
static int64_t wall_ns(struct proxy_tracer *tr, int64_t mono_us)
{
	if (tr->wall_read_us == 0 || mono_us - tr->wall_read_us >= 1000000 ||
	    mono_us < tr->wall_read_us) {
		struct timespec rt, mt;

		clock_gettime(CLOCK_REALTIME, &rt);
		clock_gettime(CLOCK_MONOTONIC, &mt);
		tr->wall_offset_ns =
		        ((int64_t)rt.tv_sec - mt.tv_sec) * 1000000000 + (rt.tv_nsec - mt.tv_nsec);
		tr->wall_read_us = mono_us;
	}
	return mono_us * 1000 + tr->wall_offset_ns;
}

/* gen_ai.operation.name of OP. */
static enum trace_op operation(enum proxy_op op)
{
	switch (op) {
	case PROXY_OP_CHAT:
		return OP_CHAT;
	case PROXY_OP_COMPLETIONS:
		return OP_TEXT_COMPLETION;
	case PROXY_OP_EMBEDDINGS:
		return OP_EMBEDDINGS;
	case PROXY_OP_IMAGES_GENERATIONS:
		return OP_IMAGES_GENERATIONS;
	case PROXY_OP_IMAGES_EDITS:
		return OP_IMAGES_EDITS;
	case PROXY_OP_AUDIO_SPEECH:
		return OP_AUDIO_SPEECH;
	case PROXY_OP_AUDIO_TRANSCRIPTIONS:
		return OP_AUDIO_TRANSCRIPTIONS;
	case PROXY_OP_AUDIO_TRANSLATIONS:
		return OP_AUDIO_TRANSLATIONS;
	case PROXY_OP_MODERATIONS:
		return OP_MODERATIONS;
	default: /* create, input_tokens and the by-id operations */
		return OP_RESPONSES;
	}
}

/* An HTTP status (100..999) as the text of error.type, into BUF[4]. */
static struct name status_text(long status, char *buf)
{
	buf[0] = (char)('0' + status / 100 % 10);
	buf[1] = (char)('0' + status / 10 % 10);
	buf[2] = (char)('0' + status % 10);
	buf[3] = '\0';
	return (struct name){buf, 3};
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

static void ids(const struct proxy_trace *t, struct trace_span *s)
{
	memcpy(s->trace_id, t->trace_id, TRACE_ID_LEN);
}

static void export(struct proxy_call *call, const struct trace_span *s)
{
	otlp_export_add(call->proxy->tracer->export, s);
}

/* Ends the open attempt span: an error when ERROR_TYPE is set, or when the
 * upstream's status is 4xx/5xx. */
static void end_attempt(struct proxy_call *call, const char *error_type, int64_t end_ns)
{
	struct proxy_trace *t = &call->trace;
	const struct deployment *dep = t->attempt_dep;
	const struct trace_dep *d =
	        &call->proxy->tracer->deps[dep - call->proxy->config->deployments];
	struct proxy_tracer *tr = call->proxy->tracer;
	struct trace_span s;
	enum trace_op op = operation(call->op);
	struct name error = {error_type, 0};
	char status[4];

	t->attempt_open = false;
	trace_span_init(&s, TRACE_KIND_CLIENT);
	s.has_parent = true;
	ids(t, &s);
	memcpy(s.span_id, t->attempt_id, TRACE_SPAN_ID_LEN);
	memcpy(s.parent_id, t->span_id, TRACE_SPAN_ID_LEN);
	trace_span_name(&s, op_names[op].s, op_names[op].len, dep->upstream_model, d->model_len);
	/* sent (counted in attempts, at attempt_us), or it spans no time */
	s.start_ns = call->attempts == t->attempt_no ? wall_ns(tr, call->attempt_us) : end_ns;
	s.end_ns = end_ns;
	/* the deployment's, the operation and the route: for protobuf bytes
	 * encoded once, for JSON values */
	if (d->proto) {
		trace_span_pre(&s, d->pre_set, bytes_of(&d->pre));
		trace_span_pre(&s, 1u << TRACE_ATTR_OPERATION, bytes_of(&tr->op_attr[op]));
		trace_span_pre(&s, 1u << TRACE_ATTR_ROUTE,
		               bytes_of(&tr->route_attr[t->attempt_route]));
	} else {
		const char *route = route_name(t->attempt_route);

		trace_span_str(&s, TRACE_ATTR_OPERATION, op_names[op].s, op_names[op].len);
		trace_span_str(&s, TRACE_ATTR_REQUEST_MODEL, dep->upstream_model, d->model_len);
		trace_span_str(&s, TRACE_ATTR_PROVIDER, d->provider, d->provider_len);
		if (d->has_address) {
			trace_span_str(&s, TRACE_ATTR_SERVER_ADDRESS, d->address, d->address_len);
			trace_span_int(&s, TRACE_ATTR_SERVER_PORT, d->port);
		}
		trace_span_str(&s, TRACE_ATTR_DEPLOYMENT, dep->id, d->id_len);
		trace_span_str(&s, TRACE_ATTR_ROUTE, route, strlen(route));
	}
	if (call->status > 0)
		trace_span_int(&s, TRACE_ATTR_HTTP_STATUS, call->status);
	if (error.s)
		error.len = strlen(error.s);
	else if (call->status >= 400 && call->status <= 999)
		error = status_text(call->status, status);
	if (error.s) {
		s.error = true;
		trace_span_str(&s, TRACE_ATTR_ERROR_TYPE, error.s, error.len);
	}
	if (t->response_model_len)
		trace_span_str(&s, TRACE_ATTR_RESPONSE_MODEL, t->response_model,
		               t->response_model_len);
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

		if (!trace_header_is(req->headers[i].name, true))
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
		if (trace_header_is(req->headers[i].name, false)) {
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
		t->start_ns = wall_ns(tr, call->received_us);
}

const char *proxy_trace_attempt_start(struct proxy_call *call)
{
	struct proxy_trace *t = &call->trace;

	if (!t->on)
		return NULL;
	if (t->attempt_open) /* one that went on without a failure (a walk) */
		end_attempt(call, NULL, wall_ns(call->proxy->tracer, clock_now_us()));
	trace_rng_span_id(&call->proxy->tracer->rng, t->attempt_id);
	trace_parent_format(t->trace_id, t->attempt_id, t->sampled ? TRACE_FLAG_SAMPLED : 0,
	                    t->traceparent);
	t->response_model_len = 0;
	t->answer_chunks = 0;
	if (t->sampled) {
		t->attempt_open = true;
		t->attempt_dep = &call->proxy->config->deployments[call->plan.deployment];
		t->attempt_route = proxy_plan_current(&call->plan)->route;
		t->attempt_no = call->attempts + 1;
	}
	return t->traceparent;
}

void proxy_trace_answer_data(struct proxy_trace *t, long status, const char *data, size_t len)
{
	size_t i = 0;

	if (status < 200 || status >= 300) {
		t->answer_chunks = PROXY_TRACE_ANSWER_CHUNKS; /* an error names no model */
		return;
	}
	if (t->answer_chunks++ == 0) {
		/* JSON's whitespace, as response_model_object() skips it */
		while (i < len &&
		       (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n'))
			i++;
		if (i < len && data[i] == '{') {
			/* a JSON answer: its start only (later chunks start mid-object) */
			t->answer_chunks = PROXY_TRACE_ANSWER_CHUNKS;
			t->response_model_len = (uint8_t)response_model_object(
			        data, len, t->response_model, RESPONSE_MODEL_MAX);
			return;
		}
	}
	t->response_model_len =
	        (uint8_t)response_model_events(data, len, t->response_model, RESPONSE_MODEL_MAX);
	if (t->response_model_len)
		t->answer_chunks = PROXY_TRACE_ANSWER_CHUNKS;
}

void proxy_trace_attempt_outcome(struct proxy_call *call, enum outcome outcome)
{
	if (!call->trace.attempt_open || !outcome_is_failure(outcome))
		return;
	/* HTTP failures are named by their status (end_attempt); the others by
	 * their outcome: connect, timeout, auth_token */
	end_attempt(call, call->status > 0 ? NULL : outcome_name(outcome),
	            wall_ns(call->proxy->tracer, clock_now_us()));
}

void proxy_trace_end(struct proxy_call *call, int status, bool answered, enum route route,
                     int64_t now_us)
{
	struct proxy_trace *t = &call->trace;
	struct proxy_tracer *tr = call->proxy->tracer;
	struct trace_span s;
	enum trace_op op = operation(call->op);
	size_t model_len = strlen(call->model);
	int64_t now;
	char text[4];

	if (!t->sampled)
		return;
	now = wall_ns(tr, now_us);
	if (t->attempt_open)
		end_attempt(call,
		            t->broken          ? t->broken
		            : call->status > 0 ? NULL
		            : status == 499    ? "cancelled"
		            : status >= 500    ? "aborted"
		                               : NULL,
		            now);
	t->sampled = false; /* once */
	trace_span_init(&s, TRACE_KIND_SERVER);
	ids(t, &s);
	memcpy(s.span_id, t->span_id, TRACE_SPAN_ID_LEN);
	if (t->has_parent) {
		s.has_parent = true;
		memcpy(s.parent_id, t->parent_id, TRACE_SPAN_ID_LEN);
	}
	s.trace_state = t->state;
	s.trace_state_len = t->state_len;
	trace_span_name(&s, op_names[op].s, op_names[op].len, call->model, model_len);
	s.start_ns = t->start_ns;
	s.end_ns = now;
	if (tr->proto)
		trace_span_pre(&s, 1u << TRACE_ATTR_OPERATION, bytes_of(&tr->op_attr[op]));
	else
		trace_span_str(&s, TRACE_ATTR_OPERATION, op_names[op].s, op_names[op].len);
	trace_span_str(&s, TRACE_ATTR_REQUEST_MODEL, call->model, model_len);
	trace_span_int(&s, TRACE_ATTR_HTTP_STATUS, status);
	if (t->broken) {
		s.error = true;
		trace_span_str(&s, TRACE_ATTR_ERROR_TYPE, t->broken, strlen(t->broken));
	} else if (status >= 500 && status <= 999) {
		struct name e = status_text(status, text);

		s.error = true;
		trace_span_str(&s, TRACE_ATTR_ERROR_TYPE, e.s, e.len);
	}
	if (answered) {
		const struct trace_dep *d = &tr->deps[call->dep - call->proxy->config->deployments];

		if (tr->proto) {
			trace_span_pre(&s, 1u << TRACE_ATTR_ROUTE,
			               bytes_of(&tr->route_attr[route]));
			trace_span_pre(&s, 1u << TRACE_ATTR_DEPLOYMENT, bytes_of(&d->pre_id));
		} else {
			const char *r = route_name(route);

			trace_span_str(&s, TRACE_ATTR_ROUTE, r, strlen(r));
			trace_span_str(&s, TRACE_ATTR_DEPLOYMENT, call->dep->id, d->id_len);
		}
		if (t->response_model_len)
			trace_span_str(&s, TRACE_ATTR_RESPONSE_MODEL, t->response_model,
			               t->response_model_len);
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
