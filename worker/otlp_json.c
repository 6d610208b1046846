/*
 * otlp_json: the OTLP/HTTP JSON encoding of llmgate's spans (see
 * otlp_json.h for the format, and why protobuf is the default). Pure, runs
 * in workers when a span ends. Strings are escaped as JSON requires; bytes that are not valid
 * UTF-8 become U+FFFD, since one bad string would make the receiver refuse
 * the whole batch.
 */
#include "otlp_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "otlp_utf8.h"

/*
 * The writer: a span's bytes are bounded before it is written (span_bound),
 * so the put functions below write through a plain pointer with no check per
 * piece. Bound per string byte: 6 (a control character as \u00XX).
 */
#define ESC_MAX 6

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LIT(p, s) put(p, s, sizeof(s) - 1)

/* Bytes that go into a JSON string as they are: printable ASCII but '"' and '\\'
 * (a table: the scan is the encoder's inner loop). */
#define PLAIN16(c)                                                                      \
	PLAIN(c), PLAIN(c + 1), PLAIN(c + 2), PLAIN(c + 3), PLAIN(c + 4), PLAIN(c + 5), \
	        PLAIN(c + 6), PLAIN(c + 7), PLAIN(c + 8), PLAIN(c + 9), PLAIN(c + 10),  \
	        PLAIN(c + 11), PLAIN(c + 12), PLAIN(c + 13), PLAIN(c + 14), PLAIN(c + 15)
#define PLAIN(c) ((c) >= 0x20 && (c) < 0x80 && (c) != '"' && (c) != '\\')
static const bool plain[256] = {PLAIN16(0x00), PLAIN16(0x10), PLAIN16(0x20), PLAIN16(0x30),
                                PLAIN16(0x40), PLAIN16(0x50), PLAIN16(0x60), PLAIN16(0x70)};
#undef PLAIN
#undef PLAIN16

/* S escaped, without the quotes. */
static char *esc(char *p, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t run = i, k;

		while (run < n && plain[u[run]])
			run++;
		p = put(p, s + i, run - i);
		i = run;
		if (i >= n)
			break;
		if (u[i] == '"' || u[i] == '\\') {
			*p++ = '\\';
			*p++ = (char)u[i++];
		} else if (u[i] < 0x20) {
			p = PUT_LIT(p, "\\u00");
			*p++ = hex[u[i] >> 4];
			*p++ = hex[u[i] & 0xf];
			i++;
		} else if ((k = otlp_utf8_seq(u + i, n - i)) > 0) {
			p = put(p, s + i, k);
			i += k;
		} else {
			p = PUT_LIT(p, "\xef\xbf\xbd"); /* U+FFFD */
			i++;
		}
	}
	return p;
}

static char *put_str(char *p, const char *s, size_t n)
{
	*p++ = '"';
	p = esc(p, s, n);
	*p++ = '"';
	return p;
}

static char *put_digits(char *p, int64_t v)
{
	if (v < 0) {
		*p++ = '-';
		return decimal_put(p, (uint64_t)0 - (uint64_t)v);
	}
	return decimal_put(p, (uint64_t)v);
}

/* A decimal integer as a JSON string (OTLP/JSON's form of 64-bit ints). */
static char *put_int(char *p, int64_t v)
{
	*p++ = '"';
	p = put_digits(p, v);
	*p++ = '"';
	return p;
}

static char *put_id(char *p, const uint8_t *id, size_t n)
{
	*p++ = '"';
	trace_hex(id, n, p);
	p += 2 * n;
	*p++ = '"';
	return p;
}

/* Each attribute's JSON up to its value (inside the value's quotes: OTLP/JSON writes
 * 64-bit integers as strings), its key a literal: nothing to escape at run time. */
#define OTLP_VALUE_STRING "stringValue"
#define OTLP_VALUE_INT    "intValue"
static const struct {
	const char *text;
	size_t len;
} attr_head[TRACE_ATTR__COUNT] = {
#define ATTR_HEAD(id, k, t, sp, desc)                                             \
	[TRACE_ATTR_##                                                            \
	        id] = {"{\"key\":\"" k "\",\"value\":{\"" OTLP_VALUE_##t "\":\"", \
	               sizeof("{\"key\":\"" k "\",\"value\":{\"" OTLP_VALUE_##t "\":\"") - 1},
        TRACE_ATTRIBUTES(ATTR_HEAD)
#undef ATTR_HEAD
};

static size_t span_bound(const struct trace_span *s)
{
	size_t n = 512 + ESC_MAX * (s->name_op_len + 1 + s->name_model_len + s->trace_state_len);

	for (int a = 0; a < TRACE_ATTR__COUNT; a++)
		if (s->set & (1u << a))
			n += attr_head[a].len + 32 +
			     (trace_attrs[a].type == TRACE_ATTR_STRING
			              ? ESC_MAX * s->values[a].s_len
			              : 0);
	return n;
}

static void kv_string(struct otlp_buf *b, const char *key, const char *v, size_t n)
{
	size_t bound = 64 + ESC_MAX * (strlen(key) + n);
	char *p;

	if (otlp_buf_reserve(b, bound) < 0)
		return;
	p = b->data + b->len;
	p = PUT_LIT(p, "{\"key\":");
	p = put_str(p, key, strlen(key));
	p = PUT_LIT(p, ",\"value\":{\"stringValue\":");
	p = put_str(p, v, n);
	p = PUT_LIT(p, "}}");
	b->len = (size_t)(p - b->data);
}

static void lit(struct otlp_buf *b, const char *s)
{
	otlp_buf_add(b, s, strlen(s));
}

void otlp_json_begin(struct otlp_buf *b, const char *service_name, const char *version)
{
	lit(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	kv_string(b, "service.name", service_name, strlen(service_name));
	lit(b, ",");
	kv_string(b, "service.version", version, strlen(version));
	lit(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"llmgate\",\"version\":\"");
	lit(b, version); /* ours: digits and dots */
	lit(b, "\"},\"spans\":[");
}

void otlp_json_end(struct otlp_buf *b)
{
	lit(b, "]}]}]}");
}

void otlp_json_span(struct otlp_buf *b, const struct trace_span *s)
{
	bool first = true;
	char *p;

	if (otlp_buf_reserve(b, span_bound(s)) < 0)
		return;
	p = b->data + b->len;
	p = PUT_LIT(p, "{\"traceId\":");
	p = put_id(p, s->trace_id, TRACE_ID_LEN);
	p = PUT_LIT(p, ",\"spanId\":");
	p = put_id(p, s->span_id, TRACE_SPAN_ID_LEN);
	if (s->has_parent) {
		p = PUT_LIT(p, ",\"parentSpanId\":");
		p = put_id(p, s->parent_id, TRACE_SPAN_ID_LEN);
	}
	if (s->trace_state) {
		p = PUT_LIT(p, ",\"traceState\":");
		p = put_str(p, s->trace_state, s->trace_state_len);
	}
	p = PUT_LIT(p, ",\"name\":\"");
	p = esc(p, s->name_op, s->name_op_len);
	if (s->name_model) {
		*p++ = ' ';
		p = esc(p, s->name_model, s->name_model_len);
	}
	p = PUT_LIT(p, "\",\"kind\":");
	*p++ = (char)('0' + s->kind);
	p = PUT_LIT(p, ",\"startTimeUnixNano\":");
	p = put_int(p, s->start_ns);
	p = PUT_LIT(p, ",\"endTimeUnixNano\":");
	p = put_int(p, s->end_ns);
	p = PUT_LIT(p, ",\"attributes\":[");
	for (int a = 0; a < TRACE_ATTR__COUNT; a++) {
		const struct trace_value *v = &s->values[a];

		if (!(s->set & (1u << a)))
			continue;
		if (!first)
			*p++ = ',';
		first = false;
		p = put(p, attr_head[a].text, attr_head[a].len);
		if (trace_attrs[a].type == TRACE_ATTR_STRING)
			p = esc(p, v->s, v->s_len);
		else
			p = put_digits(p, v->i);
		p = PUT_LIT(p, "\"}}");
	}
	*p++ = ']';
	if (s->error)
		p = PUT_LIT(p, ",\"status\":{\"code\":2}");
	*p++ = '}';
	b->len = (size_t)(p - b->data);
}
