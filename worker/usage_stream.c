/*
 * usage_stream: a stream's usage, followed event by event (see
 * usage_stream.h). Runs in a worker, on the relay path of every counted
 * stream: per read it looks at the read's last bytes only (memrchr from its
 * end), and parses at most the one event that may be the stream's last.
 */
#include "usage_stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "usage_scan.h"

#define HEAD_MAX 64 /* bytes of a Responses event that name its type */

void usage_stream_init(struct usage_stream *s, bool responses, struct usage_shapes *shapes)
{
	*s = (struct usage_stream){.responses = responses, .shapes = shapes};
}

static bool starts_with(const char *p, size_t len, const char *word, size_t n)
{
	return len >= n && memcmp(p, word, n) == 0;
}

/* Whether the head of the Responses event EV (its event line, or the
 * "type" its data names first) is response.completed or .incomplete. */
static bool terminal_event(const char *ev, size_t len)
{
	size_t n = len < HEAD_MAX ? len : HEAD_MAX;

	return memmem(ev, n, "response.completed\"", 19) ||
	       memmem(ev, n, "response.completed\n", 19) ||
	       memmem(ev, n, "response.incomplete\"", 20) ||
	       memmem(ev, n, "response.incomplete\n", 20);
}

/* The kind of event EV: a chat stream's [DONE], and whether it is one that
 * may carry the stream's usage (a data event; Responses: its last). */
static void kind(const struct usage_stream *s, const char *ev, size_t len, bool *done,
                 bool *candidate)
{
	if (s->responses) {
		*done = false;
		*candidate = terminal_event(ev, len);
		return;
	}
	*done = starts_with(ev, len, "data: [DONE]", 12);
	*candidate = !*done && starts_with(ev, len, "data:", 5);
}

/* Lines end in "\n" or "\r\n" (SSE): a blank line is "\n" after "\n" or
 * "\n\r". */
static bool is_eol(char c)
{
	return c == '\n' || c == '\r';
}

/* A whole event of kind DONE / CANDIDATE whose last bytes, through its
 * blank line, are EV (all of it, or its last USAGE_EVENT_MAX bytes: the
 * usage object ends an event, and however the stream was cut into reads
 * the same bytes are parsed). */
static void complete(struct usage_stream *s, const char *ev, size_t len, bool done, bool candidate)
{
	if (done) {
		if (s->dones < 2)
			s->dones++;
		return;
	}
	s->dones = 0;
	s->found = (struct usage){0};
	if (!candidate)
		return;
	if (len > USAGE_EVENT_MAX) {
		ev += len - USAGE_EVENT_MAX;
		len = USAGE_EVENT_MAX;
	}
	while (len && is_eol(ev[len - 1]))
		len--;
	if (usage_scan_may_hold(ev, len))
		usage_scan_body_shaped(ev, len, s->shapes, &s->found);
}

/* Past the first blank line in [P, END), given the two bytes before P (PREV2,
 * PREV: a blank line may straddle reads), or NULL. */
static const char *first_break(const char *p, const char *end, char prev2, char prev)
{
	if (p < end && *p == '\n' && (prev == '\n' || (prev == '\r' && prev2 == '\n')))
		return p + 1;
	if (end - p >= 2 && prev == '\n' && p[0] == '\r' && p[1] == '\n')
		return p + 2;
	while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
		if (p + 1 < end && p[1] == '\n')
			return p + 2;
		if (p + 2 < end && p[1] == '\r' && p[2] == '\n')
			return p + 3;
		p++;
	}
	return NULL;
}

/* Past the last blank line in [START, END), or NULL. */
static const char *last_break(const char *start, const char *end)
{
	const char *q = end;

	while (q - start >= 2 && (q = memrchr(start + 1, '\n', (size_t)(q - start - 1)))) {
		if (q[-1] == '\n' || (q[-1] == '\r' && q - start >= 2 && q[-2] == '\n'))
			return q + 1;
		q--; /* no newline before it: no blank line ends there */
	}
	return NULL;
}

static void drop_held(struct usage_stream *s)
{
	free(s->held);
	s->held = NULL;
	s->held_len = s->held_cap = 0;
	s->pending = s->cut = s->lost = false;
}

/* Appends N bytes to the held event (room made; false: no memory). */
static bool append(struct usage_stream *s, const char *data, size_t n)
{
	size_t need = s->held_len + n;

	if (need > s->held_cap) {
		size_t cap = s->held_cap * 2 > need ? s->held_cap * 2 : need;
		char *b;

		cap = cap < 256 ? 256 : cap > USAGE_EVENT_MAX ? USAGE_EVENT_MAX : cap;
		b = realloc(s->held, cap);
		if (!b)
			return false;
		s->held = b;
		s->held_cap = (uint32_t)cap;
	}
	memcpy(s->held + s->held_len, data, n);
	s->held_len = (uint32_t)need;
	return true;
}

/* The next N bytes of the current event: held (its last USAGE_EVENT_MAX
 * once it is longer, its kind taken from its head). */
static void hold(struct usage_stream *s, const char *data, size_t n)
{
	size_t room = USAGE_EVENT_MAX - s->held_len;

	s->pending = true;
	if (s->lost || !n)
		return;
	if (!s->cut && n > room) {
		if (!append(s, data, room))
			goto lost;
		kind(s, s->held, s->held_len, &s->cut_done, &s->cut_candidate);
		s->cut = true;
		data += room;
		n -= room;
	}
	if (!s->cut) {
		if (!append(s, data, n))
			goto lost;
		return;
	}
	if (n >= USAGE_EVENT_MAX) {
		memcpy(s->held, data + n - USAGE_EVENT_MAX, USAGE_EVENT_MAX);
	} else {
		memmove(s->held, s->held + n, USAGE_EVENT_MAX - n);
		memcpy(s->held + USAGE_EVENT_MAX - n, data, n);
	}
	return;
lost:
	free(s->held);
	s->held = NULL;
	s->held_len = s->held_cap = 0;
	s->lost = true;
}

/* The held event is whole (it may end in newlines): counted, dropped. */
static void finish_held(struct usage_stream *s)
{
	bool done = false, candidate = false;

	if (s->cut) {
		done = s->cut_done;
		candidate = s->cut_candidate;
	} else if (!s->lost) {
		kind(s, s->held, s->held_len, &done, &candidate);
	}
	complete(s, s->held, s->held_len, done, candidate);
	drop_held(s);
}

/* The events of [P, END), each ending in a blank line, P at the first one's
 * start: only the last (chat: the last that is no [DONE]) can matter. */
static void whole_events(struct usage_stream *s, const char *p, const char *end)
{
	uint8_t dones = 0;

	for (;;) {
		const char *start, *content = end, *raw;
		bool done, candidate;

		while (content > p && is_eol(content[-1]))
			content--;
		if (content == p)
			break;
		/* its bytes: from its start through the first blank line after it */
		raw = end - content <= 2 ? end : first_break(content, end, 0, 0);
		start = last_break(p, content);
		if (!start)
			start = p;
		while (is_eol(*start))
			start++; /* a lone "\r" after a blank line starts no event */
		kind(s, start, (size_t)(raw - start), &done, &candidate);
		if (!done) {
			complete(s, start, (size_t)(raw - start), false, candidate);
			s->dones = dones;
			return;
		}
		if (++dones == 2) {
			s->dones = 2;
			return;
		}
		end = start;
	}
	/* only [DONE] events in this read: the event before them is older */
	s->dones = s->dones + dones > 2 ? 2 : (uint8_t)(s->dones + dones);
}

void usage_stream_feed(struct usage_stream *s, const char *data, size_t len)
{
	const char *p = data, *end = data + len, *e;
	char prev2 = s->last2, prev = s->last;

	if (!len)
		return;
	s->last2 = len >= 2 ? end[-2] : prev;
	s->last = end[-1];
	/* the rest of an event begun in an earlier read */
	if (s->pending) {
		e = first_break(p, end, prev2, prev);
		if (!e) {
			hold(s, p, len);
			return;
		}
		hold(s, p, (size_t)(e - p));
		finish_held(s);
		p = e;
	}
	while (p < end && is_eol(*p))
		p++; /* a blank line's extra line ends start no event */
	if (p == end)
		return;
	e = last_break(p, end);
	if (e)
		whole_events(s, p, e);
	else
		e = p;
	while (e < end && is_eol(*e))
		e++;
	if (e < end)
		hold(s, e, (size_t)(end - e)); /* an event that does not end in this read */
}

int usage_stream_end(struct usage_stream *s, struct usage *ret)
{
	if (s->pending)
		finish_held(s);
	if (!s->responses && s->dones >= 2)
		*ret = (struct usage){0}; /* the event before the last [DONE] is a [DONE] */
	else
		*ret = s->found;
	return ret->known ? 0 : -ENOENT;
}

void usage_stream_free(struct usage_stream *s)
{
	drop_held(s);
}

int usage_scan_stream(const char *buf, size_t len, bool responses, struct usage *ret)
{
	struct usage_stream s;
	int r;

	usage_stream_init(&s, responses, NULL);
	usage_stream_feed(&s, buf, len);
	r = usage_stream_end(&s, ret);
	usage_stream_free(&s);
	return r;
}
