/*
 * trace_sampler: the parent-based ratio sampler (see trace_sampler.h). Pure,
 * on the request path: a comparison, no allocation.
 */
#include "trace_sampler.h"

bool trace_sampler_decide(double ratio, const struct trace_parent *parent,
                          const uint8_t trace_id[TRACE_ID_LEN])
{
	uint64_t r = 0;

	if (parent)
		return (parent->flags & TRACE_FLAG_SAMPLED) != 0;
	if (ratio >= 1.0)
		return true;
	if (!(ratio > 0.0))
		return false;
	for (int i = 8; i < TRACE_ID_LEN; i++)
		r = r << 8 | trace_id[i];
	/* 2^64 * ratio, compared on 63 bits so the product fits a double exactly enough */
	return (double)(r >> 1) < ratio * 9223372036854775808.0;
}
