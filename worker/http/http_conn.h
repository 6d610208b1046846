/*
 * http_conn: internals of the HTTP server, not part of the seam
 * (http_server.h): http_server.c accepts and drains; http_conn.c runs one
 * connection (events, dispatch, timeouts, close) and is the one owner of its
 * state, its exchange and its output; http_reader.c is its input side
 * (buffer, head, body) and http_response.c the response wire format, both
 * steps over data that never call back; http_tls.c drives a connection's
 * TLS (handshake, read, write) when the server has a TLS context. The calls go one way: server ->
 * connection -> reader and response format (and http_server_conn_closed()
 * back to the server when one closes).
 *
 * A connection serves one request at a time; its exchange is embedded in it.
 * Connections close only from an event callback at the top of the stack,
 * never from inside a call a handler made.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parser.h"
#include "http_reader.h"
#include "http_response.h"
#include "http_server.h"

struct event;
struct evbuffer;
struct ssl_st;

enum http_conn_state {
	HTTP_CONN_HANDSHAKE, /* TLS: the handshake (http_tls.c), under the header timeout */
	HTTP_CONN_HEAD,      /* reading a request head (or idle between requests) */
	HTTP_CONN_BODY,      /* reading its body */
	HTTP_CONN_HANDLER,   /* the handler owns the exchange */
	HTTP_CONN_FLUSH,     /* the response is complete; writing what is pending */
	HTTP_CONN_LINGER,    /* our side is shut; discarding input until EOF */
	HTTP_CONN_STATE__COUNT,
};

enum http_exchange_state {
	HTTP_EXCHANGE_OPEN,      /* nothing sent yet */
	HTTP_EXCHANGE_STREAMING, /* head sent, chunks follow */
	HTTP_EXCHANGE_DONE,      /* the handler has finished with it */
};

struct http_exchange {
	struct http_conn *conn;
	enum http_exchange_state state;
	struct http_exchange_callbacks cb;
	void *cb_ctx;
	struct evbuffer *chunk;           /* streamed data not framed yet (kept per connection) */
	struct http_header_block headers; /* the handler's response header lines */
	bool chunked;                     /* streaming with chunked framing */
	bool head_only;                   /* a HEAD request: no body bytes */
	bool over_high;                   /* pending passed the high watermark */
};

struct http_conn {
	struct http_server *srv;
	struct http_conn *prev, *next;
	int fd;
	enum http_conn_state state;
	struct event *ev_read, *ev_write, *ev_timer;
	/* in the server's list of connections to act on from the loop */
	struct http_conn *defer_prev, *defer_next;
	bool deferred;
	bool reading;              /* ev_read is added */
	bool writing;              /* ev_write is added (we saw EAGAIN); made then */
	bool failed;               /* the socket failed or the peer left: close soon */
	bool close_after;          /* close once the current response is flushed */
	bool peer_eof;             /* the client shut its sending side: no more input */
	bool served;               /* at least one request was read */
	bool in_process;           /* conn_process() is on the stack */
	bool writable_due;         /* on_writable to be called from the event loop */
	bool flush_due;            /* streamed data to be written from the event loop */
	bool head_timer;           /* the header timeout is armed for the current head */
	bool tls_read_wants_write; /* a TLS read waits for the socket to take a write */
	bool tls_broken;           /* TLS failed: no close_notify */
	struct ssl_st *ssl;        /* NULL: plain HTTP (http_tls.c) */
	struct http_reader in;     /* the request side: buffer, head, body */
	struct http_request req;
	struct evbuffer *out;
	struct http_exchange ex;
	int64_t start_us; /* the current request's first byte (cached clock); 0: none yet */
	char peer[64];
};

struct http_server {
	struct event_base *base;
	struct http_server_options opts;
	int listen_fd;
	struct event *ev_accept;
	struct event *ev_accept_retry; /* after EMFILE and the like */
	/* one deferred event for all connections (not 144 bytes each): it runs
	 * the connections in the list, in the order they asked */
	struct event *ev_defer;
	struct http_conn *defer_head, *defer_tail;
	size_t n_deferred;
	bool accepting; /* ev_accept is added */
	bool draining;
	struct http_conn *conns;
	size_t n_conns;
	/* Heads are parsed here, then their headers copied to the connection:
	 * an idle connection keeps no room for a hundred headers. */
	struct http_header scratch[HTTP_PARSER_MAX_HEADERS];
	long date_sec;
	char date[HTTP_RESPONSE_DATE_SIZE]; /* remade once a second */
};

/* http_server.c */
void http_server_conn_closed(struct http_server *srv);

/* http_conn.c */
int http_conn_new(struct http_server *srv, int fd, const char *peer);
/* Closes C now, calling on_abort of an open exchange. */
void http_conn_close(struct http_conn *c);
/* Makes the connection's write event when it has none yet (it is made on
 * the first wait for the socket to take a write): 0 or -ENOMEM. */
int http_conn_write_event(struct http_conn *c);
/* Drain: closes C if it is idle with nothing in flight. */
void http_conn_drain(struct http_conn *c);
/* The server's deferred event: acts for the connections that asked for it
 * (those that ask again meanwhile wait for the next loop pass). */
void http_conn_run_deferred(struct http_server *srv);
