/*
 * usage_scan: the usage object of an answer, found from its end (see
 * usage_scan.h). Runs in a worker, once per answer: a non-streamed body
 * when it is complete, a stream's tail window when it ends. Nothing here
 * reads more than the usage object and the bytes between it and the end
 * (a stream: the tail window), and nothing is written outside RET.
 */
#include "usage_scan.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define MAX_DIGITS 15
#define MAX_DEPTH  8 /* of values skipped inside the usage object */

struct cursor {
	const char *p, *end;
};

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static inline void skip_ws(struct cursor *c)
{
	while (c->p < c->end && is_ws(*c->p))
		c->p++;
}

static inline bool eat(struct cursor *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

/* A string at C->p (its opening quote): its bytes between the quotes. */
static bool string_span(struct cursor *c, const char **s, size_t *len)
{
	const char *p;

	if (c->p >= c->end || *c->p != '"')
		return false;
	p = c->p + 1;
	*s = p;
	/* the common string: no escape before its closing quote */
	const char *q = memchr(p, '"', (size_t)(c->end - p));

	if (q && !memchr(p, '\\', (size_t)(q - p))) {
		*len = (size_t)(q - p);
		c->p = q + 1;
		return true;
	}
	while (p < c->end && *p != '"') {
		if ((unsigned char)*p < 0x20)
			return false;
		if (*p == '\\') {
			if (p + 1 >= c->end)
				return false;
			p++;
		}
		p++;
	}
	if (p >= c->end)
		return false;
	*len = (size_t)(p - *s);
	c->p = p + 1;
	return true;
}

/* A non-negative JSON integer of at most MAX_DIGITS digits. */
static bool count(struct cursor *c, int64_t *ret)
{
	int64_t v = 0;
	int n = 0;

	skip_ws(c);
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n <= MAX_DIGITS) {
		v = v * 10 + (*c->p++ - '0');
		n++;
	}
	if (n == 0 || n > MAX_DIGITS || (n > 1 && c->p[-n] == '0'))
		return false;
	if (c->p < c->end && (*c->p == '.' || *c->p == 'e' || *c->p == 'E'))
		return false;
	*ret = v;
	return true;
}

static bool skip_value(struct cursor *c, int depth);

/* Skips the members of an object or the elements of an array after its
 * opening byte, through CLOSE. */
static bool skip_container(struct cursor *c, char close, int depth)
{
	if (eat(c, close))
		return true;
	for (;;) {
		if (close == '}') {
			const char *s;
			size_t n;

			skip_ws(c);
			if (!string_span(c, &s, &n) || !eat(c, ':'))
				return false;
		}
		if (!skip_value(c, depth + 1))
			return false;
		if (eat(c, close))
			return true;
		if (!eat(c, ','))
			return false;
	}
}

static bool skip_literal(struct cursor *c, const char *word, size_t len)
{
	if ((size_t)(c->end - c->p) < len || memcmp(c->p, word, len) != 0)
		return false;
	c->p += len;
	return true;
}

static bool skip_value(struct cursor *c, int depth)
{
	const char *s;
	size_t n;

	skip_ws(c);
	if (c->p >= c->end || depth > MAX_DEPTH)
		return false;
	switch (*c->p) {
	case '{':
		c->p++;
		return skip_container(c, '}', depth);
	case '[':
		c->p++;
		return skip_container(c, ']', depth);
	case '"':
		return string_span(c, &s, &n);
	case 't':
		return skip_literal(c, "true", 4);
	case 'f':
		return skip_literal(c, "false", 5);
	case 'n':
		return skip_literal(c, "null", 4);
	default:
		if (*c->p == '-')
			c->p++;
		if (c->p >= c->end || *c->p < '0' || *c->p > '9')
			return false;
		while (c->p < c->end &&
		       ((*c->p >= '0' && *c->p <= '9') || *c->p == '.' || *c->p == 'e' ||
		        *c->p == 'E' || *c->p == '+' || *c->p == '-'))
			c->p++;
		return true;
	}
}

static bool key_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(s, word, n) == 0;
}

/* A *_tokens_details object: the count named WANT into RET (HAS set);
 * other members skipped. `null` is no details. */
static bool details(struct cursor *c, const char *want, int64_t *ret, bool *has)
{
	skip_ws(c);
	if (skip_literal(c, "null", 4))
		return true;
	if (!eat(c, '{'))
		return false;
	if (eat(c, '}'))
		return true;
	for (;;) {
		const char *s;
		size_t n;

		skip_ws(c);
		if (!string_span(c, &s, &n) || !eat(c, ':'))
			return false;
		if (key_is(s, n, want)) {
			skip_ws(c);
			if (skip_literal(c, "null", 4))
				;
			else if (count(c, ret))
				*has = true;
			else
				return false;
		} else if (!skip_value(c, 2)) {
			return false;
		}
		if (eat(c, '}'))
			return true;
		if (!eat(c, ','))
			return false;
	}
}

/* The usage object at C->p (its '{'). */
static bool usage_object(struct cursor *c, struct usage *u)
{
	bool has_prompt = false, has_completion = false, has_total = false;

	*u = (struct usage){0};
	if (!eat(c, '{'))
		return false;
	if (!eat(c, '}')) {
		for (;;) {
			const char *s;
			size_t n;
			bool ok;

			skip_ws(c);
			if (!string_span(c, &s, &n) || !eat(c, ':'))
				return false;
			if (key_is(s, n, "prompt_tokens") || key_is(s, n, "input_tokens"))
				ok = has_prompt = count(c, &u->prompt);
			else if (key_is(s, n, "completion_tokens") || key_is(s, n, "output_tokens"))
				ok = has_completion = count(c, &u->completion);
			else if (key_is(s, n, "total_tokens"))
				ok = has_total = count(c, &u->total);
			else if (key_is(s, n, "prompt_tokens_details") ||
			         key_is(s, n, "input_tokens_details"))
				ok = details(c, "cached_tokens", &u->cached_prompt, &u->has_cached);
			else if (key_is(s, n, "completion_tokens_details") ||
			         key_is(s, n, "output_tokens_details"))
				ok = details(c, "reasoning_tokens", &u->reasoning,
				             &u->has_reasoning);
			else
				ok = skip_value(c, 1);
			if (!ok)
				return false;
			if (eat(c, '}'))
				break;
			if (!eat(c, ','))
				return false;
		}
	}
	if (!has_prompt && !has_completion && !has_total)
		return false;
	if (!has_total)
		u->total = u->prompt + u->completion;
	u->known = true;
	return true;
}

/* Whether the quote at Q opens an object key: after '{' or ','. */
static bool opens_key(const char *start, const char *q)
{
	while (q > start && is_ws(q[-1]))
		q--;
	return q > start && (q[-1] == '{' || q[-1] == ',');
}

int usage_scan_body(const char *buf, size_t len, struct usage *ret)
{
	static const char key[] = "\"usage\"";
	const char *end = buf + len, *g = end, *q;

	*ret = (struct usage){0};
	/* from 'g' to 'g' (rarer than quotes in an answer's last members) */
	while (g > buf && (g = memrchr(buf, 'g', (size_t)(g - buf)))) {
		struct cursor c = {g + 3, end};

		if (g - buf < 4)
			break;
		q = g - 4;
		if ((size_t)(end - q) < sizeof(key) - 1 || memcmp(q, key, sizeof(key) - 1) != 0 ||
		    !opens_key(buf, q))
			continue;
		if (!eat(&c, ':'))
			continue; /* "usage" as a value: the next key along */
		skip_ws(&c);
		if (c.p < c.end && *c.p != '{' && *c.p != 'n')
			continue; /* a "usage" member that is no usage (a metadata string) */
		if (c.p < c.end && *c.p == '{' && usage_object(&c, ret))
			return 0;
		*ret = (struct usage){0};
		return -ENOENT; /* the answer's usage: null, or not one we can read */
	}
	return -ENOENT;
}

void usage_tail_add(struct usage_tail *t, const char *data, size_t len)
{
	if (len > USAGE_TAIL_MAX) {
		data += len - USAGE_TAIL_MAX;
		len = USAGE_TAIL_MAX;
	}
	while (len) {
		size_t n = USAGE_TAIL_MAX - t->pos < len ? USAGE_TAIL_MAX - t->pos : len;

		memcpy(t->buf + t->pos, data, n);
		t->pos = (t->pos + n) % USAGE_TAIL_MAX;
		t->len = t->len + n > USAGE_TAIL_MAX ? USAGE_TAIL_MAX : t->len + n;
		data += n;
		len -= n;
	}
}

size_t usage_tail_copy(const struct usage_tail *t, char *out)
{
	size_t start = (t->pos + USAGE_TAIL_MAX - t->len) % USAGE_TAIL_MAX;
	size_t first = USAGE_TAIL_MAX - start < t->len ? USAGE_TAIL_MAX - start : t->len;

	memcpy(out, t->buf + start, first);
	memcpy(out + first, t->buf, t->len - first);
	return t->len;
}

/* The start of the event that ends at END (just past its blank line's
 * first '\n', or BUF when its start is not in the window); *WHOLE: its
 * start was seen. */
static const char *event_start(const char *buf, const char *end, bool *whole)
{
	for (const char *p = end - 1; p > buf; p--)
		if (*p == '\n' && p[-1] == '\n') {
			*whole = true;
			return p + 1;
		}
	/* the window's first byte: an event's start when a field starts there */
	*whole = end - buf >= 5 && (memcmp(buf, "data:", 5) == 0 || memcmp(buf, "event", 5) == 0);
	return buf;
}

/* Whether the head of the Responses event at START (its event line, or the
 * "type" its data names first) is response.completed or .incomplete. */
static bool terminal_event(const char *start, const char *end)
{
	size_t n = (size_t)(end - start) < 64 ? (size_t)(end - start) : 64;

	return memmem(start, n, "response.completed\"", 19) ||
	       memmem(start, n, "response.completed\n", 19) ||
	       memmem(start, n, "response.incomplete\"", 20) ||
	       memmem(start, n, "response.incomplete\n", 20);
}

static bool starts_with(const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(end - p) >= n && memcmp(p, word, n) == 0;
}

int usage_scan_stream(const char *buf, size_t len, bool responses, struct usage *ret)
{
	const char *end = buf + len, *start;
	bool whole;

	*ret = (struct usage){0};
	/* past the last event's blank line, then its start */
	while (end > buf && end[-1] == '\n')
		end--;
	if (end == buf)
		return -ENOENT;
	start = event_start(buf, end, &whole);
	if (!responses && whole && starts_with(start, end, "data: [DONE]")) {
		while (start > buf && start[-1] == '\n')
			start--;
		end = start;
		if (end == buf)
			return -ENOENT;
		start = event_start(buf, end, &whole);
	}
	if (responses && whole && !terminal_event(start, end))
		return -ENOENT;
	if (!responses && whole && !starts_with(start, end, "data:"))
		return -ENOENT;
	return usage_scan_body(start, (size_t)(end - start), ret);
}
