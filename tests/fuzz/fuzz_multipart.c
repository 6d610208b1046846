/*
 * fuzz_multipart: the streaming multipart/form-data parser (common/multipart.c).
 * An input is one byte (the size of the reads, 0: one read), a Content-Type
 * line, then the body. The parse in reads of that size must come to the same
 * result, parts and bytes as the parse in one read; every piece of data is
 * what the input holds at the offset given, inside its part; nothing is read
 * past the input.
 *
 * fuzz-args: -max_len=16384
 */
#include <string.h>

#include "fuzz.h"
#include "multipart.h"

struct trace {
	const uint8_t *body;
	size_t len;
	uint64_t part_at; /* the current part's first body byte */
	uint64_t next;    /* where the next piece of data must start */
	uint64_t hash;
	unsigned events;
};

static void mix(struct trace *t, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i < len; i++)
		t->hash = (t->hash ^ p[i]) * 1099511628211ull;
	t->events++;
}

static int on_part(void *ctx, const struct multipart_part *part)
{
	struct trace *t = ctx;

	if (!part->name || !part->name[0] || strlen(part->name) > MULTIPART_MAX_NAME ||
	    part->offset > t->len)
		abort();
	mix(t, part->name, strlen(part->name) + 1);
	if (part->filename)
		mix(t, part->filename, strlen(part->filename) + 1);
	t->part_at = t->next = part->offset;
	return 0;
}

static int on_data(void *ctx, const char *data, size_t len, uint64_t offset)
{
	struct trace *t = ctx;

	/* pieces come in order, contiguous, and are the input's own bytes */
	if (len == 0 || offset != t->next || offset + len > t->len ||
	    memcmp(t->body + offset, data, len) != 0)
		abort();
	t->next += len;
	for (size_t i = 0; i < len; i++)
		t->hash = (t->hash ^ (uint8_t)data[i]) * 1099511628211ull;
	return 0;
}

static int on_part_end(void *ctx, uint64_t offset)
{
	struct trace *t = ctx;

	if (offset != t->next || offset < t->part_at)
		abort();
	mix(t, "|", 1);
	return 0;
}

static const struct multipart_callbacks callbacks = {on_part, on_data, on_part_end};

static int run(struct multipart *m, const char *boundary, const uint8_t *body, size_t len,
               size_t step, struct trace *t)
{
	int r = 0;

	*t = (struct trace){.body = body, .len = len, .hash = 14695981039346656037ull};
	multipart_init(m, boundary);
	for (size_t at = 0; at < len && r == 0;) {
		size_t n = step && len - at > step ? step : len - at;

		r = multipart_feed(m, (const char *)body + at, n, &callbacks, t);
		at += n;
	}
	return r ? r : multipart_finish(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct multipart m;
	char type[512], boundary[MULTIPART_MAX_BOUNDARY + 1];
	const uint8_t *nl;
	struct trace whole, split;
	const char *why;
	size_t step, tlen;
	int r1, r2;

	if (size < 2)
		return 0;
	step = data[0];
	nl = memchr(data + 1, '\n', size - 1);
	if (!nl || (size_t)(nl - data - 1) >= sizeof(type))
		return 0;
	tlen = (size_t)(nl - data - 1);
	memcpy(type, data + 1, tlen);
	type[tlen] = '\0';
	if (multipart_boundary(type, boundary, &why) != 0) {
		if (!why)
			abort();
		return 0;
	}
	if (strlen(boundary) == 0 || strlen(boundary) > MULTIPART_MAX_BOUNDARY)
		abort();
	r1 = run(&m, boundary, nl + 1, size - tlen - 2, 0, &whole);
	if (r1 != 0 && !m.error)
		abort();
	r2 = run(&m, boundary, nl + 1, size - tlen - 2, step, &split);
	if (r1 != r2 || whole.hash != split.hash || whole.events != split.events)
		abort();
	return 0;
}
