/*
 * otlp_utf8: the UTF-8 checks both span encoders share (a collector refuses
 * a batch whose strings are not valid UTF-8). Pure.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at S (at most N bytes), or 0. */
size_t otlp_utf8_seq(const unsigned char *s, size_t n);

/* Whether S (N bytes) is all ASCII: 8 bytes per step, the common case. */
static inline bool otlp_ascii(const char *s, size_t n)
{
	uint64_t acc = 0, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, s + i, 8);
		acc |= w;
	}
	for (; i < n; i++)
		acc |= (unsigned char)s[i];
	return (acc & 0x8080808080808080ULL) == 0;
}
