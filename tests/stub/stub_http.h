/*
 * stub_http: a small HTTP/1.1 server on libevent bufferevents for the test stub. It owns the
 * listener and the connections; what to answer is decided by the handlers.
 */
#ifndef STUB_HTTP_H
#define STUB_HTTP_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct event_base;
struct evbuffer;
struct stub_http;
struct stub_http_conn;

struct stub_http_header {
	const char *name; /* lowercased */
	const char *value;
};

/* Valid from the request callback until the response ends (or the connection closes). */
struct stub_http_request {
	const char *method;
	const char *path;  /* target up to '?' */
	const char *query; /* after '?', "" when absent */
	const struct stub_http_header *headers;
	size_t n_headers;
	const char *body; /* NUL-terminated; may contain NULs */
	size_t body_len;
	unsigned long long conn_id; /* counts from 1 in accept order */
};

struct stub_http_handlers {
	/* A whole request arrived. The handler owns the response until it calls stub_http_end()
	 * or stub_http_abort(); until then the connection reads no further request. */
	void (*request)(struct stub_http_conn *conn, const struct stub_http_request *req,
	                void *arg);
	/* The output drained while the handler owns the response (paces streams). */
	void (*drained)(struct stub_http_conn *conn, void *ctx);
	/* The connection goes away while the handler owns the response: release ctx. */
	void (*closed)(struct stub_http_conn *conn, void *ctx);
};

/* Counters since start or the last stub_http_stats_reset(), except the gauge `open`. */
struct stub_http_stats {
	unsigned long long connections;    /* accepted */
	unsigned long long closed_by_peer; /* peer left while a response was in progress */
	unsigned long long open;           /* open now */
	unsigned long long since_id;       /* connections counted have conn_id > since_id */
};

int stub_http_new(struct event_base *base, const char *listen,
                  const struct stub_http_handlers *handlers, void *arg,
                  struct stub_http **ret_http);
/* Makes the bufferevent of each accepted connection (TLS): NULL leaves fd open and the
 * connection is refused. Without one, connections are plain sockets. */
typedef struct bufferevent *(*stub_http_bufferevent_fn)(struct event_base *base, int fd, void *arg);
void stub_http_set_bufferevent_fn(struct stub_http *http, stub_http_bufferevent_fn fn, void *arg);
/* Writes the bound address as HOST:PORT ([HOST]:PORT for IPv6). */
int stub_http_address(const struct stub_http *http, char *buf, size_t len);
const struct stub_http_stats *stub_http_stats(const struct stub_http *http);
void stub_http_stats_reset(struct stub_http *http);
/* Closes every connection (handlers get `closed` for the responses they own). */
void stub_http_free(struct stub_http *http);

const char *stub_http_header(const struct stub_http_request *req, const char *lower_name);
void stub_http_set_ctx(struct stub_http_conn *conn, void *ctx);

/* The response, in order: head, any number of writes, then end or abort. content_length < 0
 * selects chunked encoding, where each write becomes one chunk. extra holds complete header
 * lines ("name: value\r\n"), or NULL. */
void stub_http_head(struct stub_http_conn *conn, int status, const char *content_type,
                    long long content_length, const char *extra);
void stub_http_write(struct stub_http_conn *conn, const void *data, size_t len);
/* Writes data as is, outside of any chunk framing (to break the framing on purpose). */
void stub_http_write_raw(struct stub_http_conn *conn, const void *data, size_t len);
/* Moves all of buf into the response. */
void stub_http_write_buffer(struct stub_http_conn *conn, struct evbuffer *buf);
void stub_http_end(struct stub_http_conn *conn);
/* Resets the connection (RST), after the output is flushed when flush is true. */
void stub_http_abort(struct stub_http_conn *conn, bool flush);
/* head + body + end in one call. */
void stub_http_respond(struct stub_http_conn *conn, int status, const char *content_type,
                       const char *extra, const void *body, size_t len);

#endif
