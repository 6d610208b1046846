/*
 * fuzz_usage_scan: the usage scanner (worker/usage_scan.c) on any bytes, as
 * a non-streamed body, as a stream (chat and Responses) read whole and cut
 * into three reads, and as a stream's one data event. Properties: it never
 * reads outside its input; a usage it vouches for is known, with counts of 0 to 10^15 and a
 * total that is either reported or the sum; a JSON object (jansson) whose
 * only "usage" text is its top-level key, holding plain integer counts, is
 * read as exactly the tree's counts (the differential check below); a
 * stream's usage does not depend on how it is cut into reads, and a body
 * as a stream's last event before [DONE] has the body's usage; a usage
 * object read by a kept shape reads as in full (same digits, others,
 * longer runs). The
 * inject-mode stripper (usage_strip.c) gives the same bytes and usage
 * however the input is cut into reads, never more bytes than it got.
 *
 * fuzz-args: -max_len=8192
 */
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "usage_scan.h"
#include "usage_stream.h"
#include "usage_strip.h"

#define MAX_COUNT 1000000000000000LL

static void check(const struct usage *u, int r)
{
	if ((r == 0) != u->known)
		abort();
	if (!u->known)
		return;
	if (u->prompt < 0 || u->completion < 0 || u->total < 0 || u->cached_prompt < 0 ||
	    u->reasoning < 0 || u->prompt >= MAX_COUNT || u->completion >= MAX_COUNT ||
	    u->total >= 2 * MAX_COUNT || u->cached_prompt >= MAX_COUNT || u->reasoning >= MAX_COUNT)
		abort();
	if (!u->has_cached && u->cached_prompt)
		abort();
	if (!u->has_reasoning && u->reasoning)
		abort();
}

/* The tree's count NAME of USAGE into RET: true when it is an integer in range. */
static bool tree_count(json_t *usage, const char *name, int64_t *ret)
{
	json_t *v = json_object_get(usage, name);

	*ret = 0;
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) >= MAX_COUNT / 10)
		return false;
	*ret = json_integer_value(v);
	return true;
}

/* The differential check: an input that is a JSON object whose one and
 * only "usage" text is its top-level key, holding an object of plain
 * counts (prompt_tokens, completion_tokens, total_tokens as integers, at
 * least one), must be read as exactly those counts. */
static void agree(const char *data, size_t size, const struct usage *u)
{
	const char *first = memmem(data, size, "usage", 5);
	json_t *root, *usage;
	int64_t prompt, completion, total;
	const char *key;
	json_t *value;
	bool plain = true;

	if (!first || memmem(first + 1, size - (size_t)(first + 1 - data), "usage", 5))
		return;
	/* a NUL byte is no JSON: jansson's buffer reader takes it for the end of the
	 * input, so it is no reference there (the scanner counts such a body unknown) */
	if (memchr(data, 0, size))
		return;
	root = json_loadb(data, size, JSON_REJECT_DUPLICATES, NULL);
	usage = json_object_get(root, "usage");
	if (!json_is_object(usage) || json_object_size(usage) == 0) {
		json_decref(root);
		return;
	}
	json_object_foreach(usage, key, value)
	{
		plain &= strcmp(key, "prompt_tokens") == 0 ||
		         strcmp(key, "completion_tokens") == 0 || strcmp(key, "total_tokens") == 0;
	}
	if (plain && tree_count(usage, "prompt_tokens", &prompt) &&
	    tree_count(usage, "completion_tokens", &completion) &&
	    tree_count(usage, "total_tokens", &total)) {
		if (!json_object_get(usage, "total_tokens"))
			total = prompt + completion;
		if (!u->known || u->prompt != prompt || u->completion != completion ||
		    u->total != total)
			abort();
	}
	json_decref(root);
}

struct sink {
	char *buf;
	size_t len, cap;
};

static void emit(void *ctx, const char *data, size_t len)
{
	struct sink *k = ctx;

	if (k->len + len > k->cap)
		abort(); /* the stripper never emits more than it was given */
	memcpy(k->buf + k->len, data, len);
	k->len += len;
}

/* The inject-mode stripper: what the client gets does not depend on how
 * the stream was cut into reads, and the usage it kept is the same. */
static void strip(const char *s, size_t size)
{
	struct usage_strip one = {0}, two = {0};
	struct sink a = {malloc(size + 1), 0, size}, b = {malloc(size + 1), 0, size};
	size_t cut = size / 3;

	if (!a.buf || !b.buf)
		abort();
	usage_strip_feed(&one, s, size, emit, &a);
	usage_strip_finish(&one, emit, &a);
	usage_strip_feed(&two, s, cut, emit, &b);
	usage_strip_feed(&two, s + cut, size - cut, emit, &b);
	usage_strip_finish(&two, emit, &b);
	if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0 ||
	    one.usage.known != two.usage.known || one.usage.total != two.usage.total)
		abort();
	free(one.held);
	free(two.held);
	free(a.buf);
	free(b.buf);
}

static bool same_usage(const struct usage *a, const struct usage *b)
{
	return a->known == b->known && a->prompt == b->prompt && a->completion == b->completion &&
	       a->total == b->total && a->cached_prompt == b->cached_prompt &&
	       a->reasoning == b->reasoning && a->has_cached == b->has_cached &&
	       a->has_reasoning == b->has_reasoning;
}

/* The stream S read in one piece and cut at two places (from SIZE's
 * bytes): the same usage, and nothing held after its end. */
static void stream_cuts(const char *s, size_t size, bool responses, const struct usage *whole)
{
	struct usage_stream st;
	struct usage u;
	size_t a = size ? (unsigned char)s[0] * size / 256 : 0;
	size_t b = a + (size - a) / 2;

	usage_stream_init(&st, responses, NULL);
	usage_stream_feed(&st, s, a);
	usage_stream_feed(&st, s + a, b - a);
	if (st.held_cap > USAGE_EVENT_MAX)
		abort();
	usage_stream_feed(&st, s + b, size - b);
	usage_stream_end(&st, &u);
	if (st.held || !same_usage(&u, whole))
		abort();
	usage_stream_free(&st);
}

/* A one-line body sent as a chat stream's one data event before [DONE]:
 * the usage of the body (which also checks that the stream's shortcut,
 * usage_scan_may_hold(), never skips an event with usage). */
static void as_event(const char *s, size_t size, const struct usage *body)
{
	static char ev[8192 + 32];
	struct usage u;

	if (size + 8 > USAGE_EVENT_MAX || memchr(s, '\n', size) ||
	    (size >= 6 && memcmp(s, "[DONE]", 6) == 0))
		return;
	memcpy(ev, "data: ", 6);
	memcpy(ev + 6, s, size);
	memcpy(ev + 6 + size, "\n\ndata: [DONE]\n\n", 16);
	usage_scan_stream(ev, size + 22, false, &u);
	if (!same_usage(&u, body))
		abort();
}

/* The shapes (usage_scan.h): S read with a fresh set of shapes, then S with
 * its digits changed (other values; longer runs) read with the shape S
 * left: always what a full parse reads. */
static void shapes(const char *s, size_t size, const struct usage *body)
{
	static struct usage_shapes sh;
	static char other[2 * 8192];
	struct usage u, full;
	size_t n = 0;

	if (size > 8192)
		return;
	memset(&sh, 0, sizeof(sh));
	usage_scan_body_shaped(s, size, &sh, &u);
	if (!same_usage(&u, body))
		abort();
	for (size_t i = 0; i < size; i++)
		other[i] = s[i] >= '0' && s[i] <= '9' ? (char)('0' + (s[i] - '0' + 7) % 10) : s[i];
	usage_scan_body(other, size, &full);
	usage_scan_body_shaped(other, size, &sh, &u);
	if (!same_usage(&u, &full))
		abort();
	for (size_t i = 0; i < size; i++) {
		if (s[i] >= '0' && s[i] <= '9' && (i == 0 || s[i - 1] < '0' || s[i - 1] > '9'))
			other[n++] = (char)('1' + i % 9); /* a digit more in front of each run */
		other[n++] = s[i];
	}
	usage_scan_body(other, n, &full);
	usage_scan_body_shaped(other, n, &sh, &u);
	if (!same_usage(&u, &full))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct usage u, body;
	int r;

	r = usage_scan_body(s, size, &body);
	check(&body, r);
	agree(s, size, &body);
	if (body.known && !usage_scan_may_hold(s, size))
		abort();
	as_event(s, size, &body);
	shapes(s, size, &body);
	r = usage_scan_stream(s, size, false, &u);
	check(&u, r);
	stream_cuts(s, size, false, &u);
	r = usage_scan_stream(s, size, true, &u);
	check(&u, r);
	stream_cuts(s, size, true, &u);
	strip(s, size);
	return 0;
}
