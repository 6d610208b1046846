/*
 * Unit tests of common/str_cat.c: concatenation that fits, that does not fit
 * by one byte, bounded copies, and decimal numbers at the int64 limits (the
 * request path builds URLs, headers and ids with them instead of snprintf).
 */
#include <inttypes.h>
#include <stdio.h>

#include "str_cat.h"
#include "tap.h"

static void test_cat(void)
{
	char buf[8];

	tap_ok(str_cat(buf, sizeof(buf), "ab", "", "cde", (char *)NULL) == 5, "cat: length");
	tap_str(buf, "abcde", "cat: the parts in order");
	tap_ok(str_cat(buf, sizeof(buf), "abcd", "efg", (char *)NULL) == 7,
	       "cat: 7 bytes fit in 8");
	tap_str(buf, "abcdefg", "cat: exactly full");
	tap_ok(str_cat(buf, sizeof(buf), "abcd", "efgh", (char *)NULL) == -1,
	       "cat: 8 bytes do not fit in 8");
	tap_str(buf, "abcdefg", "cat: truncated and terminated");
	tap_ok(str_cat(buf, sizeof(buf), (char *)NULL) == 0 && buf[0] == '\0', "cat: nothing");
}

static void test_copy(void)
{
	char buf[4];

	tap_ok(str_copy(buf, sizeof(buf), "ab") == 2, "copy: short");
	tap_str(buf, "ab", "copy: short string");
	tap_ok(str_copy(buf, sizeof(buf), "abcdef") == 3, "copy: truncated length");
	tap_str(buf, "abc", "copy: truncated as snprintf %s would");
}

static void test_int(void)
{
	static const int64_t v[] = {0,    7,     -7,        10,        999,
	                            1000, -1000, 123456789, INT64_MAX, INT64_MIN};
	char got[STR_INT_MAX], want[32];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = str_int(got, v[i]);

		snprintf(want, sizeof(want), "%" PRId64, v[i]);
		tap_ok(n == strlen(want), "int %s: length", want);
		tap_str(got, want, "int: as printf");
	}
}

int main(void)
{
	test_cat();
	test_copy();
	test_int();
	return tap_done();
}
