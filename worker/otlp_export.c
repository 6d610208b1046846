/*
 * otlp_export: batching and export of a worker's spans (see otlp_export.h).
 * Runs in a worker, on its event loop. Invariants: the queue holds at most
 * queue_size encoded spans (more are dropped and counted); at most one
 * export is in flight and its body stays here until its transfer is done;
 * every span ends exactly once as exported or dropped.
 *
 * Each span is encoded once, straight into the bytes that are sent. The
 * queue is a ring of chunks, one batch each: a chunk's buffer starts with
 * HEAD_ROOM free bytes and its spans follow back to back; spans are added to
 * the newest chunk, a new one is opened when it holds batch_size, and the
 * oldest is sent as it is, the request's head (otlp_proto_head(), or the JSON
 * head, whose '[' takes the place of the first span's ',') written into the
 * room just before its first span. A chunk in flight stays untouched until its
 * transfer is done, then takes spans again: no span is ever moved or copied
 * here, however far the collector falls behind, and the own client sends a
 * batch to a plain-HTTP collector from the chunk itself (a lent body). The export's headers
 * carry secrets (the collector's API key): they go only to the collector and
 * are never logged; a failure is logged by status or transport error only,
 * and only when the exporter changes between working and failing.
 */
#include "otlp_export.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "clock.h"
#include "log.h"
#include "otlp_json.h"
#include "otlp_proto.h"
#include "upstream.h"

/* A batch being filled, queued or in flight. */
struct otlp_chunk {
	struct otlp_buf buf; /* HEAD_ROOM bytes, then encoded spans back to back */
	size_t n_spans;
};

struct otlp_export {
	const struct otel_config *c;
	bool json;     /* http/json, else http/protobuf */
	bool flushing; /* send every batch at once (the worker drains) */
	struct upstream *up;
	struct event *timer;
	struct upstream_header *headers;
	size_t n_headers;
	size_t head_room; /* free bytes before a buffer's first span */
	char *head;       /* JSON: the head (HEAD_LEN bytes); protobuf: room to write one */
	size_t head_len;

	/* the ring: N_CHUNKS chunks, FIRST the oldest queued, N_USED queued (the
	 * last of them the one spans are added to); the chunk in flight is the
	 * one before FIRST, so queued chunks never reach it */
	struct otlp_chunk *chunks;
	size_t n_chunks, first, n_used;
	size_t n_queued; /* spans in all queued chunks */
	bool timer_armed;

	struct upstream_transfer *t; /* the export in flight, or NULL */
	size_t n_sending;
	long status;
	bool failing; /* the last export failed (logged once per change) */

	uint32_t exported, dropped; /* not yet taken */
};

static void arm(struct otlp_export *x, long ms)
{
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(x->timer, &tv);
	x->timer_armed = true;
}

static void on_header(void *ctx, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
	(void)ctx;
	(void)name;
	(void)name_len;
	(void)value;
	(void)value_len;
}

static void on_data(void *ctx, long status, const char *data, size_t len)
{
	struct otlp_export *x = ctx;

	(void)data;
	(void)len;
	x->status = status;
}

static void on_head(void *ctx, long status)
{
	((struct otlp_export *)ctx)->status = status;
}

static void schedule(struct otlp_export *x)
{
	if (x->t || x->n_queued == 0)
		return;
	if (x->flushing || x->n_queued >= (size_t)x->c->batch_size)
		arm(x, 0);
	else if (!x->timer_armed)
		arm(x, x->c->flush_interval_ms);
}

static void on_done(void *ctx, enum upstream_result result, long status, const char *error)
{
	struct otlp_export *x = ctx;
	bool ok = result == UPSTREAM_OK && status >= 200 && status < 300;

	(void)error;
	x->t = NULL;
	log_debug("otel: export of %zu spans: %s, status %ld", x->n_sending,
	          upstream_result_name(result), status);
	if (ok) {
		x->exported += (uint32_t)x->n_sending;
		if (x->failing)
			log_notice("otel: exporting spans to the collector again");
	} else {
		x->dropped += (uint32_t)x->n_sending;
		if (!x->failing) {
			if (result == UPSTREAM_OK)
				log_warning("otel: the collector answered %ld; %zu spans dropped "
				            "(counted in llmgate_otel_spans_dropped_total)",
				            status, x->n_sending);
			else
				log_warning("otel: export failed (%s error); %zu spans dropped "
				            "(counted in llmgate_otel_spans_dropped_total)",
				            upstream_result_name(result), x->n_sending);
		}
	}
	x->failing = !ok;
	x->n_sending = 0;
	schedule(x);
}

/* B emptied to its head room: 0, or -1 out of memory. */
static int fresh(struct otlp_export *x, struct otlp_buf *b, size_t more)
{
	otlp_buf_reset(b);
	if (otlp_buf_reserve(b, x->head_room + more) < 0)
		return -1;
	b->len = x->head_room;
	return 0;
}

static struct otlp_chunk *chunk_at(struct otlp_export *x, size_t i)
{
	return &x->chunks[(x->first + i) % x->n_chunks];
}

/* The chunk a span is added to: the newest queued one while it has room for
 * a batch, else a fresh one; NULL out of memory. */
static struct otlp_chunk *chunk_to_fill(struct otlp_export *x)
{
	size_t room = (size_t)(x->c->batch_size < 2048 ? x->c->batch_size : 2048) * 512;
	struct otlp_chunk *k;

	if (x->n_used) {
		k = chunk_at(x, x->n_used - 1);
		if (k->n_spans < (size_t)x->c->batch_size)
			return k;
	}
	k = chunk_at(x, x->n_used);
	/* room for a full batch of usual spans from the start: no copy while it
	 * grows (untouched pages cost no memory) */
	if (fresh(x, &k->buf, room) < 0)
		return NULL;
	k->n_spans = 0;
	x->n_used++;
	return k;
}

/* The oldest chunk leaves the queue with its request's head written before
 * its spans; the body's offset in its buffer. */
static size_t cut_batch(struct otlp_export *x, struct otlp_chunk *k)
{
	struct otlp_buf *sent = &k->buf;
	size_t start;

	x->first = (x->first + 1) % x->n_chunks;
	x->n_used--;
	x->n_queued -= k->n_spans;
	if (x->json) {
		otlp_json_end(sent);
		start = x->head_room + 1 - x->head_len; /* '[' over the first ',' */
		memcpy(sent->data + start, x->head, x->head_len);
	} else {
		size_t len = otlp_proto_head(x->head, x->c->service_name, LLMGATE_VERSION,
		                             sent->len - x->head_room);

		start = x->head_room - len;
		memcpy(sent->data + start, x->head, len);
	}
	return start;
}

/* Sends the oldest chunk (batch_size spans, or fewer) as one request. */
static void send_batch(struct otlp_export *x)
{
	static const struct upstream_callbacks callbacks = {
	        .on_header = on_header,
	        .on_head = on_head,
	        .on_data = on_data,
	        .on_done = on_done,
	};
	struct otlp_chunk *k = chunk_at(x, 0);
	size_t n = k->n_spans, start;
	int r;

	/* the batch leaves the queue whatever becomes of it */
	start = cut_batch(x, k);
	x->n_sending = n;
	x->status = 0;
	if (k->buf.oom) {
		x->dropped += (uint32_t)n;
		x->n_sending = 0;
		return;
	}
	struct upstream_request req = {
	        .method = "POST",
	        .url = x->c->endpoint,
	        .headers = x->headers,
	        .n_headers = x->n_headers,
	        .body = k->buf.data + start,
	        .body_len = k->buf.len - start,
	        .body_lent = true, /* the chunk is untouched until on_done */
	        .timeout_ms = x->c->export_timeout_ms,
	};
	log_debug("otel: exporting %zu spans (%zu bytes), %zu queued", n, req.body_len,
	          x->n_queued);
	r = upstream_start(x->up, &req, &callbacks, x, &x->t);
	if (r < 0) {
		x->t = NULL;
		x->dropped += (uint32_t)n;
		x->n_sending = 0;
		if (!x->failing)
			log_warning("otel: cannot start an export to the collector: %s",
			            strerror(-r));
		x->failing = true;
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct otlp_export *x = arg;

	(void)fd;
	(void)what;
	x->timer_armed = false;
	if (!x->t && x->n_queued)
		send_batch(x);
	schedule(x);
}

int otlp_export_new(const struct otel_config *c, struct upstream *up, struct event_base *base,
                    struct otlp_export **ret)
{
	struct otlp_export *x = calloc(1, sizeof(*x));

	*ret = NULL;
	if (!x)
		return -ENOMEM;
	x->c = c;
	x->json = c->protocol == OTEL_PROTOCOL_JSON;
	x->up = up;
	x->timer = evtimer_new(base, on_timer, x);
	/* every queued chunk but the newest is full, and one more is in flight */
	x->n_chunks =
	        ((size_t)c->queue_size + (size_t)c->batch_size - 1) / (size_t)c->batch_size + 1;
	x->chunks = calloc(x->n_chunks, sizeof(*x->chunks));
	x->headers = calloc(c->n_headers + 1, sizeof(*x->headers));
	if (x->json) {
		struct otlp_buf head = {0};

		otlp_json_begin(&head, c->service_name, LLMGATE_VERSION);
		x->head = head.oom ? NULL : head.data;
		x->head_len = head.len;
		x->head_room = head.len - 1; /* its '[' takes the first span's ',' */
		if (!x->head)
			otlp_buf_free(&head);
	} else {
		x->head_room = otlp_proto_head_max(c->service_name, LLMGATE_VERSION);
		x->head = malloc(x->head_room);
	}
	if (!x->timer || !x->chunks || !x->headers || !x->head) {
		otlp_export_free(x);
		return -ENOMEM;
	}
	x->headers[0] = (struct upstream_header){
	        "Content-Type", x->json ? "application/json" : "application/x-protobuf"};
	for (size_t i = 0; i < c->n_headers; i++)
		x->headers[i + 1] =
		        (struct upstream_header){c->headers[i].name, c->headers[i].value};
	x->n_headers = c->n_headers + 1;
	*ret = x;
	return 0;
}

void otlp_export_free(struct otlp_export *x)
{
	if (!x)
		return;
	if (x->t)
		upstream_abort(x->t);
	if (x->timer)
		event_free(x->timer);
	for (size_t i = 0; x->chunks && i < x->n_chunks; i++)
		otlp_buf_free(&x->chunks[i].buf);
	free(x->chunks);
	free(x->head);
	free(x->headers);
	free(x);
}

void otlp_export_add(struct otlp_export *x, const struct trace_span *span)
{
	struct otlp_chunk *k;
	size_t before;

	if (x->n_queued >= (size_t)x->c->queue_size || !(k = chunk_to_fill(x))) {
		x->dropped++;
		return;
	}
	before = k->buf.len;
	if (x->json) {
		otlp_buf_add(&k->buf, ",", 1);
		otlp_json_span(&k->buf, span);
	} else {
		otlp_proto_span(&k->buf, span);
	}
	if (k->buf.oom) {
		k->buf.len = before;
		k->buf.oom = 0;
		x->dropped++;
		if (k->n_spans == 0)
			x->n_used--; /* the chunk opened for it holds nothing */
		return;
	}
	k->n_spans++;
	x->n_queued++;
	schedule(x);
}

void otlp_export_flush(struct otlp_export *x)
{
	x->flushing = true;
	schedule(x);
}

bool otlp_export_idle(const struct otlp_export *x)
{
	return !x->t && x->n_queued == 0;
}

void otlp_export_stop(struct otlp_export *x)
{
	if (x->t) {
		upstream_abort(x->t);
		x->t = NULL;
	}
	evtimer_del(x->timer);
	x->timer_armed = false;
	x->dropped += (uint32_t)(x->n_sending + x->n_queued);
	x->n_sending = x->n_queued = x->n_used = 0;
}

void otlp_export_take_counts(struct otlp_export *x, uint32_t *ret_exported, uint32_t *ret_dropped)
{
	*ret_exported = x->exported;
	*ret_dropped = x->dropped;
	x->exported = x->dropped = 0;
}
