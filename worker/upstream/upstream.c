/*
 * upstream: libcurl multi + libevent (see upstream.h). Runs in a worker.
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
 * http:// and https:// URLs go to our own keep-alive client instead
 * (upstream_http.c, with OpenSSL for https, host names resolved off the loop
 * by resolver.c): libcurl's per-transfer work costs more than the rest of a
 * proxied request. An https upstream that picks HTTP/2 in the own client's
 * first handshake is handed to libcurl, which speaks it (SPEC 5: HTTP/2 to
 * TLS upstreams where offered); so are proxies and URLs our client does not
 * take (upstream_http_handles()). libcurl itself is loaded by the first
 * transfer it carries (curl_api.c): a worker that never needs it never has it.
 *
 * Proxies come from the environment, as with curl(1), read once at start:
 * with none of http_proxy, https_proxy, HTTPS_PROXY, all_proxy, ALL_PROXY
 * set, libcurl is told there is no proxy (no environment lookup per
 * transfer); with any set, libcurl applies them and no_proxy per transfer,
 * and with http_proxy or all_proxy set every http:// transfer goes through
 * libcurl too, with https_proxy, HTTPS_PROXY or all_proxy every https:// one.
 * LLMGATE_UPSTREAM_CLIENT=curl sends everything through libcurl (a switch
 * for comparisons and for ruling our client out).
 */
#include "upstream.h"

#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "header_line.h"
#include "upstream_http.h"

#define UPSTREAM_MAX_CONNECTS 512

struct upstream {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	size_t active;
	struct upstream_http *http; /* NULL: every transfer goes through libcurl */
	bool proxy_env;             /* a proxy is configured in the environment */
	bool curl_init;             /* curl_global_init() was called */
	char *ca_file;              /* CURLOPT_CAINFO, or NULL for libcurl's default */
	bool no_http2;              /* llmgate.upstream_http2 false: HTTP/1.1 only */
};

struct upstream_transfer {
	struct upstream_transfer_tag tag; /* own = false */
	struct upstream *up;
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	struct upstream_callbacks cb;
	void *ctx;
	bool paused;      /* the caller asked for no more data for now */
	bool aborted;     /* the caller aborted it from inside a callback */
	bool in_callback; /* one of the caller's callbacks is running */
	bool head_done;   /* on_head was called (trailers end with a blank line too) */
	char error[CURL_ERROR_SIZE];
};

/* Per-socket watcher, attached to curl's socket with curl_multi_assign(). */
struct upstream_socket {
	struct event *ev;
};

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

static void transfer_free(struct upstream_transfer *t)
{
	if (t->easy) {
		curl_multi_remove_handle(t->up->multi, t->easy);
		curl_easy_cleanup(t->easy);
		t->up->active--;
	}
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t);
}

static void check_done(struct upstream *up)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(up->multi, &left))) {
		struct upstream_transfer *t = NULL;
		long status = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
		if (t->aborted) {
			transfer_free(t);
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
		t->cb.on_done(t->ctx, result, status, result == UPSTREAM_OK ? NULL : error);
		transfer_free(t);
	}
}

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(up->multi, fd, flags, &running);
	check_done(up);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upstream *up = arg;
	int running;

	curl_multi_socket_action(up->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(up);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct upstream *up = userp;
	struct upstream_socket *us = socketp;

	if (what == CURL_POLL_REMOVE) {
		if (us) {
			event_free(us->ev);
			free(us);
			curl_multi_assign(up->multi, s, NULL);
		}
		return 0;
	}
	if (!us) {
		us = calloc(1, sizeof(*us));
		if (!us)
			return -1;
		curl_multi_assign(up->multi, s, us);
	} else {
		event_free(us->ev);
	}
	short events = EV_PERSIST;
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	us->ev = event_new(up->base, s, events, on_socket_event, up);
	if (!us->ev || event_add(us->ev, NULL) < 0)
		return -1;
	return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct upstream *up = userp;

	if (timeout_ms < 0) {
		evtimer_del(up->timer);
		return 0;
	}
	/* 0 means "as soon as possible": the next loop pass, not a rounded 1 ms. */
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	evtimer_add(up->timer, &tv);
	return 0;
}

static size_t header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	struct upstream_transfer *t = userdata;
	size_t len = size * nitems, name_len, value_len;
	const char *colon = memchr(buffer, ':', len), *value;

	if (t->aborted)
		return 0;
	if (!colon && t->cb.on_head && !t->head_done && (len == 2 || len == 1) &&
	    (buffer[0] == '\r' || buffer[0] == '\n')) {
		long status = 0;

		/* the blank line that ends a head; 1xx heads are followed by another */
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200) {
			t->head_done = true;
			t->in_callback = true;
			t->cb.on_head(t->ctx, status);
			t->in_callback = false;
			return t->aborted ? 0 : len;
		}
		return len;
	}
	if (!t->cb.on_header || !header_line_split(buffer, len, &name_len, &value, &value_len))
		return len;
	t->in_callback = true;
	t->cb.on_header(t->ctx, buffer, name_len, value, value_len);
	t->in_callback = false;
	return t->aborted ? 0 : len;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct upstream_transfer *t = userdata;
	long status = 0;

	if (t->aborted)
		return 0;
	if (t->paused)
		return CURL_WRITEFUNC_PAUSE; /* curl delivers this chunk again on resume */
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	t->in_callback = true;
	t->cb.on_data(t->ctx, status, data, size * nmemb);
	t->in_callback = false;
	return t->aborted ? 0 : size * nmemb;
}

static bool env_set(const char *name)
{
	const char *v = getenv(name);

	return v && v[0];
}

struct upstream *upstream_new(struct event_base *base)
{
	struct upstream *up = calloc(1, sizeof(*up));

	if (!up)
		return NULL;
	up->base = base;
	up->timer = evtimer_new(base, on_timer, up);
	up->proxy_env = env_set("http_proxy") || env_set("https_proxy") || env_set("HTTPS_PROXY") ||
	                env_set("all_proxy") || env_set("ALL_PROXY");
	if (!env_set("http_proxy") && !env_set("all_proxy") && !env_set("ALL_PROXY")) {
		const char *client = getenv("LLMGATE_UPSTREAM_CLIENT");

		if (!client || strcmp(client, "curl") != 0)
			up->http = upstream_http_new(up, !env_set("https_proxy") &&
			                                         !env_set("HTTPS_PROXY"));
		if (!up->http && (!client || strcmp(client, "curl") != 0)) {
			upstream_free(up);
			return NULL;
		}
	}
	if (!up->timer) {
		upstream_free(up);
		return NULL;
	}
	return up;
}

/*
 * libcurl is set up by its first transfer: its global init starts OpenSSL,
 * about a megabyte of a worker's memory that a worker whose upstreams are
 * all plain HTTP never needs.
 */
static int multi_get(struct upstream *up)
{
	if (up->multi)
		return 0;
	if (curl_global_init(CURL_GLOBAL_NOTHING) != CURLE_OK)
		return -ENOMEM;
	up->curl_init = true;
	up->multi = curl_multi_init();
	if (!up->multi)
		return -ENOMEM;
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(up->multi, CURLMOPT_SOCKETDATA, up);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(up->multi, CURLMOPT_TIMERDATA, up);
	/* Keep idle upstream connections instead of shrinking the cache under load. */
	curl_multi_setopt(up->multi, CURLMOPT_MAXCONNECTS, (long)UPSTREAM_MAX_CONNECTS);
	return 0;
}

void upstream_free(struct upstream *up)
{
	if (!up)
		return;
	if (up->multi)
		curl_multi_cleanup(up->multi);
	if (up->curl_init)
		curl_global_cleanup();
	if (up->timer)
		event_free(up->timer);
	upstream_http_free(up->http);
	free(up->ca_file);
	free(up);
}

int upstream_set_ca_file(struct upstream *up, const char *path)
{
	char *copy = path ? strdup(path) : NULL;

	if (path && !copy)
		return -ENOMEM;
	if (up->http && upstream_http_set_ca_file(up->http, path) < 0) {
		free(copy);
		return -ENOMEM;
	}
	free(up->ca_file);
	up->ca_file = copy;
	return 0;
}

void upstream_set_http2(struct upstream *up, bool offer)
{
	up->no_http2 = !offer;
	if (up->http)
		upstream_http_set_http2(up->http, offer);
}

struct event_base *upstream_event_base(const struct upstream *up)
{
	return up->base;
}

size_t upstream_active(const struct upstream *up)
{
	return up->active + (up->http ? upstream_http_active(up->http) : 0);
}

int upstream_start(struct upstream *up, const struct upstream_request *req,
                   const struct upstream_callbacks *cb, void *ctx, struct upstream_transfer **ret)
{
	struct upstream_transfer *t;
	struct upstream_url u;

	/* parsed once: the own client takes the URL as parsed here */
	if (up->http && upstream_url_parse(req->url, &u) == 0 &&
	    upstream_http_handles(up->http, &u))
		return upstream_http_start(up->http, &u, req, cb, ctx, ret);
	if (multi_get(up) < 0)
		return -ENOMEM;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->up = up;
	t->cb = *cb;
	t->ctx = ctx;
	t->body = malloc(req->body_len + 1);
	t->easy = curl_easy_init();
	if (!t->body || !t->easy)
		goto fail;
	memcpy(t->body, req->body, req->body_len);
	t->body[req->body_len] = '\0';

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
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	if (!up->proxy_env)
		curl_easy_setopt(e, CURLOPT_PROXY, ""); /* no environment lookup per transfer */
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (up->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, up->ca_file);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	                 (long)(up->no_http2 ? CURL_HTTP_VERSION_1_1 : CURL_HTTP_VERSION_2TLS));
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
	if (req->timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms);

	if (curl_multi_add_handle(up->multi, e) != CURLM_OK)
		goto fail;
	up->active++;
	if (ret)
		*ret = t;
	return 0;

fail:
	if (t->easy) {
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
	}
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t);
	return -ENOMEM;
}

void upstream_abort(struct upstream_transfer *t)
{
	if (!t)
		return;
	if (t->tag.own) {
		upstream_http_abort(t);
		return;
	}
	if (t->in_callback) {
		t->aborted = true;
		return;
	}
	transfer_free(t);
}

void upstream_pause(struct upstream_transfer *t)
{
	if (t->tag.own) {
		upstream_http_pause(t);
		return;
	}
	t->paused = true;
}

void upstream_resume(struct upstream_transfer *t)
{
	if (t->tag.own) {
		upstream_http_resume(t);
		return;
	}
	if (!t->paused)
		return;
	t->paused = false;
	/* Inside a callback the transfer is not paused yet: clearing is enough. */
	if (!t->in_callback)
		curl_easy_pause(t->easy, CURLPAUSE_CONT);
}
