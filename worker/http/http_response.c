/*
 * http_response: the response side of an exchange (see http_server.h and
 * http_conn.h). Runs in a worker. A head is formatted by hand straight into
 * the connection's output buffer, with the Date line remade at most once a
 * second; a whole response (head and body) is queued before the one write
 * that sends it; streamed data is gathered until the event that produced it
 * is handled, then framed as one chunk and written at once.
 *
 * Invariants: response headers never hold CR, LF or NUL (no injection from
 * a handler or an upstream); a response says "Connection: close" whenever
 * the connection will close after it; a streamed response that fails ends
 * without its last chunk, so the client cannot take it for complete.
 */
#include "http_conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "openai_error.h"
#include "request_id.h"

#define MAX_EXTRA_HEADERS 16384 /* bytes of handler-added header lines */
#define HEAD_FIXED        256   /* status line, Server, framing, Connection */

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

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
			return false;
	return true;
}

static bool valid_value(const char *s)
{
	for (; *s; s++)
		if (*s == '\r' || *s == '\n' || (unsigned char)*s == 0x7f ||
		    ((unsigned char)*s < 0x20 && *s != '\t'))
			return false;
	return true;
}

static const char *date_line(struct http_server *srv)
{
	struct timeval tv;

	if (event_base_gettimeofday_cached(srv->base, &tv) < 0)
		gettimeofday(&tv, NULL);
	if (tv.tv_sec != srv->date_sec) {
		time_t t = tv.tv_sec;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(srv->date, sizeof(srv->date), "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
		srv->date_sec = tv.tv_sec;
	}
	return srv->date;
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

static char *put_uint(char *p, unsigned long long v)
{
	char digits[24];
	size_t n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	while (n > 0)
		*p++ = digits[--n];
	return p;
}

enum framing {
	FRAMING_LENGTH,  /* Content-Length */
	FRAMING_CHUNKED, /* Transfer-Encoding: chunked */
	FRAMING_CLOSE,   /* ends when the connection closes (HTTP/1.0 stream) */
	FRAMING_NONE,    /* 204, 304: no body at all */
};

/* Queues the head of a response into the output buffer. */
static int write_head(struct http_exchange *ex, int status, const char *content_type,
                      enum framing framing, size_t length)
{
	struct http_conn *c = ex->conn;
	bool keep = c->head.keep_alive && !c->close_after && !c->srv->draining &&
	            framing != FRAMING_CLOSE;
	const char *reason = reason_phrase(status);
	const char *date = date_line(c->srv);
	struct evbuffer_iovec vec;
	size_t need;
	char *p;

	if (status < 100 || status > 999)
		status = 500;
	if (content_type && !valid_value(content_type))
		content_type = "application/octet-stream";
	need = HEAD_FIXED + strlen(reason) + strlen(date) + ex->headers_len +
	       (content_type ? strlen(content_type) + 16 : 0);
	if (evbuffer_reserve_space(c->out, (ev_ssize_t)need, &vec, 1) != 1)
		return -ENOMEM;
	p = vec.iov_base;
	p = PUT_LITERAL(p, "HTTP/1.1 ");
	p = put_uint(p, (unsigned)status);
	*p++ = ' ';
	p = put_str(p, reason);
	p = PUT_LITERAL(p, "\r\nServer: llmgate\r\n");
	p = put_str(p, date);
	if (content_type && framing != FRAMING_NONE) {
		p = PUT_LITERAL(p, "Content-Type: ");
		p = put_str(p, content_type);
		p = PUT_LITERAL(p, "\r\n");
	}
	if (framing == FRAMING_LENGTH) {
		p = PUT_LITERAL(p, "Content-Length: ");
		p = put_uint(p, length);
		p = PUT_LITERAL(p, "\r\n");
	} else if (framing == FRAMING_CHUNKED) {
		p = PUT_LITERAL(p, "Transfer-Encoding: chunked\r\n");
	}
	if (!keep)
		p = PUT_LITERAL(p, "Connection: close\r\n");
	else if (c->head.version_minor == 0)
		p = PUT_LITERAL(p, "Connection: keep-alive\r\n");
	p = put(p, ex->headers, ex->headers_len);
	p = PUT_LITERAL(p, "\r\n");
	vec.iov_len = (size_t)(p - (char *)vec.iov_base);
	evbuffer_commit_space(c->out, &vec, 1);
	if (!keep)
		c->close_after = true;
	return 0;
}

void http_response_reset(struct http_exchange *ex)
{
	ex->state = HTTP_EXCHANGE_OPEN;
	ex->cb = (struct http_exchange_callbacks){0};
	ex->cb_ctx = NULL;
	ex->headers_len = 0;
	ex->chunked = false;
	ex->over_high = false;
	ex->head_only = strcmp(ex->conn->head.method, "HEAD") == 0;
}

void http_response_conn_lost(struct http_exchange *ex)
{
	if (ex->state == HTTP_EXCHANGE_DONE)
		return;
	ex->state = HTTP_EXCHANGE_DONE;
	if (ex->cb.on_abort)
		ex->cb.on_abort(ex->cb_ctx);
}

void http_exchange_set_callbacks(struct http_exchange *ex, const struct http_exchange_callbacks *cb,
                                 void *ctx)
{
	ex->cb = cb ? *cb : (struct http_exchange_callbacks){0};
	ex->cb_ctx = ctx;
}

static int add_header_line(struct http_exchange *ex, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value), need;

	if (!valid_name(name) || !valid_value(value))
		return -EINVAL;
	need = ex->headers_len + nlen + vlen + 4;
	if (need > MAX_EXTRA_HEADERS)
		return -E2BIG;
	if (need > ex->headers_cap) {
		size_t cap = ex->headers_cap ? ex->headers_cap * 2 : 512;
		char *n;

		while (cap < need)
			cap *= 2;
		n = realloc(ex->headers, cap);
		if (!n)
			return -ENOMEM;
		ex->headers = n;
		ex->headers_cap = cap;
	}
	char *p = ex->headers + ex->headers_len;
	p = put(p, name, nlen);
	p = PUT_LITERAL(p, ": ");
	p = put(p, value, vlen);
	p = PUT_LITERAL(p, "\r\n");
	ex->headers_len = (size_t)(p - ex->headers);
	return 0;
}

int http_exchange_add_header(struct http_exchange *ex, const char *name, const char *value)
{
	static const char *const reserved[] = {"content-length", "transfer-encoding",
	                                       "connection",     "content-type",
	                                       "date",           "server"};

	if (ex->state != HTTP_EXCHANGE_OPEN)
		return -EINVAL;
	/* framing and the fixed headers are the server's own */
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcasecmp(name, reserved[i]) == 0)
			return -EINVAL;
	return add_header_line(ex, name, value);
}

static enum framing whole_framing(int status)
{
	return status == 204 || status == 304 || status < 200 ? FRAMING_NONE : FRAMING_LENGTH;
}

/* Ends the exchange after its last bytes are queued. */
static int finish(struct http_conn *c)
{
	http_conn_flush(c);
	http_conn_exchange_done(c);
	return c->failed ? -EPIPE : 0;
}

/* A whole response in one write; the body is either BODY/LEN (copied) or
 * BUF (moved, and left empty). */
static int send_whole(struct http_exchange *ex, int status, const char *content_type,
                      const void *body, size_t len, struct evbuffer *buf)
{
	struct http_conn *c = ex->conn;
	enum framing framing = whole_framing(status);
	int r;

	if (ex->state != HTTP_EXCHANGE_OPEN)
		return -EINVAL;
	ex->state = HTTP_EXCHANGE_DONE;
	if (c->failed) {
		http_conn_exchange_done(c);
		return -EPIPE;
	}
	r = write_head(ex, status, content_type, framing, len);
	if (r == 0 && len > 0 && !ex->head_only && framing == FRAMING_LENGTH &&
	    (buf ? evbuffer_add_buffer(c->out, buf) : evbuffer_add(c->out, body, len)) < 0)
		r = -ENOMEM;
	if (buf)
		evbuffer_drain(buf, evbuffer_get_length(buf));
	if (r < 0)
		c->failed = true;
	int f = finish(c);
	return r < 0 ? r : f;
}

int http_exchange_send(struct http_exchange *ex, int status, const char *content_type,
                       const void *body, size_t len)
{
	return send_whole(ex, status, content_type, body, len, NULL);
}

int http_exchange_send_buffer(struct http_exchange *ex, int status, const char *content_type,
                              struct evbuffer *body)
{
	return send_whole(ex, status, content_type, NULL, evbuffer_get_length(body), body);
}

int http_exchange_stream_start(struct http_exchange *ex, int status, const char *content_type)
{
	struct http_conn *c = ex->conn;
	int r;

	if (ex->state != HTTP_EXCHANGE_OPEN)
		return -EINVAL;
	ex->state = HTTP_EXCHANGE_STREAMING;
	ex->chunked = c->head.version_minor >= 1;
	if (c->failed)
		return -EPIPE;
	if (ex->chunked && !ex->chunk && !(ex->chunk = evbuffer_new())) {
		c->failed = true;
		http_conn_wake(c);
		return -ENOMEM;
	}
	r = write_head(ex, status, content_type, ex->chunked ? FRAMING_CHUNKED : FRAMING_CLOSE, 0);
	if (r < 0) {
		c->failed = true;
		http_conn_wake(c);
	}
	/* the head leaves with the first chunk: one write for both */
	return r;
}

int http_exchange_stream_write(struct http_exchange *ex, const void *data, size_t len)
{
	struct http_conn *c = ex->conn;
	int r;

	if (ex->state != HTTP_EXCHANGE_STREAMING)
		return -EINVAL;
	if (c->failed)
		return -EPIPE;
	if (len == 0 || ex->head_only)
		return 0; /* an empty chunk would end the body */
	r = evbuffer_add(ex->chunked ? ex->chunk : c->out, data, len);
	if (r < 0) {
		c->failed = true;
		http_conn_wake(c);
		return -ENOMEM;
	}
	if (http_exchange_pending(ex) > HTTP_EXCHANGE_HIGH_WATERMARK)
		ex->over_high = true; /* on_writable is owed once it drains */
	/* Written from the loop once the current event is handled: what one
	 * upstream read delivers (curl hands it over piece by piece) leaves as
	 * one chunk in one write. */
	if (!c->flush_due) {
		c->flush_due = true;
		http_conn_wake(c);
	}
	return 0;
}

void http_response_seal(struct http_exchange *ex)
{
	size_t len = ex->chunk ? evbuffer_get_length(ex->chunk) : 0;
	struct http_conn *c = ex->conn;
	char size[24];
	int n;

	if (len == 0)
		return;
	n = snprintf(size, sizeof(size), "%zx\r\n", len);
	if (evbuffer_add(c->out, size, (size_t)n) < 0 ||
	    evbuffer_add_buffer(c->out, ex->chunk) < 0 || evbuffer_add(c->out, "\r\n", 2) < 0)
		c->failed = true;
}

int http_exchange_stream_end(struct http_exchange *ex)
{
	struct http_conn *c = ex->conn;

	if (ex->state != HTTP_EXCHANGE_STREAMING)
		return -EINVAL;
	ex->state = HTTP_EXCHANGE_DONE;
	if (c->failed) {
		http_conn_exchange_done(c);
		return -EPIPE;
	}
	if (!ex->chunked) {
		c->close_after = true; /* the close is the end */
	} else if (!ex->head_only) {
		http_response_seal(ex);
		if (evbuffer_add(c->out, "0\r\n\r\n", 5) < 0)
			c->failed = true;
	}
	return finish(c);
}

void http_exchange_abort(struct http_exchange *ex)
{
	struct http_conn *c = ex->conn;
	enum http_exchange_state was = ex->state;

	if (was == HTTP_EXCHANGE_DONE)
		return;
	ex->state = HTTP_EXCHANGE_DONE;
	c->close_after = true;
	if (was == HTTP_EXCHANGE_OPEN && !c->failed) {
		(void)http_response_error(c, 500, "server_error", "internal_error",
		                          "the request failed", NULL);
		return;
	}
	(void)finish(c);
}

size_t http_exchange_pending(const struct http_exchange *ex)
{
	return evbuffer_get_length(ex->conn->out) +
	       (ex->chunk ? evbuffer_get_length(ex->chunk) : 0);
}

size_t http_response_error(struct http_conn *c, int status, const char *type, const char *code,
                           const char *message, const char *id)
{
	struct http_exchange *ex = &c->ex;
	char body[512], new_id[REQUEST_ID_MAX + 1];
	size_t n;

	n = openai_error_format(body, sizeof(body), type, code, message);
	if (n >= sizeof(body))
		n = openai_error_format(body, sizeof(body), "server_error", NULL, "error");
	c->close_after = true;
	c->state = HTTP_CONN_FLUSH;
	ex->state = HTTP_EXCHANGE_DONE;
	ex->head_only = false;
	ex->headers_len = 0;
	if (!id) {
		request_id_generate(new_id);
		id = new_id;
	}
	(void)add_header_line(ex, "x-request-id", id);
	if (write_head(ex, status, "application/json", FRAMING_LENGTH, n) < 0 ||
	    evbuffer_add(c->out, body, n) < 0)
		c->failed = true;
	(void)finish(c);
	return n;
}

void http_response_continue(struct http_conn *c)
{
	if (evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
		c->failed = true;
	http_conn_flush(c);
}
