/*
 * http_conn: internals of the HTTP server, not part of the seam
 * (http_server.h): http_server.c accepts and drains; http_conn.c runs one
 * connection (events, dispatch, timeouts, close) and is the one owner of its
 * state, its exchange and its output; http_reader.c is its input side
 * (buffer, head, body) and http_response.c the response wire format, both
 * steps over data that never call back; http_tls.c drives a connection's
 * TLS (handshake, read, write) when the server has a TLS context;
 * http_work.c keeps what a busy connection holds (pooled) and the idle
 * keep-alive connections' list. The calls go one way: server ->
 * connection -> reader and response format (and http_server_conn_closed()
 * back to the server when one closes).
 *
 * A connection serves one request at a time; its exchange, buffers and
 * timer are in its work (struct http_work), which it holds only while busy.
 * Connections close only from an event callback at the top of the stack,
 * never from inside a call a handler made.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "http_parser.h"
#include "http_peer.h"
#include "http_reader.h"
#include "http_response.h"
#include "http_server.h"

struct evbuffer;
struct ssl_st;
struct sockaddr_storage;

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
	struct evbuffer *chunk;           /* streamed data not framed yet (kept with the work) */
	struct http_header_block headers; /* the handler's response header lines */
	bool chunked;                     /* streaming with chunked framing */
	bool head_only;                   /* a HEAD request: no body bytes */
	bool over_high;                   /* pending passed the high watermark */
};

/*
 * What a connection holds only while it is busy: from the first byte of a
 * request (or, with TLS, from accept through the handshake) until its
 * response is flushed and nothing more was read. Then it goes back to the
 * server's free list (at most HTTP_WORK_POOL_MAX kept, their read buffers at
 * most the initial size), so that keep-alive under load does not allocate
 * per request, and an idle connection holds none of it.
 */
struct http_work {
	struct http_work *next_free;
	struct http_reader in; /* the request side: buffer, head, body */
	struct http_request req;
	struct evbuffer *out;
	struct http_exchange ex;
	int64_t start_us; /* the current request's first byte (cached clock); 0: none yet */
	bool head_timer;  /* the header timeout is armed for the current head */
	/* the connection TIMER (and EV_WRITE, when WRITE_ASSIGNED) were set up
	 * for: a work taken by the same connection again needs neither again */
	struct http_conn *owner;
	int owner_fd;
	bool write_assigned;
	struct http_peer peer_of; /* the address PEER is the text of */
	struct event timer;       /* header, body, send or linger timeout */
	struct event ev_write;    /* added only while a write waits for the socket */
	char peer[HTTP_PEER_MAX]; /* the current request's req.peer */
};

#define HTTP_WORK_POOL_MAX 64 /* as many as the upstream side's spares (UH_SPARES) */

struct http_conn {
	struct http_server *srv;
	struct http_conn *prev, *next;
	/* in the server's list of connections to act on from the loop */
	struct http_conn *defer_prev, *defer_next;
	struct http_work *w; /* NULL while idle */
	struct ssl_st *ssl;  /* NULL: plain HTTP (http_tls.c) */
	union {
		int64_t accepted_us; /* before the first request: the first head's
		                      * header timeout counts from here */
		int64_t idle_ms;     /* in the idle list: since when (monotonic) */
	};
	/* the server's list of idle keep-alive connections, oldest first */
	struct http_conn *idle_prev, *idle_next;
	int fd;
	uint8_t state; /* enum http_conn_state */
	bool deferred : 1;
	bool reading : 1;              /* ev_read is added */
	bool writing : 1;              /* w->ev_write is added (we saw EAGAIN) */
	bool failed : 1;               /* the socket failed or the peer left: close soon */
	bool close_after : 1;          /* close once the current response is flushed */
	bool peer_eof : 1;             /* the client shut its sending side: no more input */
	bool served : 1;               /* at least one request was read */
	bool in_process : 1;           /* conn_process() is on the stack */
	bool writable_due : 1;         /* on_writable to be called from the event loop */
	bool flush_due : 1;            /* streamed data to be written from the event loop */
	bool tls_read_wants_write : 1; /* a TLS read waits for the socket to take a write */
	bool tls_broken : 1;           /* TLS failed: no close_notify */
	bool idle_listed : 1;          /* in the server's idle list */
	struct http_peer peer;
	/* The one event of an idle connection. Before the first request it
	 * also carries what is left of the header timeout; an idle keep-alive
	 * connection's timeout is its place in the server's idle list (one
	 * timer for all: they all wait as long); while busy, the timeouts are
	 * W's timer. */
	struct event ev_read;
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
	struct http_work *free_work; /* see struct http_work */
	size_t n_free_work;
	/* Idle keep-alive connections in the order they went idle (so in the
	 * order of their deadlines); EV_IDLE fires at the first one's. */
	struct http_conn *idle_head, *idle_tail;
	struct event *ev_idle;
	bool idle_armed; /* ev_idle is pending */
	/* Heads are parsed here, then their headers copied to the connection:
	 * an idle connection keeps no room for a hundred headers. */
	struct http_header scratch[HTTP_PARSER_MAX_HEADERS];
	long date_sec;
	char date[HTTP_RESPONSE_DATE_SIZE]; /* remade once a second */
};

/* http_server.c */
void http_server_conn_closed(struct http_server *srv);

/* http_conn.c */
int http_conn_new(struct http_server *srv, int fd, const struct sockaddr_storage *addr);
/* Closes C now, calling on_abort of an open exchange. */
void http_conn_close(struct http_conn *c);
/* Sets up the write event of C's work when it has none yet (on the first
 * wait for the socket to take a write); C is busy. 0 or -ENOMEM. */
int http_conn_write_event(struct http_conn *c);
/* The client's "address:port" for a log line, in BUF. */
const char *http_conn_peer(const struct http_conn *c, char buf[HTTP_PEER_MAX]);

/* http_work.c */
/* Gives C a work (the server's last freed one, or a new one) with its timer
 * set up to call ON_TIMER for C, and takes C out of the idle list (or its
 * read event's timeout off). -ENOMEM. */
int http_work_attach(struct http_conn *c, event_callback_fn on_timer);
/* Takes C's work back into the free list (or frees it when the list is
 * full): its timer and write event deleted, its exchange done. */
void http_work_detach(struct http_conn *c);
/* C (served, no work) went idle now: at the end of the idle list. */
void http_idle_add(struct http_conn *c);
void http_idle_remove(struct http_conn *c);
/* The server's idle timer: closes the keep-alive connections idle for the
 * idle timeout, and sets the timer for the next. */
void http_conn_expire_idle(struct http_server *srv);
/* Frees the server's free list of works (http_server_free). */
void http_conn_free_pool(struct http_server *srv);
/* Drain: closes C if it is idle with nothing in flight. */
void http_conn_drain(struct http_conn *c);
/* The server's deferred event: acts for the connections that asked for it
 * (those that ask again meanwhile wait for the next loop pass). */
void http_conn_run_deferred(struct http_server *srv);
