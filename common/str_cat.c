/*
 * str_cat: bounded concatenation, copy and decimal numbers (see str_cat.h).
 */
#include "str_cat.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

int str_cat(char *buf, size_t len, ...)
{
	size_t used = 0;
	bool fits = true;
	va_list ap;

	va_start(ap, len);
	for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
		size_t n = strlen(s);

		if (used + n >= len) {
			n = len > used + 1 ? len - used - 1 : 0;
			fits = false;
		}
		memcpy(buf + used, s, n);
		used += n;
		if (!fits)
			break;
	}
	va_end(ap);
	if (len > 0)
		buf[used] = '\0';
	return fits && len > 0 ? (int)used : -1;
}

size_t str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
	return n;
}

size_t str_int(char *buf, int64_t v)
{
	char tmp[STR_INT_MAX];
	size_t n = 0, len = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		buf[len++] = '-';
	while (n)
		buf[len++] = tmp[--n];
	buf[len] = '\0';
	return len;
}
