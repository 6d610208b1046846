/*
 * upstream_http: the worker's own HTTP/1.1 keep-alive client for http://
 * and https:// upstreams, behind upstream.h (upstream.c decides which
 * transfers it runs; libcurl keeps HTTP/2 and proxies). Same
 * contract as upstream.h: on_header per header, on_head, on_data per read,
 * exactly one on_done unless aborted; pause/resume stop and restart reading
 * the socket. TLS is upstream_tls.c's (OpenSSL, verified as libcurl does).
 *
 * It takes URLs whose host is an IPv4 dotted quad, a bracketed IPv6
 * literal, "localhost" (127.0.0.1) or a DNS name, which resolver.c resolves
 * off the loop (cached for a minute, as libcurl does) when a new connection
 * needs it. Other spellings of addresses ("127.1") stay with libcurl.
 *
 * An https:// upstream is offered HTTP/2 and HTTP/1.1 by ALPN in every
 * handshake (a request's new connection). One that picks HTTP/2 is libcurl's
 * from then on: that request is handed over to libcurl (upstream_start())
 * with what is left of its timeout, and its transfer here only passes on
 * what libcurl reports, so the caller sees no difference. A request that
 * opens a new TLS connection keeps a copy of itself for that until the
 * handshake is done (a handshake costs far more).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "upstream.h"
#include "upstream_url.h"

struct upstream_http;

/* Every transfer struct (upstream.c's and ours) starts with this, so that
 * upstream.c can tell them apart behind the opaque struct upstream_transfer. */
struct upstream_transfer_tag {
	bool own; /* run by upstream_http */
};

/* The own client of UP, on its event base; a request to an upstream that
 * picks HTTP/2 goes back to UP. HTTPS: whether https:// URLs are taken too
 * (not when a proxy is to carry them). */
struct upstream_http *upstream_http_new(struct upstream *up, bool https);
/* Closes every connection; transfers still open are dropped without on_done. */
void upstream_http_free(struct upstream_http *uh);

/* As upstream_set_ca_file(), for https:// upstreams; 0 or -ENOMEM. */
int upstream_http_set_ca_file(struct upstream_http *uh, const char *path);
/* As upstream_set_http2(): whether handshakes offer HTTP/2 (the default). */
void upstream_http_set_http2(struct upstream_http *uh, bool offer);

/* Whether this client takes U, a URL upstream_url_parse() took: plain HTTP
 * always, https unless a proxy carries it or the host chose HTTP/2. */
bool upstream_http_handles(const struct upstream_http *uh, const struct upstream_url *u);

/* As upstream_start(), for REQ whose URL parsed as U (which need not outlive
 * the call); -EINVAL for a header that is not a valid field. */
int upstream_http_start(struct upstream_http *uh, const struct upstream_url *u,
                        const struct upstream_request *req, const struct upstream_callbacks *cb,
                        void *ctx, struct upstream_transfer **ret);
void upstream_http_abort(struct upstream_transfer *t);
void upstream_http_pause(struct upstream_transfer *t);
void upstream_http_resume(struct upstream_transfer *t);

/* Transfers in flight; idle connections kept. */
size_t upstream_http_active(const struct upstream_http *uh);
size_t upstream_http_idle(const struct upstream_http *uh);
