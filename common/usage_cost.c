/*
 * usage_cost: an answer's cost at a deployment's prices (see usage_cost.h).
 * Runs in a worker per answered request; pure arithmetic.
 */
#include "usage_cost.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

static int64_t clamp(int64_t v, int64_t max)
{
	return v < 0 ? 0 : v > max ? max : v;
}

double usage_cost(const struct usage *u, const struct usage_price *p)
{
	int64_t prompt, cached = 0, completion, reasoning = 0;

	if (!u->known || !p->set)
		return 0;
	prompt = clamp(u->prompt, INT64_MAX);
	completion = clamp(u->completion, INT64_MAX);
	if (p->has_cache_read && u->has_cached)
		cached = clamp(u->cached_prompt, prompt);
	if (p->has_reasoning && u->has_reasoning)
		reasoning = clamp(u->reasoning, completion);
	return (double)(prompt - cached) * p->input + (double)cached * p->cache_read +
	       (double)(completion - reasoning) * p->output + (double)reasoning * p->reasoning;
}

bool usage_price_parse(const char *text, double *ret)
{
	char *end;
	double v;

	if (!*text || *text == ' ' || *text == '\t' || *text == '-' || *text == '+')
		return false;
	errno = 0;
	v = strtod(text, &end);
	if (errno || *end || !isfinite(v) || v < 0 || end == text)
		return false;
	*ret = v;
	return true;
}
