/*
 * trace_span: what one finished span holds, and the one table of the span
 * attributes llmgate sets (names from the OpenTelemetry GenAI, HTTP and
 * server semantic conventions, plus llmgate.*). The table drives both
 * encoders (otlp_proto.c, otlp_json.c) and a unit test checks llmgated(8)
 * lists every attribute, so the code and the page cannot disagree. A span's
 * strings are borrowed: they live at least until the span is encoded (the
 * call's, or the config's). No attribute ever carries prompt or completion
 * content, or a secret.
 *
 * X(id, key, type, on which spans, description)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "trace_context.h"

#define TRACE_ATTRIBUTES(X)                                                                      \
	X(OPERATION, "gen_ai.operation.name", STRING, "both",                                    \
	  "chat, text_completion, embeddings, responses (every Responses API operation); "       \
	  "images.generations, images.edits, audio.speech, audio.transcriptions, "               \
	  "audio.translations, moderations")                                                     \
	X(REQUEST_MODEL, "gen_ai.request.model", STRING, "both",                                 \
	  "the model group the client named (server span); the model sent upstream (attempt)")   \
	X(RESPONSE_MODEL, "gen_ai.response.model", STRING, "both",                               \
	  "the model the answer names: its top-level model, read from the first bytes of a "     \
	  "2xx answer (absent when it is not there, e.g. after a long Azure choices member)")    \
	X(PROVIDER, "gen_ai.provider.name", STRING, "attempt",                                   \
	  "openai, azure.ai.openai, azure.ai.inference, groq, ... (the deployment's provider)")  \
	X(INPUT_TOKENS, "gen_ai.usage.input_tokens", INT, "server",                              \
	  "prompt tokens the answer reported (absent when it reported none)")                    \
	X(OUTPUT_TOKENS, "gen_ai.usage.output_tokens", INT, "server",                            \
	  "completion tokens the answer reported (absent when it reported none)")                \
	X(SERVER_ADDRESS, "server.address", STRING, "attempt", "the deployment's host")          \
	X(SERVER_PORT, "server.port", INT, "attempt", "the deployment's port")                   \
	X(HTTP_STATUS, "http.response.status_code", INT, "both",                                 \
	  "the status the client got (server span); the upstream's (attempt, when it answered)") \
	X(ERROR_TYPE, "error.type", STRING, "both",                                              \
	  "on failure: the HTTP status, or connect, timeout, auth_token, aborted")               \
	X(ROUTE, "llmgate.route", STRING, "both", "primary, fallback or direct-azure")           \
	X(DEPLOYMENT, "llmgate.deployment", STRING, "both",                                      \
	  "the deployment id (server span: the one that answered, or was tried last)")           \
	X(ATTEMPT, "llmgate.attempt", INT, "attempt", "the attempt's number, from 1")            \
	X(ATTEMPTS, "llmgate.attempts", INT, "server", "upstream attempts the request made")     \
	X(KEY_ID, "llmgate.key_id", STRING, "server", "the client key's id (not the key)")       \
	X(REQUEST_ID, "llmgate.request_id", STRING, "server",                                    \
	  "the request id (x-request-id, the access log's id)")

enum trace_attr {
#define TRACE_ATTR_ENUM(id, key, type, spans, desc) TRACE_ATTR_##id,
	TRACE_ATTRIBUTES(TRACE_ATTR_ENUM)
#undef TRACE_ATTR_ENUM
	        TRACE_ATTR__COUNT,
};

enum trace_attr_type {
	TRACE_ATTR_STRING,
	TRACE_ATTR_INT,
};

struct trace_attr_info {
	const char *key;
	size_t key_len;
	enum trace_attr_type type;
	const char *spans; /* "server", "attempt" or "both" */
	const char *description;
};

extern const struct trace_attr_info trace_attrs[TRACE_ATTR__COUNT];

enum trace_kind {
	TRACE_KIND_SERVER = 2, /* OTLP's SpanKind numbers */
	TRACE_KIND_CLIENT = 3,
};

struct trace_value {
	const char *s; /* STRING: borrowed, S_LEN bytes */
	size_t s_len;
	int64_t i; /* INT */
};

#define TRACE_PRE_MAX 4

struct trace_bytes {
	const char *data;
	size_t len;
};

struct trace_span {
	uint8_t trace_id[TRACE_ID_LEN];
	uint8_t span_id[TRACE_SPAN_ID_LEN];
	uint8_t parent_id[TRACE_SPAN_ID_LEN];
	bool has_parent;
	enum trace_kind kind;
	const char *name_op; /* the name is "NAME_OP NAME_MODEL" (GenAI: "chat gpt-4o") */
	const char *name_model;
	size_t name_op_len, name_model_len;
	const char *trace_state; /* the client's tracestate (server span), or NULL */
	size_t trace_state_len;
	int64_t start_ns, end_ns; /* Unix time */
	bool error;               /* status ERROR; else UNSET */
	uint32_t set;             /* bit (1 << enum trace_attr) for each attribute set */
	size_t str_bytes;         /* the string values' bytes, together (a bound) */
	/* The attributes in PRE_SET (a subset of SET) given as ready protobuf
	 * bytes (Span.attributes fields, otlp_proto_attr_*) in N_PRE pieces
	 * instead of VALUES: the protobuf encoder copies them. */
	uint32_t pre_set;
	int n_pre;
	struct trace_bytes pre[TRACE_PRE_MAX];
	size_t pre_len; /* the pieces' bytes, together */
	/* last: only those in SET are read, so trace_span_init() leaves them */
	struct trace_value values[TRACE_ATTR__COUNT];
};

/* S empty, of KIND: every field zero but VALUES (not read unless set), which
 * are most of its bytes (spans are made on the request path). */
static inline void trace_span_init(struct trace_span *s, enum trace_kind kind)
{
	memset(s, 0, offsetof(struct trace_span, values));
	s->kind = kind;
}

static inline void trace_span_str(struct trace_span *s, enum trace_attr a, const char *v,
                                  size_t len)
{
	if (!v)
		return;
	s->values[a].s = v;
	s->values[a].s_len = len;
	s->str_bytes += len;
	s->set |= 1u << a;
}

static inline void trace_span_int(struct trace_span *s, enum trace_attr a, int64_t v)
{
	s->values[a].i = v;
	s->set |= 1u << a;
}

/* Attributes ATTRS set as the ready protobuf bytes B, without values (a
 * span so made is for the protobuf encoder only); B's buffer is padded
 * (otlp_proto_piece_pad()). */
static inline void trace_span_pre(struct trace_span *s, uint32_t attrs, struct trace_bytes b)
{
	s->pre[s->n_pre++] = b; /* at most TRACE_PRE_MAX: the caller's */
	s->set |= attrs;
	s->pre_set |= attrs;
	s->pre_len += b.len;
}

/* The span's name: OP and MODEL (NULL: none), of the lengths given. */
static inline void trace_span_name(struct trace_span *s, const char *op, size_t op_len,
                                   const char *model, size_t model_len)
{
	s->name_op = op;
	s->name_op_len = op_len;
	s->name_model = model;
	s->name_model_len = model ? model_len : 0;
}
