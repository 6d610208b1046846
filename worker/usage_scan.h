/*
 * usage_scan: finds the token usage an upstream reported in the bytes of its
 * answer (issue 19) without a JSON tree and without touching what the
 * client gets. Pure: no allocation, no I/O; fuzzed (tests/fuzz).
 *
 * A non-streamed answer (chat, completions, embeddings, Responses) carries a
 * `usage` object near its end: usage_scan_body() looks for the last
 * `"usage"` key from the end and parses only its object. A stream is seen
 * through a bounded tail window (struct usage_tail, the last
 * USAGE_TAIL_MAX bytes, filled as the bytes are relayed); at its end
 * usage_scan_stream() parses its last event that may carry usage: a chat
 * or completions stream's last `data:` event before `data: [DONE]` (the
 * usage-only chunk, present when stream_options.include_usage was asked),
 * a Responses stream's response.completed or response.incomplete.
 *
 * Names read: prompt_tokens / input_tokens, completion_tokens /
 * output_tokens, total_tokens, and cached_tokens under
 * prompt_tokens_details / input_tokens_details, reasoning_tokens under
 * completion_tokens_details / output_tokens_details. Counts are JSON
 * integers of at most 15 digits; anything else where a count must be makes
 * the whole usage unknown (never a guess). A usage of `null` is none.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "usage.h"

#define USAGE_TAIL_MAX 4096

/* The last bytes of a stream (a ring; zero it to start). */
struct usage_tail {
	size_t len; /* bytes held, at most USAGE_TAIL_MAX */
	size_t pos; /* where the next byte goes */
	char buf[USAGE_TAIL_MAX];
};

/* 0 with RET filled (known) when BUF's last "usage" key holds a usage
 * object; -ENOENT when it has none (RET zeroed, known false). */
int usage_scan_body(const char *buf, size_t len, struct usage *ret);

/* Keeps the last USAGE_TAIL_MAX bytes of what was relayed. */
void usage_tail_add(struct usage_tail *t, const char *data, size_t len);

/* The tail as one run of bytes in OUT (USAGE_TAIL_MAX bytes); its length. */
size_t usage_tail_copy(const struct usage_tail *t, char *out);

/* The usage of a stream whose last bytes are BUF (see above); RESPONSES:
 * a Responses API stream. 0 or -ENOENT as usage_scan_body(). */
int usage_scan_stream(const char *buf, size_t len, bool responses, struct usage *ret);
