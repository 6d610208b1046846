/*
 * upstream_http_handover: the own client's HTTP/2 hand-over (see
 * upstream_http.h). Runs in a worker, on its event loop.
 *
 * A request that opens a new TLS connection keeps a copy of its URL and
 * headers (its body is in its request buffer) until the handshake has
 * chosen: HTTP/1.1 drops the copy, HTTP/2 marks the host as an HTTP/2 one and
 * gives the request, with what is left of its timeout, to the dispatcher,
 * which hands it with the connection (whose handshake is not wasted) to the
 * own HTTP/2 client, or with LLMGATE_UPSTREAM_H2=curl restarts it on
 * libcurl.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "upstream_http_int.h"
#include "upstream_tls.h"
#include "upstream_transfer.h"

/* What is left of T's timeout (its timer's), in ms; 0 for none, < 0 when over. */
static long transfer_time_left_ms(const struct uh_transfer *t)
{
	struct timeval end, now, left;
	long ms;

	if (!t->ev_timeout)
		return 0;
	event_base_gettimeofday_cached(t->uh->base, &now);
	end = now; /* a timer that fired and waits for its callback: over */
	event_pending(t->ev_timeout, EV_TIMEOUT, &end);
	evutil_timersub(&end, &now, &left);
	ms = (long)left.tv_sec * 1000 + left.tv_usec / 1000;
	return ms > 0 ? ms : -1; /* under a millisecond left is over */
}

/*
 * T's upstream picked HTTP/2 in the handshake of T's connection: the host is
 * libcurl's from now on, and T ends here as a hand-over to the dispatcher,
 * with the rest of its time.
 */
void uh_handover_run(struct uh_transfer *t)
{
	struct uh_handover *ho = t->handover;
	struct uh_host *h = t->host;
	bool own = upstream_transfer_h2_own(t->owner);
	struct upstream_tls_conn *tls = NULL;
	struct upstream_request req;
	char *out = t->out;
	struct upstream_body *src = t->src;
	int fd = -1;

	if (!h->http2)
		log_info("upstream %s chose HTTP/2: %s carries its requests", h->key,
		         own ? "the own HTTP/2 client" : "libcurl");
	h->http2 = true;
	if (own && ho)
		uh_conn_give_socket(t->conn, &fd, &tls); /* the connection goes along */
	uh_transfer_release(t, false);
	if (!ho) {
		/* a retry's new connection, of a request that had none: the next one goes over */
		uh_transfer_finish(t, UPSTREAM_ERR_PROTOCOL, "the upstream switched to HTTP/2");
		return;
	}
	req = (struct upstream_request){
	        .method = ho->method,
	        .url = ho->url,
	        .headers = ho->headers,
	        .n_headers = ho->n_headers,
	        .body = out + ho->body_off,
	        .body_len = src ? (size_t)upstream_body_len(src) : ho->body_len,
	        .body_src = src,
	        .timeout_ms = transfer_time_left_ms(t),
	};
	if (req.timeout_ms < 0) {
		upstream_tls_conn_free(tls);
		if (fd >= 0)
			close(fd);
		uh_transfer_finish(t, UPSTREAM_ERR_TIMEOUT, "operation timed out");
		return;
	}
	/* the request outlives T's state, whose place the other transport's takes */
	t->out = NULL;
	t->handover = NULL;
	t->src = NULL;
	if (own)
		upstream_transfer_hand_over_h2(t->owner, fd, tls, h->key, &req, t->paused);
	else
		upstream_transfer_hand_over(t->owner, &req, t->paused);
	free(out);
	free(ho);
	upstream_body_unref(src); /* the other transport took its own reference */
}

int uh_handover_keep(struct uh_transfer *t, const struct upstream_request *req)
{
	size_t size = sizeof(*t->handover) + req->n_headers * sizeof(struct upstream_header) +
	              strlen(req->url) + 1;
	struct uh_handover *ho;
	char *p;

	for (size_t i = 0; i < req->n_headers; i++)
		size += strlen(req->headers[i].name) + strlen(req->headers[i].value) + 2;
	ho = malloc(size);
	if (!ho)
		return -ENOMEM;
	ho->headers = (struct upstream_header *)(ho + 1);
	p = (char *)(ho->headers + req->n_headers);
	ho->url = p;
	p = stpcpy(p, req->url) + 1;
	for (size_t i = 0; i < req->n_headers; i++) {
		ho->headers[i].name = p;
		p = stpcpy(p, req->headers[i].name) + 1;
		ho->headers[i].value = p;
		p = stpcpy(p, req->headers[i].value) + 1;
	}
	ho->n_headers = req->n_headers;
	ho->method = req->method;
	/* an upload from parts is in T's source (t->src), not in its buffer */
	ho->body_off = req->body_src ? t->out_len : t->out_len - req->body_len;
	ho->body_len = req->body_src ? 0 : req->body_len;
	t->handover = ho;
	return 0;
}
