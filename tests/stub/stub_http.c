/*
 * stub_http: a minimal HTTP/1.1 server on libevent bufferevents, run by the test stub only.
 *
 * Why not evhttp: the stub misbehaves on purpose (RST a connection, send a head and then
 * nothing, never answer) and must notice a client that leaves in the middle of a response.
 * Owning the connection makes each of these a few lines, and keeps the hot path free of
 * per-header allocations for benchmarks.
 *
 * Invariants: a connection serves one request at a time; pipelined requests wait in the input
 * buffer. Between the request callback and stub_http_end()/stub_http_abort() the response belongs
 * to the handler. A connection never frees itself inside a call from the handler: ending and
 * aborting only change the state, and the write callback (deferred when nothing is left to
 * write) finishes the job.
 *
 * Writes on plain sockets skip the bufferevent's write event: whatever the handler added goes
 * out with one writev from a deferred write callback, and EV_WRITE is enabled only while the
 * kernel's buffer is full. That saves two epoll_ctl per response and per stream event, which
 * matters for the benchmarks, where the stub must cost much less than the proxy in front of it.
 * Other bufferevents (TLS) write as usual.
 */
#include "stub_http.h"

#include "stub_parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HTTP_MAX_HEAD    (64 * 1024)
#define HTTP_MAX_HEADERS 100
#define HTTP_MAX_BODY    (64LL * 1024 * 1024)
#define HTTP_MAX_LINE    1024 /* chunk-size and trailer lines */
#define HTTP_READ_HIGH   (1024 * 1024)
/* bufferevent_openssl reserves room for up to the high watermark at every read: a 1 MiB
 * allocation (and heap trim) per read would be most of a TLS request's cost. */
#define HTTP_TLS_READ_HIGH (4 * 1024)

enum conn_state {
	CONN_HEAD,        /* waiting for a request head */
	CONN_BODY,        /* Content-Length body */
	CONN_CHUNK_SIZE,  /* chunked body: size line */
	CONN_CHUNK_DATA,  /* chunked body: data */
	CONN_CHUNK_END,   /* chunked body: CRLF after the data */
	CONN_TRAILER,     /* chunked body: trailer lines */
	CONN_HANDLER,     /* the handler owns the response */
	CONN_FLUSH_END,   /* response complete, output draining */
	CONN_FLUSH_RESET, /* output draining, then RST */
};

struct stub_http {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *accept_retry;
	struct stub_http_handlers handlers;
	void *arg;
	stub_http_bufferevent_fn bev_fn; /* NULL: plain sockets */
	void *bev_arg;
	struct stub_http_conn *conns;
	struct stub_http_stats stats;
	unsigned long long next_id;
	time_t date_time;
	char date[64];
};

struct stub_http_conn {
	struct stub_http *http;
	struct stub_http_conn *prev, *next;
	struct bufferevent *bev;
	enum conn_state state;
	char *head;
	size_t head_cap;
	struct stub_http_header headers[HTTP_MAX_HEADERS];
	struct stub_http_request req;
	struct evbuffer *body;
	long long body_left;
	bool http10;
	bool keep_alive; /* for the current request */
	bool chunked;    /* the current response uses chunked encoding */
	bool direct;     /* plain socket: conn_write_cb writes the output itself */
	void *ctx;
};

static const char *http_date(struct stub_http *http)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now != http->date_time && gmtime_r(&now, &tm)) {
		strftime(http->date, sizeof(http->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		http->date_time = now;
	}
	return http->date;
}

static void conn_free(struct stub_http_conn *conn)
{
	struct stub_http *http = conn->http;

	if (conn->prev)
		conn->prev->next = conn->next;
	else
		http->conns = conn->next;
	if (conn->next)
		conn->next->prev = conn->prev;
	http->stats.open--;
	bufferevent_free(conn->bev);
	evbuffer_free(conn->body);
	free(conn->head);
	free(conn);
}

/* SO_LINGER {1, 0} turns the close into a RST, discarding whatever is still unsent. */
static void conn_reset(struct stub_http_conn *conn)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	(void)setsockopt(bufferevent_getfd(conn->bev), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_free(conn);
}

/* Calls the write callback from the loop when nothing is left to write, or (direct) always:
 * it writes the output first. Several kicks in one pass make one call. */
static void conn_kick(struct stub_http_conn *conn)
{
	if (conn->direct || evbuffer_get_length(bufferevent_get_output(conn->bev)) == 0)
		bufferevent_trigger(conn->bev, EV_WRITE,
		                    BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
}

/* Direct: writes what it can; true when the output is empty. Otherwise the bufferevent writes
 * the rest (or reports the error) and calls the write callback again once it drained. */
static bool conn_flush(struct stub_http_conn *conn)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	if (evbuffer_get_length(out)) {
		/* A socket bufferevent freezes the start of its output against draining. */
		evbuffer_unfreeze(out, 1);
		(void)evbuffer_write(out, bufferevent_getfd(conn->bev));
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out)) {
		bufferevent_enable(conn->bev, EV_WRITE);
		return false;
	}
	if (bufferevent_get_enabled(conn->bev) & EV_WRITE)
		bufferevent_disable(conn->bev, EV_WRITE);
	return true;
}

/* An error the stub detects in the request itself: answer and close. */
static void conn_fail(struct stub_http_conn *conn, int status, const char *message)
{
	char body[256];
	int n;

	n = snprintf(body, sizeof(body),
	             "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\","
	             "\"param\":null,\"code\":null}}",
	             message);
	conn->keep_alive = false;
	conn->state = CONN_HANDLER;
	stub_http_respond(conn, status, "application/json", NULL, body, (size_t)n);
}

/* Parses the head in conn->head; returns 0 or the HTTP status to fail with. */
static int conn_parse_head(struct stub_http_conn *conn)
{
	struct stub_parse_head h;
	int r = stub_parse_head(conn->head, &conn->req, conn->headers, HTTP_MAX_HEADERS,
	                        HTTP_MAX_BODY, &h);

	if (r)
		return r;
	conn->http10 = h.http10;
	conn->keep_alive = h.keep_alive;
	if (h.chunked)
		conn->state = CONN_CHUNK_SIZE;
	else if (h.content_length > 0)
		conn->state = CONN_BODY;
	else
		conn->state = CONN_HANDLER;
	conn->body_left = h.content_length > 0 ? h.content_length : 0;
	if (conn->state != CONN_HANDLER && h.expect_continue && !h.http10) {
		bufferevent_write(conn->bev, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		conn_kick(conn);
	}
	return 0;
}

/* Returns 1 when the head was read, 0 when more input is needed, or an HTTP status. */
static int conn_read_head(struct stub_http_conn *conn, struct evbuffer *in)
{
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	size_t len;
	int status;

	if (end.pos < 0) {
		/* Tolerate stray CRLFs between requests (RFC 9112, 2.2). */
		while (evbuffer_get_length(in) >= 2) {
			unsigned char two[2];

			evbuffer_copyout(in, two, 2);
			if (two[0] != '\r' || two[1] != '\n')
				break;
			evbuffer_drain(in, 2);
		}
		return evbuffer_get_length(in) > HTTP_MAX_HEAD ? 431 : 0;
	}
	len = (size_t)end.pos + 4;
	if (len > HTTP_MAX_HEAD)
		return 431;
	if (len + 1 > conn->head_cap) {
		size_t cap = len + 1 < 1024 ? 1024 : len + 1;
		char *head = realloc(conn->head, cap);

		if (!head)
			return 500;
		conn->head = head;
		conn->head_cap = cap;
	}
	evbuffer_remove(in, conn->head, len);
	conn->head[len] = '\0';
	if (memchr(conn->head, '\0', len))
		return 400;
	status = conn_parse_head(conn);
	return status ? status : 1;
}

static int conn_read_chunk_line(struct stub_http_conn *conn, struct evbuffer *in)
{
	size_t n;
	char *line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	unsigned long long size;

	if (!line)
		return evbuffer_get_length(in) > HTTP_MAX_LINE ? 400 : 0;
	if (conn->state == CONN_TRAILER) {
		free(line);
		if (n == 0)
			conn->state = CONN_HANDLER;
		return 1;
	}
	if (stub_parse_chunk_size(line, &size) < 0) {
		free(line);
		return 400;
	}
	free(line);
	if (size > (unsigned long long)(HTTP_MAX_BODY - (long long)evbuffer_get_length(conn->body)))
		return 413;
	conn->body_left = (long long)size;
	conn->state = size ? CONN_CHUNK_DATA : CONN_TRAILER;
	return 1;
}

static int conn_read_data(struct stub_http_conn *conn, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in);
	size_t n = (long long)avail < conn->body_left ? avail : (size_t)conn->body_left;

	if (n == 0)
		return 0;
	evbuffer_remove_buffer(in, conn->body, n);
	conn->body_left -= (long long)n;
	if (conn->body_left == 0)
		conn->state = conn->state == CONN_BODY ? CONN_HANDLER : CONN_CHUNK_END;
	return 1;
}

static int conn_read_chunk_end(struct stub_http_conn *conn, struct evbuffer *in)
{
	unsigned char two[2];

	if (evbuffer_get_length(in) < 2)
		return 0;
	evbuffer_remove(in, two, 2);
	if (two[0] != '\r' || two[1] != '\n')
		return 400;
	conn->state = CONN_CHUNK_SIZE;
	return 1;
}

static void conn_dispatch(struct stub_http_conn *conn)
{
	evbuffer_add(conn->body, "", 1);
	conn->req.body_len = evbuffer_get_length(conn->body) - 1;
	conn->req.body = (const char *)evbuffer_pullup(conn->body, -1);
	if (!conn->req.body) {
		conn_fail(conn, 500, "out of memory");
		return;
	}
	conn->http->handlers.request(conn, &conn->req, conn->http->arg);
}

/* Reads requests while the connection is between responses. */
static void conn_process(struct stub_http_conn *conn)
{
	struct evbuffer *in = bufferevent_get_input(conn->bev);

	for (;;) {
		int r;

		switch (conn->state) {
		case CONN_HEAD:
			r = conn_read_head(conn, in);
			break;
		case CONN_BODY:
		case CONN_CHUNK_DATA:
			r = conn_read_data(conn, in);
			break;
		case CONN_CHUNK_SIZE:
		case CONN_TRAILER:
			r = conn_read_chunk_line(conn, in);
			break;
		case CONN_CHUNK_END:
			r = conn_read_chunk_end(conn, in);
			break;
		default:
			return;
		}
		if (r == 0)
			return;
		if (r > 1) {
			conn_fail(conn, r,
			          r == 413   ? "request body too large"
			          : r == 431 ? "request header too large"
			          : r == 501 ? "transfer-encoding not implemented"
			                     : "malformed HTTP request");
			return;
		}
		if (conn->state == CONN_HANDLER)
			conn_dispatch(conn);
	}
}

static void conn_finish(struct stub_http_conn *conn)
{
	unsigned long long id = conn->req.conn_id;

	if (!conn->keep_alive) {
		conn_free(conn);
		return;
	}
	evbuffer_drain(conn->body, evbuffer_get_length(conn->body));
	memset(&conn->req, 0, sizeof(conn->req));
	conn->req.conn_id = id;
	conn->state = CONN_HEAD;
	conn_process(conn);
}

static void conn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_process(arg);
}

static void conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct stub_http_conn *conn = arg;

	(void)bev;
	if (conn->direct && !conn_flush(conn))
		return;
	switch (conn->state) {
	case CONN_HANDLER:
		if (conn->http->handlers.drained)
			conn->http->handlers.drained(conn, conn->ctx);
		break;
	case CONN_FLUSH_END:
		conn_finish(conn);
		break;
	case CONN_FLUSH_RESET:
		conn_reset(conn);
		break;
	default:
		break;
	}
}

static void conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct stub_http_conn *conn = arg;
	struct stub_http *http = conn->http;

	(void)bev;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	switch (conn->state) {
	case CONN_HANDLER:
		http->stats.closed_by_peer++;
		if (http->handlers.closed)
			http->handlers.closed(conn, conn->ctx);
		break;
	case CONN_FLUSH_END:
	case CONN_FLUSH_RESET:
		http->stats.closed_by_peer++;
		break;
	default:
		break;
	}
	conn_free(conn);
}

static void http_accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
                           int salen, void *arg)
{
	struct stub_http *http = arg;
	struct stub_http_conn *conn = calloc(1, sizeof(*conn));
	int one = 1;

	(void)listener;
	(void)sa;
	(void)salen;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conn && http->bev_fn)
		conn->bev = http->bev_fn(http->base, fd, http->bev_arg);
	else if (conn)
		conn->bev = bufferevent_socket_new(http->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (conn && conn->bev)
		conn->body = evbuffer_new();
	if (!conn || !conn->bev || !conn->body) {
		if (conn && conn->bev)
			bufferevent_free(conn->bev);
		else
			close(fd);
		free(conn);
		return;
	}
	conn->http = http;
	conn->req.conn_id = ++http->next_id;
	conn->next = http->conns;
	if (conn->next)
		conn->next->prev = conn;
	http->conns = conn;
	http->stats.connections++;
	http->stats.open++;
	conn->direct = !http->bev_fn;
	bufferevent_setcb(conn->bev, conn_read_cb, conn_write_cb, conn_event_cb, conn);
	bufferevent_setwatermark(conn->bev, EV_READ, 0,
	                         conn->direct ? HTTP_READ_HIGH : HTTP_TLS_READ_HIGH);
	bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
	if (conn->direct)
		bufferevent_disable(conn->bev, EV_WRITE); /* enabled by default */
}

static void http_accept_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct stub_http *http = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(http->listener);
}

/* Out of descriptors: pause accepting briefly instead of spinning on a ready listener. */
static void http_accept_error_cb(struct evconnlistener *listener, void *arg)
{
	struct stub_http *http = arg;
	struct timeval tv = {0, 100 * 1000};

	evconnlistener_disable(listener);
	evtimer_add(http->accept_retry, &tv);
}

int stub_http_new(struct event_base *base, const char *listen,
                  const struct stub_http_handlers *handlers, void *arg, struct stub_http **ret_http)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct stub_http *http;

	if (stub_parse_address(listen, &ss, &sslen) < 0)
		return -EINVAL;
	http = calloc(1, sizeof(*http));
	if (!http)
		return -ENOMEM;
	http->base = base;
	http->handlers = *handlers;
	http->arg = arg;
	http->accept_retry = evtimer_new(base, http_accept_retry_cb, http);
	http->listener = evconnlistener_new_bind(base, http_accept_cb, http,
	                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	                                                 LEV_OPT_CLOSE_ON_EXEC,
	                                         1024, (struct sockaddr *)&ss, (int)sslen);
	if (!http->listener || !http->accept_retry) {
		int r = -(errno ? errno : ENOMEM);

		stub_http_free(http);
		return r;
	}
	evconnlistener_set_error_cb(http->listener, http_accept_error_cb);
	*ret_http = http;
	return 0;
}

void stub_http_set_bufferevent_fn(struct stub_http *http, stub_http_bufferevent_fn fn, void *arg)
{
	http->bev_fn = fn;
	http->bev_arg = arg;
}

int stub_http_address(const struct stub_http *http, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	int port;

	if (getsockname(evconnlistener_get_fd(http->listener), (struct sockaddr *)&ss, &sslen) < 0)
		return -errno;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	}
	return 0;
}

const struct stub_http_stats *stub_http_stats(const struct stub_http *http)
{
	return &http->stats;
}

void stub_http_stats_reset(struct stub_http *http)
{
	http->stats.connections = 0;
	http->stats.closed_by_peer = 0;
	http->stats.since_id = http->next_id;
}

void stub_http_free(struct stub_http *http)
{
	if (!http)
		return;
	while (http->conns) {
		struct stub_http_conn *conn = http->conns;

		if (conn->state == CONN_HANDLER && http->handlers.closed)
			http->handlers.closed(conn, conn->ctx);
		conn_free(conn);
	}
	if (http->listener)
		evconnlistener_free(http->listener);
	if (http->accept_retry)
		event_free(http->accept_retry);
	free(http);
}

const char *stub_http_header(const struct stub_http_request *req, const char *lower_name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcmp(req->headers[i].name, lower_name) == 0)
			return req->headers[i].value;
	return NULL;
}

void stub_http_set_ctx(struct stub_http_conn *conn, void *ctx)
{
	conn->ctx = ctx;
}

void stub_http_head(struct stub_http_conn *conn, int status, const char *content_type,
                    long long content_length, const char *extra)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	char length[48];

	conn->chunked = false;
	if (content_length >= 0) {
		snprintf(length, sizeof(length), "Content-Length: %lld\r\n", content_length);
	} else if (conn->http10) {
		/* No chunked encoding in HTTP/1.0: the end of the body is the close. */
		length[0] = '\0';
		conn->keep_alive = false;
	} else {
		snprintf(length, sizeof(length), "Transfer-Encoding: chunked\r\n");
		conn->chunked = true;
	}
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n%s%s%s\r\n",
	                    status, stub_parse_reason(status), http_date(conn->http), content_type,
	                    length, conn->keep_alive ? "" : "Connection: close\r\n",
	                    extra ? extra : "");
	if (conn->direct)
		conn_kick(conn);
}

void stub_http_write(struct stub_http_conn *conn, const void *data, size_t len)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	if (len == 0)
		return;
	if (conn->chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add(out, data, len);
	if (conn->chunked)
		evbuffer_add(out, "\r\n", 2);
	if (conn->direct)
		conn_kick(conn);
}

void stub_http_write_raw(struct stub_http_conn *conn, const void *data, size_t len)
{
	evbuffer_add(bufferevent_get_output(conn->bev), data, len);
}

void stub_http_write_buffer(struct stub_http_conn *conn, struct evbuffer *buf)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);
	size_t len = evbuffer_get_length(buf);

	if (len == 0)
		return;
	if (conn->chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add_buffer(out, buf);
	if (conn->chunked)
		evbuffer_add(out, "\r\n", 2);
	if (conn->direct)
		conn_kick(conn);
}

void stub_http_end(struct stub_http_conn *conn)
{
	if (conn->chunked)
		evbuffer_add(bufferevent_get_output(conn->bev), "0\r\n\r\n", 5);
	conn->ctx = NULL;
	conn->state = CONN_FLUSH_END;
	conn_kick(conn);
}

void stub_http_abort(struct stub_http_conn *conn, bool flush)
{
	struct evbuffer *out = bufferevent_get_output(conn->bev);

	if (!flush)
		evbuffer_drain(out, evbuffer_get_length(out));
	conn->ctx = NULL;
	conn->state = CONN_FLUSH_RESET;
	conn_kick(conn);
}

void stub_http_respond(struct stub_http_conn *conn, int status, const char *content_type,
                       const char *extra, const void *body, size_t len)
{
	stub_http_head(conn, status, content_type, (long long)len, extra);
	stub_http_write(conn, body, len);
	stub_http_end(conn);
}
