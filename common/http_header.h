/*
 * http_header: the one rule for a valid header field (RFC 9110: a name is a
 * token, a value holds field bytes only) and the one list of the header
 * names llmgate writes itself, each with where it does. Pure; used by the
 * request parser, the HTTP server's responses, the upstream request and
 * the config's extra_headers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The class of each byte, for the checks below: one load per byte (the
 * request parser runs them over every byte of a head). */
enum {
	HTTP_BYTE_TCHAR = 1, /* tchar of RFC 9110 section 5.6.2 */
	HTTP_BYTE_FIELD = 2, /* field-vchar, SP or HTAB */
};
extern const uint8_t http_byte_class[256];

/* tchar of RFC 9110 section 5.6.2, the bytes of a token (a header name, a
 * method): ! # $ % & ' * + - . ^ _ ` | ~ digits and letters. */
static inline bool http_is_tchar(unsigned char c)
{
	return http_byte_class[c] & HTTP_BYTE_TCHAR;
}

/* field-vchar, SP or HTAB: a visible byte, obs-text, or blank. */
static inline bool http_is_field_byte(unsigned char c)
{
	return http_byte_class[c] & HTTP_BYTE_FIELD;
}

/* Are the N bytes at A and at B the same, ASCII letters compared without
 * case? It reads no further than the first byte that differs, so a literal
 * with its NUL bounds a compare with a NUL-terminated string. Inline: header
 * names are short, and glibc's strncasecmp() goes through the locale on
 * every call (a sixth of the request head's parsing). */
static inline bool http_ascii_caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];

		x += (unsigned char)((unsigned char)(x - 'A') < 26) << 5;
		y += (unsigned char)((unsigned char)(y - 'A') < 26) << 5;
		if (x != y)
			return false;
	}
	return true;
}

/* Is NAME, of LEN bytes, the name LIT (a string literal), ignoring case? The
 * lengths decide first: on the request path most names match none. */
#define http_header_name_is(name, len, lit) \
	((len) == sizeof(lit) - 1 && http_ascii_caseeq(name, lit, sizeof(lit) - 1))

/* Is NAME a header field name: one or more tchar? */
bool http_header_name_valid(const char *name);
/* Is VALUE fit for a header line: field bytes only (no CR, LF, NUL or
 * other control byte but HTAB)? */
bool http_header_value_valid(const char *value);

/* Where a header name is llmgate's own (a bit set of them). */
enum http_own {
	/* the HTTP server writes it on every response: a handler may not add it */
	HTTP_OWN_RESPONSE = 1 << 0,
	/* the upstream client frames the request with it: dropped from the
	 * headers handed to it */
	HTTP_OWN_UPSTREAM = 1 << 1,
	/* a deployment's extra_headers may not set it (warned about, ignored) */
	HTTP_OWN_EXTRA = 1 << 2,
};

/* Is NAME (case-insensitive) llmgate's own in any of WHERE? */
bool http_header_is_own(const char *name, unsigned where);
