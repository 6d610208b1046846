/*
 * upstream_http: the worker's own HTTP/1.1 keep-alive client for http://
 * and https:// upstreams, one of the dispatcher's peer transports
 * (upstream.c chooses; upstream_h2.h takes over the connections that chose
 * HTTP/2; libcurl, upstream_curl.h, keeps proxies).
 * Same contract as upstream.h: on_header per header, on_head, on_data per
 * read, exactly one on_done unless aborted; pause/resume stop and restart
 * reading the socket. TLS is upstream_tls.c's (OpenSSL, verified as libcurl
 * does). Private to libupstream.
 *
 * It takes URLs whose host is an IPv4 dotted quad, a bracketed IPv6
 * literal, "localhost" (127.0.0.1) or a DNS name (upstream_url.h), which
 * resolver.c resolves off the loop (cached for a minute, as libcurl does)
 * when a new connection needs it.
 *
 * An https:// upstream is offered HTTP/2 and HTTP/1.1 by ALPN in every
 * handshake (a request's new connection). When one picks HTTP/2, that
 * request ends here as a hand-over to the dispatcher, with the connection
 * to the own HTTP/2 client (upstream_transfer_hand_over_h2(), the default),
 * or restarted on libcurl, which carries the host from then on
 * (upstream_transfer_hand_over(), LLMGATE_UPSTREAM_H2=curl), with what is
 * left of its timeout, so the caller sees no difference. The own HTTP/2
 * client makes no connections: when its connections to the host have no
 * room, a request comes here, and its new connection goes over in turn. A request that
 * opens a new TLS connection keeps a copy of itself for that until the
 * handshake is done (a handshake costs far more).
 *
 * The parts, each in its file (uh_ names the parts' shared functions,
 * upstream_http_int.h): the transport's entry points (upstream_http.c), the
 * host table and name resolution (upstream_http_host.c), connections and
 * their pool (upstream_http_conn.c), the transfer state machine
 * (upstream_http_transfer.c) and the HTTP/2 hand-over
 * (upstream_http_handover.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parser.h"
#include "upstream.h"
#include "upstream_parser.h"
#include "upstream_url.h"

struct event;
struct event_base;
struct resolver_query;
struct upstream_http;
struct upstream_transfer;
struct uh_conn;
struct uh_handover;
struct uh_host;

enum uh_state {
	UH_RESOLVE,
	UH_SEND,
	UH_HEAD,
	UH_BODY,
	UH_DONE,
};

/* A transfer as the own client runs it, in its struct upstream_transfer. */
struct uh_transfer {
	struct upstream_transfer *owner; /* the caller's callbacks, the memory */
	struct upstream_http *uh;
	struct uh_host *host;
	struct uh_conn *conn;
	struct resolver_query *query; /* while its host name is resolved */
	struct event *ev_timeout;     /* only with a timeout */
	struct uh_handover *handover; /* until its new connection has chosen HTTP/1.1 */
	char *out;                    /* the request: head and body */
	size_t out_len, out_off;
	bool out_spare; /* OUT is UH_OUT_SPARE bytes: a spare once given up */
	/* a lent body (upstream_request.body_lent): OUT holds the head only and
	 * the body is sent from the caller's memory, after it */
	const char *lent;
	size_t lent_len, lent_off;
	/* An upload from parts (upstream_body.c): OUT holds the head (HEAD_LEN
	 * bytes), then one chunk of the body at a time, read from SRC_OFF as
	 * the socket takes it. */
	struct upstream_body *src;
	uint64_t src_off;
	size_t head_len;
	enum uh_state state;
	struct http_scan scan;
	enum upstream_body_kind body;
	uint64_t remaining;
	struct http_chunked chunked;
	long status;
	bool keep_alive;
	bool keep_alive_ok; /* false once the upstream answered early */
	bool got_bytes;     /* any byte of a response arrived */
	bool retried;
	size_t addr_tries; /* addresses of its host it moved on from */
	bool paused, aborted, in_callback;
};

/* The own client on BASE. HTTPS: whether https:// URLs are taken too (not
 * when a proxy is to carry them). */
struct upstream_http *upstream_http_new(struct event_base *base, bool https);
/* Closes every connection; transfers still open must have been freed. */
void upstream_http_free(struct upstream_http *uh);

/* As upstream_set_ca_file(), for https:// upstreams; 0 or -ENOMEM. */
int upstream_http_set_ca_file(struct upstream_http *uh, const char *path);
/* As upstream_set_http2(): whether handshakes offer HTTP/2 (the default). */
void upstream_http_set_http2(struct upstream_http *uh, bool offer);

/* Whether upstreams that choose HTTP/2 are the own HTTP/2 client's (their
 * connections are handed over to it) instead of libcurl's. */
void upstream_http_set_h2_own(struct upstream_http *uh, bool own);

/* Whether this client takes U, a URL upstream_url_parse() took: plain HTTP
 * always, https unless a proxy carries it or the host chose HTTP/2. */
bool upstream_http_handles(const struct upstream_http *uh, const struct upstream_url *u);

/* Starts REQ, whose URL parsed as U (which need not outlive the call), in T
 * (zeroed) for OWNER. 0, or a negative errno (-EINVAL for a header that is
 * not a valid field) with T for upstream_http_clean(). Callbacks never run
 * from inside this call; failures found here are delivered from the loop. */
int upstream_http_start(struct upstream_http *uh, struct uh_transfer *t,
                        struct upstream_transfer *owner, const struct upstream_url *u,
                        const struct upstream_request *req);
/* True when T may be freed now; else (from inside a callback) it is only
 * marked, and the code that made the call lets go of it. */
bool upstream_http_abort(struct uh_transfer *t);
void upstream_http_pause(struct uh_transfer *t);
void upstream_http_resume(struct uh_transfer *t);
/* Lets go of what T still holds besides its connection (from
 * upstream_transfer_free() and a hand-over). */
void upstream_http_clean(struct uh_transfer *t);

/* Transfers in flight. */
size_t upstream_http_active(const struct upstream_http *uh);
