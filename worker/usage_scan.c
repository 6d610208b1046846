/*
 * usage_scan: the usage object of an answer, found from its end (see
 * usage_scan.h). Runs in a worker, once per answer: a non-streamed body
 * when it is complete, a stream's one event that may carry usage. Nothing
 * here reads more than the usage object and the bytes between it and the
 * end, and nothing is written outside RET.
 *
 * The hand parser is cut for speed (issue 19's bound is a few hundred
 * instructions per answer): a member name is recognised by its first byte
 * and one fixed-length comparison with the names it may be (no strlen, no
 * copy), other strings are skipped eight bytes at a time, counts are read
 * digit by digit without strtol.
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

static inline bool is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (unsigned char)*c->p <= ' ' && is_ws(*c->p))
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

static inline uint64_t load8(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* Whether the word W holds the byte B. */
static inline bool has_byte(uint64_t w, unsigned char b)
{
	uint64_t v = w ^ (ONES * b);

	return ((v - ONES) & ~v & HIGHS) != 0;
}

/* The rest of a string whose opening quote C->p is past: through its
 * closing quote. */
static bool skip_string(struct cursor *c)
{
	const char *p = c->p, *end = c->end;

	for (;;) {
		while (end - p >= 8) {
			uint64_t w = load8(p);

			if (has_byte(w, '"') || has_byte(w, '\\'))
				break;
			p += 8;
		}
		while (p < end && *p != '"' && *p != '\\')
			p++;
		if (p >= end)
			return false;
		if (*p == '"') {
			c->p = p + 1;
			return true;
		}
		if (end - p < 2) /* a backslash and the byte it escapes */
			return false;
		p += 2;
	}
}

/* Whether the N bytes at P are those of LIT (N >= 8; inlined per name). */
static inline bool same(const char *p, const char *lit, size_t n)
{
	size_t i;

	for (i = 0; i + 8 < n; i += 8)
		if (load8(p + i) != load8(lit + i))
			return false;
	return load8(p + n - 8) == load8(lit + n - 8);
}

enum key {
	KEY_OTHER,
	KEY_PROMPT,
	KEY_COMPLETION,
	KEY_TOTAL,
	KEY_PROMPT_DETAILS,
	KEY_COMPLETION_DETAILS,
	KEY_CACHED,
	KEY_REASONING,
};

/* NAME (with its closing quote) at C->p: past it, true. */
#define NAME(c, name)                                       \
	((size_t)((c)->end - (c)->p) >= sizeof(name) - 1 && \
	 same((c)->p, name, sizeof(name) - 1) && ((c)->p += sizeof(name) - 1, true))

/* The member name whose opening quote C->p is at, through its closing quote;
 * *RET: which of the names read it is. False when it is no string. The raw
 * bytes are compared, as written (an escaped name is another name). */
static bool member_name(struct cursor *c, enum key *ret)
{
	*ret = KEY_OTHER;
	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	switch (c->p < c->end ? *c->p : 0) {
	case 'p':
		if (NAME(c, "prompt_tokens\""))
			return *ret = KEY_PROMPT, true;
		if (NAME(c, "prompt_tokens_details\""))
			return *ret = KEY_PROMPT_DETAILS, true;
		break;
	case 'i':
		if (NAME(c, "input_tokens\""))
			return *ret = KEY_PROMPT, true;
		if (NAME(c, "input_tokens_details\""))
			return *ret = KEY_PROMPT_DETAILS, true;
		break;
	case 'c':
		if (NAME(c, "completion_tokens\""))
			return *ret = KEY_COMPLETION, true;
		if (NAME(c, "completion_tokens_details\""))
			return *ret = KEY_COMPLETION_DETAILS, true;
		if (NAME(c, "cached_tokens\""))
			return *ret = KEY_CACHED, true;
		break;
	case 'o':
		if (NAME(c, "output_tokens\""))
			return *ret = KEY_COMPLETION, true;
		if (NAME(c, "output_tokens_details\""))
			return *ret = KEY_COMPLETION_DETAILS, true;
		break;
	case 't':
		if (NAME(c, "total_tokens\""))
			return *ret = KEY_TOTAL, true;
		break;
	case 'r':
		if (NAME(c, "reasoning_tokens\""))
			return *ret = KEY_REASONING, true;
		break;
	}
	return skip_string(c);
}

/* A non-negative JSON integer of at most MAX_DIGITS digits. */
static bool count(struct cursor *c, int64_t *ret)
{
	const char *p, *start, *end = c->end;
	int64_t v = 0;
	size_t n;

	skip_ws(c);
	p = start = c->p;
	while (p < end && (unsigned char)(*p - '0') < 10 && p - start <= MAX_DIGITS)
		v = v * 10 + (*p++ - '0');
	n = (size_t)(p - start);
	if (n == 0 || n > MAX_DIGITS || (n > 1 && *start == '0'))
		return false;
	if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
		return false;
	c->p = p;
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
			skip_ws(c);
			if (c->p >= c->end || *c->p != '"')
				return false;
			c->p++;
			if (!skip_string(c) || !eat(c, ':'))
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
		c->p++;
		return skip_string(c);
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

/* A *_tokens_details object: the count named WANT into RET (HAS set);
 * other members skipped. `null` is no details. */
static bool details(struct cursor *c, enum key want, int64_t *ret, bool *has)
{
	skip_ws(c);
	if (skip_literal(c, "null", 4))
		return true;
	if (!eat(c, '{'))
		return false;
	if (eat(c, '}'))
		return true;
	for (;;) {
		enum key k;

		skip_ws(c);
		if (!member_name(c, &k) || !eat(c, ':'))
			return false;
		if (k == want) {
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
			enum key k;
			bool ok;

			skip_ws(c);
			if (!member_name(c, &k) || !eat(c, ':'))
				return false;
			switch (k) {
			case KEY_PROMPT:
				ok = has_prompt = count(c, &u->prompt);
				break;
			case KEY_COMPLETION:
				ok = has_completion = count(c, &u->completion);
				break;
			case KEY_TOTAL:
				ok = has_total = count(c, &u->total);
				break;
			case KEY_PROMPT_DETAILS:
				ok = details(c, KEY_CACHED, &u->cached_prompt, &u->has_cached);
				break;
			case KEY_COMPLETION_DETAILS:
				ok = details(c, KEY_REASONING, &u->reasoning, &u->has_reasoning);
				break;
			default:
				ok = skip_value(c, 1);
			}
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
	const char *end = buf + len, *g = end, *q;

	*ret = (struct usage){0};
	/* from 'g' to 'g' (rarer than quotes in an answer's last members) */
	while (g > buf && (g = memrchr(buf, 'g', (size_t)(g - buf)))) {
		struct cursor c = {g + 3, end};

		if (g - buf < 4)
			break;
		q = g - 4;
		if (end - q < 7 || memcmp(q, "\"usage\"", 7) != 0 || !opens_key(buf, q))
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

bool usage_scan_may_hold(const char *buf, size_t len)
{
	const char *k = buf + len;

	/* from 'k' to 'k': rare in a stream's events ("chunk" has one) */
	while (k > buf && (k = memrchr(buf, 'k', (size_t)(k - buf))))
		if (k - buf >= 3 && buf + len - k >= 5 && memcmp(k - 3, "_tokens\"", 8) == 0)
			return true;
	return false;
}
