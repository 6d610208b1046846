/*
 * upstream: the upstream client's dispatcher (see upstream.h). Runs in a
 * worker. It chooses, per transfer, between three peer transports and owns
 * the transfer's memory (upstream_transfer.h): one allocation per
 * upstream_start(), one free path.
 *
 * http:// and https:// URLs the own keep-alive client takes (upstream_url.c
 * parses each once, here) go to it (upstream_http.c, with OpenSSL for https,
 * host names resolved off the loop by resolver.c): libcurl's per-transfer
 * work costs more than the rest of a proxied request. Everything else goes
 * to libcurl (upstream_curl.c): proxies, URLs the own client does not take,
 * and https upstreams that chose HTTP/2. An own transfer whose new TLS
 * connection picks HTTP/2 (SPEC 5: HTTP/2 to TLS upstreams where offered)
 * comes back here as a hand-over, and is restarted on libcurl in the same
 * memory with what is left of its timeout; the caller sees no difference.
 * That is libcurl's part only with LLMGATE_UPSTREAM_H2=curl: by default the
 * own HTTP/2 client (upstream_h2.c) takes such a connection over instead,
 * with the request, and carries the upstream's next requests as streams on
 * it (while it has room for them; else the own client opens another, which
 * is handed over in turn). libcurl keeps proxies, URLs the own client does
 * not take, and everything with LLMGATE_UPSTREAM_CLIENT=curl.
 *
 * Proxies come from the environment, as with curl(1), read once at start:
 * with none of http_proxy, https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY
 * set, libcurl is told there is no proxy (no environment lookup per
 * transfer); with any set, libcurl applies them and no_proxy per transfer,
 * and with http_proxy or all_proxy set every http:// transfer goes through
 * libcurl too, with https_proxy, HTTPS_PROXY or all_proxy every https:// one.
 * LLMGATE_UPSTREAM_CLIENT=curl sends everything through libcurl (a switch
 * for comparisons and for ruling our client out).
 *
 * No callback runs inside the call that started the transfer (upstream.h):
 * a transport may find the transfer failed while it starts it (the own
 * client's kept-alive connection reset, and no new socket to be had), and
 * then finishes it as from the loop; the dispatcher sees that it is STARTING,
 * keeps the result and reports it from one zero-delay event (EV_DONE) on the
 * loop's next pass. Until then the caller holds a live transfer it may abort.
 */
#include "upstream.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spare_poison.h"
#include "upstream_curl.h"
#include "upstream_h2.h"
#include "upstream_http.h"
#include "upstream_transfer.h"
#include "upstream_url.h"

struct upstream {
	struct event_base *base;
	struct upstream_curl *curl;
	struct upstream_http *http; /* NULL: every transfer goes through libcurl */
	struct upstream_h2 *h2;     /* NULL: libcurl carries upstreams that chose HTTP/2 */
	/* transfers that finished while starting, oldest first, and the event
	 * that reports them */
	struct event *ev_done;
	struct upstream_transfer *done_head, *done_tail;
	size_t n_done;
	uint64_t done_seq;                   /* the last one's */
	struct upstream_url_cache url_cache; /* the own client's last upstream */
	/* freed transfers kept for the next ones (at most UPSTREAM_SPARE): under
	 * load more are in flight than malloc's per-thread cache holds */
	struct upstream_transfer *spare;
	size_t n_spare;
};

#define UPSTREAM_SPARE 64

static const char *const result_names[UPSTREAM_RESULT__COUNT] = {
        [UPSTREAM_OK] = "ok",
        [UPSTREAM_ERR_CONNECT] = "connect",
        [UPSTREAM_ERR_DNS] = "dns",
        [UPSTREAM_ERR_TLS] = "tls",
        [UPSTREAM_ERR_TIMEOUT] = "timeout",
        [UPSTREAM_ERR_PROTOCOL] = "protocol",
        [UPSTREAM_ERR_ABORTED] = "aborted",
        [UPSTREAM_ERR_INTERNAL] = "internal",
};

const char *upstream_result_name(enum upstream_result result)
{
	if ((unsigned)result >= UPSTREAM_RESULT__COUNT)
		return "unknown";
	return result_names[result];
}

static bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && v[0];
}

/* Whether upstreams that choose HTTP/2 get the own HTTP/2 client (the
 * default), or libcurl with LLMGATE_UPSTREAM_H2=curl (a switch for
 * comparisons and for ruling our client out). */
static bool h2_own(void)
{
	const char *v = getenv("LLMGATE_UPSTREAM_H2");

	return !v || strcmp(v, "curl") != 0;
}

static void on_done_event(evutil_socket_t fd, short what, void *arg);

struct upstream *upstream_new(struct event_base *base)
{
	struct upstream *up = calloc(1, sizeof(*up));
	bool proxy_env = env_set("http_proxy") || env_set("https_proxy") ||
	                 env_set("HTTPS_PROXY") || env_set("all_proxy") || env_set("ALL_PROXY");

	if (!up)
		return NULL;
	up->base = base;
	up->ev_done = event_new(base, -1, 0, on_done_event, up);
	up->curl = upstream_curl_new(base, proxy_env);
	if (!up->ev_done || !up->curl) {
		upstream_free(up);
		return NULL;
	}
	if (!env_set("http_proxy") && !env_set("all_proxy") && !env_set("ALL_PROXY")) {
		const char *client = getenv("LLMGATE_UPSTREAM_CLIENT");

		if (!client || strcmp(client, "curl") != 0) {
			up->http = upstream_http_new(base, !env_set("https_proxy") &&
			                                           !env_set("HTTPS_PROXY"));
			if (!up->http) {
				upstream_free(up);
				return NULL;
			}
		}
	}
	if (up->http && h2_own()) {
		up->h2 = upstream_h2_new(base);
		if (!up->h2) {
			upstream_free(up);
			return NULL;
		}
		upstream_http_set_h2_own(up->http, true);
	}
	return up;
}

void upstream_free(struct upstream *up)
{
	if (!up)
		return;
	while (up->done_head) /* their callers let go of them without aborting */
		upstream_transfer_free(up->done_head);
	if (up->ev_done)
		event_free(up->ev_done);
	upstream_curl_free(up->curl);
	upstream_http_free(up->http);
	upstream_h2_free(up->h2);
	while (up->spare) {
		struct upstream_transfer *t = up->spare;

		SPARE_UNPOISON(t, sizeof(*t));
		up->spare = t->spare_next;
		free(t);
	}
	free(up);
}

int upstream_set_ca_file(struct upstream *up, const char *path)
{
	if (up->http && upstream_http_set_ca_file(up->http, path) < 0)
		return -ENOMEM;
	return upstream_curl_set_ca_file(up->curl, path);
}

void upstream_set_http2(struct upstream *up, bool offer)
{
	upstream_curl_set_http2(up->curl, offer);
	if (up->http)
		upstream_http_set_http2(up->http, offer);
}

struct event_base *upstream_event_base(const struct upstream *up)
{
	return up->base;
}

size_t upstream_active(const struct upstream *up)
{
	return upstream_curl_active(up->curl) + (up->http ? upstream_http_active(up->http) : 0) +
	       (up->h2 ? upstream_h2_active(up->h2) : 0) + up->n_done;
}

/* Lets go of T's state in its transport. */
static void transport_clean(struct upstream_transfer *t)
{
	if (t->via == UPSTREAM_VIA_OWN)
		upstream_http_clean(&t->own);
	else if (t->via == UPSTREAM_VIA_H2)
		upstream_h2_clean(&t->h2);
	else if (t->via == UPSTREAM_VIA_CURL)
		upstream_curl_clean(&t->curl);
}

static void done_unlink(struct upstream *up, struct upstream_transfer *t)
{
	if (t->done.prev)
		t->done.prev->done.next = t->done.next;
	else
		up->done_head = t->done.next;
	if (t->done.next)
		t->done.next->done.prev = t->done.prev;
	else
		up->done_tail = t->done.prev;
	up->n_done--;
}

void upstream_transfer_free(struct upstream_transfer *t)
{
	if (t->via == UPSTREAM_VIA_DONE)
		done_unlink(t->up, t);
	else
		transport_clean(t);
	if (t->up->n_spare < UPSTREAM_SPARE) {
		t->spare_next = t->up->spare;
		t->up->spare = t;
		t->up->n_spare++;
		SPARE_POISON(t, sizeof(*t));
	} else
		free(t);
}

/* A zeroed transfer: a spare, or a new one. */
static struct upstream_transfer *transfer_take(struct upstream *up)
{
	struct upstream_transfer *t = up->spare;

	if (!t)
		return calloc(1, sizeof(*t));
	SPARE_UNPOISON(t, sizeof(*t));
	up->spare = t->spare_next;
	up->n_spare--;
	memset(t, 0, sizeof(*t));
	return t;
}

/* T finished while it was being started: its transport lets go of it now,
 * and its on_done comes from the loop. */
static void done_defer(struct upstream_transfer *t, enum upstream_result result, long status,
                       const char *error)
{
	struct upstream *up = t->up;
	struct upstream_done d = {
	        .prev = up->done_tail,
	        .result = result,
	        .status = status,
	        .seq = ++up->done_seq,
	        .has_error = error != NULL,
	};

	if (error) /* it may live in the transport's state */
		snprintf(d.error, sizeof(d.error), "%s", error);
	transport_clean(t);
	t->via = UPSTREAM_VIA_DONE;
	t->done = d;
	if (up->done_tail)
		up->done_tail->done.next = t;
	else
		up->done_head = t;
	up->done_tail = t;
	up->n_done++;
	event_active(up->ev_done, EV_TIMEOUT, 0);
}

/* Reports the transfers that finished while starting, oldest first; those
 * that finish while these callbacks start new ones wait for the next pass.
 * A callback may abort any other transfer, waiting ones included. */
static void on_done_event(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;
	uint64_t last = up->done_seq;
	struct upstream_transfer *t;

	(void)fd;
	(void)what;
	while ((t = up->done_head) && t->done.seq <= last) {
		done_unlink(up, t);
		t->cb.on_done(t->ctx, t->done.result, t->done.status,
		              t->done.has_error ? t->done.error : NULL);
		free(t);
	}
	if (up->done_head)
		event_active(up->ev_done, EV_TIMEOUT, 0);
}

void upstream_transfer_done(struct upstream_transfer *t, enum upstream_result result, long status,
                            const char *error)
{
	if (t->starting) {
		done_defer(t, result, status, error);
		return;
	}
	t->cb.on_done(t->ctx, result, status, error);
	upstream_transfer_free(t);
}

void upstream_transfer_hand_over(struct upstream_transfer *t, const struct upstream_request *req,
                                 bool paused)
{
	upstream_http_clean(&t->own);
	t->via = UPSTREAM_VIA_CURL;
	memset(&t->curl, 0, sizeof(t->curl));
	if (upstream_curl_start(t->up->curl, &t->curl, t, req) < 0) {
		upstream_transfer_done(t, UPSTREAM_ERR_INTERNAL, 0,
		                       "cannot hand the request over to libcurl");
		return;
	}
	if (paused)
		upstream_curl_pause(&t->curl);
}

bool upstream_transfer_h2_own(const struct upstream_transfer *t)
{
	return t->up->h2 != NULL;
}

void upstream_transfer_hand_over_h2(struct upstream_transfer *t, int fd,
                                    struct upstream_tls_conn *tls, const char *authority,
                                    const struct upstream_request *req, bool paused)
{
	upstream_http_clean(&t->own);
	t->via = UPSTREAM_VIA_H2;
	memset(&t->h2, 0, sizeof(t->h2));
	if (upstream_h2_adopt(t->up->h2, fd, tls, authority, &t->h2, t, req, paused) < 0)
		upstream_transfer_done(t, UPSTREAM_ERR_INTERNAL, 0,
		                       "cannot start the request on the HTTP/2 connection");
}

void upstream_transfer_restart(struct upstream_transfer *t, const struct upstream_request *req,
                               bool paused)
{
	struct upstream *up = t->up;
	struct upstream_url u;
	int err = -EINVAL;

	upstream_h2_clean(&t->h2);
	t->restarted = true;
	if (upstream_url_parse(req->url, &u) == 0) {
		memset(&t->h2, 0, sizeof(t->h2));
		t->via = UPSTREAM_VIA_H2;
		t->starting = true;
		err = upstream_h2_start(up->h2, &t->h2, t, &u, req);
		if (err == -EAGAIN) {
			memset(&t->own, 0, sizeof(t->own));
			t->via = UPSTREAM_VIA_OWN;
			err = upstream_http_start(up->http, &t->own, t, &u, req);
		}
		t->starting = false;
		if (t->via == UPSTREAM_VIA_DONE)
			return; /* failed at once: reported from the loop */
	}
	if (err < 0) {
		upstream_transfer_done(t, UPSTREAM_ERR_INTERNAL, 0,
		                       "cannot send the request again");
		return;
	}
	if (paused)
		upstream_pause(t);
}

int upstream_start(struct upstream *up, const struct upstream_request *req,
                   const struct upstream_callbacks *cb, void *ctx, struct upstream_transfer **ret)
{
	struct upstream_transfer *t = transfer_take(up);
	struct upstream_url u;
	int err;

	if (!t)
		return -ENOMEM;
	t->up = up;
	t->cb = *cb;
	t->ctx = ctx;
	t->starting = true;
	/* parsed once: the own client takes the URL as parsed here */
	if (up->http && upstream_url_parse_cached(&up->url_cache, req->url, &u) == 0 &&
	    upstream_http_handles(up->http, &u)) {
		/* an HTTP/2 connection with room for it, else the own client's (whose
		 * new connection to an upstream that chooses HTTP/2 comes back) */
		t->via = UPSTREAM_VIA_H2;
		err = up->h2 && u.tls ? upstream_h2_start(up->h2, &t->h2, t, &u, req) : -EAGAIN;
		if (err == -EAGAIN) {
			t->via = UPSTREAM_VIA_OWN;
			err = upstream_http_start(up->http, &t->own, t, &u, req);
		}
	} else {
		t->via = UPSTREAM_VIA_CURL;
		err = upstream_curl_start(up->curl, &t->curl, t, req);
	}
	t->starting = false;
	/* finished inside its start: started as far as the caller can tell, its
	 * on_done comes from the loop */
	if (err < 0 && t->via != UPSTREAM_VIA_DONE) {
		upstream_transfer_free(t);
		return err;
	}
	if (ret)
		*ret = t;
	return 0;
}

void upstream_abort(struct upstream_transfer *t)
{
	if (!t)
		return;
	if (t->via == UPSTREAM_VIA_DONE  ? true /* its on_done was still to come */
	    : t->via == UPSTREAM_VIA_OWN ? upstream_http_abort(&t->own)
	    : t->via == UPSTREAM_VIA_H2  ? upstream_h2_abort(&t->h2)
	                                 : upstream_curl_abort(&t->curl))
		upstream_transfer_free(t);
}

void upstream_pause(struct upstream_transfer *t)
{
	if (t->via == UPSTREAM_VIA_DONE)
		return;
	if (t->via == UPSTREAM_VIA_OWN)
		upstream_http_pause(&t->own);
	else if (t->via == UPSTREAM_VIA_H2)
		upstream_h2_pause(&t->h2);
	else
		upstream_curl_pause(&t->curl);
}

void upstream_resume(struct upstream_transfer *t)
{
	if (t->via == UPSTREAM_VIA_DONE)
		return;
	if (t->via == UPSTREAM_VIA_OWN)
		upstream_http_resume(&t->own);
	else if (t->via == UPSTREAM_VIA_H2)
		upstream_h2_resume(&t->h2);
	else
		upstream_curl_resume(&t->curl);
}
