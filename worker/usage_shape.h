/*
 * usage_shape: the layouts of the usage objects a worker read in full
 * (issue 19's bound), so that a later one laid out alike is read by
 * comparing its bytes with a kept layout and reading the digits of its
 * counts only (usage_scan.c learns and uses them). Pure; no allocation.
 *
 * Why it is exact: a kept shape is an object the full parser read, its
 * bytes but for the digit runs of the counts it read. An object whose bytes
 * are the same but for those runs (each a valid count: 1 to 15 digits, no
 * leading zero) takes every step of the full parse as that one did, since
 * every byte a step decides on (names, structure, whitespace, skipped
 * values, the byte after each count) is the same: it has the same counts in
 * the same places, only their values differ. Anything else is read in full.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usage.h"

#define USAGE_COUNT_DIGITS 15  /* a count is a JSON integer of at most as many */
#define USAGE_SHAPE_MAX    512 /* bytes of a usage object whose shape is kept */
#define USAGE_SHAPE_COUNTS 8

/* The shape of a usage object read in full: its bytes but for the digits
 * of the counts it read, and which count each was. */
struct usage_shape {
	uint16_t len; /* bytes in text; 0: none */
	uint8_t n;    /* counts */
	uint8_t role[USAGE_SHAPE_COUNTS];
	uint16_t cut[USAGE_SHAPE_COUNTS]; /* where count i's digits were, in text */
	char text[USAGE_SHAPE_MAX];
};

/* The shapes of the last two usage objects read in full (zero it to
 * start). An upstream lays out every usage object alike (OpenAI's chat:
 * 11 members, 2 of them objects), so a later one is read by comparing its
 * bytes with a shape's and reading the digits of its counts only: the
 * same result as a full parse, by construction (the bytes that decide
 * every step of the parse are the same), at a fraction of its cost. One
 * per worker and kind of answer (a worker runs one thread). */
struct usage_shapes {
	struct usage_shape shape[2];
	uint8_t next;  /* the one the next shape replaces */
	uint32_t hits; /* objects read by a shape */
};

/* Which count a digit run is, by its place in struct usage. */
enum usage_role {
	USAGE_ROLE_PROMPT,
	USAGE_ROLE_COMPLETION,
	USAGE_ROLE_TOTAL,
	USAGE_ROLE_CACHED,
	USAGE_ROLE_REASONING,
};

/* The counts a full parse read, where they are, in order. */
struct usage_slots {
	const char *start[USAGE_SHAPE_COUNTS], *end[USAGE_SHAPE_COUNTS];
	uint8_t role[USAGE_SHAPE_COUNTS];
	unsigned n; /* more than USAGE_SHAPE_COUNTS: no shape */
};

static inline void usage_slots_note(struct usage_slots *rec, const char *start, const char *end,
                                    enum usage_role role)
{
	if (rec->n < USAGE_SHAPE_COUNTS) {
		rec->start[rec->n] = start;
		rec->end[rec->n] = end;
		rec->role[rec->n] = (uint8_t)role;
	}
	rec->n++;
}

/* The usage object O (through END, past its '}') read in full, its counts
 * noted in REC: its shape kept in SH, in place of the older one (none when
 * it is longer than USAGE_SHAPE_MAX or has more counts). */
void usage_shape_learn(struct usage_shapes *sh, const char *o, const char *end,
                       const struct usage_slots *rec);

/* The usage object at P (before END) read by shape S into U: true; false
 * when its bytes are not S's (U then undefined). */
bool usage_shape_read(const struct usage_shape *s, const char *p, const char *end, struct usage *u);
