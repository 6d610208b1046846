/*
 * usage_strip: removes the injected usage-only chunk from a chat stream
 * (see usage_strip.h). Runs in a worker, on the relay path of the streams
 * it injected usage into, and only those.
 */
#include "usage_strip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usage_scan.h"

bool usage_strip_is_usage_chunk(const char *ev, size_t len, struct usage *ret)
{
	static const char choices[] = "\"choices\":[]";
	const char *p = ev;

	*ret = (struct usage){0};
	if (len < 6 || memcmp(ev, "data:", 5) != 0)
		return false;
	p += 5;
	while (p < ev + len && *p == ' ')
		p++;
	if (p >= ev + len || *p != '{' ||
	    !memmem(p, (size_t)(ev + len - p), choices, sizeof(choices) - 1))
		return false;
	return usage_scan_body(p, (size_t)(ev + len - p), ret) == 0;
}

/* The end of the first event in DATA (past its blank line), given that the
 * byte before DATA was PREV; NULL when it does not end in DATA. */
static const char *event_end(const char *data, size_t len, char prev)
{
	const char *p = data, *end = data + len;

	if (len && prev == '\n' && data[0] == '\n')
		return data + 1;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		if (p + 1 < end && p[1] == '\n')
			return p + 2;
		p++;
	}
	return NULL;
}

static void drop_held(struct usage_strip *s)
{
	free(s->held);
	s->held = NULL;
	s->held_len = 0;
}

/* Where the member "usage":null the upstream added to EV is (with its
 * comma): *AT and *N; false when there is none. In JSON a quote inside a
 * string is escaped, so these bytes are always a member. */
static bool null_member(const char *ev, size_t len, size_t *at, size_t *n)
{
	static const char m[] = "\"usage\":null";
	const char *p = memmem(ev, len, m, sizeof(m) - 1);
	size_t i;

	if (!p)
		return false;
	i = (size_t)(p - ev);
	if (i > 0 && ev[i - 1] == ',') {
		*at = i - 1;
		*n = sizeof(m);
	} else if (i + sizeof(m) - 1 < len && ev[i + sizeof(m) - 1] == ',') {
		*at = i;
		*n = sizeof(m);
	} else {
		return false;
	}
	return true;
}

/* Whether event EV goes on as it is; else it is handled here: the usage
 * chunk kept back, or a chunk passed on without its "usage":null. */
static bool as_is(struct usage_strip *s, const char *ev, size_t len, usage_strip_emit_fn *emit,
                  void *ctx)
{
	struct usage u;
	size_t at, n;

	if (usage_strip_is_usage_chunk(ev, len, &u)) {
		s->usage = u;
		return false;
	}
	if (len < 5 || memcmp(ev, "data:", 5) != 0 || !null_member(ev, len, &at, &n))
		return true;
	emit(ctx, ev, at);
	emit(ctx, ev + at + n, len - at - n);
	return false;
}

/* One complete event EV: passed on as the client would have had it. */
static void complete(struct usage_strip *s, const char *ev, size_t len, usage_strip_emit_fn *emit,
                     void *ctx)
{
	if (as_is(s, ev, len, emit, ctx))
		emit(ctx, ev, len);
}

int usage_strip_feed(struct usage_strip *s, const char *data, size_t len, usage_strip_emit_fn *emit,
                     void *ctx)
{
	const char *p = data, *end = data + len, *e, *run;

	if (!len)
		return 0;
	/* the rest of an event begun in an earlier read */
	if (s->held_len || s->passing) {
		e = event_end(p, len, s->last);
		size_t part = e ? (size_t)(e - p) : len;

		if (s->passing) {
			emit(ctx, p, part);
		} else if (s->held_len + part > USAGE_STRIP_HOLD_MAX) {
			emit(ctx, s->held, s->held_len);
			emit(ctx, p, part);
			drop_held(s);
			s->passing = !e;
		} else {
			char *n = realloc(s->held, s->held_len + part);

			if (!n) {
				emit(ctx, s->held, s->held_len);
				emit(ctx, p, len);
				drop_held(s);
				s->last = end[-1];
				return -ENOMEM;
			}
			memcpy(n + s->held_len, p, part);
			s->held = n;
			s->held_len += part;
			if (e) {
				complete(s, s->held, s->held_len, emit, ctx);
				drop_held(s);
			}
		}
		if (e)
			s->passing = false;
		p += part;
		s->last = p[-1];
		if (!e)
			return 0;
	}
	/* whole events: runs of them go on in one write, the usage chunk stays */
	run = p;
	while (p < end && (e = event_end(p, (size_t)(end - p), 0))) {
		if (p > run && !memmem(p, (size_t)(e - p), "usage", 5)) {
			p = e; /* the common chunk: part of the run */
			continue;
		}
		if (p > run)
			emit(ctx, run, (size_t)(p - run));
		run = p;
		if (!as_is(s, p, (size_t)(e - p), emit, ctx))
			run = e;
		p = e;
	}
	if (p > run)
		emit(ctx, run, (size_t)(p - run));
	/* an event that does not end in this read */
	if (p < end) {
		size_t rest = (size_t)(end - p);

		if (rest > USAGE_STRIP_HOLD_MAX) {
			emit(ctx, p, rest);
			s->passing = true;
		} else if (!(s->held = malloc(rest))) {
			emit(ctx, p, rest);
			s->last = end[-1];
			return -ENOMEM;
		} else {
			memcpy(s->held, p, rest);
			s->held_len = rest;
		}
	}
	s->last = end[-1];
	return 0;
}

void usage_strip_finish(struct usage_strip *s, usage_strip_emit_fn *emit, void *ctx)
{
	if (s->held_len)
		emit(ctx, s->held, s->held_len);
	drop_held(s);
}

void usage_strip_free(struct usage_strip *s)
{
	if (!s)
		return;
	drop_held(s);
	free(s);
}
