/*
 * otlp_json: the OTLP/HTTP JSON encoding of llmgate's spans (see
 * otlp_json.h for the format and why JSON). Pure, runs in workers when a
 * span ends. Strings are escaped as JSON requires; bytes that are not valid
 * UTF-8 become U+FFFD, since one bad string would make the receiver refuse
 * the whole batch.
 */
#include "otlp_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const struct trace_attr_info trace_attrs[TRACE_ATTR__COUNT] = {
#define TRACE_ATTR_ROW(id, k, t, sp, desc) \
	[TRACE_ATTR_##id] = {.key = k, .type = TRACE_ATTR_##t, .spans = sp, .description = desc},
        TRACE_ATTRIBUTES(TRACE_ATTR_ROW)
#undef TRACE_ATTR_ROW
};

void otlp_buf_free(struct otlp_buf *b)
{
	free(b->data);
	*b = (struct otlp_buf){0};
}

void otlp_buf_reset(struct otlp_buf *b)
{
	b->len = 0;
	b->oom = 0;
}

static int reserve(struct otlp_buf *b, size_t more)
{
	size_t cap;
	char *n;

	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	n = realloc(b->data, cap);
	if (!n) {
		b->oom = 1;
		return -1;
	}
	b->data = n;
	b->cap = cap;
	return 0;
}

void otlp_buf_add(struct otlp_buf *b, const char *s, size_t len)
{
	if (reserve(b, len) < 0)
		return;
	memcpy(b->data + b->len, s, len);
	b->len += len;
}

static void lit(struct otlp_buf *b, const char *s)
{
	otlp_buf_add(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at S (at most N bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* S escaped, without the quotes. */
static void str_body(struct otlp_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t run = 0, k;

		while (i + run < n && u[i + run] >= 0x20 && u[i + run] < 0x80 &&
		       u[i + run] != '"' && u[i + run] != '\\')
			run++;
		otlp_buf_add(b, s + i, run);
		i += run;
		if (i >= n)
			break;
		if (u[i] == '"' || u[i] == '\\') {
			char esc[2] = {'\\', (char)u[i]};

			otlp_buf_add(b, esc, 2);
			i++;
		} else if (u[i] < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', hex[u[i] >> 4], hex[u[i] & 0xf]};

			otlp_buf_add(b, esc, 6);
			i++;
		} else if ((k = utf8_len(u + i, n - i)) > 0) {
			otlp_buf_add(b, s + i, k);
			i += k;
		} else {
			otlp_buf_add(b, "\xef\xbf\xbd", 3); /* U+FFFD */
			i++;
		}
	}
}

static void str(struct otlp_buf *b, const char *s, size_t n)
{
	otlp_buf_add(b, "\"", 1);
	str_body(b, s, n);
	otlp_buf_add(b, "\"", 1);
}

static void cstr(struct otlp_buf *b, const char *s)
{
	str(b, s, strlen(s));
}

/* A decimal integer as a JSON string (OTLP/JSON's form of 64-bit ints). */
static void int_string(struct otlp_buf *b, int64_t v)
{
	char buf[24], *p = buf + sizeof(buf);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	*--p = '"';
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	*--p = '"';
	otlp_buf_add(b, p, (size_t)(buf + sizeof(buf) - p));
}

static void hex_id(struct otlp_buf *b, const uint8_t *id, size_t n)
{
	char buf[2 * TRACE_ID_LEN + 2];

	buf[0] = '"';
	trace_hex(id, n, buf + 1);
	buf[2 * n + 1] = '"';
	otlp_buf_add(b, buf, 2 * n + 2);
}

static void kv_string(struct otlp_buf *b, const char *key, const char *v, size_t n)
{
	lit(b, "{\"key\":");
	cstr(b, key);
	lit(b, ",\"value\":{\"stringValue\":");
	str(b, v, n);
	lit(b, "}}");
}

void otlp_json_begin(struct otlp_buf *b, const char *service_name, const char *version)
{
	lit(b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	kv_string(b, "service.name", service_name, strlen(service_name));
	lit(b, ",");
	kv_string(b, "service.version", version, strlen(version));
	lit(b, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"llmgate\",\"version\":");
	cstr(b, version);
	lit(b, "},\"spans\":[");
}

void otlp_json_end(struct otlp_buf *b)
{
	lit(b, "]}]}]}");
}

void otlp_json_span(struct otlp_buf *b, const struct trace_span *s)
{
	char kind[2] = {(char)('0' + s->kind), '\0'};
	bool first = true;

	lit(b, "{\"traceId\":");
	hex_id(b, s->trace_id, TRACE_ID_LEN);
	lit(b, ",\"spanId\":");
	hex_id(b, s->span_id, TRACE_SPAN_ID_LEN);
	if (s->has_parent) {
		lit(b, ",\"parentSpanId\":");
		hex_id(b, s->parent_id, TRACE_SPAN_ID_LEN);
	}
	if (s->trace_state) {
		lit(b, ",\"traceState\":");
		str(b, s->trace_state, s->trace_state_len);
	}
	lit(b, ",\"name\":\"");
	str_body(b, s->name_op, strlen(s->name_op));
	if (s->name_model) {
		lit(b, " ");
		str_body(b, s->name_model, strlen(s->name_model));
	}
	lit(b, "\"");
	lit(b, ",\"kind\":");
	lit(b, kind);
	lit(b, ",\"startTimeUnixNano\":");
	int_string(b, s->start_ns);
	lit(b, ",\"endTimeUnixNano\":");
	int_string(b, s->end_ns);
	lit(b, ",\"attributes\":[");
	for (int a = 0; a < TRACE_ATTR__COUNT; a++) {
		const struct trace_value *v = &s->values[a];

		if (!(s->set & (1u << a)))
			continue;
		if (!first)
			lit(b, ",");
		first = false;
		if (trace_attrs[a].type == TRACE_ATTR_STRING) {
			kv_string(b, trace_attrs[a].key, v->s, v->s_len);
		} else {
			lit(b, "{\"key\":");
			cstr(b, trace_attrs[a].key);
			lit(b, ",\"value\":{\"intValue\":");
			int_string(b, v->i);
			lit(b, "}}");
		}
	}
	lit(b, "]");
	if (s->error)
		lit(b, ",\"status\":{\"code\":2}");
	lit(b, "}");
}
