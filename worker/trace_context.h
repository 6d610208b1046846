/*
 * trace_context: W3C Trace Context (https://www.w3.org/TR/trace-context/) for
 * the worker's traces: the `traceparent` header parsed strictly and written,
 * `tracestate` checked before it is passed on, and the cheap generator of
 * trace and span ids. Pure: no I/O, no clock, no allocation; the generator's
 * state is seeded once per worker (trace_rng_seed, the one getrandom call),
 * then each id is a few arithmetic operations (xoshiro256**), never a
 * system call per request.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <strings.h>

#define TRACE_ID_LEN       16
#define TRACE_SPAN_ID_LEN  8
#define TRACE_FLAG_SAMPLED 0x01
#define TRACEPARENT_LEN    55  /* version 00: 2-32-16-2 hex digits and 3 dashes */
#define TRACESTATE_MAX     512 /* W3C: at least 512 bytes are propagated */

struct trace_parent {
	uint8_t trace_id[TRACE_ID_LEN];
	uint8_t span_id[TRACE_SPAN_ID_LEN];
	uint8_t flags;
};

/* Parses a traceparent value of LEN bytes (not NUL-terminated). Version 00
 * must be exactly 55 bytes; a later version may carry more after a '-', as
 * the spec asks parsers to accept; version ff, upper-case hex, an all-zero
 * trace or parent id are invalid. 0 or -EINVAL. */
int trace_parent_parse(const char *value, size_t len, struct trace_parent *ret);

/* Writes "00-<trace>-<span>-<flags>" and its NUL into BUF (at least
 * TRACEPARENT_LEN + 1 bytes). */
void trace_parent_format(const uint8_t trace_id[TRACE_ID_LEN],
                         const uint8_t span_id[TRACE_SPAN_ID_LEN], uint8_t flags, char *buf);

/* Whether VALUE (LEN bytes) may be passed on as tracestate: at most
 * TRACESTATE_MAX bytes of printable ASCII (list members are not rewritten,
 * only carried). An empty value is not passed on. */
bool trace_state_valid(const char *value, size_t len);

/* Whether header NAME is traceparent (or, with STATE, tracestate), in any
 * case: its first letter first, so other headers cost one compare (a
 * request's headers are scanned for them on every request). */
static inline bool trace_header_is(const char *name, bool state)
{
	return (name[0] | 0x20) == 't' &&
	       strcasecmp(name, state ? "tracestate" : "traceparent") == 0;
}

/* Lower-case hex of LEN bytes into OUT (2 * LEN bytes, no NUL). */
void trace_hex(const uint8_t *bytes, size_t len, char *out);

struct trace_rng {
	uint64_t s[4];
};

/* Seeds RNG from SEED (32 bytes; an all-zero seed is replaced). */
void trace_rng_seed(struct trace_rng *rng, const uint8_t seed[32]);
/* A random trace id (never all zero). */
void trace_rng_trace_id(struct trace_rng *rng, uint8_t out[TRACE_ID_LEN]);
/* A random span id (never all zero). */
void trace_rng_span_id(struct trace_rng *rng, uint8_t out[TRACE_SPAN_ID_LEN]);
