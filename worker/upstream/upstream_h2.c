/*
 * upstream_h2: the own HTTP/2 client's entry points and streams (see
 * upstream_h2.h). Runs in a worker, on its event loop.
 *
 * A request becomes one HEADERS frame (its fields from
 * upstream_h2_request.c) and, with a body, DATA frames from a copy of it. The response comes
 * through nghttp2's callbacks: its :status and headers (interim 1xx heads and trailers are not
 * passed on), DATA straight from the read buffer, and the end of the stream; nghttp2 checks the
 * framing and the header rules, and resets a stream that breaks them (which then fails here).
 *
 * Flow control: the connection's window is given back as soon as DATA
 * arrives; a stream's only once its caller took the bytes. A paused stream
 * keeps what still comes (at most its window) and delivers it on resume.
 *
 * An abort from inside a callback only marks the stream; the code that made
 * the call lets go of it. A stream that leaves before its end is reset
 * (CANCEL), and nghttp2 forgets it (its user data is cleared), so no
 * callback of a later frame finds it.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "upstream_h2_int.h"
#include "upstream_h2_request.h"
#include "upstream_serialize.h"
#include "upstream_transfer.h"

/* Calls a callback of T's caller, which may abort T meanwhile. */
#define CALLBACK(t, call)                 \
	do {                              \
		(t)->in_callback = true;  \
		call;                     \
		(t)->in_callback = false; \
	} while (0)

static bool stream_drain(struct uh2_stream *t);

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

/* T leaves its connection (reset there unless the stream is over). */
static void stream_detach(struct uh2_stream *t)
{
	struct uh2_conn *c = t->conn;

	if (!c)
		return;
	if (!t->closed && !c->dead) {
		nghttp2_session_set_stream_user_data(c->session, t->id, NULL);
		if (!t->ended || nghttp2_session_get_stream_local_close(c->session, t->id) == 0)
			nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, t->id,
			                          t->ended ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
	}
	uh2_conn_remove_stream(c, t);
	uh2_conn_flush(c);
}

/* Ends T with RESULT: on_done, then gone. */
static void stream_finish(struct uh2_stream *t, enum upstream_result result, const char *error)
{
	char copy[256];

	if (error) {
		snprintf(copy, sizeof(copy), "%s", error);
		error = copy;
	}
	stream_detach(t);
	t->in_callback = true;
	upstream_transfer_done(t->owner, result, t->status, error);
}

/* T's caller aborted it from inside a callback: gone. */
static void stream_aborted(struct uh2_stream *t)
{
	stream_detach(t);
	upstream_transfer_free(t->owner);
}

void uh2_stream_conn_failed(struct uh2_stream *t, enum upstream_result result, const char *why)
{
	t->closed = true; /* the session is done for */
	t->ready = false;
	if ((t->run_len || t->held_len) && !t->paused && !stream_drain(t))
		return;
	if (t->ended) {
		/* paused, with the whole rest held: it leaves, and ends on resume */
		stream_detach(t);
		return;
	}
	stream_finish(t, t->got_bytes ? UPSTREAM_ERR_PROTOCOL : result,
	              t->got_bytes ? "the connection closed before the response was complete"
	                           : why);
}

/* Gives LEN bytes of T's window back, once its caller took them. */
static void stream_consumed(struct uh2_stream *t, size_t len)
{
	if (t->conn && !t->closed && !t->conn->dead)
		nghttp2_session_consume_stream(t->conn->session, t->id, len);
}

/* Delivers LEN bytes to T's caller; false when T is gone. */
static bool stream_deliver(struct uh2_stream *t, const char *data, size_t len)
{
	if (len == 0)
		return true;
	CALLBACK(t, t->owner->cb.on_data(t->owner->ctx, t->status, data, len));
	if (t->aborted) {
		stream_aborted(t);
		return false;
	}
	stream_consumed(t, len);
	return true;
}

static int stream_hold(struct uh2_stream *t, const char *data, size_t len)
{
	if (t->held_len + len > t->held_cap) {
		size_t cap = t->held_cap ? t->held_cap : 1024;
		char *b;

		while (cap < t->held_len + len)
			cap *= 2;
		b = realloc(t->held, cap);
		if (!b)
			return -ENOMEM;
		t->held = b;
		t->held_cap = cap;
	}
	memcpy(t->held + t->held_len, data, len);
	t->held_len += len;
	return 0;
}

/* ---- nghttp2's callbacks ---- */

static struct uh2_stream *stream_of(nghttp2_session *session, int32_t id)
{
	return nghttp2_session_get_stream_user_data(session, id);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t name_len, const uint8_t *value, size_t value_len, uint8_t flags,
                     void *user_data)
{
	struct uh2_stream *t = stream_of(session, frame->hd.stream_id);

	(void)flags;
	(void)user_data;
	if (!t || frame->hd.type != NGHTTP2_HEADERS || t->headed)
		return 0; /* gone, or trailers */
	if (!t->got_bytes) {
		t->got_bytes = true;
		free(t->copy); /* processed: never sent again */
		t->copy = NULL;
	}
	if (name_len == 7 && memcmp(name, ":status", 7) == 0) {
		/* nghttp2 checked it: three digits */
		t->head_status = (value[0] - '0') * 100 + (value[1] - '0') * 10 + (value[2] - '0');
		return 0;
	}
	if (name[0] == ':' || t->head_status < 200 || !t->owner->cb.on_header)
		return 0;
	CALLBACK(t, t->owner->cb.on_header(t->owner->ctx, (const char *)name, name_len,
	                                   (const char *)value, value_len));
	if (t->aborted)
		stream_aborted(t);
	return 0;
}

/* The upstream ended T's response; done unless bytes wait for a resume. */
static void stream_ended(struct uh2_stream *t)
{
	t->ended = true;
	if (!t->held_len && !t->run_len)
		stream_finish(t, UPSTREAM_OK, NULL);
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
	struct uh2_stream *t;

	if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
		((struct uh2_conn *)user_data)->settled = true;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	t = stream_of(session, frame->hd.stream_id);
	if (!t)
		return 0;
	if (frame->hd.type == NGHTTP2_HEADERS && !t->headed) {
		if (t->head_status < 200) {
			t->head_status = 0; /* interim: the real head follows */
			return 0;
		}
		t->headed = true;
		t->status = t->head_status;
		if (t->owner->cb.on_head) {
			CALLBACK(t, t->owner->cb.on_head(t->owner->ctx, t->status));
			if (t->aborted) {
				stream_aborted(t);
				return 0;
			}
		}
	}
	if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
		stream_ended(t);
	return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *user_data)
{
	struct uh2_stream *t = stream_of(session, stream_id);

	(void)flags;
	(void)user_data;
	/* the connection's window goes back at once: a paused stream holds its own only */
	nghttp2_session_consume_connection(session, len);
	if (!t)
		return 0;
	t->got_bytes = true;
	t->ready = true;
	if (!t->held_len && !t->run_len) {
		/* a stream's first DATA of a read stays in the read buffer */
		t->run = (const char *)data;
		t->run_len = len;
		return 0;
	}
	if ((t->run_len && stream_hold(t, t->run, t->run_len) < 0) ||
	    stream_hold(t, (const char *)data, len) < 0)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
	t->run_len = 0;
	return 0;
}

/*
 * Delivers what T got, as one chunk, unless T is paused (then what is in the
 * read buffer is kept); done when the upstream ended it. False when T is gone.
 */
static bool stream_drain(struct uh2_stream *t)
{
	const char *data = t->run_len ? t->run : t->held;
	size_t len = t->run_len ? t->run_len : t->held_len;

	if (t->paused) {
		if (t->run_len && stream_hold(t, t->run, t->run_len) < 0) {
			stream_finish(t, UPSTREAM_ERR_INTERNAL, "out of memory");
			return false;
		}
		t->run_len = 0;
		return true;
	}
	t->run_len = t->held_len = 0;
	if (!stream_deliver(t, data, len))
		return false;
	if (t->held_cap > 65536 && !t->held_len) {
		free(t->held); /* a large one is not kept */
		t->held = NULL;
		t->held_cap = 0;
	}
	if (t->ended && !t->paused && !t->held_len) {
		stream_finish(t, UPSTREAM_OK, NULL);
		return false;
	}
	return true;
}

/*
 * One chunk per stream and read, not one per DATA frame: an upstream that
 * sends each stream event in a frame of its own would cost the caller a
 * write per event. A delivery may end or abort any stream: the walk starts
 * over after each.
 */
void uh2_streams_deliver(struct uh2_conn *c)
{
	for (;;) {
		struct uh2_stream *t = c->streams;

		while (t && !t->ready)
			t = t->next;
		if (!t)
			return;
		t->ready = false;
		stream_drain(t);
	}
}

/* The upstream refused T unprocessed: T goes through the dispatcher again,
 * once, on another connection when this one takes no more. */
static void stream_restart(struct uh2_stream *t)
{
	struct uh2_copy *copy = t->copy;
	char *body = t->body;
	struct upstream_request req = {
	        .method = copy->method,
	        .url = copy->url,
	        .headers = copy->headers,
	        .n_headers = copy->n_headers,
	        .body = body,
	        .body_len = t->body_len,
	        .timeout_ms = stream_time_left_ms(t),
	};

	if (req.timeout_ms < 0) {
		stream_finish(t, UPSTREAM_ERR_TIMEOUT, "operation timed out");
		return;
	}
	/* the request outlives T's state, whose place the new attempt's takes */
	t->copy = NULL;
	t->body = NULL;
	upstream_transfer_restart(t->owner, &req, t->paused);
	free(copy);
	free(body);
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
	struct uh2_stream *t = stream_of(session, stream_id);
	char why[128];

	(void)user_data;
	if (!t)
		return 0;
	t->closed = true;
	if (t->ended)
		return 0; /* done, or done once the bytes it holds are delivered */
	/* the bytes that came before the reset first (unless paused) */
	t->ready = false;
	if ((t->run_len || t->held_len) && !t->paused && !stream_drain(t))
		return 0;
	if (error_code == NGHTTP2_REFUSED_STREAM && !t->got_bytes) {
		/* not processed (RST_STREAM, or above a GOAWAY's last stream) */
		if (t->copy && !t->owner->restarted)
			stream_restart(t);
		else
			stream_finish(t, UPSTREAM_ERR_CONNECT, "the upstream refused the stream");
		return 0;
	}
	snprintf(why, sizeof(why), "the upstream reset the stream (%s)",
	         nghttp2_http2_strerror(error_code));
	stream_finish(t, t->got_bytes ? UPSTREAM_ERR_PROTOCOL : UPSTREAM_ERR_CONNECT, why);
	return 0;
}

void uh2_stream_callbacks(nghttp2_session_callbacks *cbs)
{
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
}

/* ---- the request ---- */

static ssize_t body_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t len,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct uh2_stream *t = stream_of(session, stream_id);
	size_t n;

	(void)source;
	(void)user_data;
	if (!t)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	n = t->body_len - t->body_off;
	if (n > len)
		n = len;
	memcpy(buf, t->body + t->body_off, n);
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
	stream_finish(t, UPSTREAM_ERR_TIMEOUT, "operation timed out");
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
	if (req->body_len) {
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
	stream_detach(t);
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
	if (!stream_drain(t))
		return;
	if (t->conn)
		uh2_conn_flush(t->conn); /* the window update */
}

void upstream_h2_clean(struct uh2_stream *t)
{
	if (!t->h2)
		return; /* not started */
	stream_detach(t);
	if (t->ev_timeout)
		event_free(t->ev_timeout);
	free(t->copy);
	free(t->body);
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
