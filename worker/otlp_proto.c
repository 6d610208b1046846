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

/* The span path's helpers are inlined into otlp_proto_span(): called, their
 * entries and exits cost more than their work. */
#define HOT static inline __attribute__((always_inline))

HOT size_t varint_len(uint64_t v)
{
	size_t n = 1;

	if (v < 0x80)
		return 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Lengths below 128 (nearly all of a span's) are one byte: no loop. */
HOT char *put_varint(char *p, uint64_t v)
{
	if (v < 0x80) {
		*p = (char)v;
		return p + 1;
	}
	while (v >= 0x80) {
		*p++ = (char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (char)v;
	return p;
}

HOT char *put_fixed64(char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (char)(v >> (8 * i));
	return p + 8;
}

HOT char *put(char *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

/* put() for the short strings of a span (most are under 16 bytes):
 * overlapping fixed-size moves instead of a call. */
HOT char *put_short(char *p, const char *s, size_t n)
{
	if (n > 16)
		return put(p, s, n);
	if (n >= 8) {
		memcpy(p, s, 8);
		memcpy(p + n - 8, s + n - 8, 8);
	} else if (n >= 4) {
		memcpy(p, s, 4);
		memcpy(p + n - 4, s + n - 4, 4);
	} else if (n) {
		p[0] = s[0];
		p[n / 2] = s[n / 2];
		p[n - 1] = s[n - 1];
	}
	return p + n;
}

/* put() for the ready pieces of a span (a few hundred bytes at most):
 * OTLP_PROTO_PIECE_PAD bytes at a time (no call), the last move reading
 * into the piece's pad and writing up to 15 bytes past P + N, into the
 * span's SLACK, which the next bytes written cover. */
HOT char *put_block(char *p, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i += OTLP_PROTO_PIECE_PAD)
		memcpy(p + i, s + i, OTLP_PROTO_PIECE_PAD);
	return p + n;
}

/* The bytes of S (N bytes) once made valid UTF-8: N exactly when it is
 * valid (each bad byte grows to three). */
HOT size_t text_size(const char *s, size_t n)
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
HOT char *put_text(char *p, const char *s, size_t n, size_t size)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t k;

	if (size == n)
		return put_short(p, s, n);
	for (size_t i = 0; i < n; i += k ? k : 1) {
		k = otlp_utf8_seq(u + i, n - i);
		p = k ? put(p, s + i, k) : put(p, "\xef\xbf\xbd", 3); /* U+FFFD */
	}
	return p;
}

/* A length-delimited field's tag and length. */
HOT char *put_len(char *p, int field, size_t len)
{
	*p++ = TAG(field, WT_LEN);
	return put_varint(p, len);
}

HOT size_t len_field_size(size_t len)
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

/*
 * A span attribute's KeyValue starts with the same bytes every time: the
 * key field (tag, length, key) and the value field's tag. They are built
 * once (KEY_HEADS) in room of KEY_HEAD_MAX bytes, and copied as a whole
 * KEY_HEAD_MAX block (a few vector moves, no call): the span's room has
 * SLACK bytes past its end for the over-copy, which the next bytes written
 * cover.
 */
#define KEY_HEAD_MAX 32
#define SLACK        KEY_HEAD_MAX
_Static_assert(SLACK >= OTLP_PROTO_PIECE_PAD, "a piece's last move lands in the slack");
static char key_heads[TRACE_ATTR__COUNT][KEY_HEAD_MAX];
static uint8_t key_head_len[TRACE_ATTR__COUNT];
/* The integer attributes, a mask of the table's types. */
#define INT_BIT(id, k, t, sp, desc) \
	(TRACE_ATTR_##t == TRACE_ATTR_INT ? 1u << TRACE_ATTR_##id : 0u) |
static const uint32_t int_attrs = TRACE_ATTRIBUTES(INT_BIT) 0u;
#undef INT_BIT
static bool key_heads_ready;
#define KEY_FITS(id, k, t, sp, desc) \
	_Static_assert(sizeof(k) - 1 + 3 <= KEY_HEAD_MAX, "the key head of " k " fits");
TRACE_ATTRIBUTES(KEY_FITS)
#undef KEY_FITS

static void key_heads_init(void)
{
	for (int a = 0; a < TRACE_ATTR__COUNT; a++) {
		char *p = key_heads[a];

		p = put_len(p, KV_KEY, trace_attrs[a].key_len);
		p = put(p, trace_attrs[a].key, trace_attrs[a].key_len);
		*p++ = TAG(KV_VALUE, WT_LEN);
		key_head_len[a] = (uint8_t)(p - key_heads[a]);
	}
	key_heads_ready = true;
}

/* One attribute as a Span.attributes field, sized as it is written: its
 * lengths depend on its value only. */
HOT char *put_attr(char *p, enum trace_attr a, const struct trace_value *v)
{
	size_t head = key_head_len[a], text, any;

	*p++ = TAG(SPAN_ATTRIBUTES, WT_LEN);
	if (int_attrs & (1u << a)) {
		uint64_t u = (uint64_t)v->i;
		size_t n = varint_len(u);

		*p++ = (char)(head + 2 + n);           /* under 128: one byte */
		memcpy(p, key_heads[a], KEY_HEAD_MAX); /* over-copy: SLACK */
		p += head;
		*p++ = (char)(1 + n);
		*p++ = TAG(ANY_INT, WT_VARINT);
		return put_varint(p, u);
	}
	text = text_size(v->s, v->s_len);
	any = 1 + varint_len(text) + text;
	p = put_varint(p, head + varint_len(any) + any);
	memcpy(p, key_heads[a], KEY_HEAD_MAX); /* over-copy: SLACK */
	p += head;
	p = put_varint(p, any);
	*p++ = TAG(ANY_STRING, WT_LEN);
	p = put_varint(p, text);
	return put_text(p, v->s, v->s_len, text);
}

/* The most bytes put_attr() writes past a string value's 3 bytes a byte
 * (tags, lengths, the over-copied key head). */
#define ATTR_MAX (1 + 5 + KEY_HEAD_MAX + 5 + 1 + 5 + 10)

static void add_attr(struct otlp_buf *b, enum trace_attr a, const struct trace_value *v)
{
	if (!key_heads_ready)
		key_heads_init();
	if (otlp_buf_reserve(b, ATTR_MAX + 3 * v->s_len) < 0)
		return;
	b->len = (size_t)(put_attr(b->data + b->len, a, v) - b->data);
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

int otlp_proto_piece_pad(struct otlp_buf *b)
{
	if (otlp_buf_reserve(b, OTLP_PROTO_PIECE_PAD) < 0)
		return -1;
	memset(b->data + b->len, 0, OTLP_PROTO_PIECE_PAD);
	return 0;
}

/* The next spans' room, PREFETCH_AHEAD bytes, asked for in the cache for
 * writing: the queue's bytes were last touched when the kernel copied them
 * out a whole ring ago, so a span written to them cold waits on each line;
 * asked for now, they arrive while the rest of the request runs. */
#define PREFETCH_AHEAD 1024
static inline void prefetch_room(const struct otlp_buf *b)
{
	size_t end = b->len + PREFETCH_AHEAD < b->cap ? b->len + PREFETCH_AHEAD : b->cap;

	for (size_t at = b->len; at < end; at += 64)
		__builtin_prefetch(b->data + at, 1, 3);
}

/* A span's field prefix (tag and length) takes PREFIX bytes when its
 * length is from 128 to 16383, as every usual span's is: the span is
 * written after that room and its length filled in at the end. */
#define PREFIX 3

void otlp_proto_span(struct otlp_buf *b, const struct trace_span *s)
{
	size_t op_n = s->name_op_len, model_n = s->name_model_len;
	size_t op_size, model_size, state_size, len, bound;
	uint32_t todo = s->set & ~s->pre_set;
	char *start, *p;

	if (!key_heads_ready)
		key_heads_init();
	bound = 8 + PREFIX + 64 + 3 * (op_n + 1 + model_n + s->trace_state_len) + s->pre_len +
	        TRACE_ATTR__COUNT * ATTR_MAX + 3 * s->str_bytes + SLACK;
	if (otlp_buf_reserve(b, bound) < 0)
		return;
	start = b->data + b->len;
	p = start + PREFIX;
	p = put_len(p, SPAN_TRACE_ID, TRACE_ID_LEN);
	p = put(p, s->trace_id, TRACE_ID_LEN);
	p = put_len(p, SPAN_SPAN_ID, TRACE_SPAN_ID_LEN);
	p = put(p, s->span_id, TRACE_SPAN_ID_LEN);
	if (s->trace_state) {
		state_size = text_size(s->trace_state, s->trace_state_len);
		p = put_len(p, SPAN_STATE, state_size);
		p = put_text(p, s->trace_state, s->trace_state_len, state_size);
	}
	if (s->has_parent) {
		p = put_len(p, SPAN_PARENT_ID, TRACE_SPAN_ID_LEN);
		p = put(p, s->parent_id, TRACE_SPAN_ID_LEN);
	}
	op_size = text_size(s->name_op, op_n);
	model_size = s->name_model ? text_size(s->name_model, model_n) : 0;
	p = put_len(p, SPAN_NAME, op_size + (s->name_model ? 1 + model_size : 0));
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

		p = put_attr(p, (enum trace_attr)a, &s->values[a]);
	}
	for (int i = 0; i < s->n_pre; i++)
		p = put_block(p, s->pre[i].data, s->pre[i].len);
	if (s->error) {
		p = put_len(p, SPAN_STATUS, 2);
		*p++ = TAG(STATUS_CODE, WT_VARINT);
		*p++ = STATUS_CODE_ERROR;
	}
	len = (size_t)(p - start) - PREFIX;
	if (len >= 0x80 && len < 0x4000) {
		start[0] = TAG(SS_SPANS, WT_LEN);
		start[1] = (char)(len | 0x80);
		start[2] = (char)(len >> 7);
		b->len += PREFIX + len;
	} else { /* a short span, or a huge one: its prefix is not 3 bytes */
		size_t prefix = 1 + varint_len(len);

		memmove(start + prefix, start + PREFIX, len);
		put_len(start, SS_SPANS, len);
		b->len += prefix + len;
	}
	prefetch_room(b);
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
