/*
 * upstream_h2: the own HTTP/2 client's entry points and requests (see
 * upstream_h2.h). Runs in a worker, on its event loop.
 *
 * A request becomes one HEADERS frame (its fields from
 * upstream_h2_request.c) and, with a body, DATA frames from a copy of it;
 * the response is upstream_h2_recv.c's. A request is kept until the first
 * byte of its response, to send it again once if the upstream refuses it
 * unprocessed (uh2_stream_restart()).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "upstream_h2_int.h"
#include "upstream_h2_request.h"
#include "upstream_serialize.h"
#include "upstream_transfer.h"

/* A request, kept to send it again: one allocation, the header array and
 * every string after the struct. */
struct uh2_copy {
	const char *method; /* the request's (a literal), or NULL */
	const char *url;
	struct upstream_header *headers;
	size_t n_headers;
};

static struct uh2_copy *copy_request(const struct upstream_request *req)
{
	size_t size = sizeof(struct uh2_copy) + req->n_headers * sizeof(struct upstream_header) +
	              strlen(req->url) + 1;
	struct uh2_copy *copy;
	char *p;

	for (size_t i = 0; i < req->n_headers; i++)
		size += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 2;
	copy = malloc(size);
	if (!copy)
		return NULL;
	copy->headers = (struct upstream_header *)(copy + 1);
	p = (char *)(copy->headers + req->n_headers);
	copy->url = p;
	p = stpcpy(p, req->url) + 1;
	for (size_t i = 0; i < req->n_headers; i++) {
		copy->headers[i].name = p;
		p = stpcpy(p, req->headers[i].name) + 1;
		copy->headers[i].value = p;
		p = stpcpy(p, req->headers[i].value) + 1;
	}
	copy->n_headers = req->n_headers;
	copy->method = req->method;
	return copy;
}

/* What is left of T's timeout, in ms; 0 for none, < 0 when over. */
static long stream_time_left_ms(const struct uh2_stream *t)
{
	struct timeval end, now, left;
	long ms;

	if (!t->ev_timeout)
		return 0;
	event_base_gettimeofday_cached(t->h2->base, &now);
	end = now; /* a timer that fired and waits for its callback: over */
	event_pending(t->ev_timeout, EV_TIMEOUT, &end);
	evutil_timersub(&end, &now, &left);
	ms = (long)left.tv_sec * 1000 + left.tv_usec / 1000;
	return ms > 0 ? ms : -1;
}

/* The upstream refused T unprocessed: T goes through the dispatcher again,
 * once, on another connection when this one takes no more. */
void uh2_stream_restart(struct uh2_stream *t)
{
	struct uh2_copy *copy = t->copy;
	char *body = t->body;
	struct upstream_body *src = t->src;
	struct upstream_request req = {
	        .method = copy->method,
	        .url = copy->url,
	        .headers = copy->headers,
	        .n_headers = copy->n_headers,
	        .body = body,
	        .body_len = t->body_len,
	        .body_src = src,
	        .timeout_ms = stream_time_left_ms(t),
	};

	if (req.timeout_ms < 0) {
		uh2_stream_finish(t, UPSTREAM_ERR_TIMEOUT, "operation timed out");
		return;
	}
	/* the request outlives T's state, whose place the new attempt's takes */
	t->copy = NULL;
	t->body = NULL;
	t->src = NULL;
	upstream_transfer_restart(t->owner, &req, t->paused);
	free(copy);
	free(body);
	upstream_body_unref(src); /* the new attempt took its own reference */
}

/* ---- the request ---- */

static ssize_t body_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t len,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct uh2_stream *t = nghttp2_session_get_stream_user_data(session, stream_id);
	size_t n;

	(void)source;
	(void)user_data;
	if (!t)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	n = t->body_len - t->body_off;
	if (n > len)
		n = len;
	if (t->src) {
		/* an upload from its file: read as the stream's window takes it */
		ssize_t got = upstream_body_read(t->src, t->body_off, (char *)buf, n);

		if (got < 0 || (size_t)got != n)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	} else {
		memcpy(buf, t->body + t->body_off, n);
	}
	t->body_off += n;
	if (t->body_off == t->body_len)
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* Submits T's request on C; 0 or a negative errno. */
static int stream_submit(struct uh2_stream *t, struct uh2_conn *c, const struct upstream_url *u,
                         const struct upstream_request *req)
{
	size_t max = uh2_request_max_fields(req), n;
	nghttp2_data_provider body = {.source.ptr = NULL, .read_callback = body_read};
	struct uh2_field *f;
	char length[24];
	nghttp2_nv *nv;
	int32_t id;

	nv = malloc(max * (sizeof(*nv) + sizeof(*f)) + uh2_request_names_size(req));
	if (!nv)
		return -ENOMEM;
	f = (struct uh2_field *)(nv + max);
	n = uh2_request_fields(f, (char *)(f + max), length, u, req);
	for (size_t i = 0; i < n; i++)
		nv[i] = (nghttp2_nv){(uint8_t *)f[i].name, (uint8_t *)f[i].value, f[i].name_len,
		                     f[i].value_len, NGHTTP2_NV_FLAG_NONE};
	/* nghttp2 copies the fields */
	id = nghttp2_submit_request(c->session, NULL, nv, n, req->body_len ? &body : NULL, t);
	free(nv);
	if (id < 0)
		return id == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EAGAIN;
	t->id = id;
	uh2_conn_add_stream(c, t);
	uh2_conn_flush(c);
	return 0;
}

static void stream_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct uh2_stream *t = arg;

	(void)fd;
	(void)what;
	uh2_stream_finish(t, UPSTREAM_ERR_TIMEOUT, "operation timed out");
}

/* What T needs besides its connection: its body, its timer. */
static int stream_prepare(struct upstream_h2 *h2, struct uh2_stream *t,
                          struct upstream_transfer *owner, const struct upstream_url *u,
                          const struct upstream_request *req)
{
	ssize_t size = upstream_serialize_size(u, req); /* the same checks as HTTP/1.1's */

	if (size < 0)
		return (int)size;
	t->owner = owner;
	t->h2 = h2;
	h2->active++;
	if (!owner->restarted && !(t->copy = copy_request(req)))
		return -ENOMEM;
	if (req->body_src) {
		t->src = upstream_body_ref(req->body_src);
		t->body_len = (size_t)upstream_body_len(req->body_src);
	} else if (req->body_len) {
		t->body = malloc(req->body_len);
		if (!t->body)
			return -ENOMEM;
		memcpy(t->body, req->body, req->body_len);
		t->body_len = req->body_len;
	}
	if (req->timeout_ms > 0) {
		struct timeval tv = clock_tv_ms(req->timeout_ms);

		t->ev_timeout = evtimer_new(h2->base, stream_on_timeout, t);
		if (!t->ev_timeout)
			return -ENOMEM;
		evtimer_add(t->ev_timeout, &tv);
	}
	return 0;
}

int upstream_h2_start(struct upstream_h2 *h2, struct uh2_stream *t, struct upstream_transfer *owner,
                      const struct upstream_url *u, const struct upstream_request *req)
{
	struct uh2_conn *c = uh2_conn_pick(h2, u->authority);
	int err;

	if (!c)
		return -EAGAIN;
	err = stream_prepare(h2, t, owner, u, req);
	if (err == 0)
		err = stream_submit(t, c, u, req);
	if (err == -EAGAIN) {
		upstream_h2_clean(t);
		memset(t, 0, sizeof(*t));
	}
	return err;
}

int upstream_h2_adopt(struct upstream_h2 *h2, int fd, struct upstream_tls_conn *tls,
                      const char *authority, struct uh2_stream *t, struct upstream_transfer *owner,
                      const struct upstream_request *req, bool paused)
{
	struct uh2_conn *c = uh2_conn_new(h2, fd, tls, authority);
	struct upstream_url u;
	int err;

	if (!c)
		return -ENOMEM;
	if (upstream_url_parse(req->url, &u) < 0)
		return -EINVAL; /* the connection idles, and is closed in time */
	err = stream_prepare(h2, t, owner, &u, req);
	if (err == 0)
		err = stream_submit(t, c, &u, req);
	t->paused = paused;
	return err;
}

bool upstream_h2_abort(struct uh2_stream *t)
{
	if (t->in_callback) {
		t->aborted = true;
		return false;
	}
	uh2_stream_detach(t);
	return true;
}

void upstream_h2_pause(struct uh2_stream *t)
{
	t->paused = true;
}

void upstream_h2_resume(struct uh2_stream *t)
{
	if (!t->paused)
		return;
	t->paused = false;
	if (t->in_callback) {
		t->ready = t->held_len > 0; /* delivered at the end of the read */
		return;
	}
	/* what it held, as one chunk: the caller takes it or pauses again */
	if (!uh2_stream_drain(t))
		return;
	if (t->conn)
		uh2_conn_flush(t->conn); /* the window update */
}

void upstream_h2_clean(struct uh2_stream *t)
{
	if (!t->h2)
		return; /* not started */
	uh2_stream_detach(t);
	if (t->ev_timeout)
		event_free(t->ev_timeout);
	free(t->copy);
	free(t->body);
	if (t->src) /* an upload's: no call per JSON request */
		upstream_body_unref(t->src);
	free(t->held);
	t->h2->active--;
}

size_t upstream_h2_active(const struct upstream_h2 *h2)
{
	return h2->active;
}

struct upstream_h2 *upstream_h2_new(struct event_base *base)
{
	struct upstream_h2 *h2 = calloc(1, sizeof(*h2));

	if (h2)
		h2->base = base;
	return h2;
}

void upstream_h2_free(struct upstream_h2 *h2)
{
	if (!h2)
		return;
	while (h2->conns)
		uh2_conn_destroy(h2->conns);
	free(h2);
}
