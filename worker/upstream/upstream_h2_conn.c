/*
 * upstream_h2_conn: the own HTTP/2 client's connections (see upstream_h2.h).
 * Runs in a worker, on its event loop.
 *
 * A connection is a TLS session the own HTTP/1.1 client made and handed
 * over, and an nghttp2 client session on it. Reading: as many TLS records as
 * OpenSSL has at hand, up to 32 KiB, per readable event (again from the loop
 * while it holds more), given whole to nghttp2, whose callbacks
 * (upstream_h2.c) gather each stream's DATA; each stream gets what it got as
 * one chunk at the end of the read, straight from that buffer when it was
 * one frame. Writing: the frames nghttp2 has are
 * gathered into one buffer and written in one TLS write, at the end of each
 * read, or from the loop when a stream asked (uh2_conn_flush()), so that no
 * caller's call writes, and frames made in one loop turn go out together.
 *
 * Its read event stays registered all its life: an upstream that closes it
 * is noticed at once, idle or not. A failure ends every stream on it; the
 * connection itself is closed once its own I/O has returned (BUSY), never
 * under nghttp2's feet. With no stream for UH2_IDLE_MS, or once the upstream
 * sent GOAWAY and its last stream is done, it is closed (GOAWAY first when
 * we close it).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upstream_h2_int.h"
#include "upstream_tls.h"

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);
static void conn_on_idle(evutil_socket_t fd, short what, void *arg);

static void conn_set_writing(struct uh2_conn *c, bool on)
{
	if (on == c->writing)
		return;
	if (on)
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
	c->writing = on;
}

void uh2_conn_destroy(struct uh2_conn *c)
{
	struct upstream_h2 *h2 = c->h2;

	if (c->prev)
		c->prev->next = c->next;
	else if (h2->conns == c)
		h2->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->ev_read)
		event_free(c->ev_read);
	if (c->ev_write)
		event_free(c->ev_write);
	if (c->ev_idle)
		event_free(c->ev_idle);
	nghttp2_session_del(c->session);
	upstream_tls_conn_free(c->tls);
	close(c->fd);
	free(c->wbuf);
	free(c);
}

/* C failed: every stream on it ends; C is closed once its I/O returns. */
static void conn_fail(struct uh2_conn *c, enum upstream_result result, const char *why)
{
	char copy[256];

	if (c->dead)
		return;
	c->dead = true;
	/* WHY may live in C's TLS state */
	snprintf(copy, sizeof(copy), "%s", why);
	while (c->streams)
		uh2_stream_conn_failed(c->streams, result, copy);
}

/* A TLS read or write of C failed with STATUS. */
static void conn_tls_failed(struct uh2_conn *c, int status)
{
	int err;

	if (status == UPSTREAM_TLS_CLOSED || status == UPSTREAM_TLS_TRUNCATED) {
		conn_fail(c, UPSTREAM_ERR_CONNECT, "the upstream closed the connection");
		return;
	}
	err = upstream_tls_errno(c->tls);
	if (err)
		conn_fail(c, UPSTREAM_ERR_CONNECT, strerror(err));
	else
		conn_fail(c, UPSTREAM_ERR_TLS, upstream_tls_error(c->tls));
}

/* Gathers what nghttp2 has to send after the unwritten rest; false on failure. */
static bool conn_gather(struct uh2_conn *c)
{
	if (c->woff == c->wlen)
		c->woff = c->wlen = 0;
	while (c->wlen < UH2_WBUF) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->session, &data);

		if (n < 0) {
			conn_fail(c, UPSTREAM_ERR_PROTOCOL, nghttp2_strerror((int)n));
			return false;
		}
		if (n == 0)
			break;
		if (c->wlen + (size_t)n > c->wcap) {
			size_t cap =
			        c->wlen + (size_t)n > UH2_WBUF ? c->wlen + (size_t)n : UH2_WBUF;
			char *b = realloc(c->wbuf, cap);

			if (!b) {
				conn_fail(c, UPSTREAM_ERR_INTERNAL, "out of memory");
				return false;
			}
			c->wbuf = b;
			c->wcap = cap;
		}
		memcpy(c->wbuf + c->wlen, data, (size_t)n);
		c->wlen += (size_t)n;
	}
	return true;
}

/* Writes what nghttp2 has for the upstream, as far as the socket takes it. */
static void conn_send(struct uh2_conn *c)
{
	while (!c->dead && !c->write_wants_read) {
		ssize_t n;

		if (c->woff == c->wlen && (!conn_gather(c) || c->wlen == 0)) {
			conn_set_writing(c, false);
			return;
		}
		n = upstream_tls_write(c->tls, c->wbuf + c->woff, c->wlen - c->woff);
		if (n > 0) {
			c->woff += (size_t)n;
			continue;
		}
		if (n == UPSTREAM_TLS_WANT_WRITE) {
			conn_set_writing(c, true);
		} else if (n == UPSTREAM_TLS_WANT_READ) {
			c->write_wants_read = true; /* the read event goes on */
			conn_set_writing(c, false);
		} else {
			conn_tls_failed(c, (int)n);
		}
		return;
	}
}

/*
 * Reads as many records as OpenSSL has at hand into BUF (up to ROOM); a
 * status other than bytes is handled once the bytes before it are.
 */
static size_t conn_recv(struct uh2_conn *c, uint8_t *buf, size_t room, int *ret_status)
{
	size_t got = 0;

	*ret_status = 0;
	while (got < room) {
		ssize_t n = upstream_tls_read(c->tls, buf + got, room - got);

		if (n > 0) {
			got += (size_t)n;
			if (!upstream_tls_pending(c->tls))
				break;
			continue;
		}
		if (n != UPSTREAM_TLS_WANT_READ)
			*ret_status = (int)n;
		break;
	}
	return got;
}

/* One read of what the upstream sent, given to nghttp2 whole. */
static void conn_read(struct uh2_conn *c)
{
	uint8_t buf[32768];
	int status;
	size_t got = conn_recv(c, buf, sizeof(buf), &status);

	if (got) {
		ssize_t n = nghttp2_session_mem_recv(c->session, buf, got);

		if (n < 0) {
			conn_fail(c, UPSTREAM_ERR_PROTOCOL, nghttp2_strerror((int)n));
			return;
		}
		/* before BUF goes: the streams' DATA, one chunk each */
		uh2_streams_deliver(c);
	}
	if (c->dead)
		return;
	if (status == UPSTREAM_TLS_WANT_WRITE) {
		c->read_wants_write = true;
		conn_set_writing(c, true);
	} else if (status < 0) {
		conn_tls_failed(c, status);
	} else if (upstream_tls_pending(c->tls)) {
		/* what OpenSSL holds is not signalled by the socket: come back for it */
		event_active(c->ev_read, EV_READ, 0);
	}
}

static void conn_enter(struct uh2_conn *c)
{
	c->busy++;
}

/* The end of C's I/O: sends what is due, and closes C when it is done for. */
static void conn_leave(struct uh2_conn *c)
{
	if (c->busy == 1 && !c->dead)
		conn_send(c);
	if (c->busy == 1 && !c->dead && !c->streams &&
	    (!nghttp2_session_check_request_allowed(c->session) ||
	     (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))))
		c->dead = true; /* the upstream sent GOAWAY, and its last stream is done */
	if (--c->busy == 0 && c->dead)
		uh2_conn_destroy(c);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct uh2_conn *c = arg;

	(void)fd;
	(void)what;
	conn_enter(c);
	if (c->write_wants_read) {
		c->write_wants_read = false;
		conn_send(c);
	}
	if (!c->dead)
		conn_read(c);
	conn_leave(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct uh2_conn *c = arg;

	(void)fd;
	(void)what;
	conn_enter(c);
	if (c->read_wants_write) {
		c->read_wants_write = false;
		conn_read(c);
	}
	conn_leave(c); /* sends */
}

static void conn_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct uh2_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->streams)
		return;
	conn_enter(c);
	/* a GOAWAY, written if the socket takes it now; then closed */
	nghttp2_session_terminate_session(c->session, NGHTTP2_NO_ERROR);
	conn_send(c);
	c->dead = true;
	conn_leave(c);
}

void uh2_conn_flush(struct uh2_conn *c)
{
	if (c->busy || c->dead)
		return; /* its I/O sends at its end */
	event_active(c->ev_write, EV_WRITE, 0);
}

void uh2_conn_add_stream(struct uh2_conn *c, struct uh2_stream *t)
{
	t->conn = c;
	t->prev = NULL;
	t->next = c->streams;
	if (c->streams)
		c->streams->prev = t;
	c->streams = t;
	if (c->n_streams++ == 0)
		evtimer_del(c->ev_idle);
}

void uh2_conn_remove_stream(struct uh2_conn *c, struct uh2_stream *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		c->streams = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->prev = t->next = NULL;
	t->conn = NULL;
	if (--c->n_streams == 0 && !c->dead) {
		struct timeval tv = {.tv_sec = UH2_IDLE_MS / 1000, .tv_usec = 0};

		evtimer_add(c->ev_idle, &tv);
		uh2_conn_flush(c); /* closes it after a GOAWAY */
	}
}

struct uh2_conn *uh2_conn_pick(struct upstream_h2 *h2, const char *authority)
{
	for (struct uh2_conn *c = h2->conns; c; c = c->next) {
		/* a new connection carries its first stream only, until the upstream's
		 * SETTINGS say how many it takes (one over would be refused) */
		if (c->dead || !c->settled || strcmp(c->authority, authority) != 0 ||
		    !nghttp2_session_check_request_allowed(c->session))
			continue;
		if (c->n_streams < nghttp2_session_get_remote_settings(
		                           c->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS))
			return c;
	}
	return NULL;
}

/* C's session, with our SETTINGS queued: no push, the stream window. */
static int conn_session(struct uh2_conn *c)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_settings_entry settings[] = {
	        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, UH2_STREAM_WINDOW},
	};
	int r;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return -ENOMEM;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cbs);
		return -ENOMEM;
	}
	uh2_stream_callbacks(cbs);
	/* windows are given back as the callers take the bytes (upstream_h2.c) */
	nghttp2_option_set_no_auto_window_update(opt, 1);
	r = nghttp2_session_client_new2(&c->session, cbs, c, opt);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	if (r != 0)
		return -ENOMEM;
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings,
	                            sizeof(settings) / sizeof(settings[0])) != 0 ||
	    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0,
	                                          UH2_CONN_WINDOW) != 0)
		return -ENOMEM;
	return 0;
}

struct uh2_conn *uh2_conn_new(struct upstream_h2 *h2, int fd, struct upstream_tls_conn *tls,
                              const char *authority)
{
	struct uh2_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		upstream_tls_conn_free(tls);
		close(fd);
		return NULL;
	}
	c->h2 = h2;
	c->fd = fd;
	c->tls = tls;
	snprintf(c->authority, sizeof(c->authority), "%s", authority);
	c->ev_read = event_new(h2->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->ev_write = event_new(h2->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	c->ev_idle = evtimer_new(h2->base, conn_on_idle, c);
	if (!c->ev_read || !c->ev_write || !c->ev_idle || conn_session(c) < 0) {
		uh2_conn_destroy(c);
		return NULL;
	}
	c->next = h2->conns;
	if (h2->conns)
		h2->conns->prev = c;
	h2->conns = c;
	event_add(c->ev_read, NULL);
	/* idle until its first stream */
	struct timeval tv = {.tv_sec = UH2_IDLE_MS / 1000, .tv_usec = 0};
	evtimer_add(c->ev_idle, &tv);
	/* the server's preface may have come with the handshake: OpenSSL holds it */
	if (upstream_tls_pending(tls))
		event_active(c->ev_read, EV_READ, 0);
	uh2_conn_flush(c); /* our preface */
	return c;
}
