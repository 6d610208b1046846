/*
 * hex: the value of one hexadecimal digit, either case (chunk sizes, key
 * hashes, percent-encoding). W3C trace context wants lower case only and
 * keeps its own rule (worker/trace_context.c).
 */
#pragma once

static inline int hex_digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
