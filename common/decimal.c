/*
 * decimal: integers in decimal (see decimal.h). Two digits a step from a
 * table, written from the end into a small buffer and then moved.
 */
#include "decimal.h"

#include <string.h>

char *decimal_put(char *p, uint64_t v)
{
	static const char pairs[] = "00010203040506070809101112131415161718192021222324"
	                            "25262728293031323334353637383940414243444546474849"
	                            "50515253545556575859606162636465666768697071727374"
	                            "75767778798081828384858687888990919293949596979899";
	char buf[DECIMAL_MAX], *q = buf + sizeof(buf);
	size_t n;

	while (v >= 100) {
		q -= 2;
		memcpy(q, pairs + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		q -= 2;
		memcpy(q, pairs + 2 * v, 2);
	} else {
		*--q = (char)('0' + v);
	}
	n = (size_t)(buf + sizeof(buf) - q);
	memcpy(p, q, n);
	return p + n;
}
