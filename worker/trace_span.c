/*
 * trace_span: the attribute table of trace_span.h as data, read by both
 * encoders (otlp_json.c, otlp_proto.c) and by the unit test that checks
 * llmgated(8) against it.
 */
#include "trace_span.h"

const struct trace_attr_info trace_attrs[TRACE_ATTR__COUNT] = {
#define TRACE_ATTR_ROW(id, k, t, sp, desc)             \
	[TRACE_ATTR_##id] = {.key = k,                 \
	                     .key_len = sizeof(k) - 1, \
	                     .type = TRACE_ATTR_##t,   \
	                     .spans = sp,              \
	                     .description = desc},
        TRACE_ATTRIBUTES(TRACE_ATTR_ROW)
#undef TRACE_ATTR_ROW
};
