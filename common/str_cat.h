/*
 * str_cat: the string building the request path needs, without the
 * printf family (a format string parsed per call was 12% of a request's
 * instructions): concatenation into a bounded buffer, a bounded copy, and
 * decimal numbers. Pure; used by the worker on every request.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Writes the concatenation of the strings up to the terminating NULL into
 * BUF (LEN bytes, NUL-terminated). Returns its length, or -1 when it does
 * not fit (BUF then holds as much as fits). */
int str_cat(char *buf, size_t len, ...) __attribute__((sentinel));

/* Copies SRC into DST (SIZE > 0 bytes), truncated to fit and NUL-terminated,
 * as snprintf(DST, SIZE, "%s", SRC) does. Returns the length written. */
size_t str_copy(char *dst, size_t size, const char *src);

/* Writes V in decimal and a NUL into BUF (at least STR_INT_MAX bytes);
 * returns the length. */
#define STR_INT_MAX 21
size_t str_int(char *buf, int64_t v);
