/*
 * http_reader: the input side of one connection of the HTTP server: its
 * read buffer, each request head parsed in place there, and the body
 * (Content-Length read straight into a buffer of its own, or chunked
 * decoded). Internal to the server; no socket, event or clock: http_conn.c
 * reads the socket into the room the reader offers, calls a step, and acts
 * on what the step says happened (dispatch, reject, timers). It never calls
 * back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parser.h"
#include "http_reject.h"

struct http_reader {
	/* Heads are parsed in place here, so it never moves while a request
	 * points into it (it only grows before a head is parsed). */
	char *rbuf;
	size_t rcap, rlen;
	struct http_scan scan;
	size_t head_end; /* end of the current head in rbuf */
	size_t consumed; /* bytes of rbuf the current request used */
	struct http_head head;
	/* the current request's headers: an array of headers_cap entries, kept
	 * from request to request (at most HEADERS_KEPT of them once pooled) */
	struct http_header *headers;
	size_t headers_cap;
	char *body; /* when not in rbuf: allocated */
	size_t body_len, body_cap;
	uint64_t body_want; /* Content-Length */
	struct http_chunked chunked;
	/* The current request's body limit: MAX_BODY, or what BODY_LIMIT (when
	 * set) says for its head. */
	size_t max_body;
	size_t (*body_limit)(void *ctx, const char *path, size_t path_len, size_t max_body);
	void *body_limit_ctx;
	/* An upload's body (BODY_SPOOL says which paths) is not held in
	 * memory: it is written, as it is read, to an unlinked file in
	 * SPOOL_DIR (http_reader_spool.c), SPOOL_FD while SPOOLED. */
	bool (*body_spool)(void *ctx, const char *path, size_t path_len);
	const char *spool_dir;
	int spool_fd;
	int spool_err; /* a write that failed (errno), reported by the next step */
	bool spooled;
	bool body_direct;  /* body bytes are read straight into body */
	bool body_in_rbuf; /* body points into rbuf */
};

/* What a step came to. */
enum http_read {
	HTTP_READ_MORE,    /* nothing whole yet: read on */
	HTTP_READ_BODY,    /* a head was parsed; its body is still to come */
	HTTP_READ_REQUEST, /* a whole request: head and body */
	HTTP_READ_REJECT,  /* a request to answer with an error */
};

struct http_read_result {
	enum http_read what;
	/* HTTP_READ_REJECT: why; HAVE_HEAD when the head was parsed (its
	 * method and path are known) */
	enum http_reject reason;
	const char *message;
	bool have_head;
	/* HTTP_READ_BODY: the client waits for "100 Continue" */
	bool send_continue;
};

/* What the connection reads at the moment. */
enum http_reader_phase {
	HTTP_READER_HEAD,  /* a head: the buffer may still grow and move */
	HTTP_READER_BODY,  /* its body */
	HTTP_READER_AFTER, /* the request is whole: what comes waits in the buffer */
};

/* ---- the spool (http_reader_spool.c) ---- */

/* Starts spooling the body after a parsed head (AVAIL of its bytes came
 * with it); false with errno when no file can be made. */
bool http_reader_spool_begin(struct http_reader *r, size_t avail);
/* The room a spooled Content-Length body is read into (a buffer of the
 * worker's: every read is written out before the next). */
char *http_reader_spool_room(struct http_reader *r, size_t *ret_room);
/* N bytes were read into that room: written to the file. */
void http_reader_spool_got(struct http_reader *r, size_t n);
/* Decodes a spooled chunked body from what rbuf holds after the head, up to
 * MAX bytes: -EAGAIN for more, 0 when whole, -E2BIG over MAX, -EBADMSG
 * malformed, -EIO (spool_err set) when the file cannot take it. */
int http_reader_spool_chunked(struct http_reader *r, size_t max);
/* Closes the file (it goes with its last fd). */
void http_reader_spool_end(struct http_reader *r);

/* Where the next read from the socket goes; NULL when there is no room
 * (stop reading until the request is done). */
char *http_reader_room(struct http_reader *r, enum http_reader_phase phase, size_t *ret_room);
/* N bytes were read into that room. */
void http_reader_got(struct http_reader *r, enum http_reader_phase phase, size_t n);

/* Looks for a whole head in what was read and parses it (into SCRATCH,
 * HTTP_PARSER_MAX_HEADERS entries, then copied to the reader's size), then
 * starts its body: bodies over MAX_BODY (or the body_limit callback's limit
 * for the head's path) are rejected, before they are read. */
struct http_read_result http_reader_head(struct http_reader *r, struct http_header *scratch,
                                         size_t max_body);
/* Goes on with a body after HTTP_READ_BODY. */
struct http_read_result http_reader_body(struct http_reader *r, size_t max_body);

/* Bytes read and not used by the current request (a pipelined one). */
size_t http_reader_unread(const struct http_reader *r);
/* The current request is answered: forget it and move what follows to the
 * front of the buffer. */
void http_reader_next(struct http_reader *r);
/* Makes R ready for another request, of any connection: forgets what was
 * read and frees what the request allocated, keeping the callbacks and a
 * read buffer of at most the initial size (the connection's work goes back
 * to the server's free list with it). */
void http_reader_recycle(struct http_reader *r);
/* Drops whatever was read (the connection only lingers now). */
void http_reader_discard(struct http_reader *r);
void http_reader_free(struct http_reader *r);
