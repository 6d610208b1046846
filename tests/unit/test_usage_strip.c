/*
 * Unit tests of usage_strip (llmgate.stream_usage: inject): a chat stream
 * asked upstream for its usage, fed in every possible split into two reads
 * and in one-byte reads, must come out as the stream without usage
 * (byte for byte: no usage chunk, no "usage":null member), with the usage
 * kept; other streams (Azure's first choices:[] event, no usage) pass as
 * they are.
 */
#include "../../worker/usage_strip.h"
#include "tap.h"

#include <stdlib.h>

struct sink {
	char buf[8192];
	size_t len;
};

static void emit(void *ctx, const char *data, size_t len)
{
	struct sink *s = ctx;

	if (s->len + len <= sizeof(s->buf)) {
		memcpy(s->buf + s->len, data, len);
		s->len += len;
	}
}

#define HEAD   "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
#define C1     "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a \\\"usage\\\":null\"}}]"
#define C2     "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]"
#define USAGE  "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}"
#define AZURE0 "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"prompt_filter_results\":[]}\n\n"

static const char injected[] =
        AZURE0 HEAD C1 ",\"usage\":null}\n\n" HEAD C2 ",\"usage\":null}\n\n" HEAD
                       "\"choices\":[]," USAGE "}\n\ndata: [DONE]\n\n";
static const char plain[] = AZURE0 HEAD C1 "}\n\n" HEAD C2 "}\n\ndata: [DONE]\n\n";

static bool run(const char *in, size_t len, size_t split, size_t step, struct sink *out,
                struct usage *u)
{
	struct usage_strip s = {0};

	out->len = 0;
	if (step) {
		for (size_t i = 0; i < len; i += step)
			usage_strip_feed(&s, in + i, len - i < step ? len - i : step, emit, out);
	} else {
		usage_strip_feed(&s, in, split, emit, out);
		usage_strip_feed(&s, in + split, len - split, emit, out);
	}
	usage_strip_finish(&s, emit, out);
	*u = s.usage;
	free(s.held);
	return true;
}

int main(void)
{
	static struct sink out;
	struct usage u;
	bool all = true;

	for (size_t split = 0; split <= sizeof(injected) - 1; split++) {
		run(injected, sizeof(injected) - 1, split, 0, &out, &u);
		all &= out.len == sizeof(plain) - 1 && memcmp(out.buf, plain, out.len) == 0 &&
		       u.known && u.prompt == 9 && u.completion == 2;
	}
	tap_ok(all, "every split in two reads: the stream without usage, usage kept");
	run(injected, sizeof(injected) - 1, 0, 1, &out, &u);
	tap_ok(out.len == sizeof(plain) - 1 && memcmp(out.buf, plain, out.len) == 0 && u.known,
	       "one-byte reads: the same");
	run(plain, sizeof(plain) - 1, 0, 7, &out, &u);
	tap_ok(out.len == sizeof(plain) - 1 && memcmp(out.buf, plain, out.len) == 0 && !u.known,
	       "a stream without usage passes unchanged (Azure's choices:[] event too)");
	{
		static const char cut[] = AZURE0 HEAD C1 ",\"usage\":null}\n\ndata: {\"partial";
		static const char want[] = AZURE0 HEAD C1 "}\n\ndata: {\"partial";

		run(cut, sizeof(cut) - 1, sizeof(cut) - 5, 0, &out, &u);
		tap_ok(out.len == sizeof(want) - 1 && memcmp(out.buf, want, out.len) == 0,
		       "a stream cut inside an event: what is held goes on at the end");
	}
	tap_ok(usage_strip_is_usage_chunk(HEAD "\"choices\":[]," USAGE "}\n\n",
	                                  sizeof(HEAD "\"choices\":[]," USAGE "}\n\n") - 1, &u) &&
	               u.total == 11,
	       "the usage chunk is recognized");
	tap_ok(!usage_strip_is_usage_chunk(AZURE0, sizeof(AZURE0) - 1, &u),
	       "Azure's first event (choices [] without usage) is no usage chunk");
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
