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

/* Whether S (N bytes) is all ASCII: 8 bytes per step, the last step and a
 * short string's as overlapping loads (no byte loop), the common case. */
static inline bool otlp_ascii(const char *s, size_t n)
{
	uint64_t acc = 0, w;
	uint32_t h, t;

	if (n >= 8) {
		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&w, s + i, 8);
			acc |= w;
		}
		memcpy(&w, s + n - 8, 8);
		acc |= w;
	} else if (n >= 4) {
		memcpy(&h, s, 4);
		memcpy(&t, s + n - 4, 4);
		acc = h | t;
	} else if (n) {
		acc = (unsigned char)s[0] | (unsigned char)s[n / 2] | (unsigned char)s[n - 1];
	}
	return (acc & 0x8080808080808080ULL) == 0;
}
