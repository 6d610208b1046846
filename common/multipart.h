/*
 * multipart: a strict streaming parser of multipart/form-data bodies
 * (RFC 7578 over RFC 2046), for the upload endpoints (audio transcriptions
 * and translations, image edits). Pure: no I/O, no allocation; input may come
 * in pieces of any size (a boundary split across reads is found), and part
 * bodies are never copied: each piece of a part's data is handed out as a
 * pointer into the caller's input (or, for the few bytes that looked like
 * the start of a delimiter and were not, into the parser's own delimiter).
 *
 * Strict where the RFCs are: the boundary comes from the Content-Type
 * (1 to 70 bchars, quoted or not), lines end in CRLF, every part has a
 * Content-Disposition of form-data with a name, a part's headers are at most
 * MULTIPART_MAX_PART_HEAD bytes, and the body ends with the close delimiter
 * ("--" after the last boundary). A preamble and an epilogue are allowed
 * (and ignored), as RFC 2046 says.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MULTIPART_MAX_BOUNDARY  70   /* RFC 2046 5.1.1 */
#define MULTIPART_MAX_PART_HEAD 8192 /* one part's header lines, with their CRLFs */
#define MULTIPART_MAX_NAME      255  /* a field's name or a file name */

/* Errors of multipart_feed()/multipart_finish(): */
#define MULTIPART_EBADMSG -74 /* malformed (the message says what) */
#define MULTIPART_E2BIG   -7  /* a part's headers over MULTIPART_MAX_PART_HEAD */

/* One part, as its headers describe it. Valid during on_part only. */
struct multipart_part {
	const char *name;         /* the form field's name */
	const char *filename;     /* NULL when none */
	const char *content_type; /* NULL when none */
	uint64_t offset;          /* of its first body byte, in the whole input */
};

struct multipart_callbacks {
	/* A part's headers are read; its data follows. Non-zero stops the
	 * parse (multipart_feed returns it). */
	int (*on_part)(void *ctx, const struct multipart_part *part);
	/* LEN bytes of the current part's body, at OFFSET in the whole input. */
	int (*on_data)(void *ctx, const char *data, size_t len, uint64_t offset);
	/* The current part's body ended before OFFSET (its delimiter's CRLF). */
	int (*on_part_end)(void *ctx, uint64_t offset);
};

enum multipart_state {
	MULTIPART_PREAMBLE,
	MULTIPART_AFTER_BOUNDARY, /* "--" (the end) or padding and CRLF (a part) */
	MULTIPART_HEADERS,
	MULTIPART_BODY,
	MULTIPART_EPILOGUE,
};

struct multipart {
	char delim[4 + MULTIPART_MAX_BOUNDARY + 1]; /* "\r\n--" boundary */
	size_t delim_len;
	size_t match; /* bytes of delim matched so far */
	enum multipart_state state;
	uint64_t pos;    /* bytes fed so far */
	uint64_t first;  /* offset of the first delimiter's "--" */
	int after;       /* AFTER_BOUNDARY: 0 start, '-' one dash, ' ' padding, '\r' CR */
	size_t head_len; /* HEADERS: bytes in head */
	unsigned parts;
	const char *error;                     /* what was wrong, after an error */
	char name[MULTIPART_MAX_NAME + 1];     /* the current part's */
	char filename[MULTIPART_MAX_NAME + 1]; /* the current part's */
	char head[MULTIPART_MAX_PART_HEAD];
};

/*
 * The boundary of a multipart/form-data CONTENT_TYPE into BOUNDARY (room for
 * MULTIPART_MAX_BOUNDARY + 1 bytes). 0, or -EINVAL when it is not
 * multipart/form-data with a valid boundary (*RET_WHY says why).
 */
int multipart_boundary(const char *content_type, char *boundary, const char **ret_why);

/* Starts a parse of a body with BOUNDARY (as multipart_boundary() gave). */
void multipart_init(struct multipart *m, const char *boundary);

/* Feeds the next LEN bytes: 0, an error above (m->error says what), or
 * what a callback returned. After an error, do not feed again. */
int multipart_feed(struct multipart *m, const char *data, size_t len,
                   const struct multipart_callbacks *cb, void *ctx);

/* The input is over: 0 when it was a whole body (its close delimiter seen),
 * else MULTIPART_EBADMSG (truncated). */
int multipart_finish(struct multipart *m);

/* Where the body's first delimiter starts ("--boundary", at 0 unless there
 * is a preamble): a part inserted there comes first. Valid once a part was
 * seen. */
static inline uint64_t multipart_first_offset(const struct multipart *m)
{
	return m->first;
}
