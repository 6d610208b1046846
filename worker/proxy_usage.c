/*
 * proxy_usage: the token usage of a proxied request's answer (issue 19),
 * into call->usage for the accounting record (request_stats), the spans and
 * the client keys. Runs in a worker, on its event loop; see proxy_call.h.
 *
 * Only 2xx answers of the ops that report usage count (chat, completions,
 * embeddings, Responses create), and only with llmgate.usage on. A
 * non-streamed body is scanned once it is complete, from its end (at most
 * BODY_WINDOW bytes of it: the usage object is among an answer's last
 * members); a stream event by event as it is relayed (usage_stream.h).
 * Neither changes, delays or copies a byte for the client; in inject mode
 * (usage_strip.h) the usage chunk the client did not ask for is removed.
 */
#include <event2/buffer.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proxy_call.h"
#include "usage_scan.h"
#include "usage_stream.h"
#include "usage_strip.h"

#define BODY_WINDOW 16384

/* The usage objects' shapes this worker read (usage_scan.h): of bodies and
 * of streams' usage events, apart (their layouts differ). */
static struct usage_shapes body_shapes, stream_shapes;

static bool reports_usage(enum proxy_op op)
{
	return op == PROXY_OP_CHAT || op == PROXY_OP_COMPLETIONS || op == PROXY_OP_EMBEDDINGS ||
	       op == PROXY_OP_RESPONSES;
}

void proxy_usage_body(struct proxy_call *call, long status, struct evbuffer *body)
{
	static char window[BODY_WINDOW];
	struct evbuffer_iovec last;
	struct evbuffer_ptr at;
	size_t len = evbuffer_get_length(body), n;
	const char *p;

	call->usage = (struct usage){0};
	call->usage_expected = call->proxy->config->usage && reports_usage(call->op) &&
	                       status >= 200 && status < 300;
	if (!call->usage_expected || !len)
		return;
	/* its last BODY_WINDOW bytes: in place in one segment, else copied for the scan */
	n = len < BODY_WINDOW ? len : BODY_WINDOW;
	if (evbuffer_peek(body, -1, NULL, &last, 1) == 1 && last.iov_len == len) {
		p = (const char *)last.iov_base + (len - n);
	} else {
		if (evbuffer_ptr_set(body, &at, len - n, EVBUFFER_PTR_SET) < 0 ||
		    evbuffer_copyout_from(body, &at, window, n) != (ev_ssize_t)n)
			return;
		p = window;
	}
	usage_scan_body_shaped(p, n, &body_shapes, &call->usage);
}

void proxy_usage_stream_start(struct proxy_call *call, long status)
{
	const struct config *c = call->proxy->config;

	call->usage = (struct usage){0};
	call->usage_expected = c->usage && reports_usage(call->op) && status >= 200 && status < 300;
	usage_stream_free(&call->usage_stream);
	if (!call->usage_expected)
		return;
	usage_stream_init(&call->usage_stream, proxy_op_responses(call->op), &stream_shapes);
	if (call->usage_injected) {
		call->strip = calloc(1, sizeof(*call->strip));
		if (!call->strip)
			log_warning("request %s: no memory to strip the usage chunk; the client "
			            "gets it",
			            call->id);
	}
}

struct emit_ctx {
	struct proxy_call *call;
	void (*relay)(struct proxy_call *, const char *, size_t);
};

static void emit(void *ctx, const char *data, size_t len)
{
	struct emit_ctx *e = ctx;

	if (e->call->usage_expected)
		usage_stream_feed(&e->call->usage_stream, data, len);
	e->relay(e->call, data, len);
}

void proxy_usage_stream_data(struct proxy_call *call, const char *data, size_t len,
                             void (*relay)(struct proxy_call *, const char *, size_t))
{
	struct emit_ctx e = {call, relay};

	if (call->strip)
		usage_strip_feed(call->strip, data, len, emit, &e);
	else
		emit(&e, data, len);
}

void proxy_usage_stream_end(struct proxy_call *call,
                            void (*relay)(struct proxy_call *, const char *, size_t))
{
	struct emit_ctx e = {call, relay};

	if (!call->usage_expected)
		return;
	if (call->strip)
		usage_strip_finish(call->strip, emit, &e);
	if (call->strip && call->strip->usage.known)
		call->usage = call->strip->usage;
	else
		usage_stream_end(&call->usage_stream, &call->usage);
}

void proxy_usage_free(struct proxy_call *call)
{
	usage_stream_free(&call->usage_stream);
	usage_strip_free(call->strip);
	call->strip = NULL;
}
