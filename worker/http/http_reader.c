/*
 * http_reader: the input side of a connection (see http_reader.h). Runs in
 * a worker. Reads land in one flat buffer; a head is found there
 * incrementally and parsed in place; a body that came with its head is used
 * where it lies (the usual case: no copy), a longer one is read straight
 * into a buffer of its Content-Length, a chunked one decoded into a buffer
 * that grows up to the limit. What follows a request (a pipelined one) is
 * kept for the next step. An upload's body that did not come with its head
 * is spooled to a file instead (http_reader_spool.c).
 */
#include "http_reader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"

#define RBUF_INITIAL  4096
#define RBUF_SLACK    4096 /* room kept after a head: body bytes, the next request */
#define RBUF_MIN_ROOM 1024 /* less room than this after a head: grow by RBUF_SLACK */
#define RBUF_MAX      (HTTP_SERVER_MAX_HEAD + RBUF_SLACK)
#define HEADERS_STEP  8  /* the header array grows by this many entries */
#define HEADERS_KEPT  32 /* at most this many are kept once pooled (an SDK sends ~15) */

static struct http_read_result reject(enum http_reject reason, const char *message, bool have_head)
{
	return (struct http_read_result){
	        .what = HTTP_READ_REJECT,
	        .reason = reason,
	        .message = message,
	        .have_head = have_head,
	};
}

static const struct http_read_result request = {.what = HTTP_READ_REQUEST};
static const struct http_read_result more = {.what = HTTP_READ_MORE};

char *http_reader_room(struct http_reader *r, enum http_reader_phase phase, size_t *ret_room)
{
	if (phase == HTTP_READER_BODY && r->spooled && r->head.body == HTTP_BODY_LENGTH)
		return http_reader_spool_room(r, ret_room);
	if (phase == HTTP_READER_BODY && r->body_direct) {
		*ret_room = (size_t)(r->body_want - r->body_len);
		return r->body + r->body_len;
	}
	if (r->rlen == r->rcap && phase == HTTP_READER_HEAD && r->rcap < RBUF_MAX) {
		/* no request points into rbuf while a head is being read: it may move */
		size_t cap = r->rcap ? r->rcap * 2 : RBUF_INITIAL;
		char *n = realloc(r->rbuf, cap < RBUF_MAX ? cap : RBUF_MAX);

		if (!n)
			return NULL;
		r->rbuf = n;
		r->rcap = cap < RBUF_MAX ? cap : RBUF_MAX;
	}
	*ret_room = r->rcap - r->rlen;
	return *ret_room ? r->rbuf + r->rlen : NULL;
}

void http_reader_got(struct http_reader *r, enum http_reader_phase phase, size_t n)
{
	if (phase == HTTP_READER_BODY && r->spooled && r->head.body == HTTP_BODY_LENGTH)
		http_reader_spool_got(r, n);
	else if (phase == HTTP_READER_BODY && r->body_direct)
		r->body_len += n;
	else
		r->rlen += n;
}

/* Starts the body after a parsed head. */
static struct http_read_result begin_body(struct http_reader *r, size_t max_body)
{
	const struct http_head *h = &r->head;
	size_t avail = r->rlen - r->head_end;

	r->body = NULL;
	r->body_len = r->body_cap = 0;
	if (h->body == HTTP_BODY_NONE) {
		r->consumed = r->head_end;
		return request;
	}
	if (h->body == HTTP_BODY_LENGTH && h->content_length > max_body)
		return reject(HTTP_REJECT_BODY_TOO_LARGE, "the request body is over the limit",
		              true);
	if (h->body == HTTP_BODY_LENGTH && avail >= h->content_length) {
		r->body = r->rbuf + r->head_end; /* the usual case: it came with the head */
		r->body_len = (size_t)h->content_length;
		r->body_in_rbuf = true;
		r->consumed = r->head_end + r->body_len;
		return request;
	}
	if (r->body_spool && r->body_spool(r->body_limit_ctx, h->path, h->path_len)) {
		if (!http_reader_spool_begin(r, avail) || r->spool_err)
			return reject(HTTP_REJECT_SPOOL_FAILED, "cannot store the request body",
			              true);
	} else if (h->body == HTTP_BODY_LENGTH) {
		r->body_want = h->content_length;
		r->body_cap = (size_t)h->content_length;
		r->body = malloc(r->body_cap);
		if (!r->body)
			return reject(HTTP_REJECT_OUT_OF_MEMORY, "out of memory", true);
		memcpy(r->body, r->rbuf + r->head_end, avail);
		r->body_len = avail;
		r->rlen = r->head_end;
		r->body_direct = true;
	} else {
		http_chunked_init(&r->chunked);
	}
	return (struct http_read_result){
	        .what = HTTP_READ_BODY,
	        .send_continue = h->expect_continue && avail == 0 && h->version_minor >= 1,
	};
}

struct http_read_result http_reader_head(struct http_reader *r, struct http_header *scratch,
                                         size_t max_body)
{
	size_t start, end;
	int e;

	e = http_scan_head(&r->scan, r->rbuf, r->rlen, &start, &end);
	if (e == -EAGAIN && r->rlen < HTTP_SERVER_MAX_HEAD)
		return more;
	if (e == -EAGAIN || (e == 0 && end > HTTP_SERVER_MAX_HEAD))
		return reject(HTTP_REJECT_HEAD_TOO_LARGE, "the request head is too large", false);
	if (e < 0)
		return reject(HTTP_REJECT_MALFORMED, "bare CR or LF in the request head", false);
	if (r->rcap < end + RBUF_MIN_ROOM) {
		/* grow now: once parsed, the request points into rbuf (a usual
		 * head and body leave more than enough room in the first 4 KiB:
		 * no realloc, no copy) */
		char *n = realloc(r->rbuf, end + RBUF_SLACK);

		if (!n)
			return reject(HTTP_REJECT_OUT_OF_MEMORY, "out of memory", false);
		r->rbuf = n;
		r->rcap = end + RBUF_SLACK;
	}
	e = http_parse_head(r->rbuf + start, end - start, scratch, HTTP_PARSER_MAX_HEADERS,
	                    &r->head);
	if (e < 0)
		return reject(http_reject_of_status(http_parser_status(e)),
		              r->head.error ? r->head.error : "malformed request", false);
	if (r->head.n_headers > r->headers_cap) {
		size_t cap = (r->head.n_headers + HEADERS_STEP - 1) / HEADERS_STEP * HEADERS_STEP;

		free(r->headers);
		r->headers_cap = 0;
		r->headers = malloc(cap * sizeof(*r->headers));
		if (!r->headers)
			return reject(HTTP_REJECT_OUT_OF_MEMORY, "out of memory", true);
		r->headers_cap = cap;
	}
	if (r->head.n_headers)
		memcpy(r->headers, r->head.headers, r->head.n_headers * sizeof(*r->headers));
	r->head.headers = r->headers;
	r->head_end = end;
	r->max_body = r->body_limit ? r->body_limit(r->body_limit_ctx, r->head.path,
	                                            r->head.path_len, max_body)
	                            : max_body;
	return begin_body(r, r->max_body);
}

/* Chunked: decodes what rbuf holds after the head. */
static struct http_read_result read_chunked(struct http_reader *r, size_t max)
{
	const char *in = r->rbuf + r->head_end;
	size_t in_len = r->rlen - r->head_end;

	while (in_len > 0) {
		size_t used, made, want = r->body_len + in_len;
		int e;

		if (want > max)
			want = max;
		if (r->body_cap < want) {
			size_t cap = r->body_cap * 2 > want ? r->body_cap * 2 : want;
			char *n;

			if (cap > max)
				cap = max;
			n = realloc(r->body, cap ? cap : 1);
			if (!n)
				return reject(HTTP_REJECT_OUT_OF_MEMORY, "out of memory", true);
			r->body = n;
			r->body_cap = cap;
		}
		e = http_chunked_decode(&r->chunked, in, in_len, &used, r->body + r->body_len,
		                        r->body_cap - r->body_len, &made);
		r->body_len += made;
		in += used;
		in_len -= used;
		if (e == -ENOBUFS && r->body_cap >= max)
			return reject(HTTP_REJECT_BODY_TOO_LARGE,
			              "the request body is over the limit", true);
		if (e == -EBADMSG)
			return reject(HTTP_REJECT_MALFORMED, "malformed chunked body", true);
		if (e == 0) {
			/* keep what follows (a pipelined request) right after the head */
			memmove(r->rbuf + r->head_end, in, in_len);
			r->rlen = r->head_end + in_len;
			r->consumed = r->head_end;
			return request;
		}
	}
	r->rlen = r->head_end;
	return more;
}

/* A spooled body's step. */
static struct http_read_result spool_step(struct http_reader *r, size_t max)
{
	int e = 0;

	if (r->head.body == HTTP_BODY_CHUNKED)
		e = http_reader_spool_chunked(r, max);
	else if (r->body_len < r->body_want && !r->spool_err)
		return more;
	if (e == -EAGAIN)
		return more;
	if (e == -E2BIG)
		return reject(HTTP_REJECT_BODY_TOO_LARGE, "the request body is over the limit",
		              true);
	if (e == -EBADMSG)
		return reject(HTTP_REJECT_MALFORMED, "malformed chunked body", true);
	if (r->spool_err)
		return reject(HTTP_REJECT_SPOOL_FAILED, "cannot store the request body", true);
	r->consumed = r->head_end;
	return request;
}

struct http_read_result http_reader_body(struct http_reader *r, size_t max_body)
{
	if (r->spooled)
		return spool_step(r, r->max_body ? r->max_body : max_body);
	if (r->head.body == HTTP_BODY_CHUNKED)
		return read_chunked(r, r->max_body ? r->max_body : max_body);
	if (r->body_len < r->body_want)
		return more;
	r->body_direct = false;
	r->consumed = r->head_end;
	return request;
}

size_t http_reader_unread(const struct http_reader *r)
{
	return r->rlen > r->consumed ? r->rlen - r->consumed : 0;
}

void http_reader_next(struct http_reader *r)
{
	http_reader_spool_end(r);
	if (!r->body_in_rbuf)
		free(r->body);
	r->body = NULL;
	r->body_len = r->body_cap = 0;
	r->body_in_rbuf = false;
	r->head.headers = NULL;
	r->head.n_headers = 0;
	if (r->consumed < r->rlen)
		memmove(r->rbuf, r->rbuf + r->consumed, r->rlen - r->consumed);
	r->rlen -= r->consumed;
	r->consumed = 0;
	r->scan = (struct http_scan){0};
}

void http_reader_recycle(struct http_reader *r)
{
	http_reader_spool_end(r);
	if (!r->body_in_rbuf)
		free(r->body);
	if (r->headers_cap > HEADERS_KEPT) {
		/* a head with many headers grew it: not kept either */
		free(r->headers);
		r->headers = NULL;
		r->headers_cap = 0;
	}
	if (r->rcap > RBUF_INITIAL) {
		/* a large head grew it: not kept for the next request */
		free(r->rbuf);
		r->rbuf = NULL;
		r->rcap = 0;
	}
	/* what a head and its body set; the rest is set before it is read */
	r->rlen = r->consumed = r->head_end = 0;
	r->scan = (struct http_scan){0};
	r->head.headers = NULL;
	r->head.n_headers = 0;
	r->body = NULL;
	r->body_len = r->body_cap = 0;
	r->body_want = 0;
	r->spool_err = 0;
	r->body_direct = r->body_in_rbuf = false;
}

void http_reader_discard(struct http_reader *r)
{
	r->rlen = r->consumed = 0;
}

void http_reader_free(struct http_reader *r)
{
	http_reader_spool_end(r);
	if (!r->body_in_rbuf)
		free(r->body);
	free(r->rbuf);
	free(r->headers);
	*r = (struct http_reader){0};
}
