/*
 * upstream_http: the own HTTP/1.1 client's entry points (see
 * upstream_http.h): the client itself, which URLs it takes, and starting,
 * aborting, pausing and resuming a transfer. Runs in a worker, on its event
 * loop.
 */
#include "upstream_http.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>

#include "clock.h"
#include "spare_poison.h"
#include "upstream_http_int.h"
#include "upstream_serialize.h"
#include "upstream_tls.h"

bool upstream_http_handles(const struct upstream_http *uh, const struct upstream_url *u)
{
	const struct uh_host *h;

	if (!u->tls)
		return true;
	if (!uh->https)
		return false;
	h = uh_host_find(uh, u);
	return !h || !h->http2 || uh->h2_own;
}

char *uh_spare_take(struct uh_spares *spares)
{
	char *buf;

	if (!spares->n)
		return malloc(spares->size);
	buf = spares->buf[--spares->n];
	SPARE_UNPOISON(buf, spares->size);
	return buf;
}

void uh_spare_give(struct uh_spares *spares, char *buf)
{
	if (spares->n == UH_SPARES) {
		free(buf);
		return;
	}
	SPARE_POISON(buf, spares->size);
	spares->buf[spares->n++] = buf;
}

void uh_spares_free(struct uh_spares *spares)
{
	while (spares->n) {
		SPARE_UNPOISON(spares->buf[spares->n - 1], spares->size);
		free(spares->buf[--spares->n]);
	}
}

void uh_transfer_out_release(struct uh_transfer *t)
{
	if (t->out && t->out_spare)
		uh_spare_give(&t->uh->outs, t->out);
	else
		free(t->out);
	t->out = NULL;
	t->out_len = t->out_off = 0;
}

void upstream_http_clean(struct uh_transfer *t)
{
	if (!t->uh)
		return; /* not started */
	resolver_cancel(t->query);
	if (t->ev_timeout)
		event_free(t->ev_timeout);
	uh_transfer_out_release(t);
	free(t->handover);
	if (t->src) /* an upload's: no call per JSON request */
		upstream_body_unref(t->src);
	t->uh->active--;
}

static void transfer_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct uh_transfer *t = arg;

	(void)fd;
	(void)what;
	uh_transfer_finish(t, UPSTREAM_ERR_TIMEOUT, "operation timed out");
}

/* T's request to U, head and body, in one buffer for one send; an upload
 * from parts: its head, then room for one chunk of its body at a time; a
 * lent body to a plain-HTTP upstream: its head, the body sent from the
 * caller's memory after it (one sendmsg of both). Over TLS a lent body is
 * copied all the same: a new TLS connection may hand the request over to
 * HTTP/2 (upstream_http_handover.c), which replays it from OUT. */
static int build_request(struct uh_transfer *t, const struct upstream_url *u,
                         const struct upstream_request *req)
{
	struct upstream_request r = *req;
	ssize_t cap;
	size_t size;

	r.body_lent = req->body_lent && !req->body_src && !u->tls && req->body_len > 0;
	cap = upstream_serialize_size(u, &r);
	if (cap < 0)
		return (int)cap;
	size = (size_t)cap + (req->body_src ? UH_BODY_CHUNK : 0);
	t->out_spare = size <= UH_OUT_SPARE;
	t->out = t->out_spare ? uh_spare_take(&t->uh->outs) : malloc(size);
	if (!t->out)
		return -ENOMEM;
	t->out_len = upstream_serialize(t->out, u, &r);
	if (r.body_lent) {
		t->lent = req->body;
		t->lent_len = req->body_len;
	}
	if (req->body_src) {
		t->src = upstream_body_ref(req->body_src);
		t->head_len = t->out_len;
	}
	return 0;
}

int uh_body_refill(struct uh_transfer *t)
{
	ssize_t n;

	if (t->src_off >= upstream_body_len(t->src))
		return 0;
	n = upstream_body_read(t->src, t->src_off, t->out + t->head_len, UH_BODY_CHUNK);
	if (n <= 0)
		return n < 0 ? (int)n : -EIO;
	t->src_off += (uint64_t)n;
	t->out_off = t->head_len;
	t->out_len = t->head_len + (size_t)n;
	return 1;
}

void uh_body_rewind(struct uh_transfer *t)
{
	if (!t->src)
		return;
	t->src_off = 0;
	t->out_len = t->head_len;
}

int upstream_http_start(struct upstream_http *uh, struct uh_transfer *t,
                        struct upstream_transfer *owner, const struct upstream_url *u,
                        const struct upstream_request *req)
{
	struct uh_host *h = uh_host_get(uh, u);
	struct uh_conn *c;
	int err;

	if (!h)
		return -ENOMEM;
	t->owner = owner;
	t->uh = uh;
	t->host = h;
	uh->active++;
	err = build_request(t, u, req);
	/* a new TLS connection may pick HTTP/2 (the first to a host, or one that changed) */
	if (err == 0 && h->tls && !h->idle)
		err = uh_handover_keep(t, req);
	if (err < 0)
		return err;
	if (req->timeout_ms > 0) {
		struct timeval tv = clock_tv_ms(req->timeout_ms);

		t->ev_timeout = evtimer_new(uh->base, transfer_on_timeout, t);
		if (!t->ev_timeout)
			return -ENOMEM;
		evtimer_add(t->ev_timeout, &tv);
	}
	c = uh_conn_take(h);
	if (!c && h->resolve && !uh_host_resolved(uh, h))
		return uh_host_resolve(t);
	if (!c) {
		c = uh_conn_new(uh, h);
		if (!c)
			return errno == EMFILE || errno == ENFILE ? -errno : -ENOMEM;
	}
	err = uh_transfer_attach(t, c);
	if (err < 0)
		uh_transfer_release(t, false);
	return err;
}

bool upstream_http_abort(struct uh_transfer *t)
{
	if (t->in_callback) {
		t->aborted = true;
		return false;
	}
	uh_transfer_release(t, false);
	return true;
}

void upstream_http_pause(struct uh_transfer *t)
{
	t->paused = true;
	if (t->conn)
		uh_conn_set_reading(t->conn, false);
}

void upstream_http_resume(struct uh_transfer *t)
{
	if (!t->paused)
		return;
	t->paused = false;
	if (!t->conn)
		return;
	uh_conn_set_reading(t->conn, true);
	/* what OpenSSL holds is not signalled by the socket: read it from the loop */
	if (uh_conn_tls_more(t->conn))
		event_active(t->conn->ev_read, EV_READ, 0);
	if (!t->in_callback)
		uh_transfer_process(t); /* else the loop delivering data goes on by itself */
}

size_t upstream_http_active(const struct upstream_http *uh)
{
	return uh->active;
}

struct upstream_http *upstream_http_new(struct event_base *base, bool https)
{
	struct upstream_http *uh = calloc(1, sizeof(*uh));

	if (!uh)
		return NULL;
	uh->base = base;
	uh->https = https;
	uh->rbufs.size = UH_RBUF;
	uh->outs.size = UH_OUT_SPARE;
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
			uh_conn_close_idle(h->idle);
	return 0;
}

void upstream_http_set_h2_own(struct upstream_http *uh, bool own)
{
	uh->h2_own = own;
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
			uh_conn_close_idle(h->idle);
		uh->hosts = h->next;
		free(h);
	}
	upstream_tls_free(uh->tls);
	uh_spares_free(&uh->rbufs);
	uh_spares_free(&uh->outs);
	free(uh);
}
