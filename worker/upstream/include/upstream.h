/*
 * upstream: the worker's client for upstream APIs, the one header of
 * libupstream its users see. One per worker, on the worker's libevent loop;
 * it carries each transfer on its own HTTP/1.1 keep-alive client, its own
 * HTTP/2 client (upstreams that choose h2) or libcurl (proxies), and caches
 * connections across transfers. Callers see a transfer as: a status and
 * headers, body chunks, then exactly one completion callback — nothing of
 * any transport leaks through this interface.
 *
 * The rule every transport keeps: no callback runs inside the call that
 * started the transfer. upstream_start() either returns a negative errno
 * (nothing started, no callback will ever come) or 0, and then every
 * callback, on_done included, comes from the event loop after it returned
 * and *RET is stored: a failure found while starting (a kept-alive
 * connection that fails at once and no new one to be had: EMFILE, connect()
 * refused) is reported by on_done on the loop's next pass, and until then
 * the transfer may be aborted like any other.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct upstream;
struct upstream_transfer;

enum upstream_result {
	UPSTREAM_OK,
	UPSTREAM_ERR_CONNECT, /* refused, unreachable, reset before a response */
	UPSTREAM_ERR_DNS,
	UPSTREAM_ERR_TLS,
	UPSTREAM_ERR_TIMEOUT,
	UPSTREAM_ERR_PROTOCOL, /* malformed response, cut mid-body */
	UPSTREAM_ERR_ABORTED,  /* the caller aborted it */
	UPSTREAM_ERR_INTERNAL,
	UPSTREAM_RESULT__COUNT,
};

const char *upstream_result_name(enum upstream_result result);

struct upstream_header {
	const char *name;
	const char *value;
};

/*
 * A request body sent from parts instead of one buffer (an upload spooled to
 * a file: upstream_body.c): bytes in memory (copied), or LEN bytes of a file
 * from OFFSET (its fd is dup()ed; read with pread() as the connection takes
 * more, never whole in memory). Reference-counted: a transfer holds one
 * until it is gone, and a body can be sent any number of times (retries).
 */
struct upstream_body;
struct upstream_body_part {
	const char *data; /* NULL: a range of FD */
	int fd;
	uint64_t offset;
	size_t len;
};

/* NULL when out of memory or out of fds. */
struct upstream_body *upstream_body_new(const struct upstream_body_part *parts, size_t n);
struct upstream_body *upstream_body_ref(struct upstream_body *b);
void upstream_body_unref(struct upstream_body *b);
uint64_t upstream_body_len(const struct upstream_body *b);
/* Up to LEN bytes from OFF into BUF: how many (fewer only at the end), or a
 * negative errno. */
ssize_t upstream_body_read(const struct upstream_body *b, uint64_t off, char *buf, size_t len);

struct upstream_request {
	const char *method; /* "GET", "DELETE"... (a literal: kept); NULL: "POST" */
	const char *url;
	const struct upstream_header *headers;
	size_t n_headers;
	const char *body;
	size_t body_len;
	/* Instead of BODY (then NULL, and BODY_LEN must be
	 * upstream_body_len()): a reference is taken by upstream_start(). */
	struct upstream_body *body_src;
	/* BODY stays as it is until on_done (the caller's promise): a plain-HTTP
	 * upstream gets it from there, not from a copy */
	bool body_lent;
	long timeout_ms; /* whole transfer; 0 = none */
};

struct upstream_callbacks {
	/* One response header line (name without colon, value trimmed). */
	void (*on_header)(void *ctx, const char *name, size_t name_len, const char *value,
	                  size_t value_len);
	/* Optional: the final response head is complete (after its headers, before
	 * any body); not called for 1xx interim responses. */
	void (*on_head)(void *ctx, long status);
	/* A body chunk; the HTTP status is known by then. */
	void (*on_data)(void *ctx, long status, const char *data, size_t len);
	/* Exactly once, after which the transfer is gone. */
	void (*on_done)(void *ctx, enum upstream_result result, long status, const char *error);
};

struct upstream *upstream_new(struct event_base *base);
void upstream_free(struct upstream *up);
/* The CA certificates (PEM file) that TLS upstreams are verified against, instead of
 * the system's (libcurl's default bundle, OpenSSL's default paths for our own client);
 * NULL restores the default. Returns 0 or -ENOMEM. */
int upstream_set_ca_file(struct upstream *up, const char *path);
/* Whether TLS upstreams are offered HTTP/2 (the default: those that take it
 * get the own HTTP/2 client, or libcurl with LLMGATE_UPSTREAM_H2=curl); with
 * false every transfer speaks HTTP/1.1 and https:// upstreams stay with the
 * own HTTP/1.1 client (llmgate.upstream_http2). */
void upstream_set_http2(struct upstream *up, bool offer);

/* Starts a transfer; REQ's strings are copied (its body too, unless lent).
 * Returns 0, *RET set, or a negative errno and no callback. No callback runs
 * before it returns (see above): a failure found on the way is on_done's,
 * from the loop. */
int upstream_start(struct upstream *up, const struct upstream_request *req,
                   const struct upstream_callbacks *cb, void *ctx, struct upstream_transfer **ret);

/* Cancels a transfer; its on_done is not called. Safe anywhere, also from
 * inside the transfer's own callbacks (it is then freed once curl lets go). */
void upstream_abort(struct upstream_transfer *t);

/* Backpressure: stops delivering body data (from the next chunk on; curl
 * holds it and stops reading the socket) until upstream_resume(). Safe from
 * inside on_data. */
void upstream_pause(struct upstream_transfer *t);
/* Delivers again; call it from the event loop (not from a transfer's
 * callback), it may call on_data before it returns. */
void upstream_resume(struct upstream_transfer *t);

/* The loop the transport runs on, for its callers' own timers. */
struct event_base *upstream_event_base(const struct upstream *up);

/* Transfers in flight. */
size_t upstream_active(const struct upstream *up);
