/*
 * Unit tests of the small common helpers: diagnostics (add, count, stable
 * sort, format, the size cap), secret masking and constant-time comparison,
 * the duration syntax, and the HTTP reject reasons (label values).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "duration.h"
#include "http_reject.h"
#include "secret.h"
#include "tap.h"

static void test_diag(void)
{
	struct diag_list list = {0};
	char buf[256];
	FILE *mem;
	char *out = NULL;
	size_t out_len = 0;

	diag_add(&list, DIAG_WARNING, "b.yaml", 3, 1, "third in b");
	diag_add(&list, DIAG_ERROR, "a.yaml", 10, 2, "second in a, first added");
	diag_add(&list, DIAG_WARNING, "a.yaml", 2, 7, "first in a");
	diag_add(&list, DIAG_ERROR, "a.yaml", 10, 2, "second in a, second added");
	diag_add(&list, DIAG_WARNING, NULL, 0, 0, "no file");
	diag_add(&list, DIAG_ERROR, "a.yaml", 0, 0, "whole %s", "file");
	diag_add(&list, DIAG_WARNING, "a.yaml", 4, 1, "line\nbreak\tand tab");

	tap_ok(list.n == 7, "seven diagnostics kept");
	tap_ok(diag_count(&list, DIAG_ERROR) == 3, "three errors counted");
	tap_ok(diag_count(&list, DIAG_WARNING) == 4, "four warnings counted");
	tap_str(diag_severity_name(DIAG_ERROR), "error", "severity name error");
	tap_str(diag_severity_name(DIAG_WARNING), "warning", "severity name warning");

	diag_sort(&list);
	tap_str(list.items[0].message, "no file", "sort: no file first");
	tap_str(list.items[1].message, "whole file", "sort: line 0 before lines");
	tap_str(list.items[2].message, "first in a", "sort: by line");
	tap_str(list.items[3].message, "line break and tab", "control characters flattened");
	tap_str(list.items[4].message, "second in a, first added", "sort is stable (1)");
	tap_str(list.items[5].message, "second in a, second added", "sort is stable (2)");
	tap_str(list.items[6].message, "third in b", "sort: by file");

	diag_format(&list.items[4], buf, sizeof(buf));
	tap_str(buf, "a.yaml:10:2: error: second in a, first added", "format FILE:LINE:COL");
	diag_format(&list.items[6], buf, sizeof(buf));
	tap_str(buf, "b.yaml:3:1: warning: third in b", "format a warning");
	diag_format(&list.items[1], buf, sizeof(buf));
	tap_str(buf, "a.yaml: error: whole file", "format without a line");
	diag_format(&list.items[0], buf, sizeof(buf));
	tap_str(buf, "warning: no file", "format without a file");
	tap_ok(diag_format(&list.items[4], buf, 8) > 8 && strlen(buf) == 7,
	       "format truncates safely and returns the full length");

	mem = open_memstream(&out, &out_len);
	diag_print(&list, mem);
	fclose(mem);
	tap_ok(out && strstr(out, "a.yaml:2:7: warning: first in a\n") != NULL,
	       "print writes one line per diagnostic");
	tap_ok(out && strstr(out, "b.yaml:3:1: warning: third in b\n") != NULL, "print: last line");
	free(out);

	diag_free(&list);
	tap_ok(list.n == 0 && list.items == NULL, "free empties the list");

	for (int i = 0; i < DIAG_LIST_MAX + 5; i++)
		diag_add(&list, i % 2 ? DIAG_ERROR : DIAG_WARNING, "x.yaml", i + 1, 1, "n%d", i);
	tap_ok(list.n == DIAG_LIST_MAX, "list capped at DIAG_LIST_MAX");
	tap_ok(diag_count(&list, DIAG_ERROR) == (DIAG_LIST_MAX + 5) / 2,
	       "dropped errors still counted");
	out = NULL;
	mem = open_memstream(&out, &out_len);
	diag_print(&list, mem);
	fclose(mem);
	tap_ok(out && strstr(out, "5 more diagnostics not shown") != NULL,
	       "print says how many were dropped");
	free(out);
	diag_free(&list);
}

static void test_secret_mask(void)
{
	char buf[32], tiny[4];

	tap_str(secret_mask("sk-proj-abcdefghijklmnop9f2c", buf, sizeof(buf)),
	        "sk-\xe2\x80\xa6"
	        "9f2c",
	        "mask shows first 3 and last 4");
	tap_str(secret_mask("abcdefghijkl", buf, sizeof(buf)), "abc\xe2\x80\xa6ijkl",
	        "12 characters are masked with head and tail");
	tap_str(secret_mask("abcdefghijk", buf, sizeof(buf)), "\xe2\x80\xa6",
	        "shorter than 12 shows only the ellipsis");
	tap_str(secret_mask("", buf, sizeof(buf)), "\xe2\x80\xa6", "empty secret");
	tap_str(secret_mask(NULL, buf, sizeof(buf)), "(unset)", "NULL secret");
	tap_str(secret_mask("sk-\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", buf,
	                    sizeof(buf)),
	        "\xe2\x80\xa6", "non-ASCII edges are not cut");
	tap_str(secret_mask("sk-proj-abcdefghijklmnop9f2c", tiny, sizeof(tiny)), "\xe2\x80\xa6",
	        "small buffer falls back to the ellipsis");
	tap_ok(secret_mask("sk-proj-abcdefghijklmnop9f2c", tiny, 2)[0] == '\0',
	       "too small for anything: empty, still terminated");
	tap_ok(strstr(secret_mask("sk-proj-abcdefghijklmnop9f2c", buf, sizeof(buf)), "proj") ==
	               NULL,
	       "the middle never shows");
}

static void test_secret_equal(void)
{
	tap_ok(secret_equal("sk-abc", "sk-abc"), "equal strings");
	tap_ok(!secret_equal("sk-abc", "sk-abd"), "last byte differs");
	tap_ok(!secret_equal("sk-abc", "sk-ab"), "prefix is not equal");
	tap_ok(!secret_equal("sk-ab", "sk-abc"), "longer is not equal");
	tap_ok(!secret_equal("", "x"), "empty vs one byte");
	tap_ok(secret_equal("", ""), "empty strings are equal");
	tap_ok(!secret_equal(NULL, "x") && !secret_equal("x", NULL) && !secret_equal(NULL, NULL),
	       "NULL never matches");
}

static void test_duration(void)
{
	static const struct {
		const char *text;
		long ms;
	} good[] = {
	        {"500ms", 500}, {"30s", 30000}, {"5m", 300000},  {"1h", 3600000},   {"600", 600000},
	        {"2.5", 2500},  {"0.25s", 250}, {"1.5m", 90000}, {"0", 0},          {"0ms", 0},
	        {".5", 500},    {"5.", 5000},   {"0.0001", 0},   {"1.0009s", 1000},
	};
	static const char *const bad[] = {
	        "",
	        "ms",
	        "-1s",
	        "+1s",
	        "1 s",
	        " 1s",
	        "1s ",
	        "1d",
	        "1S",
	        "1sec",
	        "1e3",
	        "1.2.3",
	        "abc",
	        "0x10",
	        "nan",
	        "inf",
	        ".",
	        "1..",
	        "99999999999999999999",
	        "9223372036854775807h",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		long ms = -1;
		int r = duration_parse(good[i].text, &ms);

		tap_ok(r == 0 && ms == good[i].ms, "duration '%s' = %ld ms (got %d, %ld)",
		       good[i].text, good[i].ms, r, ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long ms = 12345;

		tap_ok(duration_parse(bad[i], &ms) == -EINVAL && ms == 12345,
		       "duration '%s' is rejected and leaves the output alone", bad[i]);
	}
	tap_ok(duration_parse(NULL, &(long){0}) == -EINVAL, "NULL text is rejected");
}

static void test_http_reject(void)
{
	int bad = 0;

	for (int k = 0; k < HTTP_REJECT__COUNT; k++) {
		const char *name = http_reject_name((enum http_reject)k);
		int status = http_reject_status((enum http_reject)k);

		/* a label value: lower case and '_' only, and a 4xx or 5xx */
		if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyz_") != strlen(name) ||
		    status < 400 || status > 599)
			bad++;
		for (int j = 0; j < k; j++)
			if (strcmp(name, http_reject_name((enum http_reject)j)) == 0)
				bad++;
	}
	tap_ok(bad == 0, "reject reasons: distinct label values with a 4xx/5xx status");
	tap_str(http_reject_name(HTTP_REJECT__COUNT), "unknown", "reason out of range");
	tap_ok(http_reject_status(HTTP_REJECT__COUNT) == 500, "status out of range");
	tap_ok(http_reject_of_status(431) == HTTP_REJECT_HEAD_TOO_LARGE &&
	               http_reject_of_status(417) == HTTP_REJECT_UNSUPPORTED_EXPECT &&
	               http_reject_of_status(501) == HTTP_REJECT_UNSUPPORTED_TRANSFER_CODING &&
	               http_reject_of_status(505) == HTTP_REJECT_UNSUPPORTED_VERSION &&
	               http_reject_of_status(400) == HTTP_REJECT_MALFORMED &&
	               http_reject_of_status(0) == HTTP_REJECT_MALFORMED,
	       "parse error statuses map to reasons");
	for (int st = 400; st < 600; st++)
		if (http_reject_status(http_reject_of_status(st)) != st &&
		    http_reject_of_status(st) != HTTP_REJECT_MALFORMED)
			bad++;
	tap_ok(bad == 0, "a mapped reason answers with the status it came from");
}

int main(void)
{
	test_diag();
	test_secret_mask();
	test_secret_equal();
	test_duration();
	test_http_reject();
	return tap_done();
}
