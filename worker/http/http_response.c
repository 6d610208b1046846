/*
 * http_response: the wire format of a response (see http_response.h). Runs
 * in a worker, pure. A head is formatted by hand in one pass (no printf on
 * the path of every request) into room its caller reserved in the output
 * buffer, so that head and body leave in one write.
 *
 * Invariants: a head never holds CR, LF or NUL from a handler or an upstream
 * (header lines are checked on the way in, the content type here); it says
 * "Connection: close" whenever the connection will close after it.
 */
#include "http_response.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "http_header.h"

#define HEAD_FIXED   256                        /* status line, Server, framing, Connection */
#define OCTET_STREAM "application/octet-stream" /* for a content type that is not a value */

static const char *reason_phrase(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 422:
		return "Unprocessable Content";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "";
	}
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT_LITERAL(p, s) put(p, s, sizeof(s) - 1)

static char *put_str(char *p, const char *s)
{
	return put(p, s, strlen(s));
}

enum http_framing http_response_whole_framing(int status)
{
	return status == 204 || status == 304 || status < 200 ? HTTP_FRAMING_NONE
	                                                      : HTTP_FRAMING_LENGTH;
}

static const char *content_type(const struct http_response_head *h)
{
	if (h->content_type && !http_header_value_valid(h->content_type))
		return OCTET_STREAM;
	return h->content_type;
}

size_t http_response_head_max(const struct http_response_head *h)
{
	/* room for the type as given or its replacement: no second check */
	size_t type = h->content_type ? strlen(h->content_type) : 0;

	if (h->content_type && type < sizeof(OCTET_STREAM) - 1)
		type = sizeof(OCTET_STREAM) - 1;
	return HEAD_FIXED + strlen(reason_phrase(h->status)) + strlen(h->date) + h->lines_len +
	       (h->content_type ? type + 16 : 0);
}

size_t http_response_head_write(char *buf, const struct http_response_head *h)
{
	const char *type = content_type(h);
	int status = h->status < 100 || h->status > 999 ? 500 : h->status;
	char *p = buf;

	p = PUT_LITERAL(p, "HTTP/1.1 ");
	p = decimal_put(p, (uint64_t)status);
	*p++ = ' ';
	p = put_str(p, reason_phrase(h->status));
	p = PUT_LITERAL(p, "\r\nServer: llmgate\r\n");
	p = put_str(p, h->date);
	if (type && h->framing != HTTP_FRAMING_NONE) {
		p = PUT_LITERAL(p, "Content-Type: ");
		p = put_str(p, type);
		p = PUT_LITERAL(p, "\r\n");
	}
	if (h->framing == HTTP_FRAMING_LENGTH) {
		p = PUT_LITERAL(p, "Content-Length: ");
		p = decimal_put(p, h->length);
		p = PUT_LITERAL(p, "\r\n");
	} else if (h->framing == HTTP_FRAMING_CHUNKED) {
		p = PUT_LITERAL(p, "Transfer-Encoding: chunked\r\n");
	}
	if (!h->keep_alive)
		p = PUT_LITERAL(p, "Connection: close\r\n");
	else if (h->http10)
		p = PUT_LITERAL(p, "Connection: keep-alive\r\n");
	p = put(p, h->lines, h->lines_len);
	p = PUT_LITERAL(p, "\r\n");
	return (size_t)(p - buf);
}

void http_response_date(char buf[HTTP_RESPONSE_DATE_SIZE], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, HTTP_RESPONSE_DATE_SIZE, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
}

size_t http_response_chunk_line(char buf[HTTP_RESPONSE_CHUNK_LINE], size_t len)
{
	static const char hex[] = "0123456789abcdef";
	char digits[2 * sizeof(size_t)];
	size_t n = 0, i = 0;

	do
		digits[n++] = hex[len & 15];
	while ((len >>= 4) > 0);
	while (n > 0)
		buf[i++] = digits[--n];
	buf[i++] = '\r';
	buf[i++] = '\n';
	return i;
}

/* Room for NEED bytes in all: 0, -E2BIG or -ENOMEM. */
static int block_reserve(struct http_header_block *b, size_t need)
{
	if (need > HTTP_HEADER_BLOCK_MAX)
		return -E2BIG;
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 512;
		char *n;

		while (cap < need)
			cap *= 2;
		n = realloc(b->lines, cap);
		if (!n)
			return -ENOMEM;
		b->lines = n;
		b->cap = cap;
	}
	return 0;
}

int http_header_block_add(struct http_header_block *b, const char *name, const char *value)
{
	if (!http_header_name_valid(name))
		return -EINVAL;
	return http_header_block_add_known(b, name, strlen(name), value);
}

int http_header_block_add_known(struct http_header_block *b, const char *name, size_t nlen,
                                const char *value)
{
	size_t vlen = strlen(value);
	char *p;
	int r;

	if (!http_header_value_valid(value))
		return -EINVAL;
	r = block_reserve(b, b->len + nlen + vlen + 4);
	if (r < 0)
		return r;
	p = b->lines + b->len;
	p = put(p, name, nlen);
	p = PUT_LITERAL(p, ": ");
	p = put(p, value, vlen);
	p = PUT_LITERAL(p, "\r\n");
	b->len = (size_t)(p - b->lines);
	return 0;
}

int http_header_block_append(struct http_header_block *b, const char *lines, size_t len)
{
	int r = block_reserve(b, b->len + len);

	if (r < 0)
		return r;
	memcpy(b->lines + b->len, lines, len);
	b->len += len;
	return 0;
}

bool http_header_lines_valid(const char *lines, size_t len)
{
	const char *p = lines, *end = lines + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon;
		char name[128], value[HTTP_HEADER_BLOCK_MAX];
		size_t nlen, vlen;

		if (!eol || eol == p || eol[-1] != '\r')
			return false;
		colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon + 1 >= eol - 1 || colon[1] != ' ')
			return false;
		nlen = (size_t)(colon - p);
		vlen = (size_t)(eol - 1 - (colon + 2));
		if (nlen >= sizeof(name) || vlen >= sizeof(value))
			return false;
		memcpy(name, p, nlen);
		name[nlen] = '\0';
		memcpy(value, colon + 2, vlen);
		value[vlen] = '\0';
		if (!http_header_name_valid(name) || !http_header_value_valid(value) ||
		    http_header_is_own(name, HTTP_OWN_RESPONSE))
			return false;
		p = eol + 1;
	}
	return true;
}

void http_header_block_free(struct http_header_block *b)
{
	free(b->lines);
	*b = (struct http_header_block){0};
}
