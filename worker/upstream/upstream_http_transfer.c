/*
 * upstream_http_transfer: the own client's transfer state machine (see
 * upstream_http.h). Runs in a worker, on its event loop.
 *
 * A transfer waits for its host's name (UH_RESOLVE), sends its request as
 * one buffer, head and body, in one send (UH_SEND), reads the response head
 * (UH_HEAD), parsed in place by upstream_parser.c, then its body (UH_BODY),
 * delivered from the connection's buffer: Content-Length, chunked (decoded
 * in place, one on_data per read) or until close.
 *
 * A reused connection may have been closed by the upstream just as we sent
 * on it: when it fails before any response byte came, the transfer is sent
 * again, once, on a new connection. Never otherwise: a POST that may have
 * been processed is not repeated. A new connection that cannot be made moves
 * on to the host's next address.
 *
 * An abort from inside a callback only marks the transfer; the code that
 * made the call lets go of it.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "upstream_http_int.h"
#include "upstream_tls.h"
#include "upstream_transfer.h"

void uh_transfer_release(struct uh_transfer *t, bool reuse)
{
	struct uh_conn *c = t->conn;

	if (!c)
		return;
	t->conn = NULL;
	uh_conn_put(c, reuse);
}

void uh_transfer_finish(struct uh_transfer *t, enum upstream_result result, const char *error)
{
	char copy[256];

	t->state = UH_DONE;
	if (error) {
		/* it may live in the connection (a TLS error), which is released first */
		snprintf(copy, sizeof(copy), "%s", error);
		error = copy;
	}
	uh_transfer_release(t, result == UPSTREAM_OK && t->keep_alive);
	t->in_callback = true;
	upstream_transfer_done(t->owner, result, t->status, error);
}

/*
 * T's new connection could not be made (ERR): a named host's next address,
 * as libcurl would try, unless T has tried them all. The host keeps the one
 * that works for its next connections. False when there is none to try.
 */
bool uh_transfer_next_address(struct uh_transfer *t, int err)
{
	struct uh_host *h = t->host;
	struct uh_conn *c = t->conn;

	if (!h->resolve || !c || c->reused || t->got_bytes || t->addr_tries + 1 >= h->addrs.n)
		return false;
	t->addr_tries++;
	uh_host_use(h, (h->pick + 1) % h->addrs.n);
	log_info("upstream %s: cannot connect (%s), trying its next address", h->key,
	         strerror(err));
	uh_transfer_release(t, false);
	c = uh_conn_new(t->uh, h);
	if (c && uh_transfer_attach(t, c) == 0)
		return true;
	uh_transfer_finish(t, UPSTREAM_ERR_INTERNAL, "cannot open a new connection");
	return true;
}

/*
 * The connection failed before the response was complete: a reused one
 * that gave nothing back gets the request again on a new connection, once.
 * Else the transfer fails: with BEFORE when no response byte came.
 */
static void transfer_failed_as(struct uh_transfer *t, enum upstream_result before, int err,
                               const char *what)
{
	if (before == UPSTREAM_ERR_CONNECT && t->conn && t->conn->connecting &&
	    uh_transfer_next_address(t, err))
		return;
	if (t->conn && t->conn->reused && !t->got_bytes && !t->retried) {
		struct uh_conn *c;

		t->retried = true;
		uh_transfer_release(t, false);
		c = uh_conn_new(t->uh, t->host);
		if (c && uh_transfer_attach(t, c) == 0)
			return;
		uh_transfer_finish(t, UPSTREAM_ERR_INTERNAL, "cannot open a new connection");
		return;
	}
	if (!t->got_bytes) {
		uh_transfer_finish(t, before, what ? what : strerror(err));
		return;
	}
	uh_transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
	                   what ? what : "the connection closed before the response was complete");
}

static void transfer_conn_failed(struct uh_transfer *t, int err, const char *what)
{
	transfer_failed_as(t, UPSTREAM_ERR_CONNECT, err, what);
}

/* A TLS read or write of T's connection failed. */
void uh_transfer_tls_failed(struct uh_transfer *t)
{
	struct upstream_tls_conn *tls = t->conn->tls;
	int err = upstream_tls_errno(tls);

	/* a socket error is one as for plain HTTP; a TLS alert or bad record is TLS's */
	if (err)
		transfer_conn_failed(t, err, NULL);
	else
		transfer_failed_as(t, UPSTREAM_ERR_TLS, 0, upstream_tls_error(tls));
}

/* One TLS write of what is left; false when it is not to go on now. (A
 * lent body never goes over TLS: build_request() copied it.) */
static bool transfer_send_tls(struct uh_transfer *t, bool *ret_on)
{
	struct uh_conn *c = t->conn;
	ssize_t n = upstream_tls_write(c->tls, t->out + t->out_off, t->out_len - t->out_off);

	*ret_on = true;
	if (n > 0) {
		t->out_off += (size_t)n;
		return true;
	}
	if (n == UPSTREAM_TLS_WANT_WRITE) {
		uh_conn_set_writing(c, true);
	} else if (n == UPSTREAM_TLS_WANT_READ) {
		c->write_wants_read = true; /* the read event goes on */
		uh_conn_set_writing(c, false);
	} else {
		uh_transfer_tls_failed(t);
		*ret_on = false;
	}
	return false;
}

/* What is left of the head, then of a lent body, in one call. */
static ssize_t send_lent(struct uh_transfer *t, int fd)
{
	struct iovec iov[2];
	struct msghdr m = {.msg_iov = iov};

	if (t->out_off < t->out_len)
		iov[m.msg_iovlen++] = (struct iovec){t->out + t->out_off, t->out_len - t->out_off};
	iov[m.msg_iovlen++] =
	        (struct iovec){(char *)t->lent + t->lent_off, t->lent_len - t->lent_off};
	return sendmsg(fd, &m, MSG_NOSIGNAL);
}

/* N bytes sent: of the head first, then of a lent body. */
static void advance(struct uh_transfer *t, size_t n)
{
	size_t head = t->out_len - t->out_off;

	if (n <= head) {
		t->out_off += n;
		return;
	}
	t->out_off = t->out_len;
	t->lent_off += n - head;
}

bool uh_transfer_send(struct uh_transfer *t)
{
	struct uh_conn *c = t->conn;
	int more = 0;
	bool on;

	while (t->out_off < t->out_len || t->lent_off < t->lent_len ||
	       (t->src && (more = uh_body_refill(t)) > 0)) {
		if (c->tls) {
			if (!transfer_send_tls(t, &on))
				return on;
			continue;
		}
		ssize_t n = t->lent ? send_lent(t, c->fd)
		                    : send(c->fd, t->out + t->out_off, t->out_len - t->out_off,
		                           MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			uh_conn_set_writing(c, true);
			return true;
		}
		if (n < 0) {
			transfer_conn_failed(t, errno, NULL);
			return false;
		}
		advance(t, (size_t)n);
	}
	if (more < 0) {
		uh_transfer_finish(t, UPSTREAM_ERR_INTERNAL, "cannot read the request body");
		return false;
	}
	uh_conn_set_writing(c, false);
	t->state = UH_HEAD;
	return true;
}

int uh_transfer_attach(struct uh_transfer *t, struct uh_conn *c)
{
	t->conn = c;
	c->t = t;
	t->out_off = 0;
	t->lent_off = 0;
	if (t->src)
		uh_body_rewind(t);
	t->state = UH_SEND;
	t->keep_alive_ok = true;
	t->scan = (struct http_scan){0};
	if (!c->rbuf && uh_conn_rbuf_take(c) < 0)
		return -ENOMEM;
	uh_conn_set_reading(c, true);
	if (c->error) {
		event_active(c->ev_write, EV_WRITE, 0); /* reported from the loop */
		return 0;
	}
	if (c->connecting || c->handshaking) {
		uh_conn_set_writing(c, true); /* the handshake starts from the loop */
		return 0;
	}
	uh_transfer_send(t);
	return 0;
}

/* Calls a callback of T's caller, which may abort T meanwhile. */
#define CALLBACK(t, call)                 \
	do {                              \
		(t)->in_callback = true;  \
		call;                     \
		(t)->in_callback = false; \
	} while (0)

/* T's caller aborted it from inside a callback: gone. */
static void transfer_aborted(struct uh_transfer *t)
{
	uh_transfer_release(t, false);
	upstream_transfer_free(t->owner);
}

static bool deliver(struct uh_transfer *t, const char *data, size_t len)
{
	if (len == 0)
		return true;
	CALLBACK(t, t->owner->cb.on_data(t->owner->ctx, t->status, data, len));
	if (t->aborted) {
		transfer_aborted(t);
		return false;
	}
	return true;
}

/* Parses a complete head at the start of the unread bytes. False when T is gone. */
static bool transfer_head(struct uh_transfer *t, size_t end)
{
	struct uh_conn *c = t->conn;
	struct upstream_head h;
	int r;

	r = upstream_parse_head(c->rbuf + c->rpos, end, t->uh->headers, UPSTREAM_PARSER_MAX_HEADERS,
	                        &h);
	if (r < 0) {
		uh_transfer_finish(t, UPSTREAM_ERR_PROTOCOL, h.error);
		return false;
	}
	c->rpos += end;
	t->scan = (struct http_scan){0};
	if (t->state == UH_SEND) {
		/* answered before it had all of the request: stop sending, and the
		 * connection cannot carry another request */
		uh_conn_set_writing(c, false);
		c->write_wants_read = false;
		t->state = UH_HEAD;
		t->out_off = t->out_len;
		t->lent_off = t->lent_len;
		t->keep_alive_ok = false;
	}
	if (h.status < 200) {
		if (h.status == 101) {
			uh_transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
			                   "unexpected 101 Switching Protocols");
			return false;
		}
		return true; /* interim: the real head follows */
	}
	t->status = h.status;
	t->keep_alive = h.keep_alive && t->out_off == t->out_len && t->lent_off == t->lent_len &&
	                t->keep_alive_ok;
	t->body = h.body;
	t->remaining = h.content_length;
	if (h.body == UPSTREAM_BODY_CHUNKED)
		http_chunked_init(&t->chunked);
	if (t->owner->cb.on_header) {
		for (size_t i = 0; i < h.n_headers; i++) {
			const struct http_header *f = &h.headers[i];

			CALLBACK(t, t->owner->cb.on_header(t->owner->ctx, f->name, f->name_len,
			                                   f->value, f->value_len));
			if (t->aborted) {
				transfer_aborted(t);
				return false;
			}
		}
	}
	if (t->owner->cb.on_head) {
		CALLBACK(t, t->owner->cb.on_head(t->owner->ctx, t->status));
		if (t->aborted) {
			transfer_aborted(t);
			return false;
		}
	}
	t->state = UH_BODY;
	/* answered: the request is not sent again, and a long stream does not
	 * hold it */
	uh_transfer_out_release(t);
	if (h.body == UPSTREAM_BODY_NONE) {
		uh_transfer_finish(t, UPSTREAM_OK, NULL);
		return false;
	}
	return true;
}

void uh_transfer_process(struct uh_transfer *t)
{
	struct uh_conn *c = t->conn;

	while (!t->paused && c->rpos < c->rlen) {
		char *p = c->rbuf + c->rpos;
		size_t avail = c->rlen - c->rpos, end, used, made;
		int r;

		if (t->state == UH_HEAD || t->state == UH_SEND) {
			r = upstream_scan_head(&t->scan, p, avail, &end);
			if (r == -EAGAIN) {
				if (avail >= UPSTREAM_PARSER_MAX_HEAD)
					uh_transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
					                   "the response head is too large");
				return;
			}
			if (r < 0) {
				uh_transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
				                   "bare CR or LF in the response head");
				return;
			}
			if (!transfer_head(t, end))
				return;
			continue;
		}
		switch (t->body) {
		case UPSTREAM_BODY_LENGTH:
			if (avail > t->remaining)
				avail = (size_t)t->remaining;
			c->rpos += avail;
			t->remaining -= avail;
			if (!deliver(t, p, avail))
				return;
			if (t->remaining == 0) {
				uh_transfer_finish(t, UPSTREAM_OK, NULL);
				return;
			}
			break;
		case UPSTREAM_BODY_CHUNKED:
			r = http_chunked_decode(&t->chunked, p, avail, &used, p, avail, &made);
			c->rpos += used;
			/* the chunks framed well before a bad one are delivered first */
			if (!deliver(t, p, made))
				return;
			if (r == -EBADMSG) {
				uh_transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
				                   "malformed chunked body");
				return;
			}
			if (r == 0) {
				uh_transfer_finish(t, UPSTREAM_OK, NULL);
				return;
			}
			break;
		default: /* until close */
			c->rpos += avail;
			if (!deliver(t, p, avail))
				return;
			break;
		}
	}
}

/* The upstream closed (or reset) T's connection. */
void uh_transfer_eof(struct uh_transfer *t, int err)
{
	if (t->state == UH_BODY && t->body == UPSTREAM_BODY_CLOSE && !err) {
		t->keep_alive = false;
		uh_transfer_finish(t, UPSTREAM_OK, NULL);
		return;
	}
	transfer_conn_failed(t, err ? err : ECONNRESET,
	                     t->got_bytes ? "the connection closed before the response was complete"
	                                  : (err ? NULL : "the upstream closed the connection"));
}

/* The TLS connection closed without close_notify: only the framing can
 * tell a whole response, so one delimited by the close is cut. */
void uh_transfer_truncated(struct uh_transfer *t)
{
	if (t->state == UH_BODY && t->body == UPSTREAM_BODY_CLOSE) {
		uh_transfer_finish(
		        t, UPSTREAM_ERR_PROTOCOL,
		        "the TLS connection closed without close_notify: the response may "
		        "be cut");
		return;
	}
	uh_transfer_eof(t, 0);
}
