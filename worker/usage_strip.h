/*
 * usage_strip: `llmgate.stream_usage: inject` (issue 19). A chat stream
 * whose client did not ask for stream_options.include_usage was asked for
 * it upstream; this removes the one event the client did not ask for, the
 * usage-only chunk (`data: {..."choices":[],..."usage":{...}}`), and the
 * `"usage":null` member OpenAI adds to every other chunk once usage is
 * asked, and hands every other byte on unchanged and in order: the client
 * gets the stream it would have had. The usage is kept for the counting.
 *
 * Events end at a blank line ("\n\n"). A read that ends inside an event
 * holds that event's first part until its end arrives (an SSE client acts
 * on an event only at its blank line, so no event reaches it later than it
 * could use it); complete events of a read go on at once, in one write per
 * run. An event longer than USAGE_STRIP_HOLD_MAX is no usage chunk: it is
 * passed on as it comes. Allocation: the holdback only (bounded).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "usage.h"

#define USAGE_STRIP_HOLD_MAX 16384

struct usage_strip {
	char *held; /* the first part of an unfinished event */
	size_t held_len;
	bool passing;       /* the current event is too long: passed on as it comes */
	char last;          /* the last byte seen (an event may end across reads) */
	struct usage usage; /* of the usage chunk removed (known false: none yet) */
};

typedef void usage_strip_emit_fn(void *ctx, const char *data, size_t len);

/* Feeds a read; EMIT gets what goes to the client. 0 or -ENOMEM (then
 * everything held and DATA were emitted as they are: bytes are never lost). */
int usage_strip_feed(struct usage_strip *s, const char *data, size_t len, usage_strip_emit_fn *emit,
                     void *ctx);

/* The stream is over: whatever is held goes on as it is. */
void usage_strip_finish(struct usage_strip *s, usage_strip_emit_fn *emit, void *ctx);

void usage_strip_free(struct usage_strip *s);

/* Whether the event EV (its bytes through its blank line) is a usage-only
 * chat chunk; its usage into RET when it is. */
bool usage_strip_is_usage_chunk(const char *ev, size_t len, struct usage *ret);
