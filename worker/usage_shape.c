/*
 * usage_shape: kept layouts of usage objects, and reading one by them (see
 * usage_shape.h). Runs in a worker, in usage_scan_body_shaped(): a compare
 * of the kept bytes and a digit loop per count, instead of a full parse.
 */
#include "usage_shape.h"

#include <string.h>

/* The usage object O (through its '}' at END) read in full, with the
 * counts REC noted: its shape into a slot of SH. */
void usage_shape_learn(struct usage_shapes *sh, const char *o, const char *end,
                       const struct usage_slots *rec)
{
	struct usage_shape *s = &sh->shape[sh->next];
	size_t at = 0, n;

	if (rec->n > USAGE_SHAPE_COUNTS || (size_t)(end - o) > USAGE_SHAPE_MAX)
		return; /* not one to learn: the shapes kept stay */
	for (unsigned i = 0; i < rec->n; i++) {
		n = (size_t)(rec->start[i] - o);
		memcpy(s->text + at, o, n);
		at += n;
		s->cut[i] = (uint16_t)at;
		s->role[i] = rec->role[i];
		o = rec->end[i];
	}
	n = (size_t)(end - o);
	memcpy(s->text + at, o, n);
	s->len = (uint16_t)(at + n);
	s->n = (uint8_t)rec->n;
	sh->next ^= 1;
}

/* The usage object at P read by shape S: its bytes but for the counts'
 * digits are S's, so it parses as the object S was learnt from did, to
 * other counts: compared, and only the digits read. False: not S's shape. */
bool usage_shape_read(const struct usage_shape *s, const char *p, const char *end, struct usage *u)
{
	int64_t count[5] = {0};
	bool has[5] = {false};
	size_t at = 0, n;

	for (unsigned i = 0;; i++) {
		const char *start, *limit;
		int64_t v = 0;

		n = (i < s->n ? s->cut[i] : s->len) - at;
		if ((size_t)(end - p) < n || memcmp(p, s->text + at, n) != 0)
			return false;
		p += n;
		at += n;
		if (i == s->n)
			break;
		start = p;
		if (p < end && *p == '0') {
			p++; /* 0 alone: a digit after it fails the next run's compare */
		} else {
			limit = end - p > USAGE_COUNT_DIGITS ? p + USAGE_COUNT_DIGITS + 1 : end;
			while (p < limit && (unsigned char)(*p - '0') < 10)
				v = v * 10 + (*p++ - '0');
			if (p == start || p - start > USAGE_COUNT_DIGITS)
				return false;
		}
		count[s->role[i]] = v;
		has[s->role[i]] = true;
	}
	*u = (struct usage){
	        .known = true,
	        .prompt = count[USAGE_ROLE_PROMPT],
	        .completion = count[USAGE_ROLE_COMPLETION],
	        .total = has[USAGE_ROLE_TOTAL]
	                         ? count[USAGE_ROLE_TOTAL]
	                         : count[USAGE_ROLE_PROMPT] + count[USAGE_ROLE_COMPLETION],
	        .cached_prompt = count[USAGE_ROLE_CACHED],
	        .reasoning = count[USAGE_ROLE_REASONING],
	        .has_cached = has[USAGE_ROLE_CACHED],
	        .has_reasoning = has[USAGE_ROLE_REASONING],
	};
	return true;
}
