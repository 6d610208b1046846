/*
 * Unit tests of decimal_put() (common/decimal.c) against printf: every
 * value to 100 000, each power of ten and its neighbours, and the largest.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "decimal.h"
#include "tap.h"

/* Whether decimal_put(V) writes what printf("%" PRIu64) does, and no more. */
static bool same_as_printf(uint64_t v)
{
	char got[DECIMAL_MAX + 2], want[32];
	char *end;

	memset(got, '#', sizeof(got));
	end = decimal_put(got, v);
	snprintf(want, sizeof(want), "%" PRIu64, v);
	return (size_t)(end - got) == strlen(want) && memcmp(got, want, strlen(want)) == 0 &&
	       *end == '#';
}

int main(void)
{
	uint64_t bad = 0;
	bool all = true;

	for (uint64_t v = 0; v <= 100000 && all; v++)
		if (!(all = same_as_printf(v)))
			bad = v;
	tap_ok(all, "0 to 100 000 as printf (first wrong: %" PRIu64 ")", bad);
	all = true;
	for (uint64_t p = 10; p <= UINT64_C(10000000000000000000) && all; p *= 10) {
		all = same_as_printf(p - 1) && same_as_printf(p) && same_as_printf(p + 1);
		bad = p;
		if (p == UINT64_C(10000000000000000000))
			break;
	}
	tap_ok(all, "each power of ten and its neighbours (wrong near %" PRIu64 ")", bad);
	tap_ok(same_as_printf(UINT64_MAX), "the largest: 20 digits");
	return tap_done();
}
