/*
 * upstream_http: own HTTP/1.1 keep-alive client for plain-HTTP upstreams
 * (see upstream_http.h). Runs in a worker, on its event loop.
 *
 * Connections: one pool per host:port of idle connections (most recently
 * used first, at most UH_IDLE_PER_HOST, each closed after UH_IDLE_MS). A
 * connection carries one transfer at a time; its read event stays
 * registered for its whole life, so an idle connection the upstream closes
 * (or sends anything on) is noticed and closed at once. The write event is
 * added only after a short write or while connecting.
 *
 * A request goes out as one buffer (head and body) in one send. The response
 * is read into a flat buffer and parsed in place (upstream_parser.c); bodies
 * are delivered from that buffer: Content-Length, chunked (decoded in place,
 * one on_data per read) or until close. A connection goes back to the pool
 * only after a complete keep-alive response with nothing after it.
 *
 * A reused connection may have been closed by the upstream just as we sent
 * on it: when it fails before any response byte came, the transfer is sent
 * again, once, on a new connection. Never otherwise: a POST that may have
 * been processed is not repeated.
 *
 * Callbacks never run from inside upstream_http_start(); failures found
 * there are delivered from the loop. An abort from inside a callback only
 * marks the transfer; the code that made the call frees it.
 */
#include "upstream_http.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "resolver.h"
#include "upstream_parser.h"
#include "upstream_serialize.h"
#include "upstream_tls.h"

#define UH_RBUF          16384
#define UH_RBUF_MAX      (UPSTREAM_PARSER_MAX_HEAD + UH_RBUF)
#define UH_IDLE_PER_HOST 256
#define UH_IDLE_MS       60000

_Static_assert(UPSTREAM_URL_MAX_NAME == RESOLVER_NAME_MAX, "a URL's host name is resolvable");

struct uh_host {
	struct uh_host *next;
	char key[UPSTREAM_URL_MAX_AUTHORITY]; /* the URL's authority, also the Host header */
	char name[UPSTREAM_URL_MAX_NAME +
	          1]; /* the host: the name resolved, and for TLS verified */
	bool tls;
	bool resolve; /* NAME is a host name: addr is its last answer */
	bool http2;   /* https: a handshake chose HTTP/2: libcurl's from then on */
	uint16_t port;
	struct resolver_answer addrs; /* with a name: its addresses, and the one in use */
	size_t pick;
	struct sockaddr_storage addr; /* where new connections go */
	socklen_t addr_len;
	struct uh_conn *idle; /* most recently used first */
	size_t n_idle;
};

struct uh_conn {
	struct upstream_http *uh;
	struct uh_host *host;
	struct uh_conn *prev, *next; /* in host->idle */
	struct uh_transfer *t;       /* NULL when idle */
	int fd;
	int error; /* a connect error to report from the loop */
	struct event *ev_read, *ev_write, *ev_timer;
	struct upstream_tls_conn *tls; /* NULL for plain HTTP */
	bool reading, writing, connecting;
	bool handshaking;      /* TLS: connected, the handshake not done */
	bool read_wants_write; /* TLS: the last read waits for writability */
	bool write_wants_read; /* TLS: the last write waits for readability */
	int tls_held;          /* TLS: a read's status that came after bytes, for the next read */
	bool reused;           /* it carried a response before this transfer */
	char *rbuf;
	size_t rcap, rlen, rpos; /* rpos: bytes of rbuf already handled */
};

enum uh_state {
	UH_RESOLVE,
	UH_SEND,
	UH_HEAD,
	UH_BODY,
	UH_DONE,
};

/* A request to an https upstream that goes on a new connection, whose
 * handshake may pick HTTP/2, kept to hand it to libcurl then. One allocation:
 * the header array and every string follow the struct. */
struct uh_handover {
	const char *url;
	struct upstream_header *headers;
	size_t n_headers;
	size_t body_off, body_len; /* the body, in the transfer's out buffer */
};

struct uh_transfer {
	struct upstream_transfer_tag tag;
	struct upstream_http *uh;
	struct uh_host *host;
	struct uh_conn *conn;
	struct upstream_callbacks cb;
	void *ctx;
	struct resolver_query *query;   /* while its host name is resolved */
	struct event *ev_timeout;       /* only with a timeout */
	struct uh_handover *handover;   /* until its new connection has chosen HTTP/1.1 */
	struct upstream_transfer *curl; /* handed over: libcurl's, which this one passes on */
	char *out;                      /* the request: head and body */
	size_t out_len, out_off;
	enum uh_state state;
	struct http_scan scan;
	enum upstream_body_kind body;
	uint64_t remaining;
	struct http_chunked chunked;
	long status;
	bool keep_alive;
	bool keep_alive_ok; /* false once the upstream answered early */
	bool got_bytes;     /* any byte of a response arrived */
	bool retried;
	size_t addr_tries; /* addresses of its host it moved on from */
	bool paused, aborted, in_callback;
};

struct upstream_http {
	struct upstream *up; /* where requests to HTTP/2 upstreams go */
	struct event_base *base;
	struct resolver *resolver; /* from the first host name on */
	struct upstream_tls *tls;  /* its OpenSSL context is made by the first https transfer */
	bool https;                /* https:// URLs are ours too */
	struct uh_host *hosts;
	size_t active, idle;
	struct http_header headers[UPSTREAM_PARSER_MAX_HEADERS]; /* the head being parsed */
};

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);
static void transfer_process(struct uh_transfer *t);
static void conn_read(struct uh_conn *c);

/* ---- hosts ---- */

static struct uh_host *host_find(const struct upstream_http *uh, const struct upstream_url *u)
{
	for (struct uh_host *h = uh->hosts; h; h = h->next)
		if (h->tls == u->tls && strcmp(h->key, u->authority) == 0)
			return h;
	return NULL;
}

bool upstream_http_handles(const struct upstream_http *uh, const struct upstream_url *u)
{
	const struct uh_host *h;

	if (!u->tls)
		return true;
	if (!uh->https)
		return false;
	h = host_find(uh, u);
	return !h || !h->http2;
}

static struct uh_host *host_get(struct upstream_http *uh, const struct upstream_url *u)
{
	struct uh_host *h = host_find(uh, u);

	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	memcpy(h->key, u->authority, sizeof(h->key));
	memcpy(h->name, u->host, sizeof(h->name));
	h->tls = u->tls;
	h->resolve = u->resolve;
	h->port = u->port;
	h->addr = u->addr;
	h->addr_len = u->addr_len;
	h->next = uh->hosts;
	uh->hosts = h;
	return h;
}

static bool answer_same(const struct resolver_answer *a, const struct resolver_answer *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] || memcmp(&a->addr[i], &b->addr[i], a->len[i]) != 0)
			return false;
	return true;
}

static void host_use(struct uh_host *h, size_t pick)
{
	h->pick = pick;
	memcpy(&h->addr, &h->addrs.addr[pick], h->addrs.len[pick]);
	h->addr_len = h->addrs.len[pick];
}

/* H's addresses are A; an unchanged answer keeps the address that last worked. */
static void host_take_answer(struct uh_host *h, const struct resolver_answer *a)
{
	if (answer_same(&h->addrs, a)) {
		host_use(h, h->pick);
		return;
	}
	h->addrs = *a;
	host_use(h, 0);
}

/* ---- connections ---- */

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
	c->uh->idle--;
}

static void conn_set_reading(struct uh_conn *c, bool on)
{
	if (on == c->reading)
		return;
	if (on)
		event_add(c->ev_read, NULL);
	else
		event_del(c->ev_read);
	c->reading = on;
}

static void conn_set_writing(struct uh_conn *c, bool on)
{
	if (on == c->writing)
		return;
	if (on)
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
	c->writing = on;
}

/* Closes C, which carries no transfer and is not in the pool. */
static void conn_destroy(struct uh_conn *c)
{
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_timer);
	upstream_tls_conn_free(c->tls);
	close(c->fd);
	free(c->rbuf);
	free(c);
}

static void conn_close_idle(struct uh_conn *c)
{
	idle_unlink(c);
	conn_destroy(c);
}

/* Whether a TLS connection has something to read that the socket will not signal:
 * bytes OpenSSL holds, or a status held back. */
static bool conn_tls_more(const struct uh_conn *c)
{
	return c->tls && (c->tls_held || upstream_tls_pending(c->tls));
}

/* A new connection to T's host, connecting. */
static struct uh_conn *conn_new(struct upstream_http *uh, struct uh_host *h)
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

/* ---- transfers ---- */

static void transfer_free(struct uh_transfer *t)
{
	resolver_cancel(t->query);
	if (t->ev_timeout)
		event_free(t->ev_timeout);
	free(t->out);
	free(t->handover);
	t->uh->active--;
	free(t);
}

/* Detaches T's connection: back to the pool when REUSE, else closed. */
static void transfer_release(struct uh_transfer *t, bool reuse)
{
	struct uh_conn *c = t->conn;
	struct uh_host *h = t->host;

	if (!c)
		return;
	t->conn = NULL;
	c->t = NULL;
	conn_set_writing(c, false);
	if (!reuse || c->rpos != c->rlen || h->n_idle >= UH_IDLE_PER_HOST || conn_tls_more(c)) {
		conn_destroy(c);
		return;
	}
	free(c->rbuf); /* an idle connection keeps no buffer */
	c->rbuf = NULL;
	c->rcap = c->rlen = c->rpos = 0;
	c->reused = true;
	conn_set_reading(c, true);
	c->next = h->idle;
	if (h->idle)
		h->idle->prev = c;
	h->idle = c;
	h->n_idle++;
	t->uh->idle++;
	struct timeval tv = {.tv_sec = UH_IDLE_MS / 1000, .tv_usec = 0};
	evtimer_add(c->ev_timer, &tv);
}

/* Ends T with RESULT: on_done, then gone. */
static void transfer_finish(struct uh_transfer *t, enum upstream_result result, const char *error)
{
	char copy[256];

	t->state = UH_DONE;
	if (error) {
		/* it may live in the connection (a TLS error), which is released first */
		snprintf(copy, sizeof(copy), "%s", error);
		error = copy;
	}
	transfer_release(t, result == UPSTREAM_OK && t->keep_alive);
	t->in_callback = true;
	t->cb.on_done(t->ctx, result, t->status, error);
	transfer_free(t);
}

static int transfer_attach(struct uh_transfer *t, struct uh_conn *c);

/*
 * The connection failed before the response was complete: a reused one
 * that gave nothing back gets the request again on a new connection, once.
 * Else the transfer fails: with BEFORE when no response byte came.
 */
/*
 * T's new connection could not be made (ERR): a named host's next address,
 * as libcurl would try, unless T has tried them all. The host keeps the one
 * that works for its next connections. False when there is none to try.
 */
static bool transfer_next_address(struct uh_transfer *t, int err)
{
	struct uh_host *h = t->host;
	struct uh_conn *c = t->conn;

	if (!h->resolve || !c || c->reused || t->got_bytes || t->addr_tries + 1 >= h->addrs.n)
		return false;
	t->addr_tries++;
	host_use(h, (h->pick + 1) % h->addrs.n);
	log_info("upstream %s: cannot connect (%s), trying its next address", h->key,
	         strerror(err));
	transfer_release(t, false);
	c = conn_new(t->uh, h);
	if (c && transfer_attach(t, c) == 0)
		return true;
	transfer_finish(t, UPSTREAM_ERR_INTERNAL, "cannot open a new connection");
	return true;
}

static void transfer_failed_as(struct uh_transfer *t, enum upstream_result before, int err,
                               const char *what)
{
	if (before == UPSTREAM_ERR_CONNECT && t->conn && t->conn->connecting &&
	    transfer_next_address(t, err))
		return;
	if (t->conn && t->conn->reused && !t->got_bytes && !t->retried) {
		struct uh_conn *c;

		t->retried = true;
		transfer_release(t, false);
		c = conn_new(t->uh, t->host);
		if (c && transfer_attach(t, c) == 0)
			return;
		transfer_finish(t, UPSTREAM_ERR_INTERNAL, "cannot open a new connection");
		return;
	}
	if (!t->got_bytes) {
		transfer_finish(t, before, what ? what : strerror(err));
		return;
	}
	transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
	                what ? what : "the connection closed before the response was complete");
}

static void transfer_conn_failed(struct uh_transfer *t, int err, const char *what)
{
	transfer_failed_as(t, UPSTREAM_ERR_CONNECT, err, what);
}

/* A TLS read or write of T's connection failed. */
static void transfer_tls_failed(struct uh_transfer *t)
{
	struct upstream_tls_conn *tls = t->conn->tls;
	int err = upstream_tls_errno(tls);

	/* a socket error is one as for plain HTTP; a TLS alert or bad record is TLS's */
	if (err)
		transfer_conn_failed(t, err, NULL);
	else
		transfer_failed_as(t, UPSTREAM_ERR_TLS, 0, upstream_tls_error(tls));
}

/* One TLS write of what is left; false when it is not to go on now. */
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
		conn_set_writing(c, true);
	} else if (n == UPSTREAM_TLS_WANT_READ) {
		c->write_wants_read = true; /* the read event goes on */
		conn_set_writing(c, false);
	} else {
		transfer_tls_failed(t);
		*ret_on = false;
	}
	return false;
}

/* Sends what is left of the request; false when T left the connection. */
static bool transfer_send(struct uh_transfer *t)
{
	struct uh_conn *c = t->conn;
	bool on;

	while (t->out_off < t->out_len) {
		if (c->tls) {
			if (!transfer_send_tls(t, &on))
				return on;
			continue;
		}
		ssize_t n = send(c->fd, t->out + t->out_off, t->out_len - t->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			conn_set_writing(c, true);
			return true;
		}
		if (n < 0) {
			transfer_conn_failed(t, errno, NULL);
			return false;
		}
		t->out_off += (size_t)n;
	}
	conn_set_writing(c, false);
	t->state = UH_HEAD;
	return true;
}

/* ---- handing a request over to libcurl ---- */

/* What libcurl reports for a handed-over transfer goes to its caller. */
static void handed_on_header(void *ctx, const char *name, size_t name_len, const char *value,
                             size_t value_len)
{
	struct uh_transfer *t = ctx;

	if (t->cb.on_header)
		t->cb.on_header(t->ctx, name, name_len, value, value_len);
}

static void handed_on_head(void *ctx, long status)
{
	struct uh_transfer *t = ctx;

	if (t->cb.on_head)
		t->cb.on_head(t->ctx, status);
}

static void handed_on_data(void *ctx, long status, const char *data, size_t len)
{
	struct uh_transfer *t = ctx;

	t->cb.on_data(t->ctx, status, data, len);
}

static void handed_on_done(void *ctx, enum upstream_result result, long status, const char *error)
{
	struct uh_transfer *t = ctx;

	t->cb.on_done(t->ctx, result, status, error);
	free(t);
}

/* What is left of T's timeout (its timer's), in ms; 0 for none, < 0 when over. */
static long transfer_time_left_ms(const struct uh_transfer *t)
{
	struct timeval end, now, left;
	long ms;

	if (!t->ev_timeout)
		return 0;
	event_base_gettimeofday_cached(t->uh->base, &now);
	end = now; /* a timer that fired and waits for its callback: over */
	event_pending(t->ev_timeout, EV_TIMEOUT, &end);
	evutil_timersub(&end, &now, &left);
	ms = (long)left.tv_sec * 1000 + left.tv_usec / 1000;
	return ms > 0 ? ms : -1; /* under a millisecond left is over */
}

/*
 * T's upstream picked HTTP/2 in the handshake of T's connection: the host is
 * libcurl's from now on, and T goes to libcurl with the rest of its time.
 */
static void transfer_hand_over(struct uh_transfer *t)
{
	static const struct upstream_callbacks handed = {
	        .on_header = handed_on_header,
	        .on_head = handed_on_head,
	        .on_data = handed_on_data,
	        .on_done = handed_on_done,
	};
	struct uh_handover *ho = t->handover;
	struct uh_host *h = t->host;
	struct upstream_request req;

	if (!h->http2)
		log_info("upstream %s chose HTTP/2: libcurl carries its requests", h->key);
	h->http2 = true;
	transfer_release(t, false);
	if (!ho) {
		/* a retry's new connection, of a request that had none: the next one goes over */
		transfer_finish(t, UPSTREAM_ERR_PROTOCOL, "the upstream switched to HTTP/2");
		return;
	}
	req = (struct upstream_request){
	        .url = ho->url,
	        .headers = ho->headers,
	        .n_headers = ho->n_headers,
	        .body = t->out + ho->body_off,
	        .body_len = ho->body_len,
	};
	req.timeout_ms = transfer_time_left_ms(t);
	if (req.timeout_ms < 0) {
		transfer_finish(t, UPSTREAM_ERR_TIMEOUT, "operation timed out");
		return;
	}
	if (upstream_start(t->uh->up, &req, &handed, t, &t->curl) < 0) {
		transfer_finish(t, UPSTREAM_ERR_INTERNAL,
		                "cannot hand the request over to libcurl");
		return;
	}
	/* libcurl copied what it needs; its transfer is counted and timed by it */
	if (t->ev_timeout) {
		event_free(t->ev_timeout);
		t->ev_timeout = NULL;
	}
	free(t->out);
	t->out = NULL;
	free(t->handover);
	t->handover = NULL;
	t->uh->active--;
	if (t->paused)
		upstream_pause(t->curl);
}

/* A copy of REQ for T, whose new connection's handshake may pick HTTP/2. */
static int transfer_keep_request(struct uh_transfer *t, const struct upstream_request *req)
{
	size_t size = sizeof(*t->handover) + req->n_headers * sizeof(struct upstream_header) +
	              strlen(req->url) + 1;
	struct uh_handover *ho;
	char *p;

	for (size_t i = 0; i < req->n_headers; i++)
		size += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 2;
	ho = malloc(size);
	if (!ho)
		return -ENOMEM;
	ho->headers = (struct upstream_header *)(ho + 1);
	p = (char *)(ho->headers + req->n_headers);
	ho->url = p;
	p = stpcpy(p, req->url) + 1;
	for (size_t i = 0; i < req->n_headers; i++) {
		ho->headers[i].name = p;
		p = stpcpy(p, req->headers[i].name) + 1;
		ho->headers[i].value = p;
		p = stpcpy(p, req->headers[i].value) + 1;
	}
	ho->n_headers = req->n_headers;
	ho->body_off = t->out_len - req->body_len;
	ho->body_len = req->body_len;
	t->handover = ho;
	return 0;
}

/* Goes on with C's TLS handshake; sends the request once it is done. */
static void conn_handshake(struct uh_conn *c)
{
	int r = upstream_tls_handshake(c->tls);

	if (r == UPSTREAM_TLS_WANT_READ || r == UPSTREAM_TLS_WANT_WRITE) {
		conn_set_writing(c, r == UPSTREAM_TLS_WANT_WRITE);
		return;
	}
	if (r < 0) {
		transfer_finish(c->t, UPSTREAM_ERR_TLS, upstream_tls_error(c->tls));
		return;
	}
	c->handshaking = false;
	conn_set_writing(c, false);
	if (upstream_tls_chose_http2(c->tls)) {
		transfer_hand_over(c->t);
		return;
	}
	free(c->t->handover); /* HTTP/1.1: the request stays ours */
	c->t->handover = NULL;
	if (transfer_send(c->t) && upstream_tls_pending(c->tls))
		event_active(c->ev_read, EV_READ, 0);
}

/* Puts T on C and starts sending (from the loop when C has an error). */
static int transfer_attach(struct uh_transfer *t, struct uh_conn *c)
{
	t->conn = c;
	c->t = t;
	t->out_off = 0;
	t->state = UH_SEND;
	t->keep_alive_ok = true;
	t->scan = (struct http_scan){0};
	if (!c->rbuf) {
		c->rbuf = malloc(UH_RBUF);
		if (!c->rbuf)
			return -ENOMEM;
		c->rcap = UH_RBUF;
	}
	conn_set_reading(c, true);
	if (c->error) {
		event_active(c->ev_write, EV_WRITE, 0); /* reported from the loop */
		return 0;
	}
	if (c->connecting || c->handshaking) {
		conn_set_writing(c, true); /* the handshake starts from the loop */
		return 0;
	}
	transfer_send(t);
	return 0;
}

/* Calls a callback of T's caller; false when T was aborted meanwhile. */
#define CALLBACK(t, call)                 \
	do {                              \
		(t)->in_callback = true;  \
		call;                     \
		(t)->in_callback = false; \
	} while (0)

static void transfer_aborted(struct uh_transfer *t)
{
	transfer_release(t, false);
	transfer_free(t);
}

static bool deliver(struct uh_transfer *t, const char *data, size_t len)
{
	if (len == 0)
		return true;
	CALLBACK(t, t->cb.on_data(t->ctx, t->status, data, len));
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
		transfer_finish(t, UPSTREAM_ERR_PROTOCOL, h.error);
		return false;
	}
	c->rpos += end;
	t->scan = (struct http_scan){0};
	if (t->state == UH_SEND) {
		/* answered before it had all of the request: stop sending, and the
		 * connection cannot carry another request */
		conn_set_writing(c, false);
		c->write_wants_read = false;
		t->state = UH_HEAD;
		t->out_off = t->out_len;
		t->keep_alive_ok = false;
	}
	if (h.status < 200) {
		if (h.status == 101) {
			transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
			                "unexpected 101 Switching Protocols");
			return false;
		}
		return true; /* interim: the real head follows */
	}
	t->status = h.status;
	t->keep_alive = h.keep_alive && t->out_off == t->out_len && t->keep_alive_ok;
	t->body = h.body;
	t->remaining = h.content_length;
	if (h.body == UPSTREAM_BODY_CHUNKED)
		http_chunked_init(&t->chunked);
	if (t->cb.on_header) {
		for (size_t i = 0; i < h.n_headers; i++) {
			const struct http_header *f = &h.headers[i];

			CALLBACK(t, t->cb.on_header(t->ctx, f->name, f->name_len, f->value,
			                            f->value_len));
			if (t->aborted) {
				transfer_aborted(t);
				return false;
			}
		}
	}
	if (t->cb.on_head) {
		CALLBACK(t, t->cb.on_head(t->ctx, t->status));
		if (t->aborted) {
			transfer_aborted(t);
			return false;
		}
	}
	t->state = UH_BODY;
	if (h.body == UPSTREAM_BODY_NONE) {
		transfer_finish(t, UPSTREAM_OK, NULL);
		return false;
	}
	return true;
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

/* Handles the unread bytes of T's connection, as far as T's state allows. */
static void transfer_process(struct uh_transfer *t)
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
					transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
					                "the response head is too large");
				return;
			}
			if (r < 0) {
				transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
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
				transfer_finish(t, UPSTREAM_OK, NULL);
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
				transfer_finish(t, UPSTREAM_ERR_PROTOCOL, "malformed chunked body");
				return;
			}
			if (r == 0) {
				transfer_finish(t, UPSTREAM_OK, NULL);
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
static void transfer_eof(struct uh_transfer *t, int err)
{
	if (t->state == UH_BODY && t->body == UPSTREAM_BODY_CLOSE && !err) {
		t->keep_alive = false;
		transfer_finish(t, UPSTREAM_OK, NULL);
		return;
	}
	transfer_conn_failed(t, err ? err : ECONNRESET,
	                     t->got_bytes ? "the connection closed before the response was complete"
	                                  : (err ? NULL : "the upstream closed the connection"));
}

/* The TLS connection closed without close_notify: only the framing can
 * tell a whole response, so one delimited by the close is cut. */
static void transfer_truncated(struct uh_transfer *t)
{
	if (t->state == UH_BODY && t->body == UPSTREAM_BODY_CLOSE) {
		transfer_finish(t, UPSTREAM_ERR_PROTOCOL,
		                "the TLS connection closed without close_notify: the response may "
		                "be cut");
		return;
	}
	transfer_eof(t, 0);
}

/* Handles a TLS read's status other than bytes. */
static void conn_tls_status(struct uh_conn *c, int status)
{
	struct uh_transfer *t = c->t;

	if (status == UPSTREAM_TLS_WANT_WRITE) {
		c->read_wants_write = true;
		conn_set_writing(c, true);
	} else if (status == UPSTREAM_TLS_CLOSED) {
		transfer_eof(t, 0);
	} else if (status == UPSTREAM_TLS_TRUNCATED) {
		transfer_truncated(t);
	} else if (status == UPSTREAM_TLS_ERROR) {
		transfer_tls_failed(t);
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
		n = read(c->fd, dst, room);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0)
			transfer_eof(t, n < 0 ? errno : 0);
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
		conn_set_reading(c, false);
		return;
	}
	dst = conn_room(c, &room);
	if (!dst) {
		transfer_finish(t, UPSTREAM_ERR_PROTOCOL, "the response head is too large");
		return;
	}
	n = conn_recv(c, dst, room);
	if (n == 0)
		return;
	c->rlen += n;
	t->got_bytes = true;
	/* what OpenSSL holds is not signalled by the socket: come back for it
	 * (a connection freed or paused meanwhile cancels or ignores it) */
	if (conn_tls_more(c))
		event_active(c->ev_read, EV_READ, 0);
	transfer_process(t);
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
			conn_close_idle(c);
		return;
	}
	if (c->handshaking) {
		conn_handshake(c);
		return;
	}
	if (c->write_wants_read) {
		c->write_wants_read = false;
		if (t->state == UH_SEND && !transfer_send(t))
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
		conn_set_writing(c, false);
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
		conn_set_writing(c, false);
		if (!transfer_next_address(t, c->error))
			transfer_finish(t, UPSTREAM_ERR_CONNECT, strerror(c->error));
		return;
	}
	if (c->handshaking) {
		conn_handshake(c);
		return;
	}
	if (c->read_wants_write) {
		c->read_wants_write = false;
		conn_set_writing(c, false); /* unless the request wants it too */
		if (t->state == UH_SEND && !transfer_send(t))
			return;
		conn_read(c);
		return;
	}
	if (t->state == UH_SEND)
		transfer_send(t);
	else
		conn_set_writing(c, false);
}

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct uh_conn *c = arg;

	(void)fd;
	(void)what;
	if (!c->t)
		conn_close_idle(c); /* idle for too long */
}

static void transfer_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct uh_transfer *t = arg;

	(void)fd;
	(void)what;
	transfer_finish(t, UPSTREAM_ERR_TIMEOUT, "operation timed out");
}

/* T's request to U, head and body, in one buffer for one send. */
static int build_request(struct uh_transfer *t, const struct upstream_url *u,
                         const struct upstream_request *req)
{
	ssize_t cap = upstream_serialize_size(u, req);

	if (cap < 0)
		return (int)cap;
	t->out = malloc((size_t)cap);
	if (!t->out)
		return -ENOMEM;
	t->out_len = upstream_serialize(t->out, u, req);
	return 0;
}

/* ---- host names ---- */

/* Whether H has a fresh address (in h->addr) for a new connection. */
static bool host_resolved(struct upstream_http *uh, struct uh_host *h)
{
	struct resolver_answer a;

	if (!uh->resolver || !resolver_cached(uh->resolver, h->name, h->port, &a))
		return false;
	host_take_answer(h, &a);
	return true;
}

static void transfer_on_resolved(void *ctx, int err, const struct resolver_answer *answer)
{
	struct uh_transfer *t = ctx;
	struct uh_host *h = t->host;
	struct uh_conn *c;
	char what[RESOLVER_NAME_MAX + 96];

	t->query = NULL;
	if (err) {
		snprintf(what, sizeof(what), "could not resolve host '%s': %s", h->name,
		         resolver_strerror(err));
		transfer_finish(t, UPSTREAM_ERR_DNS, what);
		return;
	}
	host_take_answer(h, answer);
	c = conn_new(t->uh, h);
	if (!c) {
		transfer_finish(t, UPSTREAM_ERR_INTERNAL, "cannot open a new connection");
		return;
	}
	if (transfer_attach(t, c) < 0) {
		transfer_release(t, false);
		transfer_finish(t, UPSTREAM_ERR_INTERNAL, "out of memory");
	}
}

/* T waits for its host's name to resolve; it connects from the answer. */
static int transfer_resolve(struct uh_transfer *t)
{
	struct upstream_http *uh = t->uh;

	if (!uh->resolver && !(uh->resolver = resolver_new(uh->base)))
		return -ENOMEM;
	t->state = UH_RESOLVE;
	t->query = resolver_lookup(uh->resolver, t->host->name, t->host->port, transfer_on_resolved,
	                           t);
	return t->query ? 0 : -ENOMEM;
}

int upstream_http_start(struct upstream_http *uh, const struct upstream_url *u,
                        const struct upstream_request *req, const struct upstream_callbacks *cb,
                        void *ctx, struct upstream_transfer **ret)
{
	struct uh_transfer *t;
	struct uh_host *h;
	struct uh_conn *c;
	int err;

	h = host_get(uh, u);
	if (!h)
		return -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->tag.own = true;
	t->uh = uh;
	t->host = h;
	t->cb = *cb;
	t->ctx = ctx;
	uh->active++;
	err = build_request(t, u, req);
	/* a new TLS connection may pick HTTP/2 (the first to a host, or one that changed) */
	if (err == 0 && h->tls && !h->idle)
		err = transfer_keep_request(t, req);
	if (err < 0) {
		transfer_free(t);
		return err;
	}
	if (req->timeout_ms > 0) {
		struct timeval tv = {.tv_sec = req->timeout_ms / 1000,
		                     .tv_usec = (req->timeout_ms % 1000) * 1000};

		t->ev_timeout = evtimer_new(uh->base, transfer_on_timeout, t);
		if (!t->ev_timeout) {
			transfer_free(t);
			return -ENOMEM;
		}
		evtimer_add(t->ev_timeout, &tv);
	}
	c = h->idle;
	if (c) {
		idle_unlink(c);
		evtimer_del(c->ev_timer);
	} else if (h->resolve && !host_resolved(uh, h)) {
		err = transfer_resolve(t);
		if (err < 0) {
			transfer_free(t);
			return err;
		}
	} else {
		c = conn_new(uh, h);
		if (!c) {
			err = errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
			transfer_free(t);
			return err;
		}
	}
	if (c) {
		err = transfer_attach(t, c);
		if (err < 0) {
			transfer_release(t, false);
			transfer_free(t);
			return err;
		}
	}
	if (ret)
		*ret = (struct upstream_transfer *)t;
	return 0;
}

void upstream_http_abort(struct upstream_transfer *ut)
{
	struct uh_transfer *t = (struct uh_transfer *)ut;

	if (t->curl) {
		/* libcurl's transfer is freed by libcurl's side, even from its callback */
		upstream_abort(t->curl);
		free(t);
		return;
	}
	if (t->in_callback) {
		t->aborted = true;
		return;
	}
	transfer_aborted(t);
}

void upstream_http_pause(struct upstream_transfer *ut)
{
	struct uh_transfer *t = (struct uh_transfer *)ut;

	t->paused = true;
	if (t->curl)
		upstream_pause(t->curl);
	else if (t->conn)
		conn_set_reading(t->conn, false);
}

void upstream_http_resume(struct upstream_transfer *ut)
{
	struct uh_transfer *t = (struct uh_transfer *)ut;

	if (!t->paused)
		return;
	t->paused = false;
	if (t->curl) {
		upstream_resume(t->curl);
		return;
	}
	if (!t->conn)
		return;
	conn_set_reading(t->conn, true);
	/* what OpenSSL holds is not signalled by the socket: read it from the loop */
	if (conn_tls_more(t->conn))
		event_active(t->conn->ev_read, EV_READ, 0);
	if (!t->in_callback)
		transfer_process(t); /* else the loop delivering data goes on by itself */
}

size_t upstream_http_active(const struct upstream_http *uh)
{
	return uh->active;
}

size_t upstream_http_idle(const struct upstream_http *uh)
{
	return uh->idle;
}

struct upstream_http *upstream_http_new(struct upstream *up, bool https)
{
	struct upstream_http *uh = calloc(1, sizeof(*uh));

	if (!uh)
		return NULL;
	uh->up = up;
	uh->base = upstream_event_base(up);
	uh->https = https;
	uh->tls = upstream_tls_new(); /* no OpenSSL yet: that is the first https transfer's */
	if (!uh->tls) {
		free(uh);
		return NULL;
	}
	return uh;
}

/* Idle TLS connections were verified under the old trust: closed. */
int upstream_http_set_ca_file(struct upstream_http *uh, const char *path)
{
	if (upstream_tls_set_ca_file(uh->tls, path) < 0)
		return -ENOMEM;
	for (struct uh_host *h = uh->hosts; h; h = h->next)
		while (h->tls && h->idle)
			conn_close_idle(h->idle);
	return 0;
}

void upstream_http_set_http2(struct upstream_http *uh, bool offer)
{
	upstream_tls_set_http2(uh->tls, offer);
}

void upstream_http_free(struct upstream_http *uh)
{
	if (!uh)
		return;
	resolver_free(uh->resolver);
	while (uh->hosts) {
		struct uh_host *h = uh->hosts;

		while (h->idle)
			conn_close_idle(h->idle);
		uh->hosts = h->next;
		free(h);
	}
	upstream_tls_free(uh->tls);
	free(uh);
}
