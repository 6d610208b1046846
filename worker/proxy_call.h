/*
 * proxy_call: the state of one client request inside the proxy, private to
 * the proxy's files: proxy.c (the proxy and its entry point, proxy_handle),
 * proxy_admit.c (admission), proxy_attempt.c (attempts and their timers),
 * proxy_relay.c (the stream relay and its backpressure) and proxy_answer.c
 * (answer delivery and accounting). Each function below belongs to the file
 * its prefix names.
 */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client_limits.h"
#include "clock.h"
#include "config.h"
#include "outcome.h"
#include "proxy.h"
#include "proxy_plan.h"
#include "proxy_request.h"
#include "proxy_trace.h"
#include "proxy_walk.h"
#include "request_id.h"
#include "usage.h"
#include "usage_stream.h"
#include "usage_strip.h"

struct evbuffer;

#define PROXY_MAX_RESPONSE       (64 * 1024 * 1024) /* non-streamed upstream body */
#define PROXY_STREAM_IDLE_MAX_MS 60000L             /* between stream chunks, at most */
#define PROXY_TRIED_MAX          512                /* the "tried" list of an error message */

struct proxy {
	const struct config *config;
	struct upstream *up;
	struct event_base *base;
	struct fallback_state *fallback_state; /* global mode, outcome counters */
	struct proxy_balancer *balancer;
	json_t **defaults;           /* per deployment: its request defaults, or NULL */
	struct request_stats *stats; /* NULL: not counted */
	struct proxy_tracer *tracer; /* NULL: tracing off */
	/* finished calls kept for the next ones (at most PROXY_CALL_POOL), with
	 * their body buffer (empty) and deadline and attempt timers (not
	 * pending): proxy_call_take() */
	struct proxy_call *pool;
	size_t n_pool;
};

#define PROXY_CALL_POOL 64

/* Retry-after headers of an answer, passed on with it when it is a 4xx. */
struct retry_headers {
	char after[32];    /* retry-after */
	char after_ms[32]; /* retry-after-ms, x-ms-retry-after-ms */
};

/* An upstream's 4xx answer of a failed attempt (401, 429...): what the
 * client gets if no later attempt does better. */
struct kept_answer {
	long status; /* 0: none */
	struct evbuffer *body;
	char content_type[128];
	struct retry_headers retry;
	const struct deployment *dep;
	enum route route;
	int64_t ttfb_us;
	bool json; /* its body looks like a JSON object */
};

struct proxy_call {
	struct proxy_call *pool_next; /* in proxy->pool, while kept there */
	struct proxy *proxy;
	struct http_exchange *ex;    /* NULL once the exchange is over */
	struct upstream_transfer *t; /* the current attempt's; NULL between attempts */
	struct proxy_plan plan;
	const struct deployment *dep; /* of the current (or last) attempt */
	enum proxy_op op;
	json_t *root;    /* the client's body, parsed when an attempt needs it */
	const char *raw; /* its bytes, valid as long as the exchange */
	size_t raw_len;
	int raw_fd;  /* >= 0: an upload the server spooled to this file (RAW is NULL) */
	char *model; /* the group the client named (ops by id: the first candidate's) */
	bool named_by_path;
	struct proxy_form form; /* an upload's (has_form): its model field, boundary */
	bool has_form;
	char *query;            /* passed on upstream (ops by id), or NULL */
	struct proxy_walk walk; /* a request naming a stored response (proxy_walk.h) */
	uint32_t sse_events;    /* Responses streams: events relayed whole */

	struct event *deadline_timer; /* the request's, until the response commits */
	struct event *attempt_timer;  /* the current attempt's (proxy_attempt.c) */
	struct event *retry_timer;    /* the wait before the next attempt (made at the first) */
	int64_t deadline_us;          /* 0: none */
	int attempts;                 /* started */

	/* for request_stats: */
	int64_t received_us; /* handed to us, before the body was parsed; the deadline
	                      * counts from here */
	int64_t first_attempt_us;
	int64_t upstream_end_us; /* the last attempt's end */
	int64_t ttfb_us;         /* the current attempt's; -1: no head yet */
	size_t bytes_in, bytes_out;
	long group;
	struct usage usage;               /* the answer's, as found in its bytes (usage.h) */
	bool usage_expected;              /* a 2xx answer of an op that reports usage (usage.c) */
	struct usage_stream usage_stream; /* a stream's, when usage is counted */
	struct usage_strip *strip;        /* inject mode: the usage chunk the client did not ask */
	bool usage_injected;              /* the current attempt asked upstream for usage */
	const char *key_id;           /* the client key's id (issue 20); NULL: master key or none */
	struct proxy_trace trace;     /* its spans (proxy_trace.h) */
	const struct client_key *key; /* its key (client_keys.h), or NULL */
	struct client_limit_hold hold; /* what the key's limits hold for it (proxy_keys.c) */
	struct ceiling_hold ceiling;   /* what the current deployment's ceiling holds for it */
	char peer[64];
	char method[8];
	char path[128];
	size_t path_len;

	/* the current attempt */
	int64_t attempt_us;
	int64_t head_us; /* 0 before its response head */
	long idle_ms;    /* stream: between chunks */
	long status;
	struct evbuffer *body; /* non-streamed answer */
	/* a Responses stream whose id has not shown yet: its first bytes, kept
	 * only when the id is not in its first chunk (proxy_answer_learn_stream) */
	bool id_pending;
	struct evbuffer *id_head;
	char body_first; /* its first and last bytes other than JSON white space */
	char body_last;
	char content_type[128];
	struct retry_headers retry;
	long retry_after_ms; /* -1: not asked */
	bool retry_precise;  /* from a millisecond header */
	bool probe;          /* a granted probe of the primary */
	bool recorded;       /* its outcome is counted */

	struct kept_answer kept;
	enum outcome last_failure;
	char tried[PROXY_TRIED_MAX]; /* "'a' (500), 'b' (connect)" */

	bool stream_requested;
	bool streaming; /* the client's response has started */
	bool paused;    /* we paused the transfer (backpressure) */
	char tail[2];   /* the last two bytes relayed: where an SSE event ends */
	char id[REQUEST_ID_MAX + 1];
};

static inline void proxy_timer_set(struct event *ev, long ms)
{
	struct timeval tv = clock_tv_ms(ms);

	evtimer_add(ev, &tv);
}

/* The attempt timer as the idle time of a flowing stream (or of a stream
 * request's body answered in one piece); a paused stream is not idle. */
static inline void proxy_arm_idle(struct proxy_call *call)
{
	if (!call->paused && call->t)
		proxy_timer_set(call->attempt_timer, call->idle_ms);
}

static inline size_t proxy_dep_index(const struct proxy_call *call, const struct deployment *dep)
{
	return (size_t)(dep - call->proxy->config->deployments);
}

/* proxy.c: ends the call: its exchange is over or handed back, its transfer
 * gone. Its shell may be kept in PROXY's pool. */
void proxy_call_free(struct proxy_call *call);
/* A zeroed call for PROXY (from its pool: with its body buffer and timers
 * made, which proxy_admit's new_call() then keeps), or NULL. */
struct proxy_call *proxy_call_take(struct proxy *proxy);

/* proxy_admit.c: reads the request and finds its group and plan; the call,
 * or NULL when the client was answered already (an early answer). */
struct proxy_call *proxy_admit(struct proxy *proxy, struct http_exchange *ex,
                               const struct http_request *req, const struct proxy_target *target,
                               const char *request_id);

struct early_answer;
/* proxy_keys.c: the client key's model access and limits for the admitted
 * CALL (its x-ratelimit-* headers added): 0, or -1 when it is refused (E's
 * client answered). */
int proxy_keys_admit(struct proxy_call *call, const struct proxy_target *target,
                     const struct early_answer *e);
/* The call is answered (proxy_answer_record, its usage known) or over
 * (proxy_call_free): its key's limits released and settled, once. */
void proxy_keys_finish(struct proxy_call *call);
/* The next attempt's deployment DEP under its rpm/tpm ceiling
 * (router_settings.enable_pre_call_checks): true, and the request counted
 * there; false when DEP is at its ceiling this minute (*RET_RESET_MS:
 * until the minute ends). */
bool proxy_keys_ceiling_take(struct proxy_call *call, const struct deployment *dep,
                             long *ret_reset_ms);
/* Every deployment the call may use is at its ceiling: a 429 naming the
 * model, retry-after the end of the minute. Ends the call. */
void proxy_keys_ceiling_refuse(struct proxy_call *call, long reset_ms);

/* proxy_attempt.c: the call's timers (0 or -ENOMEM), then its first attempt
 * under the request's deadline (or a 500 when it cannot start). */
int proxy_attempt_timers_new(struct proxy_call *call);
void proxy_attempt_first(struct proxy_call *call);
/* Counts the current attempt's outcome, once. */
void proxy_attempt_record(struct proxy_call *call, enum outcome outcome);
/* Logs an answer that took more than one attempt. */
void proxy_attempt_log_answered(const struct proxy_call *call);

/* proxy_relay.c: takes an upstream read when it belongs to a stream (the
 * call's, or one that starts with it) and returns true; false leaves it to
 * the non-streamed path. */
bool proxy_relay_data(struct proxy_call *call, long status, const char *data, size_t len);
/* The stream's upstream finished it: ends the client's. Ends the call. */
void proxy_relay_end(struct proxy_call *call);
/* The stream failed after its first byte: says so in-band, then breaks it.
 * Ends the call. */
void proxy_relay_fail(struct proxy_call *call, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* The http_exchange on_writable callback. */
void proxy_relay_on_writable(void *ctx);

/* proxy_usage.c: the usage of the call's answer (call->usage), from a
 * non-streamed 2xx BODY, or from the stream's tail once it ends. */
void proxy_usage_body(struct proxy_call *call, long status, struct evbuffer *body);
/* A stream commits: its tail window (and, inject mode, the stripper). */
void proxy_usage_stream_start(struct proxy_call *call, long status);
/* Relays DATA of a committed stream through RELAY (the stripper's holdback
 * in inject mode, the tail window always). */
void proxy_usage_stream_data(struct proxy_call *call, const char *data, size_t len,
                             void (*relay)(struct proxy_call *, const char *, size_t));
/* The stream ends (whole or not): what the stripper holds goes on through
 * RELAY, then its usage is taken (the stripped chunk's, or the tail's). */
void proxy_usage_stream_end(struct proxy_call *call,
                            void (*relay)(struct proxy_call *, const char *, size_t));
void proxy_usage_free(struct proxy_call *call);

/* proxy_answer.c: a 2xx answer of the Responses API from the call's
 * deployment, DATA being its body (NULL for a stream): the response it
 * names (a create's new id, or the id a follow-up found) is learned
 * (proxy_walk_learn). A create's stream goes on to
 * proxy_answer_learn_stream() with each chunk while call->id_pending. */
void proxy_answer_learn(struct proxy_call *call, const char *data, size_t len);
void proxy_answer_learn_stream(struct proxy_call *call, const char *data, size_t len);
/* The headers of an answer from DEP by ROUTE. */
void proxy_answer_route_headers(struct proxy_call *call, const struct deployment *dep,
                                enum route route);
/* x-llmgate-overhead-ms, just before the response head leaves; NOW_US: a
 * monotonic reading of this moment. */
void proxy_answer_overhead(struct proxy_call *call, int64_t now_us);
/* The request is answered (or the client left) at NOW_US: counted and logged
 * once. */
void proxy_answer_record(struct proxy_call *call, int status, size_t bytes_out, bool answered,
                         enum route route, int64_t ttfb_us, int64_t now_us);
/* Sends an upstream's answer (see proxy_answer.c). Ends the call. */
void proxy_answer_send(struct proxy_call *call, long status, const struct deployment *dep,
                       enum route route, const struct retry_headers *retry,
                       const char *content_type, struct evbuffer *body, bool json, int64_t ttfb_us);
/* Sends the kept answer of an earlier attempt. Ends the call. */
void proxy_answer_send_kept(struct proxy_call *call);
/* Our own error for the request, after its attempts. Ends the call. */
void proxy_answer_error(struct proxy_call *call, int status, const char *type, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The http_exchange on_abort callback: the client left. */
void proxy_answer_on_abort(void *ctx);
