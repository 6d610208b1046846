/*
 * upstream_http_conn: the own client's connections and their pool (see
 * upstream_http.h). Runs in a worker, on its event loop.
 *
 * One pool per host of idle connections (most recently used first, at most
 * UH_IDLE_PER_HOST, each closed after UH_IDLE_MS idle: a lazy timer, see
 * uh_conn_take()). A connection carries one transfer at a time; its read
 * event stays registered for its whole life, so an idle connection the
 * upstream closes (or sends anything on) is noticed and closed at once.
 * The write event is added only after a short write, while connecting, or
 * while TLS waits for it. A connection goes back to the pool only after a
 * complete keep-alive response with nothing after it, and keeps no read
 * buffer while idle: the buffer goes to the client's spares
 * (uh_spare_give(), at most UH_SPARES), which the next transfers take
 * before any malloc.
 *
 * The response is read into the connection's flat buffer (grown up to
 * UH_RBUF_MAX for a large head) and handed to the transfer
 * (uh_transfer_process()), which parses it in place. With TLS, as many
 * records as OpenSSL has at hand are read at once.
 */
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "upstream_http_int.h"
#include "upstream_tls.h"

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);

static void idle_unlink(struct uh_conn *c)
{
	struct uh_host *h = c->host;

	if (c->prev)
		c->prev->next = c->next;
	else
		h->idle = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	h->n_idle--;
}

void uh_conn_set_reading(struct uh_conn *c, bool on)
{
	if (on == c->reading)
		return;
	if (on)
		event_add(c->ev_read, NULL);
	else
		event_del(c->ev_read);
	c->reading = on;
}

void uh_conn_set_writing(struct uh_conn *c, bool on)
{
	if (on == c->writing)
		return;
	if (on)
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
	c->writing = on;
}

int uh_conn_rbuf_take(struct uh_conn *c)
{
	c->rbuf = uh_spare_take(&c->uh->rbufs);
	if (!c->rbuf)
		return -ENOMEM;
	c->rcap = UH_RBUF;
	return 0;
}

/* C's read buffer, given up: kept as a spare when it is of the usual size
 * and there is room, else freed. */
static void rbuf_give_back(struct uh_conn *c)
{
	if (c->rbuf && c->rcap == UH_RBUF)
		uh_spare_give(&c->uh->rbufs, c->rbuf);
	else
		free(c->rbuf);
	c->rbuf = NULL;
	c->rcap = c->rlen = c->rpos = 0;
}

/* Closes C, which carries no transfer and is not in the pool. */
static void conn_destroy(struct uh_conn *c)
{
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_timer);
	upstream_tls_conn_free(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	rbuf_give_back(c);
	free(c);
}

void uh_conn_give_socket(struct uh_conn *c, int *ret_fd, struct upstream_tls_conn **ret_tls)
{
	*ret_fd = c->fd;
	*ret_tls = c->tls;
	c->fd = -1;
	c->tls = NULL;
}

void uh_conn_close_idle(struct uh_conn *c)
{
	idle_unlink(c);
	conn_destroy(c);
}

bool uh_conn_tls_more(const struct uh_conn *c)
{
	return c->tls && (c->tls_held || upstream_tls_pending(c->tls));
}

struct uh_conn *uh_conn_new(struct upstream_http *uh, struct uh_host *h)
{
	struct uh_conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (!c)
		return NULL;
	c->uh = uh;
	c->host = h;
	c->fd = socket(h->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		free(c);
		return NULL;
	}
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->ev_read = event_new(uh->base, c->fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->ev_write = event_new(uh->base, c->fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
	c->ev_timer = evtimer_new(uh->base, conn_on_timer, c);
	if (!c->ev_read || !c->ev_write || !c->ev_timer) {
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		if (c->ev_timer)
			event_free(c->ev_timer);
		close(c->fd);
		free(c);
		return NULL;
	}
	if (h->tls) {
		c->tls = upstream_tls_conn_new(uh->tls, c->fd, h->name, h->key);
		if (!c->tls) {
			conn_destroy(c);
			errno = ENOMEM;
			return NULL;
		}
		c->handshaking = true;
	}
	if (connect(c->fd, (const struct sockaddr *)&h->addr, h->addr_len) < 0) {
		if (errno == EINPROGRESS)
			c->connecting = true;
		else
			c->error = errno ? errno : ECONNREFUSED;
	}
	return c;
}

/* The idle timer is lazy: armed when a connection first goes idle and left
 * armed while it carries transfers, so that a busy keep-alive connection
 * does not add and delete a timer per request. When it fires, an idle
 * connection idle for UH_IDLE_MS closes; one idle for less waits the rest;
 * a busy one arms it again when it next goes idle. */
static void conn_arm_idle(struct uh_conn *c, int64_t ms)
{
	struct timeval tv = clock_tv_ms(ms > 0 ? (long)ms + 1 : 1);

	evtimer_add(c->ev_timer, &tv);
}

struct uh_conn *uh_conn_take(struct uh_host *h)
{
	struct uh_conn *c = h->idle;

	if (c)
		idle_unlink(c);
	return c;
}

void uh_conn_put(struct uh_conn *c, bool reuse)
{
	struct uh_host *h = c->host;

	c->t = NULL;
	uh_conn_set_writing(c, false);
	if (!reuse || c->rpos != c->rlen || h->n_idle >= UH_IDLE_PER_HOST || uh_conn_tls_more(c)) {
		conn_destroy(c);
		return;
	}
	rbuf_give_back(c); /* an idle connection keeps no buffer */
	c->reused = true;
	uh_conn_set_reading(c, true);
	c->next = h->idle;
	if (h->idle)
		h->idle->prev = c;
	h->idle = c;
	h->n_idle++;
	c->idle_ms = clock_coarse_ms();
	if (!evtimer_pending(c->ev_timer, NULL))
		conn_arm_idle(c, UH_IDLE_MS);
}

/* Room to read into; NULL when the head being read is too large. */
static char *conn_room(struct uh_conn *c, size_t *ret_room)
{
	if (c->rpos == c->rlen) {
		c->rpos = c->rlen = 0;
	} else if (c->rlen == c->rcap && c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
		if (c->t)
			c->t->scan = (struct http_scan){0}; /* offsets moved: rescan */
	}
	if (c->rlen == c->rcap) {
		size_t cap = c->rcap * 2;
		char *n;

		if (cap > UH_RBUF_MAX)
			cap = UH_RBUF_MAX;
		if (cap <= c->rcap)
			return NULL;
		n = realloc(c->rbuf, cap);
		if (!n)
			return NULL;
		c->rbuf = n;
		c->rcap = cap;
	}
	*ret_room = c->rcap - c->rlen;
	return c->rbuf + c->rlen;
}

/* Handles a TLS read's status other than bytes. */
static void conn_tls_status(struct uh_conn *c, int status)
{
	struct uh_transfer *t = c->t;

	if (status == UPSTREAM_TLS_WANT_WRITE) {
		c->read_wants_write = true;
		uh_conn_set_writing(c, true);
	} else if (status == UPSTREAM_TLS_CLOSED) {
		uh_transfer_eof(t, 0);
	} else if (status == UPSTREAM_TLS_TRUNCATED) {
		uh_transfer_truncated(t);
	} else if (status == UPSTREAM_TLS_ERROR) {
		uh_transfer_tls_failed(t);
	}
}

/*
 * Reads as many records as OpenSSL has at hand, up to ROOM: an upstream
 * that writes each stream event apart sends a record per event, and one
 * on_data per record would cost a callback and a client write each. A
 * status that follows bytes is held for the next read.
 */
static size_t conn_recv_tls(struct uh_conn *c, char *dst, size_t room)
{
	size_t got = 0;
	ssize_t n;

	if (c->tls_held) {
		n = c->tls_held;
		c->tls_held = 0;
		conn_tls_status(c, (int)n);
		return 0;
	}
	while (got < room) {
		n = upstream_tls_read(c->tls, dst + got, room - got);
		if (n > 0) {
			got += (size_t)n;
			if (!upstream_tls_pending(c->tls))
				break;
			continue;
		}
		if (!got)
			conn_tls_status(c, (int)n);
		else if (n == UPSTREAM_TLS_WANT_WRITE)
			conn_tls_status(c, (int)n);
		else if (n != UPSTREAM_TLS_WANT_READ)
			c->tls_held = (int)n;
		break;
	}
	return got;
}

/* Reads into DST: bytes read, or 0 when there are none now (T may be gone). */
static size_t conn_recv(struct uh_conn *c, char *dst, size_t room)
{
	struct uh_transfer *t = c->t;
	ssize_t n;

	if (!c->tls) {
		n = recv(c->fd, dst, room, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			uh_transfer_eof(t, n < 0 ? errno : 0);
		return n > 0 ? (size_t)n : 0;
	}
	return conn_recv_tls(c, dst, room);
}

/* An idle TLS connection got a record: fine when it was no data and no close
 * (a TLS 1.3 session ticket or key update, which OpenSSL handles itself). */
static bool conn_idle_tls_ok(struct uh_conn *c)
{
	char byte;

	return c->tls && upstream_tls_read(c->tls, &byte, 1) == UPSTREAM_TLS_WANT_READ &&
	       !upstream_tls_pending(c->tls);
}

/* Reads what the connection has for its transfer, and handles it. */
static void conn_read(struct uh_conn *c)
{
	struct uh_transfer *t = c->t;
	size_t room = 0, n;
	char *dst;

	if (t->paused) {
		uh_conn_set_reading(c, false);
		return;
	}
	dst = conn_room(c, &room);
	if (!dst) {
		uh_transfer_finish(t, UPSTREAM_ERR_PROTOCOL, "the response head is too large");
		return;
	}
	n = conn_recv(c, dst, room);
	if (n == 0)
		return;
	c->rlen += n;
	t->got_bytes = true;
	/* what OpenSSL holds is not signalled by the socket: come back for it
	 * (a connection freed or paused meanwhile cancels or ignores it) */
	if (uh_conn_tls_more(c))
		event_active(c->ev_read, EV_READ, 0);
	uh_transfer_process(t);
}

/* Goes on with C's TLS handshake; sends the request once it is done. */
static void conn_handshake(struct uh_conn *c)
{
	int r = upstream_tls_handshake(c->tls);

	if (r == UPSTREAM_TLS_WANT_READ || r == UPSTREAM_TLS_WANT_WRITE) {
		uh_conn_set_writing(c, r == UPSTREAM_TLS_WANT_WRITE);
		return;
	}
	if (r < 0) {
		uh_transfer_finish(c->t, UPSTREAM_ERR_TLS, upstream_tls_error(c->tls));
		return;
	}
	c->handshaking = false;
	uh_conn_set_writing(c, false);
	if (upstream_tls_chose_http2(c->tls)) {
		uh_handover_run(c->t);
		return;
	}
	free(c->t->handover); /* HTTP/1.1: the request stays ours */
	c->t->handover = NULL;
	if (uh_transfer_send(c->t) && upstream_tls_pending(c->tls))
		event_active(c->ev_read, EV_READ, 0);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct uh_conn *c = arg;
	struct uh_transfer *t = c->t;

	(void)fd;
	(void)what;
	if (!t) {
		/* idle: the upstream closed it, or sent what nobody asked for */
		if (!conn_idle_tls_ok(c))
			uh_conn_close_idle(c);
		return;
	}
	if (c->handshaking) {
		conn_handshake(c);
		return;
	}
	if (c->write_wants_read) {
		c->write_wants_read = false;
		if (t->state == UH_SEND && !uh_transfer_send(t))
			return;
	}
	conn_read(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct uh_conn *c = arg;
	struct uh_transfer *t = c->t;

	(void)fd;
	(void)what;
	if (!t) {
		uh_conn_set_writing(c, false);
		return;
	}
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		c->connecting = false;
		if (err)
			c->error = err;
	}
	if (c->error) {
		uh_conn_set_writing(c, false);
		if (!uh_transfer_next_address(t, c->error))
			uh_transfer_finish(t, UPSTREAM_ERR_CONNECT, strerror(c->error));
		return;
	}
	if (c->handshaking) {
		conn_handshake(c);
		return;
	}
	if (c->read_wants_write) {
		c->read_wants_write = false;
		uh_conn_set_writing(c, false); /* unless the request wants it too */
		if (t->state == UH_SEND && !uh_transfer_send(t))
			return;
		conn_read(c);
		return;
	}
	if (t->state == UH_SEND)
		uh_transfer_send(t);
	else
		uh_conn_set_writing(c, false);
}

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct uh_conn *c = arg;
	int64_t left;

	(void)fd;
	(void)what;
	if (c->t)
		return; /* busy: armed again when it goes idle */
	left = c->idle_ms + UH_IDLE_MS - clock_coarse_ms();
	if (left > 0)
		conn_arm_idle(c, left);
	else
		uh_conn_close_idle(c); /* idle for too long */
}
