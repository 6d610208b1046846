/*
 * http_tls: a client connection through OpenSSL (see http_tls.h).
 *
 * The context (certificate, protocols, ALPN, no renegotiation, released
 * buffers, partial writes, tickets) is the supervisor's, made per generation
 * (supervisor/tls_listener.c); here each connection gets its SSL and drives
 * it from the connection's events. SSL_accept runs from the read event, and
 * from the write event while OpenSSL has bytes the socket did not take; the
 * header timeout armed at accept covers the handshake and the request head
 * together. A read may need a write first (a TLS 1.3 key update answered
 * into a full socket): the write event then retries the read. A write never
 * needs a read here (no renegotiation): if OpenSSL asks for one, the
 * connection fails rather than spin on a writable socket.
 *
 * Plain HTTP sent to the TLS port is answered with a clear-text 400 (the
 * client sees why, as nginx does) and the connection lingers to its close.
 */
#include "http_tls.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "http_conn.h"
#include "log.h"
#include "openai_error.h"
#include "request_id.h"
#include "tls_errors.h"

#define TLS_RECORD    16384 /* bytes of plaintext per write: one full record */
#define TLS_LINGER_MS 2000
#define PLAIN_HTTP_HEAD \
	"HTTP/1.1 400 Bad Request\r\nServer: llmgate\r\nContent-Type: application/json\r\n"

int http_tls_conn_new(struct http_conn *c)
{
	c->ssl = SSL_new(c->srv->opts.tls);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
		SSL_free(c->ssl);
		c->ssl = NULL;
		ERR_clear_error();
		return -ENOMEM;
	}
	SSL_set_accept_state(c->ssl);
	return 0;
}

void http_tls_conn_free(struct http_conn *c)
{
	if (!c->tls_broken && SSL_is_init_finished(c->ssl))
		(void)SSL_shutdown(c->ssl);
	SSL_free(c->ssl);
	c->ssl = NULL;
	ERR_clear_error();
}

void http_tls_shutdown(struct http_conn *c)
{
	if (!c->tls_broken && SSL_is_init_finished(c->ssl))
		(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
}

static void want_write(struct http_conn *c, bool on)
{
	if (on && !c->writing) {
		if (http_conn_write_event(c) < 0) {
			c->failed = true;
			return;
		}
		event_add(&c->w->ev_write, NULL);
		c->writing = true;
	} else if (!on && c->writing && evbuffer_get_length(c->w->out) == 0) {
		event_del(&c->w->ev_write);
		c->writing = false;
	}
}

/* The reason of the failure OpenSSL just reported, for a debug line. */
static const char *failure(struct http_conn *c, int err, char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();

	c->tls_broken = true;
	if (err == SSL_ERROR_SYSCALL && !e)
		snprintf(buf, len, "%s", errno ? strerror(errno) : "the client closed");
	else
		snprintf(buf, len, "%s", e ? ERR_reason_error_string(e) : "unknown error");
	return buf;
}

/* A clear-text 400 for an HTTP request on the TLS port, reported like the
 * server's other rejects (http_conn.c), then linger. */
static void answer_plain_http(struct http_conn *c)
{
	const struct http_server_options *o = &c->srv->opts;
	enum http_reject reason = HTTP_REJECT_PLAIN_HTTP_ON_TLS;
	char body[256], head[256], id[REQUEST_ID_MAX + 1];
	char peer[HTTP_PEER_MAX];
	struct http_rejected r = {.reason = reason,
	                          .status = http_reject_status(reason),
	                          .id = id,
	                          .peer = http_conn_peer(c, peer)};
	size_t n = openai_error_format(body, sizeof(body), http_reject_type(reason),
	                               http_reject_code(reason),
	                               "this port speaks TLS: send the request with https://");
	int h;
	struct timeval tv = {TLS_LINGER_MS / 1000, (TLS_LINGER_MS % 1000) * 1000};

	request_id_generate(id);
	h = snprintf(head, sizeof(head),
	             PLAIN_HTTP_HEAD
	             "Content-Length: %zu\r\nConnection: close\r\nx-request-id: %s\r\n\r\n",
	             n, id);
	struct iovec iov[2] = {{head, (size_t)h}, {body, n}};

	/* best effort: a few hundred bytes into an empty socket buffer */
	if (writev(c->fd, iov, 2) < 0)
		log_debug("client %s: the plain-HTTP answer failed: %s", r.peer, strerror(errno));
	shutdown(c->fd, SHUT_WR);
	c->state = HTTP_CONN_LINGER;
	want_write(c, false);
	evtimer_add(&c->w->timer, &tv);
	r.bytes_out = n;
	if (o->on_reject)
		o->on_reject(o->reject_ctx, &r);
}

int http_tls_handshake(struct http_conn *c)
{
	char why[160], peer[HTTP_PEER_MAX];
	int r, err;

	tls_errors_clear();
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		want_write(c, false);
		c->state = HTTP_CONN_HEAD;
		return 1;
	}
	err = SSL_get_error(c->ssl, r);
	if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
		want_write(c, err == SSL_ERROR_WANT_WRITE);
		return 0;
	}
	if (err == SSL_ERROR_SSL &&
	    (ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTP_REQUEST ||
	     ERR_GET_REASON(ERR_peek_error()) == SSL_R_HTTPS_PROXY_REQUEST)) {
		log_debug("client %s: plain HTTP on the TLS port: 400", http_conn_peer(c, peer));
		c->tls_broken = true;
		ERR_clear_error();
		answer_plain_http(c);
		return -1;
	}
	log_debug("client %s: TLS handshake failed: %s", http_conn_peer(c, peer),
	          failure(c, err, why, sizeof(why)));
	ERR_clear_error();
	c->failed = true;
	return -1;
}

ssize_t http_tls_read(struct http_conn *c, void *buf, size_t len)
{
	char why[160], peer[HTTP_PEER_MAX];
	int n, err;

	tls_errors_clear();
	n = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (n > 0)
		return n;
	err = SSL_get_error(c->ssl, n);
	switch (err) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_WANT_WRITE:
		c->tls_read_wants_write = true;
		want_write(c, true);
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_SYSCALL:
		if (errno == EINTR || errno == EAGAIN)
			return -1;
		__attribute__((fallthrough));
	default:
		log_debug("client %s: TLS read failed: %s", http_conn_peer(c, peer),
		          failure(c, err, why, sizeof(why)));
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

int http_tls_write(struct http_conn *c, struct evbuffer *out)
{
	size_t len = evbuffer_get_length(out);
	unsigned char *data;
	char why[160], peer[HTTP_PEER_MAX];
	int n, err;

	if (len > TLS_RECORD)
		len = TLS_RECORD;
	data = evbuffer_pullup(out, (ev_ssize_t)len);
	if (!data) {
		errno = ENOMEM;
		return -1;
	}
	tls_errors_clear();
	n = SSL_write(c->ssl, data, (int)len);
	if (n > 0) {
		evbuffer_drain(out, (size_t)n);
		return n;
	}
	err = SSL_get_error(c->ssl, n);
	if (err == SSL_ERROR_WANT_WRITE ||
	    (err == SSL_ERROR_SYSCALL && (errno == EINTR || errno == EAGAIN))) {
		errno = err == SSL_ERROR_WANT_WRITE ? EAGAIN : errno;
		return -1;
	}
	log_debug("client %s: TLS write failed: %s", http_conn_peer(c, peer),
	          failure(c, err, why, sizeof(why)));
	ERR_clear_error();
	errno = EPIPE;
	return -1;
}

bool http_tls_pending(const struct http_conn *c)
{
	return SSL_pending(c->ssl) > 0;
}

/* With read-ahead (the listener's context) OpenSSL may also hold records it
 * has not decrypted yet, which SSL_pending() does not count. */
bool http_tls_holds(const struct http_conn *c)
{
	return SSL_has_pending(c->ssl) == 1;
}

void http_tls_kick(struct http_conn *c)
{
	if (c->reading && http_tls_holds(c))
		event_active(&c->ev_read, EV_READ, 0);
}
