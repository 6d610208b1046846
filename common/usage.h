/*
 * usage: the token usage one answer reported, as the worker found it in the
 * upstream's bytes (issue 19), and the price it costs. Shared vocabulary of
 * the usage counting (worker), the client-key limits and budgets (tpm and
 * spend settle from it), the spans and the supervisor's counters.
 *
 * A count the provider did not report is 0 with its `has_` flag false; an
 * answer that reported no usage at all has known == false ("usage: unknown"),
 * never an estimate.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct usage {
	bool known; /* the answer carried a usage object */
	int64_t prompt;
	int64_t completion;
	int64_t total;
	int64_t cached_prompt; /* of prompt; 0 when not reported */
	int64_t reasoning;     /* of completion; 0 when not reported */
	bool has_cached, has_reasoning;
};
