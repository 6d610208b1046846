/*
 * upstream_h2: the worker's own HTTP/2 client for https:// upstreams that
 * pick "h2" by ALPN, on libnghttp2, one of the dispatcher's peer transports
 * (upstream.c chooses). Same contract as upstream.h: on_header per header,
 * on_head, on_data per DATA frame, exactly one on_done unless aborted.
 * Private to libupstream.
 *
 * It never connects by itself: the own HTTP/1.1 client (upstream_http.h)
 * makes every connection (names, addresses, TLS, the handshake) and hands
 * one whose handshake chose HTTP/2 over with the request that opened it
 * (upstream_h2_adopt()). Its requests and those that follow go as streams
 * on the connections it holds per authority, as many on each as the
 * upstream's SETTINGS_MAX_CONCURRENT_STREAMS allow (upstream_h2_start()
 * says -EAGAIN when none has room: the dispatcher then sends the request
 * through the own client, whose new connection comes back here).
 *
 * Flow control follows the caller: a paused stream keeps what arrives for
 * it (at most its window, UH2_STREAM_WINDOW) and gives the window back only
 * once the caller took the bytes, so an upstream cannot send a paused
 * stream more; the connection's window is given back at once, so other
 * streams go on. An idle connection closes after UH2_IDLE_MS (no PING).
 *
 * A stream the upstream refuses (REFUSED_STREAM, or above the last stream a
 * GOAWAY lets through) was not processed: it is sent again, once per
 * transfer, through the dispatcher (upstream_transfer_restart()), as the
 * HTTP/1.1 client sends a request again whose kept connection the upstream
 * closed. A stream the upstream resets otherwise, or refuses again, or whose
 * connection is lost fails as the HTTP/1.1 client's requests do:
 * UPSTREAM_ERR_CONNECT before any response byte (the caller may retry),
 * UPSTREAM_ERR_PROTOCOL after.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

struct event;
struct event_base;
struct upstream_h2;
struct upstream_tls_conn;
struct upstream_transfer;
struct upstream_url;
struct uh2_conn;
struct uh2_copy;

#define UH2_STREAM_WINDOW (256 * 1024)
#define UH2_IDLE_MS       60000

/* A transfer as the own HTTP/2 client runs it, in its struct upstream_transfer. */
struct uh2_stream {
	struct upstream_transfer *owner;
	struct upstream_h2 *h2;
	struct uh2_conn *conn;          /* NULL once it left its connection */
	struct uh2_stream *prev, *next; /* on its connection */
	int32_t id;
	struct event *ev_timeout;  /* only with a timeout */
	struct uh2_copy *copy;     /* the request, to send again once if the upstream refuses it */
	char *body;                /* the request body (a copy) */
	struct upstream_body *src; /* or read from this (a reference) */
	size_t body_len, body_off;
	char *held; /* DATA not yet delivered: while paused, or gathered in a read */
	size_t held_len, held_cap;
	const char *run; /* DATA of this read not yet delivered, in the read buffer */
	size_t run_len;
	long status;      /* of the final response head, once it came */
	long head_status; /* of the head being received */
	bool headed;      /* on_head was called */
	bool got_bytes;   /* any response frame came */
	bool ended;       /* the upstream ended the stream: done once delivered */
	bool closed;      /* nghttp2 closed the stream: its id is no more */
	bool ready;       /* DATA came in this read: delivered at its end */
	bool paused, aborted, in_callback;
};

struct upstream_h2 *upstream_h2_new(struct event_base *base);
/* Closes every connection; transfers still open must have been freed. */
void upstream_h2_free(struct upstream_h2 *h2);

/* Starts REQ, whose URL parsed as U (https), in T (zeroed) for OWNER on a
 * connection to U's authority with room for a stream. 0; -EAGAIN when there
 * is none (T holds nothing); another negative errno (-EINVAL for a header
 * that is not a valid field) with T for upstream_h2_clean(). Callbacks never
 * run from inside this call. */
int upstream_h2_start(struct upstream_h2 *h2, struct uh2_stream *t, struct upstream_transfer *owner,
                      const struct upstream_url *u, const struct upstream_request *req);
/* Takes FD with its finished TLS session TLS (whose ALPN chose h2) to the
 * upstream AUTHORITY as a new connection, and starts REQ on it in T (zeroed)
 * for OWNER, paused when PAUSED. 0, or a negative errno with T for
 * upstream_h2_clean(); the connection is ours either way. */
int upstream_h2_adopt(struct upstream_h2 *h2, int fd, struct upstream_tls_conn *tls,
                      const char *authority, struct uh2_stream *t, struct upstream_transfer *owner,
                      const struct upstream_request *req, bool paused);
/* True when T may be freed now; else (from inside a callback) it is only
 * marked, and the code that made the call lets go of it. */
bool upstream_h2_abort(struct uh2_stream *t);
void upstream_h2_pause(struct uh2_stream *t);
/* Delivers what was held and gives the window back. */
void upstream_h2_resume(struct uh2_stream *t);
/* Lets go of what T holds (from upstream_transfer_free()). */
void upstream_h2_clean(struct uh2_stream *t);

/* Transfers in flight. */
size_t upstream_h2_active(const struct upstream_h2 *h2);
