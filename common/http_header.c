/*
 * http_header: header field validity and the header names llmgate owns
 * (see http_header.h). Pure.
 */
#include "http_header.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* 3: tchar (and field byte), 2: field byte only (HTAB, SP, the visible
 * separators, obs-text), 0: neither (controls, DEL). */
const uint8_t http_byte_class[256] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* 0x00 */
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* 0x10 */
        2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2, /* 0x20 */
        3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, /* 0x30 */
        2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x40 */
        3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3, /* 0x50 */
        3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* 0x60 */
        3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0, /* 0x70 */
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x80 */
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0x90 */
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xa0 */
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xb0 */
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xc0 */
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xd0 */
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xe0 */
        2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* 0xf0 */
};

#define FRAMING (HTTP_OWN_RESPONSE | HTTP_OWN_UPSTREAM | HTTP_OWN_EXTRA)

/* The names, each with where it is ours and why. */
static const struct {
	const char *name;
	size_t len;
	unsigned where;
} own[] = {
#define OWN(name, where)                      \
	{                                     \
		name, sizeof(name) - 1, where \
	}
        /* message framing and connection management, in every direction */
        OWN("content-length", FRAMING),
        OWN("transfer-encoding", FRAMING),
        OWN("connection", FRAMING),
        /* the fixed part of every response head */
        OWN("content-type", HTTP_OWN_RESPONSE),
        OWN("date", HTTP_OWN_RESPONSE),
        OWN("server", HTTP_OWN_RESPONSE),
        /* the upstream's authority, from the deployment's api_base */
        OWN("host", HTTP_OWN_EXTRA),
        /* the upstream client never waits for 100 Continue */
        OWN("expect", HTTP_OWN_UPSTREAM),
#undef OWN
};

bool http_header_name_valid(const char *name)
{
	const char *s = name;

	for (; *s; s++)
		if (!http_is_tchar((unsigned char)*s))
			return false;
	return s != name;
}

/* Whether any byte of X is under 0x20 (a control byte) or is DEL: exact
 * (the borrow of the subtraction can mark a byte only when a lower one is
 * marked already). */
static inline bool word_has_control(uint64_t x)
{
	const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
	uint64_t del = x ^ (0x7f * ones);

	return (((x - 0x20 * ones) & ~x) | ((del - ones) & ~del)) & highs;
}

bool http_header_value_valid(const char *value)
{
	size_t n = strlen(value), i = 0;

	/* eight bytes at a time while none is a control byte or DEL; a word
	 * with one (HTAB is one, and valid) is decided byte by byte */
	for (; i + 8 <= n; i += 8) {
		uint64_t x;

		memcpy(&x, value + i, 8);
		if (word_has_control(x))
			break;
	}
	for (; i < n; i++)
		if (!http_is_field_byte((unsigned char)value[i]))
			return false;
	return true;
}

bool http_header_is_own(const char *name, unsigned where)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if ((own[i].where & where) && own[i].len == len &&
		    strcasecmp(own[i].name, name) == 0)
			return true;
	return false;
}
