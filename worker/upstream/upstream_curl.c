/*
 * upstream_curl: libcurl multi + libevent (see upstream_curl.h). Runs in a
 * worker.
 *
 * curl tells us which sockets to watch (socket callback) and when to wake it
 * (timer callback); we turn both into libevent events and hand readiness
 * back with curl_multi_socket_action(). Completions are collected outside of
 * curl's callbacks, the only place where easy handles may be removed: an
 * abort asked for from inside a callback only marks the transfer, whose
 * callbacks then fail it, and it is freed with the completions.
 *
 * Pause: the write callback answers CURL_WRITEFUNC_PAUSE while the caller
 * has paused the transfer (curl keeps that chunk and stops reading the
 * socket); resume is curl_easy_pause(CURLPAUSE_CONT) from the event loop.
 *
 * libcurl is set up by its first transfer: its global init starts OpenSSL,
 * about a megabyte of a worker's memory that a worker whose upstreams are
 * all plain HTTP never needs.
 */
#include "upstream_curl.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "header_line.h"
#include "upstream_transfer.h"

#define UPSTREAM_MAX_CONNECTS 512

struct upstream_curl {
	struct event_base *base;
	CURLM *multi; /* made by the first transfer */
	struct event *timer;
	size_t active;
	bool proxy_env; /* a proxy is configured in the environment */
	bool curl_init; /* curl_global_init() was called */
	char *ca_file;  /* CURLOPT_CAINFO, or NULL for libcurl's default */
	bool no_http2;  /* llmgate.upstream_http2 false: HTTP/1.1 only */
};

/* Per-socket watcher, attached to curl's socket with curl_multi_assign(). */
struct upstream_socket {
	struct event *ev;
};

static enum upstream_result classify(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return UPSTREAM_OK;
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
		return UPSTREAM_ERR_CONNECT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return UPSTREAM_ERR_DNS;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
		return UPSTREAM_ERR_TLS;
	case CURLE_OPERATION_TIMEDOUT:
		return UPSTREAM_ERR_TIMEOUT;
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_WRITE_ERROR:
		return UPSTREAM_ERR_ABORTED;
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FAILED_INIT:
		return UPSTREAM_ERR_INTERNAL;
	default:
		return UPSTREAM_ERR_PROTOCOL;
	}
}

void upstream_curl_clean(struct upstream_curl_transfer *t)
{
	if (t->easy) {
		curl_multi_remove_handle(t->uc->multi, t->easy);
		curl_easy_cleanup(t->easy);
		t->uc->active--;
	}
	curl_slist_free_all(t->headers);
	free(t->body);
	if (t->src) /* an upload's: no call per JSON request */
		upstream_body_unref(t->src);
}

/* An upload from parts: libcurl pulls its body as it sends. */
static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct upstream_curl_transfer *t = arg;
	ssize_t n = upstream_body_read(t->src, t->src_off, buf, size * nitems);

	if (n < 0)
		return CURL_READFUNC_ABORT;
	t->src_off += (uint64_t)n;
	return (size_t)n;
}

/* libcurl sends it again (a new connection): from where it says. */
static int seek_cb(void *arg, curl_off_t offset, int origin)
{
	struct upstream_curl_transfer *t = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > upstream_body_len(t->src))
		return CURL_SEEKFUNC_CANTSEEK;
	t->src_off = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static void check_done(struct upstream_curl *uc)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(uc->multi, &left))) {
		struct upstream_curl_transfer *t = NULL;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t->aborted) {
			upstream_transfer_free(t->owner);
			continue;
		}
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
		CURLcode code = msg->data.result;
		enum upstream_result result = classify(code);
		const char *error = t->error[0] ? t->error : curl_easy_strerror(code);

		/* A reset after a complete head is a cut body, not a connect error. */
		if (result == UPSTREAM_ERR_CONNECT && status > 0)
			result = UPSTREAM_ERR_PROTOCOL;
		t->in_callback = true;
		upstream_transfer_done(t->owner, result, status,
		                       result == UPSTREAM_OK ? NULL : error);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_curl *uc = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(uc->multi, fd, flags, &running);
	check_done(uc);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upstream_curl *uc = arg;
	int running;

	curl_multi_socket_action(uc->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(uc);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct upstream_curl *uc = userp;
	struct upstream_socket *us = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (us) {
			event_free(us->ev);
			free(us);
			curl_multi_assign(uc->multi, s, NULL);
		}
		return 0;
	}
	if (!us) {
		us = calloc(1, sizeof(*us));
		if (!us)
			return -1;
		curl_multi_assign(uc->multi, s, us);
	} else {
		event_free(us->ev);
	}
	short events = EV_PERSIST;
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	us->ev = event_new(uc->base, s, events, on_socket_event, uc);
	if (!us->ev || event_add(us->ev, NULL) < 0)
		return -1;
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream_curl *uc = userp;

	if (timeout_ms < 0) {
		evtimer_del(uc->timer);
		return 0;
	}
	/* 0 means "as soon as possible": the next loop pass, not a rounded 1 ms. */
	struct timeval tv = clock_tv_ms(timeout_ms);
	evtimer_add(uc->timer, &tv);
	return 0;
}

static size_t header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	struct upstream_curl_transfer *t = userdata;
	size_t len = size * nitems, name_len, value_len;
	const char *colon = memchr(buffer, ':', len), *value;

	if (t->aborted)
		return 0;
	if (!colon && t->owner->cb.on_head && !t->head_done && (len == 2 || len == 1) &&
	    (buffer[0] == '\r' || buffer[0] == '\n')) {
		long status = 0;

		/* the blank line that ends a head; 1xx heads are followed by another */
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200) {
			t->head_done = true;
			t->in_callback = true;
			t->owner->cb.on_head(t->owner->ctx, status);
			t->in_callback = false;
			return t->aborted ? 0 : len;
		}
		return len;
	}
	if (!t->owner->cb.on_header ||
	    !header_line_split(buffer, len, &name_len, &value, &value_len))
		return len;
	t->in_callback = true;
	t->owner->cb.on_header(t->owner->ctx, buffer, name_len, value, value_len);
	t->in_callback = false;
	return t->aborted ? 0 : len;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct upstream_curl_transfer *t = userdata;
	long status = 0;

	if (t->aborted)
		return 0;
	if (t->paused)
		return CURL_WRITEFUNC_PAUSE; /* curl delivers this chunk again on resume */
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	t->in_callback = true;
	t->owner->cb.on_data(t->owner->ctx, status, data, size * nmemb);
	t->in_callback = false;
	return t->aborted ? 0 : size * nmemb;
}

struct upstream_curl *upstream_curl_new(struct event_base *base, bool proxy_env)
{
	struct upstream_curl *uc = calloc(1, sizeof(*uc));

	if (!uc)
		return NULL;
	uc->base = base;
	uc->proxy_env = proxy_env;
	uc->timer = evtimer_new(base, on_timer, uc);
	if (!uc->timer) {
		free(uc);
		return NULL;
	}
	return uc;
}

/* libcurl, set up by the first transfer */
static int multi_get(struct upstream_curl *uc)
{
	if (uc->multi)
		return 0;
	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK)
		return -ENOMEM;
	uc->curl_init = true;
	uc->multi = curl_multi_init();
	if (!uc->multi)
		return -ENOMEM;
	curl_multi_setopt(uc->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(uc->multi, CURLMOPT_SOCKETDATA, uc);
	curl_multi_setopt(uc->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(uc->multi, CURLMOPT_TIMERDATA, uc);
	/* Keep idle upstream connections instead of shrinking the cache under load. */
	curl_multi_setopt(uc->multi, CURLMOPT_MAXCONNECTS, (long)UPSTREAM_MAX_CONNECTS);
	return 0;
}

void upstream_curl_free(struct upstream_curl *uc)
{
	if (!uc)
		return;
	if (uc->multi)
		curl_multi_cleanup(uc->multi);
	if (uc->curl_init)
		curl_global_cleanup();
	event_free(uc->timer);
	free(uc->ca_file);
	free(uc);
}

int upstream_curl_set_ca_file(struct upstream_curl *uc, const char *path)
{
	char *copy = path ? strdup(path) : NULL;

	if (path && !copy)
		return -ENOMEM;
	free(uc->ca_file);
	uc->ca_file = copy;
	return 0;
}

void upstream_curl_set_http2(struct upstream_curl *uc, bool offer)
{
	uc->no_http2 = !offer;
}

size_t upstream_curl_active(const struct upstream_curl *uc)
{
	return uc->active;
}

int upstream_curl_start(struct upstream_curl *uc, struct upstream_curl_transfer *t,
                        struct upstream_transfer *owner, const struct upstream_request *req)
{
	if (multi_get(uc) < 0)
		return -ENOMEM;
	t->owner = owner;
	t->uc = uc;
	t->body = malloc(req->body_src ? 1 : req->body_len + 1);
	t->easy = curl_easy_init();
	if (!t->body || !t->easy)
		goto fail;
	if (req->body_src) {
		t->src = upstream_body_ref(req->body_src);
		t->body[0] = '\0';
	} else {
		memcpy(t->body, req->body, req->body_len);
		t->body[req->body_len] = '\0';
	}

	for (size_t i = 0; i < req->n_headers; i++) {
		char line[8192];
		struct curl_slist *n;

		if (snprintf(line, sizeof(line), "%s: %s", req->headers[i].name,
		             req->headers[i].value) >= (int)sizeof(line))
			goto fail;
		n = curl_slist_append(t->headers, line);
		if (!n)
			goto fail;
		t->headers = n;
	}
	/* No "Expect: 100-continue" round trip for larger bodies. */
	struct curl_slist *n = curl_slist_append(t->headers, "Expect:");
	if (!n)
		goto fail;
	t->headers = n;

	CURL *e = t->easy;
	curl_easy_setopt(e, CURLOPT_URL, req->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
	if (!req->method || strcmp(req->method, "POST") == 0 || req->body_len) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		if (t->src) {
			curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
			curl_easy_setopt(e, CURLOPT_READDATA, t);
			curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, seek_cb);
			curl_easy_setopt(e, CURLOPT_SEEKDATA, t);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			                 (curl_off_t)upstream_body_len(t->src));
		} else {
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
			curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
		}
		/* PUT, PATCH with a body (pass-through) */
		if (req->method && strcmp(req->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	} else {
		/* GET, or another method without a body (DELETE) */
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
		if (strcmp(req->method, "GET") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
	}
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (!uc->proxy_env)
		curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no environment lookup per transfer */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (uc->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, uc->ca_file);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	                 (long)(uc->no_http2 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS));
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
	if (req->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);

	if (curl_multi_add_handle(uc->multi, e) != CURLM_OK)
		goto fail;
	uc->active++;
	return 0;

fail:
	if (t->easy) {
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
	}
	curl_slist_free_all(t->headers);
	t->headers = NULL;
	free(t->body);
	t->body = NULL;
	upstream_body_unref(t->src);
	t->src = NULL;
	return -ENOMEM;
}

bool upstream_curl_abort(struct upstream_curl_transfer *t)
{
	if (t->in_callback) {
		t->aborted = true;
		return false;
	}
	return true;
}

void upstream_curl_pause(struct upstream_curl_transfer *t)
{
	t->paused = true;
}

void upstream_curl_resume(struct upstream_curl_transfer *t)
{
	if (!t->paused)
		return;
	t->paused = false;
	/* Inside a callback the transfer is not paused yet: clearing is enough. */
	if (!t->in_callback)
		curl_easy_pause(t->easy, CURLPAUSE_CONT);
}
