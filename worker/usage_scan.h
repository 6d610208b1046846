/*
 * usage_scan: finds the token usage an upstream reported in the bytes of its
 * answer (issue 19) without a JSON tree and without touching what the
 * client gets. Pure but for the shapes its caller keeps: no allocation, no
 * I/O; fuzzed (tests/fuzz).
 *
 * A non-streamed answer (chat, completions, embeddings, Responses) carries a
 * `usage` object near its end: usage_scan_body() looks for the last
 * `"usage"` key from the end and parses only its object, with a hand parser
 * that knows the member names it reads (no string is copied or measured),
 * or by the shape of one read before (usage_shape.h).
 * Streams are followed event by event (usage_stream.h), which hands the one
 * event that may carry the stream's usage to usage_scan_body().
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
#include "usage_shape.h"

/* 0 with RET filled (known) when BUF's last "usage" key holds a usage
 * object; -ENOENT when it has none (RET zeroed, known false). */
int usage_scan_body(const char *buf, size_t len, struct usage *ret);

/* usage_scan_body(), reading the usage object by one of SHAPES when it
 * fits (else in full, and its shape kept in SHAPES). */
int usage_scan_body_shaped(const char *buf, size_t len, struct usage_shapes *shapes,
                           struct usage *ret);

/* Whether BUF holds the bytes `_tokens"` (the end of every count's key): a
 * usage object that usage_scan_body() can read has one, so a BUF without
 * them needs no scan. */
bool usage_scan_may_hold(const char *buf, size_t len);
