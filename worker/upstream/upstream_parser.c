/*
 * upstream_parser: strict HTTP/1.1 response heads (see upstream_parser.h).
 * Used by a worker's own upstream client on every plain-HTTP response; pure.
 *
 * Invariants: only CRLF ends a line; the status line is exactly
 * "HTTP/1.x SP 3DIGIT" then SP and a reason (or nothing); header fields
 * follow the same rules as requests (http_parser.c); the body length comes
 * from exactly one of a single Content-Length or "Transfer-Encoding:
 * chunked", and a response with neither is read until the upstream closes.
 */
#include "upstream_parser.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static int fail(struct upstream_head *h, int err, const char *why)
{
	h->error = why;
	return err;
}

int upstream_scan_head(struct http_scan *scan, const char *buf, size_t len, size_t *ret_end)
{
	size_t start;

	/* http_scan_head() skips empty lines before a request line; a response
	 * gets no such leniency: its first byte must start the status line. */
	if (len >= 1 && (buf[0] == '\r' || buf[0] == '\n'))
		return -EBADMSG;
	return http_scan_head(scan, buf, len, &start, ret_end);
}

/* "HTTP/1.x SP 3DIGIT [SP reason]" */
static int parse_status_line(struct upstream_head *h, const char *l, size_t len)
{
	if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ')
		return fail(h, -EBADMSG, "malformed status line");
	for (int i = 9; i < 12; i++)
		if (l[i] < '0' || l[i] > '9')
			return fail(h, -EBADMSG, "malformed status code");
	if (len > 12 && l[12] != ' ')
		return fail(h, -EBADMSG, "malformed status line");
	for (size_t i = 13; i < len; i++)
		if (!http_is_field_byte((unsigned char)l[i]))
			return fail(h, -EBADMSG, "invalid byte in the reason phrase");
	h->version_minor = l[7] == '0' ? 0 : 1;
	h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	if (h->status < 100 || h->status > 599)
		return fail(h, -EBADMSG, "status code out of range");
	return 0;
}

static int parse_length(struct upstream_head *h, const struct http_header *f)
{
	const char *why;
	int r = http_parse_length(f, &h->content_length, &why);

	return r < 0 ? fail(h, r, why) : 0;
}

static int check_framing(struct upstream_head *h)
{
	const struct http_header *cl = NULL, *te = NULL;
	bool close = false;

	for (size_t i = 0; i < h->n_headers; i++) {
		const struct http_header *f = &h->headers[i];

		if (http_header_name_is(f->name, f->name_len, "content-length")) {
			if (cl)
				return fail(h, -EBADMSG, "more than one Content-Length");
			cl = f;
		} else if (http_header_name_is(f->name, f->name_len, "transfer-encoding")) {
			if (te)
				return fail(h, -EBADMSG, "more than one Transfer-Encoding");
			te = f;
		} else if (http_header_name_is(f->name, f->name_len, "connection")) {
			close |= http_list_has(f->value, "close");
		}
	}
	h->keep_alive = h->version_minor >= 1 && !close;
	if (h->status < 200 || h->status == 204 || h->status == 304) {
		/* no body, whatever the headers say (RFC 9112 section 6.3) */
		h->body = UPSTREAM_BODY_NONE;
		return 0;
	}
	if (cl && te)
		return fail(h, -EBADMSG, "both Content-Length and Transfer-Encoding");
	if (te) {
		if (h->version_minor == 0)
			return fail(h, -EBADMSG, "Transfer-Encoding in an HTTP/1.0 response");
		if (strcasecmp(te->value, "chunked") != 0)
			return fail(h, -EBADMSG, "unsupported Transfer-Encoding");
		h->body = UPSTREAM_BODY_CHUNKED;
	} else if (cl) {
		int r = parse_length(h, cl);

		if (r < 0)
			return r;
		h->body = h->content_length ? UPSTREAM_BODY_LENGTH : UPSTREAM_BODY_NONE;
	} else {
		h->body = UPSTREAM_BODY_CLOSE;
		h->keep_alive = false;
	}
	return 0;
}

int upstream_parse_head(char *buf, size_t len, struct http_header *headers, size_t max_headers,
                        struct upstream_head *ret)
{
	char *p = buf, *end = buf + len, *line;
	size_t line_len;
	int r;

	*ret = (struct upstream_head){.headers = headers};
	if (memchr(buf, '\0', len))
		return fail(ret, -EBADMSG, "NUL byte in the response head");
	if (http_next_line(&p, end, &line, &line_len) < 0)
		return fail(ret, -EBADMSG, "bare CR or LF in the status line");
	r = parse_status_line(ret, line, line_len);
	if (r < 0)
		return r;
	r = http_parse_fields(p, end, headers, max_headers, &ret->n_headers, &ret->error);
	if (r < 0)
		return r;
	return check_framing(ret);
}
