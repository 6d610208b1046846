/*
 * otlp_proto: the OTLP/HTTP protobuf encoding of llmgate's spans (see
 * otlp_proto.h). Pure; runs in workers when a span ends, and in the unit
 * tests. Field numbers are opentelemetry-proto v1's (trace.proto,
 * common.proto, resource.proto, trace_service.proto). A span is sized
 * first (every length prefix is known before a byte is written, so nothing
 * is moved) and then written through a plain pointer into room reserved
 * once. Strings are checked 8 bytes at a time for ASCII; only a string
 * with a high bit is walked byte by byte (and bad bytes become U+FFFD).
 */
#include "otlp_proto.h"

#include <stdbool.h>
#include <string.h>

#include "otlp_utf8.h"

/* Wire types and a field's tag byte (every field number here is below 16). */
#define WT_VARINT      0
#define WT_I64         1
#define WT_LEN         2
#define TAG(field, wt) ((char)((field) << 3 | (wt)))

/* ExportTraceServiceRequest */
#define REQ_RESOURCE_SPANS 1
/* ResourceSpans */
#define RS_RESOURCE    1
#define RS_SCOPE_SPANS 2
/* Resource */
#define RESOURCE_ATTRIBUTES 1
/* ScopeSpans */
#define SS_SCOPE 1
#define SS_SPANS 2
/* InstrumentationScope */
#define SCOPE_NAME    1
#define SCOPE_VERSION 2
/* Span */
#define SPAN_TRACE_ID   1
#define SPAN_SPAN_ID    2
#define SPAN_STATE      3
#define SPAN_PARENT_ID  4
#define SPAN_NAME       5
#define SPAN_KIND       6
#define SPAN_START      7
#define SPAN_END        8
#define SPAN_ATTRIBUTES 9
#define SPAN_STATUS     15
/* Status */
#define STATUS_CODE       3
#define STATUS_CODE_ERROR 2
/* KeyValue */
#define KV_KEY   1
#define KV_VALUE 2
/* AnyValue */
#define ANY_STRING 1
#define ANY_INT    3

#define SCOPE "llmgate"

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static char *put_varint(char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (char)v;
	return p;
}

static char *put_fixed64(char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (char)(v >> (8 * i));
	return p + 8;
}

static char *put(char *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* The bytes of S (N bytes) once made valid UTF-8: N exactly when it is
 * valid (each bad byte grows to three). */
static size_t text_size(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t size = 0, k;

	if (otlp_ascii(s, n))
		return n;
	for (size_t i = 0; i < n; i += k ? k : 1) {
		k = otlp_utf8_seq(u + i, n - i);
		size += k ? k : 3;
	}
	return size;
}

/* S as text_size() counted it (SIZE). */
static char *put_text(char *p, const char *s, size_t n, size_t size)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k;

	if (size == n)
		return put(p, s, n);
	for (size_t i = 0; i < n; i += k ? k : 1) {
		k = otlp_utf8_seq(u + i, n - i);
		p = k ? put(p, s + i, k) : put(p, "\xef\xbf\xbd", 3); /* U+FFFD */
	}
	return p;
}

/* A length-delimited field's tag and length. */
static char *put_len(char *p, int field, size_t len)
{
	*p++ = TAG(field, WT_LEN);
	return put_varint(p, len);
}

static size_t len_field_size(size_t len)
{
	return 1 + varint_len(len) + len;
}

/* One KeyValue's sizes: of its AnyValue and of the whole message. */
struct kv_size {
	size_t text; /* a string value's bytes once valid */
	size_t any, kv;
};

static struct kv_size kv_string_size(size_t key_len, const char *v, size_t n)
{
	struct kv_size z;

	z.text = text_size(v, n);
	z.any = len_field_size(z.text);
	z.kv = len_field_size(key_len) + len_field_size(z.any);
	return z;
}

static struct kv_size kv_int_size(size_t key_len, int64_t v)
{
	struct kv_size z = {0};

	z.any = 1 + varint_len((uint64_t)v);
	z.kv = len_field_size(key_len) + len_field_size(z.any);
	return z;
}

/* A KeyValue as field FIELD of its parent, up to its value's payload. */
static char *put_kv_head(char *p, int field, const char *key, size_t key_len,
                         const struct kv_size *z)
{
	p = put_len(p, field, z->kv);
	p = put_len(p, KV_KEY, key_len);
	p = put(p, key, key_len);
	return put_len(p, KV_VALUE, z->any);
}

static char *put_kv_string(char *p, int field, const char *key, size_t key_len, const char *v,
                           size_t n, const struct kv_size *z)
{
	p = put_kv_head(p, field, key, key_len, z);
	p = put_len(p, ANY_STRING, z->text);
	return put_text(p, v, n, z->text);
}

static char *put_kv_int(char *p, int field, const char *key, size_t key_len, int64_t v,
                        const struct kv_size *z)
{
	p = put_kv_head(p, field, key, key_len, z);
	*p++ = TAG(ANY_INT, WT_VARINT);
	return put_varint(p, (uint64_t)v);
}

static struct kv_size attr_size(enum trace_attr a, const struct trace_value *v)
{
	return trace_attrs[a].type == TRACE_ATTR_STRING
	               ? kv_string_size(trace_attrs[a].key_len, v->s, v->s_len)
	               : kv_int_size(trace_attrs[a].key_len, v->i);
}

static char *put_attr(char *p, enum trace_attr a, const struct trace_value *v,
                      const struct kv_size *z)
{
	const struct trace_attr_info *info = &trace_attrs[a];

	if (info->type == TRACE_ATTR_STRING)
		return put_kv_string(p, SPAN_ATTRIBUTES, info->key, info->key_len, v->s, v->s_len,
		                     z);
	return put_kv_int(p, SPAN_ATTRIBUTES, info->key, info->key_len, v->i, z);
}

static void add_attr(struct otlp_buf *b, enum trace_attr a, const struct trace_value *v)
{
	struct kv_size z = attr_size(a, v);
	size_t n = len_field_size(z.kv);

	if (otlp_buf_reserve(b, n) < 0)
		return;
	b->len = (size_t)(put_attr(b->data + b->len, a, v, &z) - b->data);
}

void otlp_proto_attr_string(struct otlp_buf *b, enum trace_attr a, const char *v, size_t len)
{
	struct trace_value tv = {.s = v, .s_len = len};

	add_attr(b, a, &tv);
}

void otlp_proto_attr_int(struct otlp_buf *b, enum trace_attr a, int64_t v)
{
	struct trace_value tv = {.i = v};

	add_attr(b, a, &tv);
}

void otlp_proto_span(struct otlp_buf *b, const struct trace_span *s)
{
	size_t op_n = strlen(s->name_op), model_n = s->name_model ? strlen(s->name_model) : 0;
	size_t op_size = text_size(s->name_op, op_n);
	size_t model_size = s->name_model ? text_size(s->name_model, model_n) : 0;
	size_t name_size = op_size + (s->name_model ? 1 + model_size : 0);
	size_t state_size = s->trace_state ? text_size(s->trace_state, s->trace_state_len) : 0;
	uint32_t todo = s->set & ~s->pre_set;
	struct kv_size z[TRACE_ATTR__COUNT];
	size_t len;
	char *p;

	len = len_field_size(TRACE_ID_LEN) + len_field_size(TRACE_SPAN_ID_LEN) +
	      len_field_size(name_size) + 2 /* kind */ + 2 * 9 /* times */ + s->pre_len;
	if (s->has_parent)
		len += len_field_size(TRACE_SPAN_ID_LEN);
	if (s->trace_state)
		len += len_field_size(state_size);
	if (s->error)
		len += len_field_size(2);
	for (uint32_t m = todo; m; m &= m - 1) {
		int a = __builtin_ctz(m);

		z[a] = attr_size((enum trace_attr)a, &s->values[a]);
		len += len_field_size(z[a].kv);
	}

	if (otlp_buf_reserve(b, len_field_size(len)) < 0)
		return;
	p = b->data + b->len;
	p = put_len(p, SS_SPANS, len);
	p = put_len(p, SPAN_TRACE_ID, TRACE_ID_LEN);
	p = put(p, s->trace_id, TRACE_ID_LEN);
	p = put_len(p, SPAN_SPAN_ID, TRACE_SPAN_ID_LEN);
	p = put(p, s->span_id, TRACE_SPAN_ID_LEN);
	if (s->trace_state) {
		p = put_len(p, SPAN_STATE, state_size);
		p = put_text(p, s->trace_state, s->trace_state_len, state_size);
	}
	if (s->has_parent) {
		p = put_len(p, SPAN_PARENT_ID, TRACE_SPAN_ID_LEN);
		p = put(p, s->parent_id, TRACE_SPAN_ID_LEN);
	}
	p = put_len(p, SPAN_NAME, name_size);
	p = put_text(p, s->name_op, op_n, op_size);
	if (s->name_model) {
		*p++ = ' ';
		p = put_text(p, s->name_model, model_n, model_size);
	}
	*p++ = TAG(SPAN_KIND, WT_VARINT);
	*p++ = (char)s->kind;
	*p++ = TAG(SPAN_START, WT_I64);
	p = put_fixed64(p, (uint64_t)s->start_ns);
	*p++ = TAG(SPAN_END, WT_I64);
	p = put_fixed64(p, (uint64_t)s->end_ns);
	for (uint32_t m = todo; m; m &= m - 1) {
		int a = __builtin_ctz(m);

		p = put_attr(p, (enum trace_attr)a, &s->values[a], &z[a]);
	}
	if (s->pre_len)
		p = put(p, s->pre, s->pre_len);
	if (s->error) {
		p = put_len(p, SPAN_STATUS, 2);
		*p++ = TAG(STATUS_CODE, WT_VARINT);
		*p++ = STATUS_CODE_ERROR;
	}
	b->len = (size_t)(p - b->data);
}

size_t otlp_proto_head_max(const char *service_name, const char *version)
{
	/* three messages' tags and lengths, two KeyValues' and the scope's
	 * overhead, the keys, and every string at its worst (3 bytes a byte) */
	return 3 * 11 + 2 * 4 * 11 + 2 * 11 + sizeof("service.name") + sizeof("service.version") +
	       sizeof(SCOPE) + 3 * (strlen(service_name) + 2 * strlen(version));
}

size_t otlp_proto_head(char *buf, const char *service_name, const char *version, size_t spans_len)
{
	static const char k_name[] = "service.name", k_version[] = "service.version";
	size_t name_n = strlen(service_name), version_n = strlen(version);
	struct kv_size zn = kv_string_size(sizeof(k_name) - 1, service_name, name_n);
	struct kv_size zv = kv_string_size(sizeof(k_version) - 1, version, version_n);
	size_t version_size = text_size(version, version_n);
	size_t resource = len_field_size(zn.kv) + len_field_size(zv.kv);
	size_t scope = len_field_size(sizeof(SCOPE) - 1) + len_field_size(version_size);
	size_t scope_spans = len_field_size(scope) + spans_len;
	size_t resource_spans = len_field_size(resource) + len_field_size(scope_spans);
	char *p = buf;

	p = put_len(p, REQ_RESOURCE_SPANS, resource_spans);
	p = put_len(p, RS_RESOURCE, resource);
	p = put_kv_string(p, RESOURCE_ATTRIBUTES, k_name, sizeof(k_name) - 1, service_name, name_n,
	                  &zn);
	p = put_kv_string(p, RESOURCE_ATTRIBUTES, k_version, sizeof(k_version) - 1, version,
	                  version_n, &zv);
	p = put_len(p, RS_SCOPE_SPANS, scope_spans);
	p = put_len(p, SS_SCOPE, scope);
	p = put_len(p, SCOPE_NAME, sizeof(SCOPE) - 1);
	p = put(p, SCOPE, sizeof(SCOPE) - 1);
	p = put_len(p, SCOPE_VERSION, version_size);
	p = put_text(p, version, version_n, version_size);
	return (size_t)(p - buf);
}
