/*
 * usage_scan: the usage object of an answer, found from its end (see
 * usage_scan.h). Runs in a worker, once per answer: a non-streamed body
 * when it is complete, a stream's one event that may carry usage. Nothing
 * here reads more than the usage object and the bytes between it and the
 * end, and nothing is written outside RET and the caller's shapes.
 *
 * The hand parser is cut for speed (issue 19's bound is a few hundred
 * instructions per answer): a member name is recognised by its first byte
 * and one fixed-length comparison with the names it may be (no strlen, no
 * copy), other strings are skipped eight bytes at a time, counts are read
 * digit by digit without strtol. A usage object laid out as one read
 * before is read by that one's shape (usage_shape.h): its bytes compared,
 * its digits read.
 */
#include "usage_scan.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define MAX_DIGITS USAGE_COUNT_DIGITS
#define MAX_DEPTH  8 /* of values skipped inside the usage object */

/* Every step takes the position P and gives the position after what it
 * read, or NULL when the bytes are not what it reads: P stays in a register
 * through the inlined steps. */
#define INLINE static inline __attribute__((always_inline))

INLINE bool is_ws(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

INLINE const char *ws(const char *p, const char *end)
{
	while (p < end && (unsigned char)*p <= ' ' && is_ws(*p))
		p++;
	return p;
}

/* Past the byte CH after optional whitespace, or NULL. Answers are
 * compact JSON: CH at once is tried first. */
INLINE const char *eat(const char *p, const char *end, char ch)
{
	if (p < end && *p == ch)
		return p + 1;
	p = ws(p, end);
	return p < end && *p == ch ? p + 1 : NULL;
}

INLINE uint64_t load8(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* The high bit of each byte of W that is B: exact for the lowest one. */
INLINE uint64_t byte_mask(uint64_t w, unsigned char b)
{
	uint64_t v = w ^ (ONES * b);

	return (v - ONES) & ~v & HIGHS;
}

/* The rest of a string whose opening quote P is past: past its closing
 * quote. Eight bytes at a time to the first quote or backslash. */
static const char *skip_string(const char *p, const char *end)
{
	for (;;) {
		for (;;) {
			if (end - p < 8) {
				while (p < end && *p != '"' && *p != '\\')
					p++;
				break;
			}
			uint64_t w = load8(p), m = byte_mask(w, '"') | byte_mask(w, '\\');

			if (m) {
				p += __builtin_ctzll(m) / 8;
				break;
			}
			p += 8;
		}
		if (p >= end)
			return NULL;
		if (*p == '"')
			return p + 1;
		if (end - p < 2) /* a backslash and the byte it escapes */
			return NULL;
		p += 2;
	}
}

/* Whether the N bytes at P are those of LIT (N >= 8; inlined per name). */
INLINE bool same(const char *p, const char *lit, size_t n)
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

/* NAME (with its closing quote) at P: P past it, true; ROOM: the bytes
 * from P are known to be enough (no bound to check per name). */
#define NAME(name, room)                                                                         \
	(((room) || (size_t)(end - p) >= sizeof(name) - 1) && same(p, name, sizeof(name) - 1) && \
	 (p += sizeof(name) - 1, true))

#define IS(name, k, room)       \
	if (NAME(name, room)) { \
		*ret = (k);     \
		return p;       \
	}

#define LONGEST_NAME 27 /* "accepted_prediction_tokens\"" */

/* The names read at P: past the name's closing quote, *RET which it is;
 * NULL when it is none of them. */
INLINE const char *known_name(const char *p, const char *end, enum key *ret, bool room)
{
	switch (*p) {
	case 'p':
		IS("prompt_tokens\"", KEY_PROMPT, room);
		IS("prompt_tokens_details\"", KEY_PROMPT_DETAILS, room);
		break;
	case 'i':
		IS("input_tokens\"", KEY_PROMPT, room);
		IS("input_tokens_details\"", KEY_PROMPT_DETAILS, room);
		break;
	case 'c':
		IS("completion_tokens\"", KEY_COMPLETION, room);
		IS("completion_tokens_details\"", KEY_COMPLETION_DETAILS, room);
		IS("cached_tokens\"", KEY_CACHED, room);
		break;
	case 'o':
		IS("output_tokens\"", KEY_COMPLETION, room);
		IS("output_tokens_details\"", KEY_COMPLETION_DETAILS, room);
		break;
	case 't':
		IS("total_tokens\"", KEY_TOTAL, room);
		break;
	case 'r':
		IS("reasoning_tokens\"", KEY_REASONING, room);
		IS("rejected_prediction_tokens\"", KEY_OTHER, room);
		break;
	case 'a':
		IS("audio_tokens\"", KEY_OTHER, room);
		IS("accepted_prediction_tokens\"", KEY_OTHER, room);
		break;
	}
	return NULL;
}

/* A member name whose opening quote P is past: past its closing quote;
 * *RET which of the names read it is (KEY_OTHER: none). The raw bytes are
 * compared, as written (an escaped name is another name). OpenAI's other
 * count names are known too, to be passed without a search for their end. */
INLINE const char *member_name(const char *p, const char *end, enum key *ret)
{
	const char *q;

	*ret = KEY_OTHER;
	if (end - p >= LONGEST_NAME)
		q = known_name(p, end, ret, true);
	else
		q = p < end ? known_name(p, end, ret, false) : NULL;
	return q ? q : skip_string(p, end);
}

/* A non-negative JSON integer of at most MAX_DIGITS digits. */
INLINE const char *count(const char *p, const char *end, int64_t *ret)
{
	const char *start;
	int64_t v = 0;

	const char *limit;

	if (p < end && (unsigned char)*p <= ' ')
		p = ws(p, end);
	start = p;
	limit = end - p > MAX_DIGITS ? p + MAX_DIGITS + 1 : end;
	while (p < limit && (unsigned char)(*p - '0') < 10)
		v = v * 10 + (*p++ - '0');
	if (p == start || p - start > MAX_DIGITS || (*start == '0' && p - start > 1))
		return NULL;
	if (p < end && (*p == '.' || (*p | 0x20) == 'e'))
		return NULL;
	*ret = v;
	return p;
}

/* count(), noted in REC as ROLE. */
INLINE const char *count_at(const char *p, const char *end, int64_t *ret, struct usage_slots *rec,
                            enum usage_role role)
{
	const char *q;

	if (p < end && (unsigned char)*p <= ' ')
		p = ws(p, end);
	if ((q = count(p, end, ret)))
		usage_slots_note(rec, p, q, role);
	return q;
}

INLINE const char *literal(const char *p, const char *end, const char *word, size_t len)
{
	return (size_t)(end - p) >= len && memcmp(p, word, len) == 0 ? p + len : NULL;
}

static const char *skip_value(const char *p, const char *end, int depth);

/* Skips the members of an object or the elements of an array after its
 * opening byte, through CLOSE. */
static const char *skip_container(const char *p, const char *end, char close, int depth)
{
	const char *q = eat(p, end, close);

	if (q)
		return q;
	for (;;) {
		if (close == '}') {
			if (!(p = eat(p, end, '"')) || !(p = skip_string(p, end)) ||
			    !(p = eat(p, end, ':')))
				return NULL;
		}
		if (!(p = skip_value(p, end, depth + 1)))
			return NULL;
		if ((q = eat(p, end, close)))
			return q;
		if (!(p = eat(p, end, ',')))
			return NULL;
	}
}

static const char *skip_value(const char *p, const char *end, int depth)
{
	p = ws(p, end);
	if (p >= end || depth > MAX_DEPTH)
		return NULL;
	switch (*p) {
	case '{':
		return skip_container(p + 1, end, '}', depth);
	case '[':
		return skip_container(p + 1, end, ']', depth);
	case '"':
		return skip_string(p + 1, end);
	case 't':
		return literal(p, end, "true", 4);
	case 'f':
		return literal(p, end, "false", 5);
	case 'n':
		return literal(p, end, "null", 4);
	default:
		if (*p == '-')
			p++;
		if (p >= end || (unsigned char)(*p - '0') >= 10)
			return NULL;
		while (p < end && ((unsigned char)(*p - '0') < 10 || *p == '.' || *p == 'e' ||
		                   *p == 'E' || *p == '+' || *p == '-'))
			p++;
		return p;
	}
}

/* A number (the common value of an unread member) at once, else any value. */
INLINE const char *skip_member_value(const char *p, const char *end, int depth)
{
	if (p < end && (unsigned char)*p <= ' ')
		p = ws(p, end);
	if (p < end && (unsigned char)(*p - '0') < 10) {
		while (p < end && ((unsigned char)(*p - '0') < 10 || *p == '.' || *p == 'e' ||
		                   *p == 'E' || *p == '+' || *p == '-'))
			p++;
		return p;
	}
	return skip_value(p, end, depth);
}

/* After a member: past the ',' before the next (*LAST false) or the '}'
 * that ends the object (*LAST true); NULL on other bytes. */
INLINE const char *next_member(const char *p, const char *end, bool *last)
{
	if (p < end && *p == ',') {
		*last = false;
		return p + 1;
	}
	p = ws(p, end);
	if (p < end && *p == '}') {
		*last = true;
		return p + 1;
	}
	*last = false;
	return p < end && *p == ',' ? p + 1 : NULL;
}

/* A member's name and its ':': past them, *K which name it is. */
INLINE const char *member(const char *p, const char *end, enum key *k)
{
	if (!(p = eat(p, end, '"')) || !(p = member_name(p, end, k)))
		return NULL;
	return eat(p, end, ':');
}

/* A *_tokens_details object: the count named WANT into RET (HAS set);
 * other members skipped. `null` is no details. */
static const char *details(const char *p, const char *end, enum key want, int64_t *ret, bool *has,
                           struct usage_slots *rec)
{
	const char *q;
	bool last;

	p = ws(p, end);
	if ((q = literal(p, end, "null", 4)))
		return q;
	if (!(p = eat(p, end, '{')))
		return NULL;
	if ((q = eat(p, end, '}')))
		return q;
	do {
		enum key k;

		if (!(p = member(p, end, &k)))
			return NULL;
		if (k == want) {
			p = ws(p, end);
			if ((q = literal(p, end, "null", 4)))
				p = q;
			else if ((p = count_at(p, end, ret, rec,
			                       want == KEY_CACHED ? USAGE_ROLE_CACHED
			                                          : USAGE_ROLE_REASONING)))
				*has = true;
		} else {
			p = skip_member_value(p, end, 2);
		}
		if (!p || !(p = next_member(p, end, &last)))
			return NULL;
	} while (!last);
	return p;
}

/* The usage object at P (its '{'): past its '}' with U filled and its
 * counts noted in REC; NULL when it is none we can read. */
static const char *usage_object(const char *p, const char *end, struct usage *u,
                                struct usage_slots *rec)
{
	bool has_prompt = false, has_completion = false, has_total = false, last;
	const char *q;

	*u = (struct usage){0};
	if (!(p = eat(p, end, '{')))
		return NULL;
	if ((q = eat(p, end, '}'))) {
		p = q;
	} else {
		do {
			enum key k;

			if (!(p = member(p, end, &k)))
				return NULL;
			switch (k) {
			case KEY_PROMPT:
				p = count_at(p, end, &u->prompt, rec, USAGE_ROLE_PROMPT);
				has_prompt = p;
				break;
			case KEY_COMPLETION:
				p = count_at(p, end, &u->completion, rec, USAGE_ROLE_COMPLETION);
				has_completion = p;
				break;
			case KEY_TOTAL:
				p = count_at(p, end, &u->total, rec, USAGE_ROLE_TOTAL);
				has_total = p;
				break;
			case KEY_PROMPT_DETAILS:
				p = details(p, end, KEY_CACHED, &u->cached_prompt, &u->has_cached,
				            rec);
				break;
			case KEY_COMPLETION_DETAILS:
				p = details(p, end, KEY_REASONING, &u->reasoning, &u->has_reasoning,
				            rec);
				break;
			default:
				p = skip_member_value(p, end, 1);
			}
			if (!p || !(q = next_member(p, end, &last)))
				return NULL;
			p = q;
		} while (!last);
	}
	if (!has_prompt && !has_completion && !has_total)
		return NULL;
	if (!has_total)
		u->total = u->prompt + u->completion;
	u->known = true;
	return p;
}

/* The usage object at P: by a shape of SH when one fits, else in full
 * (and its shape learnt). */
static bool usage_at(const char *p, const char *end, struct usage_shapes *sh, struct usage *u)
{
	struct usage_slots rec;
	const char *q;

	if (sh) {
		for (unsigned i = 0; i < 2; i++)
			if (sh->shape[i].len && usage_shape_read(&sh->shape[i], p, end, u)) {
				sh->hits++;
				return true;
			}
	}
	rec.n = 0;
	if (!(q = usage_object(p, end, u, &rec)))
		return false;
	if (sh)
		usage_shape_learn(sh, p, q, &rec);
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
	return usage_scan_body_shaped(buf, len, NULL, ret);
}

int usage_scan_body_shaped(const char *buf, size_t len, struct usage_shapes *shapes,
                           struct usage *ret)
{
	const char *end = buf + len, *g = end, *q, *p;

	*ret = (struct usage){0};
	/* from 'g' to 'g' (rarer than quotes in an answer's last members) */
	while (g > buf && (g = memrchr(buf, 'g', (size_t)(g - buf)))) {
		if (g - buf < 4)
			break;
		q = g - 4;
		if (end - q < 7 || memcmp(q, "\"usage\"", 7) != 0 || !opens_key(buf, q))
			continue;
		if (!(p = eat(g + 3, end, ':')))
			continue; /* "usage" as a value: the next key along */
		p = ws(p, end);
		if (p < end && *p != '{' && *p != 'n')
			continue; /* a "usage" member that is no usage (a metadata string) */
		if (p < end && *p == '{' && usage_at(p, end, shapes, ret))
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
