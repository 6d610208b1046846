/*
 * upstream_h2_recv: what the own HTTP/2 client receives, for its streams
 * (see upstream_h2.h): nghttp2's callbacks, the delivery to the callers,
 * and how a stream ends. Runs in a worker, on its event loop.
 *
 * The response comes through nghttp2's callbacks: its :status and headers
 * (interim 1xx heads and trailers are not passed on), DATA, and the end of
 * the stream; nghttp2 checks the framing and the header rules, and resets a
 * stream that breaks them (which then fails here). A stream's DATA of one
 * read reaches its caller as one chunk at the end of the read, straight from
 * the read buffer when it was one frame.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream_h2_int.h"
#include "upstream_transfer.h"

/* Calls a callback of T's caller, which may abort T meanwhile. */
#define CALLBACK(t, call)                 \
	do {                              \
		(t)->in_callback = true;  \
		call;                     \
		(t)->in_callback = false; \
	} while (0)

/* T leaves its connection (reset there unless the stream is over). */
void uh2_stream_detach(struct uh2_stream *t)
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
void uh2_stream_finish(struct uh2_stream *t, enum upstream_result result, const char *error)
{
	char copy[256];

	if (error) {
		snprintf(copy, sizeof(copy), "%s", error);
		error = copy;
	}
	uh2_stream_detach(t);
	t->in_callback = true;
	upstream_transfer_done(t->owner, result, t->status, error);
}

/* T's caller aborted it from inside a callback: gone. */
static void stream_aborted(struct uh2_stream *t)
{
	uh2_stream_detach(t);
	upstream_transfer_free(t->owner);
}

void uh2_stream_conn_failed(struct uh2_stream *t, enum upstream_result result, const char *why)
{
	t->closed = true; /* the session is done for */
	t->ready = false;
	if ((t->run_len || t->held_len) && !t->paused && !uh2_stream_drain(t))
		return;
	if (t->ended) {
		/* paused, with the whole rest held: it leaves, and ends on resume */
		uh2_stream_detach(t);
		return;
	}
	uh2_stream_finish(t, t->got_bytes ? UPSTREAM_ERR_PROTOCOL : result,
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
		uh2_stream_finish(t, UPSTREAM_OK, NULL);
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
bool uh2_stream_drain(struct uh2_stream *t)
{
	const char *data = t->run_len ? t->run : t->held;
	size_t len = t->run_len ? t->run_len : t->held_len;

	if (t->paused) {
		if (t->run_len && stream_hold(t, t->run, t->run_len) < 0) {
			uh2_stream_finish(t, UPSTREAM_ERR_INTERNAL, "out of memory");
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
		uh2_stream_finish(t, UPSTREAM_OK, NULL);
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
		uh2_stream_drain(t);
	}
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
	if ((t->run_len || t->held_len) && !t->paused && !uh2_stream_drain(t))
		return 0;
	if (error_code == NGHTTP2_REFUSED_STREAM && !t->got_bytes) {
		/* not processed (RST_STREAM, or above a GOAWAY's last stream) */
		if (t->copy && !t->owner->restarted)
			uh2_stream_restart(t);
		else
			uh2_stream_finish(t, UPSTREAM_ERR_CONNECT,
			                  "the upstream refused the stream");
		return 0;
	}
	snprintf(why, sizeof(why), "the upstream reset the stream (%s)",
	         nghttp2_http2_strerror(error_code));
	uh2_stream_finish(t, t->got_bytes ? UPSTREAM_ERR_PROTOCOL : UPSTREAM_ERR_CONNECT, why);
	return 0;
}

void uh2_stream_callbacks(nghttp2_session_callbacks *cbs)
{
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
}
