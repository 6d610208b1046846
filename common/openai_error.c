/*
 * openai_error: the OpenAI-shaped error body (see openai_error.h). Pure.
 * Strings are escaped as jansson does with no flags: '"', '\\' and control
 * bytes (the short forms where JSON has them, else \u00XX), everything else
 * (UTF-8 included) as is.
 */
#include "openai_error.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Output that counts every byte but stores only what fits. */
struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->size) {
		size_t room = o->size - o->len;

		memcpy(o->buf + o->len, s, n < room ? n : room);
	}
	o->len += n;
}

#define PUT_LITERAL(o, s) put(o, s, sizeof(s) - 1)

/* The length of the UTF-8 sequence at S (RFC 3629: no overlong form, no
 * surrogate, nothing past U+10FFFF), or 0 when it is not one. */
static size_t utf8_sequence(const unsigned char *s)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* a NUL ends the string here too */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

static bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		size_t n = utf8_sequence(p);

		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

/* A JSON string with S's text. */
static void put_string(struct out *o, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	bool valid = utf8_valid(s);
	const char *run = s;

	PUT_LITERAL(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = {'\\', 'u', '0', '0'};
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || valid))
			continue;
		put(o, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"':
		case '\\':
			esc[1] = (char)c;
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			if (c >= 0x80) {
				esc[0] = '?';
				n = 1;
				break;
			}
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			n = 6;
			break;
		}
		put(o, esc, n);
	}
	put(o, run, (size_t)(s - run));
	PUT_LITERAL(o, "\"");
}

size_t openai_error_format(char *buf, size_t size, const char *type, const char *code,
                           const char *message)
{
	struct out o = {buf, size ? size - 1 : 0, 0};

	PUT_LITERAL(&o, "{\"error\":{\"message\":");
	put_string(&o, message);
	PUT_LITERAL(&o, ",\"type\":");
	put_string(&o, type);
	PUT_LITERAL(&o, ",\"param\":null,\"code\":");
	if (code)
		put_string(&o, code);
	else
		PUT_LITERAL(&o, "null");
	PUT_LITERAL(&o, "}}");
	if (size)
		buf[o.len < o.size ? o.len : o.size] = '\0';
	return o.len;
}
