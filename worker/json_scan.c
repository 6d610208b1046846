/*
 * json_scan: a validating JSON scanner that keeps only the top-level `model`
 * and `stream` (see json_scan.h). Runs in a worker on every proxied request.
 *
 * Recursive descent over the bytes, at most JSON_SCAN_MAX_DEPTH deep; each
 * object keeps the spans of its keys to find duplicates (keys with escapes
 * are left to the tree path, so equal spans mean equal keys). Strings are
 * checked as jansson checks them: no control bytes, valid escapes, valid
 * UTF-8 without overlong forms or surrogates; a run of plain ASCII (a
 * prompt's text) is passed sixteen bytes at a time.
 */
#include "json_scan.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define UNSURE (-EAGAIN)

enum json_kind {
	KIND_OTHER,
	KIND_STRING,
	KIND_TRUE,
};

struct scanner {
	const char *p, *end;
};

struct value_info {
	enum json_kind kind;
	const char *str; /* KIND_STRING: its bytes between the quotes */
	size_t len;
	bool escaped;
};

static void skip_ws(struct scanner *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int hex4(const char *p, unsigned *ret)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return UNSURE;
	}
	*ret = v;
	return 0;
}

/* One UTF-8 sequence of 2 to 4 bytes at P (its first byte >= 0x80); its length or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t n;
	uint32_t cp;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A string; S->p is on its opening quote. */
/* Sixteen bytes of a string, as the compiler's vector type (SSE2, NEON...). */
typedef unsigned char bytes16 __attribute__((vector_size(16)));

/* Whether any of the 16 bytes at P needs a look of its own: a quote, a
 * backslash, a control byte (under 0x20) or a byte of a UTF-8 sequence
 * (0x80 and up). */
static inline bool block_needs_look(const char *p)
{
	bytes16 v;
	uint64_t half[2];

	memcpy(&v, p, 16);
	bytes16 marks = (bytes16)((v == '"') | (v == '\\') | (v < 0x20) | (v >= 0x80));

	memcpy(half, &marks, 16);
	return (half[0] | half[1]) != 0;
}

static int scan_string(struct scanner *s, struct value_info *vi)
{
	const char *p = s->p + 1;

	vi->kind = KIND_STRING;
	vi->str = p;
	vi->escaped = false;
	while (p < s->end) {
		unsigned char c;

		/* a prompt's plain ASCII sixteen bytes at a time, then byte by byte
		 * up to the byte that needs a look */
		while (s->end - p >= 16 && !block_needs_look(p))
			p += 16;
		while (p < s->end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 &&
		       *p != '"' && *p != '\\')
			p++;
		if (p >= s->end)
			break;
		c = (unsigned char)*p;

		if (c == '"') {
			vi->len = (size_t)(p - vi->str);
			s->p = p + 1;
			return 0;
		}
		if (c < 0x20)
			return UNSURE;
		if (c == '\\') {
			unsigned u, lo;

			vi->escaped = true;
			if (p + 1 >= s->end)
				return UNSURE;
			switch (p[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p += 2;
				continue;
			case 'u':
				if (s->end - p < 6 || hex4(p + 2, &u) < 0 || u == 0)
					return UNSURE;
				p += 6;
				if (u >= 0xdc00 && u <= 0xdfff)
					return UNSURE; /* a lone low surrogate */
				if (u >= 0xd800 && u <= 0xdbff) {
					if (s->end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
					    hex4(p + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
						return UNSURE;
					p += 6;
				}
				continue;
			default:
				return UNSURE;
			}
		}
		if (c >= 0x80) {
			size_t n =
			        utf8_seq((const unsigned char *)p, (const unsigned char *)s->end);

			if (!n)
				return UNSURE;
			p += n;
			continue;
		}
		p++;
	}
	return UNSURE;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)? with at most 15 digits; exponents are left to jansson. */
static int scan_number(struct scanner *s)
{
	const char *p = s->p;
	int digits = 0;

	if (p < s->end && *p == '-')
		p++;
	if (p >= s->end || *p < '0' || *p > '9')
		return UNSURE;
	if (*p == '0') {
		p++;
		digits++;
	} else {
		while (p < s->end && *p >= '0' && *p <= '9') {
			p++;
			digits++;
		}
	}
	if (p < s->end && *p == '.') {
		p++;
		if (p >= s->end || *p < '0' || *p > '9')
			return UNSURE;
		while (p < s->end && *p >= '0' && *p <= '9') {
			p++;
			digits++;
		}
	}
	if (digits > 15 || (p < s->end && (*p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9'))))
		return UNSURE;
	s->p = p;
	return 0;
}

static int scan_literal(struct scanner *s, const char *word, size_t len)
{
	if ((size_t)(s->end - s->p) < len || memcmp(s->p, word, len) != 0)
		return UNSURE;
	s->p += len;
	return 0;
}

static int scan_value(struct scanner *s, int depth, struct value_info *vi);

struct key {
	const char *s;
	size_t len;
};

/* S->p is on the '{' or '[' that opens a container: steps past it and
 * returns true when CLOSE follows at once (the container is empty). */
static bool opens_empty(struct scanner *s, char close)
{
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return true;
	}
	return false;
}

/* After a member or element: 1 when a ',' leads to the next one, 0 past the
 * container's CLOSE, UNSURE otherwise. */
static int next_item(struct scanner *s, char close)
{
	skip_ws(s);
	if (s->p < s->end && *s->p == ',') {
		s->p++;
		skip_ws(s);
		return 1;
	}
	if (s->p < s->end && *s->p == close) {
		s->p++;
		return 0;
	}
	return UNSURE;
}

/* An object; S->p is on its '{'. TOP: fill RET from its members. */
static int scan_object(struct scanner *s, int depth, struct json_scan_result *ret)
{
	struct key keys[JSON_SCAN_MAX_KEYS];
	size_t n = 0;

	if (opens_empty(s, '}'))
		return 0;
	for (;;) {
		struct value_info k, v;
		int r;

		if (s->p >= s->end || *s->p != '"')
			return UNSURE;
		r = scan_string(s, &k);
		if (r < 0 || k.escaped || n == JSON_SCAN_MAX_KEYS)
			return UNSURE;
		for (size_t i = 0; i < n; i++)
			if (keys[i].len == k.len && memcmp(keys[i].s, k.str, k.len) == 0)
				return UNSURE; /* a duplicate: the tree path refuses it */
		keys[n++] = (struct key){k.str, k.len};
		skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return UNSURE;
		s->p++;
		skip_ws(s);
		r = scan_value(s, depth + 1, &v);
		if (r < 0)
			return r;
		if (ret && k.len == 5 && memcmp(k.str, "model", 5) == 0) {
			if (v.kind != KIND_STRING || v.escaped)
				return UNSURE;
			ret->model = v.str;
			ret->model_len = v.len;
		} else if (ret && k.len == 6 && memcmp(k.str, "stream", 6) == 0) {
			ret->stream = v.kind == KIND_TRUE;
		}
		r = next_item(s, '}');
		if (r <= 0)
			return r;
	}
}

static int scan_array(struct scanner *s, int depth)
{
	if (opens_empty(s, ']'))
		return 0;
	for (;;) {
		struct value_info v;
		int r = scan_value(s, depth + 1, &v);

		if (r < 0)
			return r;
		r = next_item(s, ']');
		if (r <= 0)
			return r;
	}
}

static int scan_value(struct scanner *s, int depth, struct value_info *vi)
{
	vi->kind = KIND_OTHER;
	if (s->p >= s->end || depth > JSON_SCAN_MAX_DEPTH)
		return UNSURE;
	switch (*s->p) {
	case '{':
		return scan_object(s, depth, NULL);
	case '[':
		return scan_array(s, depth);
	case '"':
		return scan_string(s, vi);
	case 't':
		vi->kind = KIND_TRUE;
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		return scan_number(s);
	}
}

int json_scan_request(const char *buf, size_t len, struct json_scan_result *ret)
{
	struct scanner s = {buf, buf + len};
	int r;

	*ret = (struct json_scan_result){0};
	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return UNSURE;
	r = scan_object(&s, 1, ret);
	if (r < 0) {
		*ret = (struct json_scan_result){0};
		return r;
	}
	skip_ws(&s);
	if (s.p != s.end) {
		*ret = (struct json_scan_result){0};
		return UNSURE;
	}
	return 0;
}
