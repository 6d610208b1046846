/*
 * usage_stream: the token usage of a stream (issue 19), followed event by
 * event as its bytes are relayed, without a copy of them: a chat or
 * completions stream's last `data:` event before `data: [DONE]` (the
 * usage-only chunk, present when stream_options.include_usage was asked),
 * a Responses stream's last event when it is response.completed or
 * response.incomplete. A stream that ends otherwise has no usage
 * ("usage: unknown"), never an estimate.
 *
 * Events end at a blank line ("\n\n", or "\r\n\r\n" with CRLF line
 * ends). Of the events that end in one read only the last ones can be the
 * stream's last, so only they are looked at
 * (from the read's end); an event whose `_tokens"` bytes are absent holds
 * no usage and is not parsed (usage_scan_may_hold()). Nothing is kept of a
 * read that ends at an event's end (the common case): a stream that holds
 * no usage allocates nothing. Only an event that straddles reads is held,
 * in a buffer sized to it, until its end; of one longer than
 * USAGE_EVENT_MAX only its head's kind and its last USAGE_EVENT_MAX bytes
 * are kept. Whether held or not, an event's usage is read from its last
 * USAGE_EVENT_MAX bytes through its blank line (the usage object ends its
 * event), so however a stream is cut into reads its usage is the same.
 * Pure but for that buffer; fuzzed (tests/fuzz), split at every offset
 * (tests/unit).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usage.h"

#define USAGE_EVENT_MAX 4096

struct usage_shapes;

struct usage_stream {
	struct usage found;          /* of the last event that is no [DONE] (known false: none) */
	struct usage_shapes *shapes; /* of the usage objects read before, or NULL */
	char *held;                  /* the current event's bytes, when it straddles reads */
	uint32_t held_len, held_cap;
	uint8_t dones;  /* chat: [DONE] events after it (2: two or more) */
	bool responses; /* a Responses API stream */
	bool pending;   /* an event is begun and held */
	bool cut;       /* it is longer than USAGE_EVENT_MAX: its kind below, its tail held */
	bool lost;      /* no memory to hold it: it counts as an event without usage */
	bool cut_done, cut_candidate;
	char last, last2; /* the last two bytes fed (a blank line may straddle reads) */
};

/* Starts following a stream (nothing allocated); SHAPES: see usage_scan.h
 * (NULL: none). */
void usage_stream_init(struct usage_stream *s, bool responses, struct usage_shapes *shapes);

/* The next bytes of the stream, as the client gets them. */
void usage_stream_feed(struct usage_stream *s, const char *data, size_t len);

/* The stream is over: its usage into RET (0, known) or none (-ENOENT, RET
 * zeroed). Frees what was held; may be called again (same answer). */
int usage_stream_end(struct usage_stream *s, struct usage *ret);

/* Frees what is held (a stream that never ended). */
void usage_stream_free(struct usage_stream *s);

/* The usage of the whole stream BUF (init, one feed, end). */
int usage_scan_stream(const char *buf, size_t len, bool responses, struct usage *ret);
