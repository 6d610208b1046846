/*
 * http_server: the worker's client-facing HTTP/1.1 server on libevent. It
 * owns the accept side of the shared listening socket, the connections
 * (keep-alive, pipelining in order, timeouts, limits, drain) and the wire
 * format; routing code talks to it only through this seam:
 *
 *   - one handler callback gets each request (struct http_request) with an
 *     exchange handle (struct http_exchange);
 *   - the handler answers through the exchange, at once or later: a whole
 *     response in one write, or a streamed (chunked) one that it writes piece
 *     by piece, ends, or aborts (closing the connection without the last
 *     chunk, so the client sees a failed stream);
 *   - the exchange reports backpressure (pending bytes; on_writable once they
 *     drop below the low watermark after passing the high one) and client
 *     loss (on_abort).
 *
 * Nothing here calls back into the handler from inside an exchange call: a
 * write that fails only marks the connection, and on_abort follows from the
 * event loop. A response counts as done once fully written to the socket.
 *
 * With a TLS context in the options, every connection speaks TLS: the
 * handshake runs from the connection's events under the header timeout, and
 * handlers see the same requests and exchanges as over plain HTTP.
 *
 * A request the server answers itself, before any handler runs (malformed,
 * too large, too slow, unsupported: enum http_reject), is reported once
 * through on_reject, so that it can be counted and logged like the others.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parser.h"
#include "http_reject.h"

struct event_base;
struct evbuffer;
struct ssl_ctx_st;
struct http_server;
struct http_exchange;

/* Defaults of struct http_server_options that are not the config's (the
 * body size and the head and body timeouts are: llmgate.max_request_size,
 * header_timeout, body_timeout). */
#define HTTP_SERVER_MAX_HEAD        (64 * 1024) /* request line + headers */
#define HTTP_SERVER_MAX_CONNECTIONS 10000
#define HTTP_SERVER_IDLE_TIMEOUT_MS 60000 /* keep-alive, between requests */
#define HTTP_SERVER_SEND_TIMEOUT_MS 60000 /* a client that reads nothing for this long */

/* Backpressure on a response: see http_exchange_callbacks.on_writable. */
#define HTTP_EXCHANGE_HIGH_WATERMARK (256 * 1024)
#define HTTP_EXCHANGE_LOW_WATERMARK  (64 * 1024)

/* A request, valid until its exchange is finished or aborted. */
struct http_request {
	const char *method; /* "GET", "POST"... */
	const char *target; /* the request-target as sent */
	const char *path;   /* not NUL-terminated: use path_len or http_request_path_is() */
	size_t path_len;
	const char *query; /* after '?', NUL-terminated; NULL without one */
	size_t query_len;
	int version_minor; /* HTTP/1.0 or HTTP/1.1 */
	const struct http_header *headers;
	size_t n_headers;
	const char *body; /* the whole body (de-chunked); not NUL-terminated */
	size_t body_len;
	/* An upload spooled to a file (http_server_options.body_spool): BODY is
	 * NULL, and the BODY_LEN bytes are in BODY_FD from offset 0 (an unlinked
	 * file: read it with pread(), dup() it to keep it; the server closes
	 * this fd when the exchange ends). */
	bool body_in_file;
	int body_fd;
	const char *peer; /* "address:port" of the client */
};

/* The value of the first header NAME (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
bool http_request_path_is(const struct http_request *req, const char *path);

/* A request the server answered itself. Strings live only during the call. */
struct http_rejected {
	enum http_reject reason;
	int status;         /* as sent: http_reject_status(reason) */
	const char *id;     /* the x-request-id the answer carries */
	const char *peer;   /* "address:port" of the client */
	const char *method; /* NULL unless the head was parsed */
	const char *path;   /* NULL unless the head was parsed; PATH_LEN bytes */
	size_t path_len;
	size_t bytes_in;  /* request body bytes read (decoded) before the answer */
	size_t bytes_out; /* the answer's body */
	int64_t total_us; /* from the request's first byte to the answer (the
	                   * event loop's cached clock: a few us coarse) */
};

struct http_server_options {
	size_t max_body; /* larger bodies get 413 */
	size_t max_connections;
	long header_timeout_ms;
	long body_timeout_ms;
	long idle_timeout_ms;
	long send_timeout_ms;
	/* Called once per request; the exchange belongs to the handler until it
	 * sends, ends or aborts the response, or until on_abort. */
	void (*handler)(void *ctx, struct http_exchange *ex, const struct http_request *req);
	void *ctx;
	/* The body limit of a request for PATH (PATH_LEN bytes), asked when its
	 * head arrives (CTX is the handler's); a larger Content-Length is
	 * answered 413 at once, a chunked body when its count passes it. NULL:
	 * MAX_BODY for every request. */
	size_t (*body_limit)(void *ctx, const char *path, size_t path_len, size_t max_body);
	/* Whether a body for PATH that did not come whole with its head is
	 * spooled to an unlinked file in SPOOL_DIR (NULL: /tmp) as it is read,
	 * instead of held in memory (asked after body_limit, same CTX). A write
	 * that fails is answered 507. NULL: never. */
	bool (*body_spool)(void *ctx, const char *path, size_t path_len);
	const char *spool_dir;
	/* Called once per rejected request, after its answer is queued; must not
	 * call into the server. NULL: not reported. */
	void (*on_reject)(void *ctx, const struct http_rejected *r);
	void *reject_ctx;
	/* TLS for every connection with this context (not owned; ALPN, protocols
	 * and certificate are its own); NULL: plain HTTP. */
	struct ssl_ctx_st *tls;
};

/* Fills OPTS with the defaults above and the config's limits: MAX_BODY,
 * and the whole head's and the whole body's time (HEADER_MS, BODY_MS). */
void http_server_options_default(struct http_server_options *opts, size_t max_body, long header_ms,
                                 long body_ms);

/* Serves LISTEN_FD (non-blocking, shared with other workers). */
int http_server_new(struct event_base *base, const struct http_server_options *opts, int listen_fd,
                    struct http_server **ret);

/*
 * Drain: stops accepting (closes this process's copy of the listening fd),
 * closes idle keep-alive connections with nothing in flight, and serves every
 * other connection (including accepted ones whose first request has not
 * arrived yet) to the end of its current request with "Connection: close".
 */
void http_server_stop_accepting(struct http_server *srv);
bool http_server_draining(const struct http_server *srv);

/* Open connections; a draining worker may exit once this is 0. */
size_t http_server_connections(const struct http_server *srv);

/* Closes everything; open exchanges get on_abort first. */
void http_server_free(struct http_server *srv);

struct http_exchange_callbacks {
	/* Pending bytes fell below the low watermark after exceeding the high
	 * one: the handler may write again (resume its producer). */
	void (*on_writable)(void *ctx);
	/* The client left or the connection failed while the exchange was open;
	 * the exchange is dead once this returns. */
	void (*on_abort)(void *ctx);
};

void http_exchange_set_callbacks(struct http_exchange *ex, const struct http_exchange_callbacks *cb,
                                 void *ctx);

/* Adds a response header (before the response starts). -EINVAL for a name
 * or value that is not a valid field, -E2BIG past the headers limit. */
int http_exchange_add_header(struct http_exchange *ex, const char *name, const char *value);
/* The same for NAME (NAME_LEN bytes) a constant the caller knows valid and
 * not the server's own: only VALUE is checked on the request path (debug
 * builds check NAME too, and abort). HTTP_EXCHANGE_ADD_KNOWN takes it as a
 * string literal. */
int http_exchange_add_known_header(struct http_exchange *ex, const char *name, size_t name_len,
                                   const char *value);
#define HTTP_EXCHANGE_ADD_KNOWN(ex, name, value) \
	http_exchange_add_known_header(ex, "" name, sizeof(name) - 1, value)
/* Adds LINES (LEN bytes of whole "Name: value\r\n" lines) as they are, in
 * one append and with no check on the request path: each NAME a constant
 * the caller knows valid and not the server's own, each VALUE digits or
 * ASCII the caller made (debug builds check and abort otherwise). -EINVAL
 * once the response has started, -E2BIG past the headers limit. */
int http_exchange_add_header_lines(struct http_exchange *ex, const char *lines, size_t len);

/* Sends a whole response: head and body in one write. Ends the exchange. */
int http_exchange_send(struct http_exchange *ex, int status, const char *content_type,
                       const void *body, size_t len);
/* The same, moving BODY's bytes (BODY is left empty) instead of copying. */
int http_exchange_send_buffer(struct http_exchange *ex, int status, const char *content_type,
                              struct evbuffer *body);

/* Starts a streamed response (chunked; to an HTTP/1.0 client: close-delimited).
 * The head leaves with the first data. */
int http_exchange_stream_start(struct http_exchange *ex, int status, const char *content_type);
/* Queues DATA; it is written as soon as the current event has been handled,
 * together with whatever else that event queued, as one chunk in one write.
 * -EPIPE when the connection has failed (on_abort follows). */
int http_exchange_stream_write(struct http_exchange *ex, const void *data, size_t len);
/* Writes the last chunk. Ends the exchange. */
int http_exchange_stream_end(struct http_exchange *ex);
/* Ends the exchange as failed: what is pending is flushed, then the
 * connection closes without a last chunk (or with a 500 if nothing was
 * sent yet). */
void http_exchange_abort(struct http_exchange *ex);

/* Response bytes not yet written to the socket. */
size_t http_exchange_pending(const struct http_exchange *ex);
