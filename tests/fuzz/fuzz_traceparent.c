/*
 * fuzz_traceparent: the W3C traceparent parser (worker/trace_context.c), the
 * one place llmgate parses trace input from clients, checked against the
 * spec's grammar written out independently here, and against the writer:
 * whenever the parser accepts, the input is a version other than ff, 55
 * bytes for version 00 (or 55 and a '-' for later ones), lower-case hex
 * where the fields are, with no zero id; and writing the parsed fields back
 * gives the input's first 55 bytes with version 00. The same bytes also go
 * through trace_state_valid(), which must accept only printable ASCII up
 * to 512 bytes.
 *
 * fuzz-args: -max_len=128
 */
#include <string.h>

#include "fuzz.h"
#include "trace_context.h"

static bool lower_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

static bool zeros(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != '0')
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_parent p;
	char out[TRACEPARENT_LEN + 1];
	bool grammar;

	grammar = size >= TRACEPARENT_LEN && lower_hex(data, 2) && memcmp(data, "ff", 2) != 0 &&
	          data[2] == '-' && lower_hex(data + 3, 32) && data[35] == '-' &&
	          lower_hex(data + 36, 16) && data[52] == '-' && lower_hex(data + 53, 2) &&
	          !zeros(data + 3, 32) && !zeros(data + 36, 16) &&
	          (memcmp(data, "00", 2) == 0 ? size == TRACEPARENT_LEN
	                                      : size == TRACEPARENT_LEN || data[55] == '-');
	if ((trace_parent_parse((const char *)data, size, &p) == 0) != grammar)
		abort();
	if (grammar) {
		trace_parent_format(p.trace_id, p.span_id, p.flags, out);
		if (memcmp(out, "00", 2) != 0 ||
		    memcmp(out + 2, data + 2, TRACEPARENT_LEN - 2) != 0)
			abort();
	}
	if (trace_state_valid((const char *)data, size)) {
		if (size == 0 || size > TRACESTATE_MAX)
			abort();
		for (size_t i = 0; i < size; i++)
			if (data[i] < 0x20 || data[i] > 0x7e)
				abort();
	}
	return 0;
}
