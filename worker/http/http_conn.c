/*
 * http_conn: one client connection of a worker's HTTP server (see
 * http_conn.h), from accept to close: reads the socket into the room its
 * reader offers (http_reader.c: buffer, head, body), acts on what the
 * reader makes of it, hands each request to the handler, writes the
 * response the handler gives through the exchange (formatted by
 * http_response.c), then goes on with the next (pipelined) request, or
 * closes. One request at a time, in order. The one owner of the
 * connection's state and its exchange's.
 *
 * Events: the read event (in the connection) stays registered for the
 * connection's life (it also notices a client that leaves mid-response);
 * while the connection is idle it is its one event: before the first
 * request it carries what is left of the header timeout, and an idle
 * keep-alive connection waits in the server's idle list instead (one timer
 * for all of them, an append and an unlink per request).
 * A busy connection holds a work (struct http_work: reader, exchange,
 * output, a timer whose meaning follows the state: header timeout, body
 * timeout, send timeout, linger; the write event, added only while a write
 * has hit EAGAIN), taken from the server's free list at the first byte of a
 * request and given back once the response is flushed and nothing more was
 * read. The server's one deferred event (a list of the connections that
 * asked for it) acts from the loop instead of from inside a handler's call.
 * Timeouts end with 408 (a partial request) or a quiet close.
 *
 * Rejects: every answer the server makes itself instead of a handler
 * (conn_reject(): malformed, too large, too slow, unsupported, out of memory)
 * goes through one function that reports it once to on_reject, with a fixed
 * reason (enum http_reject), so it is counted and logged like any request.
 * A connection that closes without an answer (idle, or a partial request
 * whose client left) is not a request and is not reported.
 *
 * End of input: a client may shut its sending side once its request is out
 * (a half-close): the requests already read are answered, then the
 * connection closes. An EOF is the end of a partial request, though. A
 * client that left altogether looks the same until a write to it fails:
 * a stream notices at its next chunk, a non-streamed request when its answer
 * is written (its upstream transfer runs on, within its timeouts).
 */
#include "http_conn.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "http_tls.h"
#include "log.h"
#include "openai_error.h"
#include "request_id.h"

#define LINGER_MS 2000

static void conn_process(struct http_conn *c);
static void on_write(evutil_socket_t fd, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);

static void conn_arm_timer(struct http_conn *c, long ms)
{
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(&c->w->timer, &tv);
}

static void conn_set_reading(struct http_conn *c, bool on)
{
	if (on == c->reading)
		return;
	if (on)
		event_add(&c->ev_read, NULL);
	else
		event_del(&c->ev_read);
	c->reading = on;
	if (on && c->ssl)
		http_tls_kick(c);
}

/* The event loop's cached clock: free, and close enough for the Date line
 * and the time of a rejected request. */
static struct timeval conn_cached_time(struct http_conn *c)
{
	struct timeval tv;

	if (event_base_gettimeofday_cached(c->srv->base, &tv) < 0)
		gettimeofday(&tv, NULL);
	return tv;
}

static int64_t conn_now_us(struct http_conn *c)
{
	struct timeval tv = conn_cached_time(c);

	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Runs conn_process() (and what else is due) from the event loop soon:
 * through the server's one deferred event. */
static void conn_wake(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (!c->deferred) {
		c->deferred = true;
		c->defer_next = NULL;
		c->defer_prev = srv->defer_tail;
		if (srv->defer_tail)
			srv->defer_tail->defer_next = c;
		else
			srv->defer_head = c;
		srv->defer_tail = c;
		srv->n_deferred++;
	}
	event_active(srv->ev_defer, EV_TIMEOUT, 0);
}

static void conn_unwake(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (!c->deferred)
		return;
	if (c->defer_prev)
		c->defer_prev->defer_next = c->defer_next;
	else
		srv->defer_head = c->defer_next;
	if (c->defer_next)
		c->defer_next->defer_prev = c->defer_prev;
	else
		srv->defer_tail = c->defer_prev;
	c->defer_prev = c->defer_next = NULL;
	c->deferred = false;
	srv->n_deferred--;
}

/* ---- between requests: the work given back (http_work.c) ------------- */

/* The header timeout left for the current head: the first one's counts
 * from accept, a keep-alive one's from its first byte. */
static long conn_head_ms(struct http_conn *c)
{
	long ms = c->srv->opts.header_timeout_ms;
	int64_t spent;

	if (c->served)
		return ms;
	spent = (conn_now_us(c) - c->accepted_us) / 1000;
	if (spent < 0)
		spent = 0; /* the wall clock stepped back */
	return spent >= ms ? 1 : ms - (long)spent;
}

/* C is between requests: when nothing is buffered, pending, or waited for,
 * its work goes back. A keep-alive connection joins the idle list; one that
 * has not sent its first request yet waits what is left of the header
 * timeout on its read event. */
static void conn_idle(struct http_conn *c)
{
	struct http_work *w = c->w;

	if (!w || c->state != HTTP_CONN_HEAD || c->failed || c->peer_eof || !c->reading ||
	    c->writing || w->in.rlen > 0 || evbuffer_get_length(w->out) > 0 ||
	    (c->ssl && http_tls_pending(c)))
		return;
	if (c->served) {
		http_work_detach(c);
		/* still listed: woken by bytes without a request, its idle time runs on */
		if (!c->idle_listed)
			http_idle_add(c);
	} else {
		struct timeval tv = clock_tv_ms(conn_head_ms(c));

		http_work_detach(c);
		event_add(&c->ev_read, &tv);
	}
}

const char *http_conn_peer(const struct http_conn *c, char buf[HTTP_PEER_MAX])
{
	return http_peer_format(&c->peer, buf);
}

/* ---- output: the bytes of the exchange's response -------------------- */

/* The Date line, remade at most once a second. */
static const char *conn_date_line(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	struct timeval tv = conn_cached_time(c);

	if (tv.tv_sec != srv->date_sec) {
		http_response_date(srv->date, tv.tv_sec);
		srv->date_sec = tv.tv_sec;
	}
	return srv->date;
}

/* Queues the head of the exchange's response into the output buffer. */
static int conn_queue_head(struct http_conn *c, int status, const char *content_type,
                           enum http_framing framing, size_t length)
{
	struct http_exchange *ex = &c->w->ex;
	struct http_response_head h = {
	        .status = status,
	        .content_type = content_type,
	        .framing = framing,
	        .length = length,
	        .keep_alive = c->w->in.head.keep_alive && !c->close_after && !c->srv->draining &&
	                      framing != HTTP_FRAMING_CLOSE,
	        .http10 = c->w->in.head.version_minor == 0,
	        .date = conn_date_line(c),
	        .lines = ex->headers.lines,
	        .lines_len = ex->headers.len,
	};
	struct evbuffer_iovec vec;

	if (evbuffer_reserve_space(c->w->out, (ev_ssize_t)http_response_head_max(&h), &vec, 1) != 1)
		return -ENOMEM;
	vec.iov_len = http_response_head_write(vec.iov_base, &h);
	evbuffer_commit_space(c->w->out, &vec, 1);
	if (!h.keep_alive)
		c->close_after = true;
	return 0;
}

/* Frames the streamed data gathered so far as one chunk in the output. */
static void conn_seal(struct http_conn *c)
{
	struct http_exchange *ex = &c->w->ex;
	size_t len = ex->chunk ? evbuffer_get_length(ex->chunk) : 0;
	char line[HTTP_RESPONSE_CHUNK_LINE];

	if (len == 0)
		return;
	if (evbuffer_add(c->w->out, line, http_response_chunk_line(line, len)) < 0 ||
	    evbuffer_add_buffer(c->w->out, ex->chunk) < 0 || evbuffer_add(c->w->out, "\r\n", 2) < 0)
		c->failed = true;
}

/* Writes what is pending now; on failure marks C for closing. */
static void conn_flush(struct http_conn *c)
{
	struct http_exchange *ex = &c->w->ex;
	size_t pending;
	bool progress = false;

	c->flush_due = false;
	conn_seal(c);
	pending = evbuffer_get_length(c->w->out);
	while (pending > 0 && !c->failed) {
		int n = c->ssl ? http_tls_write(c, c->w->out) : evbuffer_write(c->w->out, c->fd);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			c->failed = true;
			conn_wake(c); /* closed from the loop, not from a handler's call */
			break;
		}
		progress = true;
		pending = evbuffer_get_length(c->w->out);
	}
	if (pending > 0 && !c->failed && !c->writing && http_conn_write_event(c) < 0) {
		c->failed = true;
		conn_wake(c);
	}
	if (pending > 0 && !c->failed) {
		if (!c->writing) {
			event_add(&c->w->ev_write, NULL);
			c->writing = true;
		}
		/* the send timeout counts from the last progress */
		if (c->state >= HTTP_CONN_HANDLER &&
		    (progress || !evtimer_pending(&c->w->timer, NULL)))
			conn_arm_timer(c, c->srv->opts.send_timeout_ms);
	} else if (c->writing) {
		event_del(&c->w->ev_write);
		c->writing = false;
		if (c->state == HTTP_CONN_HANDLER || c->state == HTTP_CONN_FLUSH)
			evtimer_del(&c->w->timer);
	}
	if (ex->state != HTTP_EXCHANGE_DONE) {
		if (pending > HTTP_EXCHANGE_HIGH_WATERMARK) {
			ex->over_high = true;
		} else if (ex->over_high && pending < HTTP_EXCHANGE_LOW_WATERMARK) {
			ex->over_high = false;
			c->writable_due = true;
			conn_wake(c);
		}
	}
}

/* The exchange has ended: flush, then go on with the connection. */
static void conn_exchange_done(struct http_conn *c)
{
	c->state = HTTP_CONN_FLUSH;
	c->writable_due = false;
	if (!c->in_process)
		conn_wake(c);
}

/* Ends the exchange after its last bytes are queued. */
static int conn_finish(struct http_conn *c)
{
	conn_flush(c);
	conn_exchange_done(c);
	return c->failed ? -EPIPE : 0;
}

/* A complete response made by the server itself (rejects, a handler's
 * abort before it sent anything): OpenAI-shaped JSON with "Connection:
 * close" and x-request-id ID (NULL: a new one). Returns the body's length. */
static size_t conn_answer_error(struct http_conn *c, int status, const char *type, const char *code,
                                const char *message, const char *id)
{
	struct http_exchange *ex = &c->w->ex;
	char body[512], new_id[REQUEST_ID_MAX + 1];
	size_t n;

	n = openai_error_format(body, sizeof(body), type, code, message);
	if (n >= sizeof(body))
		n = openai_error_format(body, sizeof(body), "server_error", NULL, "error");
	c->close_after = true;
	c->state = HTTP_CONN_FLUSH;
	ex->state = HTTP_EXCHANGE_DONE;
	ex->head_only = false;
	ex->headers.len = 0;
	if (!id) {
		request_id_generate(new_id);
		id = new_id;
	}
	(void)http_header_block_add_known(&ex->headers, "x-request-id", 12, id);
	if (conn_queue_head(c, status, "application/json", HTTP_FRAMING_LENGTH, n) < 0 ||
	    evbuffer_add(c->w->out, body, n) < 0)
		c->failed = true;
	(void)conn_finish(c);
	return n;
}

/* ---- input: requests ----------------------------------------------------- */

/* The client's "address:port" in the work, made when the work last held
 * another address (a keep-alive connection usually gets its own back). */
static const char *conn_peer_text(struct http_conn *c)
{
	struct http_work *w = c->w;

	if (!w->peer[0] || memcmp(&w->peer_of, &c->peer, sizeof(c->peer)) != 0) {
		memcpy(&w->peer_of, &c->peer, sizeof(c->peer));
		http_peer_format(&c->peer, w->peer);
	}
	return w->peer;
}

static void conn_dispatch(struct http_conn *c)
{
	struct http_request *req = &c->w->req;
	const struct http_head *h = &c->w->in.head;

	*req = (struct http_request){
	        .method = h->method,
	        .target = h->target,
	        .path = h->path,
	        .path_len = h->path_len,
	        .query = h->query,
	        .query_len = h->query_len,
	        .version_minor = h->version_minor,
	        .headers = h->headers,
	        .n_headers = h->n_headers,
	        .body = c->w->in.body,
	        .body_len = c->w->in.body_len,
	        .body_in_file = c->w->in.spooled,
	        .body_fd = c->w->in.spooled ? c->w->in.spool_fd : -1,
	        .peer = conn_peer_text(c),
	};
	evtimer_del(&c->w->timer);
	c->w->ex.state = HTTP_EXCHANGE_OPEN;
	c->w->ex.cb = (struct http_exchange_callbacks){0};
	c->w->ex.cb_ctx = NULL;
	c->w->ex.headers.len = 0;
	c->w->ex.chunked = false;
	c->w->ex.over_high = false;
	c->w->ex.head_only = strcmp(h->method, "HEAD") == 0;
	c->state = HTTP_CONN_HANDLER;
	c->srv->opts.handler(c->srv->opts.ctx, &c->w->ex, req);
}

/* Answers the current request ourselves (see http_server.h) and reports it.
 * HAVE_HEAD: the head was parsed (its method and path are known). */
static void conn_reject(struct http_conn *c, enum http_reject reason, const char *message,
                        bool have_head)
{
	const struct http_server_options *o = &c->srv->opts;
	int status = http_reject_status(reason);
	char id[REQUEST_ID_MAX + 1];
	struct http_rejected r = {
	        .reason = reason,
	        .status = status,
	        .id = id,
	        .peer = conn_peer_text(c),
	        .method = have_head ? c->w->in.head.method : NULL,
	        .path = have_head ? c->w->in.head.path : NULL,
	        .path_len = have_head ? c->w->in.head.path_len : 0,
	        .bytes_in = c->state == HTTP_CONN_BODY ? c->w->in.body_len : 0,
	};

	log_debug("client %s: %d %s", r.peer, status, message);
	evtimer_del(&c->w->timer);
	request_id_generate(id);
	r.bytes_out = conn_answer_error(c, status, http_reject_type(reason),
	                                http_reject_code(reason), message, id);
	if (!o->on_reject)
		return;
	r.total_us = c->w->start_us ? conn_now_us(c) - c->w->start_us : 0;
	if (r.total_us < 0)
		r.total_us = 0; /* the wall clock stepped back */
	o->on_reject(o->reject_ctx, &r);
}

/* Acts on what a step of the reader came to. True when the state changed. */
static bool conn_take(struct http_conn *c, struct http_read_result r)
{
	switch (r.what) {
	case HTTP_READ_MORE:
		return false;
	case HTTP_READ_BODY:
		c->state = HTTP_CONN_BODY;
		conn_arm_timer(c, c->srv->opts.body_timeout_ms);
		if (r.send_continue) {
			if (evbuffer_add(c->w->out, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
				c->failed = true;
			conn_flush(c);
		}
		return true;
	case HTTP_READ_REQUEST:
		conn_dispatch(c);
		return true;
	case HTTP_READ_REJECT:
		conn_reject(c, r.reason, r.message, r.have_head);
		return true;
	}
	return false;
}

static bool conn_read_head(struct http_conn *c)
{
	struct http_read_result r;

	if (!c->w || c->w->in.rlen == 0)
		return false;
	if (c->w->start_us == 0)
		c->w->start_us = conn_now_us(c);
	r = http_reader_head(&c->w->in, c->srv->scratch, c->srv->opts.max_body);
	if (r.what != HTTP_READ_MORE) {
		/* this head is done with, whatever came of it (the timer pending,
		 * idle or header, is replaced or deleted by what comes next) */
		c->served = true;
		c->w->head_timer = false;
	} else if (!c->w->head_timer) {
		/* armed only for a head that did not come whole in its first read
		 * (the usual one does: no timer armed and deleted per request) */
		c->w->head_timer = true;
		conn_arm_timer(c, conn_head_ms(c));
	}
	return conn_take(c, r);
}

static bool conn_read_body(struct http_conn *c)
{
	return conn_take(c, http_reader_body(&c->w->in, c->srv->opts.max_body));
}

static size_t conn_unread(struct http_conn *c)
{
	size_t buffered = http_reader_unread(&c->w->in);
	int n = 0;

	if (buffered > 0)
		return buffered;
	if (ioctl(c->fd, FIONREAD, &n) < 0)
		return 0;
	return n > 0 ? (size_t)n : 0;
}

/* The response is flushed: next request, or close. True when the state changed. */
static bool conn_finish_response(struct http_conn *c)
{
	if (evbuffer_get_length(c->w->out) > 0)
		return false;
	if (c->close_after || c->srv->draining) {
		if (conn_unread(c) == 0) {
			/* nothing of the client's would be lost: close at once */
			c->failed = true;
			return false;
		}
		/* Closing with unread input would send a RST that can destroy the
		 * response in flight: shut our side and read until the client closes. */
		if (c->ssl)
			http_tls_shutdown(c);
		shutdown(c->fd, SHUT_WR);
		c->state = HTTP_CONN_LINGER;
		http_reader_discard(&c->w->in);
		conn_set_reading(c, true);
		conn_arm_timer(c, LINGER_MS);
		return false;
	}
	http_reader_next(&c->w->in);
	c->w->head_timer = false;
	c->w->start_us = 0;
	c->close_after = false;
	c->state = HTTP_CONN_HEAD;
	if (c->peer_eof)
		return true; /* conn_process serves what is buffered, or closes */
	conn_set_reading(c, true);
	/* an idle keep-alive connection keeps no buffer (SPEC 13: a few KiB
	 * per idle connection): its work goes back to the server */
	conn_idle(c);
	return true;
}

static void conn_process(struct http_conn *c)
{
	bool more = true;

	c->in_process = true;
	while (more && !c->failed) {
		switch (c->state) {
		case HTTP_CONN_HEAD:
			more = conn_read_head(c);
			break;
		case HTTP_CONN_BODY:
			more = conn_read_body(c);
			break;
		case HTTP_CONN_FLUSH:
			more = conn_finish_response(c);
			break;
		default:
			more = false;
			break;
		}
	}
	/* after the client's EOF, a request not whole by now never will be */
	if (c->peer_eof && (c->state == HTTP_CONN_HEAD || c->state == HTTP_CONN_BODY))
		c->failed = true;
	c->in_process = false;
}

/* What the reader is reading, by the connection's state. */
static enum http_reader_phase conn_phase(const struct http_conn *c)
{
	return c->state == HTTP_CONN_HEAD   ? HTTP_READER_HEAD
	       : c->state == HTTP_CONN_BODY ? HTTP_READER_BODY
	                                    : HTTP_READER_AFTER;
}

static void conn_linger_read(struct http_conn *c)
{
	char discard[16384];
	ssize_t n = recv(c->fd, discard, sizeof(discard), 0);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		http_conn_close(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;
	size_t room = 0;
	char *dst;
	ssize_t n;

	if (!c->w) {
		if (!(what & EV_READ)) {
			http_conn_close(c); /* idle, or connected and never sent a byte */
			return;
		}
		if (http_work_attach(c, on_timer) < 0) {
			char peer[HTTP_PEER_MAX];

			log_warning("client %s: out of memory, connection closed",
			            http_conn_peer(c, peer));
			http_conn_close(c);
			return;
		}
	}
	if (c->state == HTTP_CONN_LINGER) {
		conn_linger_read(c);
		return;
	}
	if (c->state == HTTP_CONN_HANDSHAKE && http_tls_handshake(c) <= 0) {
		if (c->failed)
			http_conn_close(c);
		return;
	}
	dst = http_reader_room(&c->w->in, conn_phase(c), &room);
	if (!dst) {
		/* full while the handler works: stop until the request is done */
		conn_set_reading(c, false);
		return;
	}
	n = c->ssl ? http_tls_read(c, dst, room) : recv(c->fd, dst, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		conn_idle(c); /* nothing after all (or a TLS record without data) */
		return;
	}
	if (n == 0 && (c->state == HTTP_CONN_HANDLER || c->state == HTTP_CONN_FLUSH)) {
		/* a half-close after a whole request: answer it (see the top) */
		c->peer_eof = true;
		conn_set_reading(c, false);
		return;
	}
	if (n <= 0) {
		/* the client left, or half-closed in the middle of a request */
		http_conn_close(c);
		return;
	}
	if (c->idle_listed)
		http_idle_remove(c); /* a request begins */
	http_reader_got(&c->w->in, conn_phase(c), (size_t)n);
	conn_process(c);
	if (c->failed)
		http_conn_close(c);
	else if (c->ssl)
		http_tls_kick(c);
}

int http_conn_write_event(struct http_conn *c)
{
	struct http_work *w = c->w;

	/* set up on the first EAGAIN: most connections never need it */
	if (!w->write_assigned) {
		if (event_assign(&w->ev_write, c->srv->base, c->fd, EV_WRITE | EV_PERSIST, on_write,
		                 c) < 0)
			return -ENOMEM;
		w->write_assigned = true;
	}
	return 0;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	if (c->state == HTTP_CONN_HANDSHAKE) {
		if (http_tls_handshake(c) < 0 && c->failed)
			http_conn_close(c);
		else if (c->state == HTTP_CONN_HEAD) {
			http_tls_kick(c); /* the request, read ahead with the handshake */
			conn_idle(c);     /* handshaken, no request yet */
		}
		return;
	}
	if (c->tls_read_wants_write) {
		c->tls_read_wants_write = false;
		event_active(&c->ev_read, EV_READ, 0);
	}
	conn_flush(c);
	if (!c->failed && c->state == HTTP_CONN_FLUSH)
		conn_process(c);
	if (c->failed)
		http_conn_close(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *c = arg;

	switch (c->state) {
	case HTTP_CONN_HEAD:
		if (c->w->in.rlen == 0) {
			http_conn_close(c); /* connected and never sent a byte */
			return;
		}
		conn_reject(c, HTTP_REJECT_HEAD_TIMEOUT, "the request head took too long", false);
		break;
	case HTTP_CONN_BODY:
		conn_reject(c, HTTP_REJECT_BODY_TIMEOUT, "the request body took too long", true);
		break;
	case HTTP_CONN_HANDLER:
	case HTTP_CONN_FLUSH:
		log_debug("client %s: nothing read for %ld ms, closing", c->w->peer,
		          c->srv->opts.send_timeout_ms);
		http_conn_close(c);
		return;
	default:
		http_conn_close(c);
		return;
	}
	conn_process(c);
	if (c->failed)
		http_conn_close(c);
}

static void conn_deferred(struct http_conn *c)
{
	if (!c->failed && c->flush_due)
		conn_flush(c);
	if (!c->failed && c->writable_due) {
		c->writable_due = false;
		if (c->w->ex.state != HTTP_EXCHANGE_DONE && c->w->ex.cb.on_writable)
			c->w->ex.cb.on_writable(c->w->ex.cb_ctx);
	}
	if (!c->failed)
		conn_process(c);
	if (c->failed)
		http_conn_close(c);
}

void http_conn_run_deferred(struct http_server *srv)
{
	/* only those in the list now: one that asks again waits for the next
	 * pass (as its own event would), and one closed meanwhile has left it */
	for (size_t n = srv->n_deferred; n > 0 && srv->defer_head; n--) {
		struct http_conn *c = srv->defer_head;

		conn_unwake(c);
		conn_deferred(c);
	}
}

int http_conn_new(struct http_server *srv, int fd, const struct sockaddr_storage *addr)
{
	struct http_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return -ENOMEM;
	c->srv = srv;
	c->fd = fd;
	c->state = srv->opts.tls ? HTTP_CONN_HANDSHAKE : HTTP_CONN_HEAD;
	http_peer_set(&c->peer, addr);
	c->accepted_us = conn_now_us(c);
	if (event_assign(&c->ev_read, srv->base, fd, EV_READ | EV_PERSIST, on_read, c) < 0 ||
	    (srv->opts.tls && (http_work_attach(c, on_timer) < 0 || http_tls_conn_new(c) < 0))) {
		http_work_detach(c);
		free(c);
		return -ENOMEM;
	}
	/* SSE chunks are small: do not let Nagle hold them for an ACK. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	if (c->w) {
		/* TLS: the handshake runs under the header timeout */
		conn_set_reading(c, true);
		c->w->head_timer = true;
		conn_arm_timer(c, srv->opts.header_timeout_ms);
	} else {
		/* plain: idle until the first byte, within the header timeout */
		struct timeval tv = clock_tv_ms(srv->opts.header_timeout_ms);

		event_add(&c->ev_read, &tv);
		c->reading = true;
	}
	return 0;
}

void http_conn_close(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (c->w && c->w->ex.state != HTTP_EXCHANGE_DONE) {
		c->w->ex.state = HTTP_EXCHANGE_DONE;
		if (c->w->ex.cb.on_abort)
			c->w->ex.cb.on_abort(c->w->ex.cb_ctx);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	event_del(&c->ev_read);
	if (c->idle_listed)
		http_idle_remove(c);
	conn_unwake(c);
	http_work_detach(c);
	if (c->ssl)
		http_tls_conn_free(c);
	close(c->fd);
	free(c);
	http_server_conn_closed(srv);
}

void http_conn_drain(struct http_conn *c)
{
	int n = 0;

	/* Idle keep-alive with nothing on the way: close. A connection that has
	 * not sent its first request yet is kept: that request is on its way. */
	if (c->state != HTTP_CONN_HEAD || !c->served ||
	    (c->w && (c->w->in.rlen > 0 || evbuffer_get_length(c->w->out) > 0)))
		return;
	if (c->ssl && http_tls_holds(c))
		return; /* a request OpenSSL has read from the socket already */
	if (ioctl(c->fd, FIONREAD, &n) == 0 && n == 0)
		http_conn_close(c);
}

/* ---- the exchange: the handler's side (see http_server.h) ------------- */

void http_exchange_set_callbacks(struct http_exchange *ex, const struct http_exchange_callbacks *cb,
                                 void *ctx)
{
	ex->cb = cb ? *cb : (struct http_exchange_callbacks){0};
	ex->cb_ctx = ctx;
}

int http_exchange_add_header(struct http_exchange *ex, const char *name, const char *value)
{
	if (ex->state != HTTP_EXCHANGE_OPEN || http_header_is_own(name, HTTP_OWN_RESPONSE))
		return -EINVAL; /* framing and the fixed headers are the server's own */
	return http_header_block_add(&ex->headers, name, value);
}

int http_exchange_add_known_header(struct http_exchange *ex, const char *name, size_t name_len,
                                   const char *value)
{
	if (ex->state != HTTP_EXCHANGE_OPEN)
		return -EINVAL;
#ifdef LLMGATE_DEBUG_CHECKS
	/* the release build trusts its caller; debug builds (the tests') check */
	if (strlen(name) != name_len || !http_header_name_valid(name) ||
	    http_header_is_own(name, HTTP_OWN_RESPONSE))
		abort();
#endif
	return http_header_block_add_known(&ex->headers, name, name_len, value);
}

int http_exchange_add_header_lines(struct http_exchange *ex, const char *lines, size_t len)
{
	if (ex->state != HTTP_EXCHANGE_OPEN)
		return -EINVAL;
#ifdef LLMGATE_DEBUG_CHECKS
	/* the release build trusts its caller; debug builds (the tests') check */
	if (!http_header_lines_valid(lines, len))
		abort();
#endif
	return http_header_block_append(&ex->headers, lines, len);
}

/* Ends an exchange that is in state FROM (-EINVAL if it is not); -EPIPE
 * when the connection has failed, with nothing more to write. */
static int exchange_end(struct http_exchange *ex, enum http_exchange_state from)
{
	if (ex->state != from)
		return -EINVAL;
	ex->state = HTTP_EXCHANGE_DONE;
	if (ex->conn->failed) {
		conn_exchange_done(ex->conn);
		return -EPIPE;
	}
	return 0;
}

/* A whole response in one write; the body is either BODY/LEN (copied) or
 * BUF (moved, and left empty). */
static int exchange_send_whole(struct http_exchange *ex, int status, const char *content_type,
                               const void *body, size_t len, struct evbuffer *buf)
{
	struct http_conn *c = ex->conn;
	enum http_framing framing = http_response_whole_framing(status);
	int r = exchange_end(ex, HTTP_EXCHANGE_OPEN);

	if (r < 0)
		return r;
	r = conn_queue_head(c, status, content_type, framing, len);
	if (r == 0 && len > 0 && !ex->head_only && framing == HTTP_FRAMING_LENGTH &&
	    (buf ? evbuffer_add_buffer(c->w->out, buf) : evbuffer_add(c->w->out, body, len)) < 0)
		r = -ENOMEM;
	if (buf)
		evbuffer_drain(buf, evbuffer_get_length(buf));
	if (r < 0)
		c->failed = true;
	int f = conn_finish(c);
	return r < 0 ? r : f;
}

int http_exchange_send(struct http_exchange *ex, int status, const char *content_type,
                       const void *body, size_t len)
{
	return exchange_send_whole(ex, status, content_type, body, len, NULL);
}

int http_exchange_send_buffer(struct http_exchange *ex, int status, const char *content_type,
                              struct evbuffer *body)
{
	return exchange_send_whole(ex, status, content_type, NULL, evbuffer_get_length(body), body);
}

int http_exchange_stream_start(struct http_exchange *ex, int status, const char *content_type)
{
	struct http_conn *c = ex->conn;
	int r;

	if (ex->state != HTTP_EXCHANGE_OPEN)
		return -EINVAL;
	ex->state = HTTP_EXCHANGE_STREAMING;
	ex->chunked = c->w->in.head.version_minor >= 1;
	if (c->failed)
		return -EPIPE;
	if (ex->chunked && !ex->chunk && !(ex->chunk = evbuffer_new())) {
		c->failed = true;
		conn_wake(c);
		return -ENOMEM;
	}
	r = conn_queue_head(c, status, content_type,
	                    ex->chunked ? HTTP_FRAMING_CHUNKED : HTTP_FRAMING_CLOSE, 0);
	if (r < 0) {
		c->failed = true;
		conn_wake(c);
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
	r = evbuffer_add(ex->chunked ? ex->chunk : c->w->out, data, len);
	if (r < 0) {
		c->failed = true;
		conn_wake(c);
		return -ENOMEM;
	}
	if (http_exchange_pending(ex) > HTTP_EXCHANGE_HIGH_WATERMARK)
		ex->over_high = true; /* on_writable is owed once it drains */
	/* Written from the loop once the current event is handled: what one
	 * upstream read delivers (curl hands it over piece by piece) leaves as
	 * one chunk in one write. */
	if (!c->flush_due) {
		c->flush_due = true;
		conn_wake(c);
	}
	return 0;
}

int http_exchange_stream_end(struct http_exchange *ex)
{
	struct http_conn *c = ex->conn;
	int r = exchange_end(ex, HTTP_EXCHANGE_STREAMING);

	if (r < 0)
		return r;
	if (!ex->chunked) {
		c->close_after = true; /* the close is the end */
	} else if (!ex->head_only) {
		conn_seal(c);
		if (evbuffer_add(c->w->out, "0\r\n\r\n", 5) < 0)
			c->failed = true;
	}
	return conn_finish(c);
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
		(void)conn_answer_error(c, 500, "server_error", "internal_error",
		                        "the request failed", NULL);
		return;
	}
	(void)conn_finish(c);
}

size_t http_exchange_pending(const struct http_exchange *ex)
{
	return evbuffer_get_length(ex->conn->w->out) +
	       (ex->chunk ? evbuffer_get_length(ex->chunk) : 0);
}
