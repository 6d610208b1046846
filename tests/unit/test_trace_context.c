/*
 * Unit tests of worker/trace_context.c and worker/trace_sampler.c: the W3C
 * traceparent parsed strictly (every way a header is invalid) and written
 * back, tracestate's bounds, the id generator (no zero ids, no repeats,
 * the same seed the same ids), and the parent-based ratio sampler.
 */
#include <string.h>

#include "tap.h"
#include "trace_context.h"
#include "trace_sampler.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define SPAN  "00f067aa0ba902b7"

static int parse(const char *s, struct trace_parent *p)
{
	return trace_parent_parse(s, strlen(s), p);
}

static void test_parse(void)
{
	static const char *const bad[] = {
	        "",
	        "00-" TRACE "-" SPAN "-0",                         /* short */
	        "00-" TRACE "-" SPAN "-011",                       /* 00 is exactly 55 */
	        "00-" TRACE "-" SPAN "-01-x",                      /* 00 has nothing more */
	        "ff-" TRACE "-" SPAN "-01",                        /* version ff */
	        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SPAN "-01", /* upper case */
	        "00-00000000000000000000000000000000-" SPAN "-01", /* zero trace id */
	        "00-" TRACE "-0000000000000000-01",                /* zero parent id */
	        "00_" TRACE "-" SPAN "-01",                        /* separator */
	        "00-" TRACE "_" SPAN "-01",                        /* separator */
	        "00-" TRACE "-" SPAN "_01",                        /* separator */
	        "0g-" TRACE "-" SPAN "-01",                        /* not hex */
	        "00-4bf92f3577b34da6a3ce929d0e0e473 -" SPAN "-01", /* space */
	        "01-" TRACE "-" SPAN "-01x",                       /* more, without a dash */
	        "00-" TRACE "-" SPAN "-0g",                        /* flags not hex */
	};
	struct trace_parent p;
	char out[TRACEPARENT_LEN + 1];
	bool refused = true;

	tap_ok(parse("00-" TRACE "-" SPAN "-01", &p) == 0, "a valid traceparent parses");
	tap_ok(p.trace_id[0] == 0x4b && p.trace_id[15] == 0x36 && p.span_id[0] == 0x00 &&
	               p.span_id[7] == 0xb7 && p.flags == 1,
	       "its ids and flags");
	trace_parent_format(p.trace_id, p.span_id, p.flags, out);
	tap_str(out, "00-" TRACE "-" SPAN "-01", "written back the same");
	{ /* every byte value, at every place of both ids, as two lower-case digits */
		bool same = true;

		for (int v = 0; v < 256; v++) {
			uint8_t id[TRACE_ID_LEN], span[TRACE_SPAN_ID_LEN];
			char want[TRACEPARENT_LEN + 1];

			for (int k = 0; k < TRACE_ID_LEN; k++)
				id[k] = (uint8_t)(v + 17 * k);
			for (int k = 0; k < TRACE_SPAN_ID_LEN; k++)
				span[k] = (uint8_t)(v + 31 * k);
			snprintf(want, sizeof(want), "00-");
			for (int k = 0; k < TRACE_ID_LEN; k++)
				snprintf(want + 3 + 2 * k, 3, "%02x", id[k]);
			want[35] = '-';
			for (int k = 0; k < TRACE_SPAN_ID_LEN; k++)
				snprintf(want + 36 + 2 * k, 3, "%02x", span[k]);
			snprintf(want + 52, 4, "-%02x", (unsigned)v);
			trace_parent_format(id, span, (uint8_t)v, out);
			if (strcmp(out, want) != 0) {
				same = false;
				printf("# %s, not %s\n", out, want);
				break;
			}
		}
		tap_ok(same, "every byte value written as two lower-case hex digits");
	}
	tap_ok(parse("00-" TRACE "-" SPAN "-00", &p) == 0 && p.flags == 0, "unsampled");
	tap_ok(parse("01-" TRACE "-" SPAN "-03-whatever", &p) == 0 && p.flags == 3,
	       "a later version: its first four fields");
	tap_ok(parse("cc-" TRACE "-" SPAN "-01", &p) == 0, "a later version of the same length");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &p) == 0) {
			refused = false;
			printf("# accepted: '%s'\n", bad[i]);
		}
	tap_ok(refused, "every invalid traceparent is refused");
	tap_ok(trace_parent_parse(NULL, 0, &p) < 0, "no header");
}

static void test_state(void)
{
	char big[TRACESTATE_MAX + 2];

	memset(big, 'a', sizeof(big));
	tap_ok(trace_state_valid("vendor=abc,other=x", 18), "a tracestate");
	tap_ok(!trace_state_valid("", 0), "empty is not passed on");
	tap_ok(trace_state_valid(big, TRACESTATE_MAX), "512 bytes pass");
	tap_ok(!trace_state_valid(big, TRACESTATE_MAX + 1), "513 do not");
	tap_ok(!trace_state_valid("a=b\r\nx: y", 10), "no control characters");
	tap_ok(!trace_state_valid("a=\xc3\xa9", 4), "ASCII only");
}

static void test_rng(void)
{
	uint8_t seed[32] = {1, 2, 3}, zero[32] = {0};
	struct trace_rng a, b, z;
	uint8_t t1[TRACE_ID_LEN], t2[TRACE_ID_LEN], s1[TRACE_SPAN_ID_LEN], s2[TRACE_SPAN_ID_LEN];
	bool distinct = true, nonzero = true;

	trace_rng_seed(&a, seed);
	trace_rng_seed(&b, seed);
	trace_rng_trace_id(&a, t1);
	trace_rng_trace_id(&b, t2);
	tap_ok(memcmp(t1, t2, sizeof(t1)) == 0, "the same seed gives the same ids");
	for (int i = 0; i < 1000; i++) {
		trace_rng_span_id(&a, s1);
		trace_rng_span_id(&a, s2);
		distinct = distinct && memcmp(s1, s2, sizeof(s1)) != 0;
		nonzero = nonzero && memcmp(s1, zero, sizeof(s1)) != 0;
	}
	tap_ok(distinct && nonzero, "span ids differ and are never zero");
	trace_rng_seed(&z, zero);
	trace_rng_trace_id(&z, t1);
	tap_ok(memcmp(t1, zero, sizeof(t1)) != 0, "an all-zero seed still gives ids");
}

static void test_sampler(void)
{
	struct trace_parent sampled = {.flags = 1}, unsampled = {.flags = 0};
	uint8_t id[TRACE_ID_LEN] = {0};
	struct trace_rng rng;
	uint8_t seed[32] = {7};
	int n = 0;

	tap_ok(trace_sampler_decide(0, &sampled, id), "a sampled parent is followed at ratio 0");
	tap_ok(!trace_sampler_decide(1, &unsampled, id), "an unsampled one at ratio 1");
	tap_ok(!trace_sampler_decide(0, NULL, id) && trace_sampler_decide(1, NULL, id),
	       "ratio 0 never, 1 always");
	memset(id + 8, 0xff, 8);
	tap_ok(!trace_sampler_decide(0.5, NULL, id), "the highest id is not under 0.5");
	memset(id + 8, 0, 8);
	tap_ok(trace_sampler_decide(0.001, NULL, id), "the lowest id is under any ratio");
	trace_rng_seed(&rng, seed);
	for (int i = 0; i < 10000; i++) {
		trace_rng_trace_id(&rng, id);
		n += trace_sampler_decide(0.25, NULL, id);
	}
	tap_ok(n > 2250 && n < 2750, "ratio 0.25 samples about a quarter (%d of 10000)", n);
}

int main(void)
{
	test_parse();
	test_state();
	test_rng();
	test_sampler();
	return tap_done();
}
