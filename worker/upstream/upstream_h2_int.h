/*
 * upstream_h2_int: what the parts of the own HTTP/2 client share (see
 * upstream_h2.h): connections with their nghttp2 session
 * (upstream_h2_conn.c), what streams receive (upstream_h2_recv.c) and the
 * requests (upstream_h2.c). Private to upstream_h2*.c.
 */
#pragma once

#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stddef.h>

#include "upstream_h2.h"
#include "upstream_url.h"

#define UH2_CONN_WINDOW (4 * 1024 * 1024)
#define UH2_WBUF        (32 * 1024)

/* One HTTP/2 connection to an upstream, with its nghttp2 session. */
struct uh2_conn {
	struct upstream_h2 *h2;
	struct uh2_conn *prev, *next; /* in h2->conns */
	char authority[UPSTREAM_URL_MAX_AUTHORITY];
	int fd;
	struct upstream_tls_conn *tls;
	struct event *ev_read, *ev_write, *ev_idle;
	nghttp2_session *session;
	struct uh2_stream *streams; /* open on it */
	size_t n_streams;
	char *wbuf; /* frames nghttp2 made, being written */
	size_t wlen, woff, wcap;
	int busy;              /* inside its I/O: closing waits for the end */
	bool dead;             /* failed or done: closed once not busy */
	bool settled;          /* the upstream's SETTINGS came: its stream limit is known */
	bool writing;          /* the write event is added */
	bool read_wants_write; /* TLS: the last read waits for writability */
	bool write_wants_read; /* TLS: the last write waits for readability */
};

struct upstream_h2 {
	struct event_base *base;
	struct uh2_conn *conns;
	size_t active;
};

/* ---- connections (upstream_h2_conn.c) ---- */

/* A connection on FD and TLS (ours from here on, closed on failure) to
 * AUTHORITY; NULL when out of memory. */
struct uh2_conn *uh2_conn_new(struct upstream_h2 *h2, int fd, struct upstream_tls_conn *tls,
                              const char *authority);
/* A connection to AUTHORITY with room for another stream; NULL for none. */
struct uh2_conn *uh2_conn_pick(struct upstream_h2 *h2, const char *authority);
/* C has frames to send: from the loop, or at the end of its I/O. */
void uh2_conn_flush(struct uh2_conn *c);
/* T is a stream of C now / left C. */
void uh2_conn_add_stream(struct uh2_conn *c, struct uh2_stream *t);
void uh2_conn_remove_stream(struct uh2_conn *c, struct uh2_stream *t);
/* Closes C now (no stream may be on it). */
void uh2_conn_destroy(struct uh2_conn *c);

/* ---- streams: what they receive (upstream_h2_recv.c) ---- */

/* T leaves its connection (reset there unless the stream is over). */
void uh2_stream_detach(struct uh2_stream *t);
/* Ends T with RESULT: on_done, then gone. */
void uh2_stream_finish(struct uh2_stream *t, enum upstream_result result, const char *error);
/* Delivers what T holds unless it is paused; false when T is gone. */
bool uh2_stream_drain(struct uh2_stream *t);
/* The session callbacks that concern streams. */
void uh2_stream_callbacks(nghttp2_session_callbacks *cbs);
/* Delivers what the streams of C got in the read that just ended. */
void uh2_streams_deliver(struct uh2_conn *c);
/* T's connection failed: T ends (unless it is aborted), with RESULT before
 * any response byte. */
void uh2_stream_conn_failed(struct uh2_stream *t, enum upstream_result result, const char *why);

/* ---- streams: requests (upstream_h2.c) ---- */

/* The upstream refused T unprocessed: T goes through the dispatcher again. */
void uh2_stream_restart(struct uh2_stream *t);
