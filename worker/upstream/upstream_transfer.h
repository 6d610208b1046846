/*
 * upstream_transfer: one transfer as the dispatcher (upstream.c) and its
 * peer transports share it. Private to libupstream.
 *
 * The dispatcher allocates it once per upstream_start() and frees it in one
 * place (upstream_transfer_free()); the transport named by VIA keeps its
 * state in the union and calls the caller's callbacks through CB and CTX.
 * A transport ends a transfer by calling upstream_transfer_done() (finished:
 * on_done), upstream_transfer_free() (aborted by its caller: no on_done) or,
 * for the own client only, upstream_transfer_hand_over() (the upstream chose
 * HTTP/2: the dispatcher restarts it on libcurl in the same memory) or
 * upstream_transfer_hand_over_h2() (the same, on the own HTTP/2 client, with
 * the connection).
 *
 * While the dispatcher is inside a transport's start (upstream_start(), or
 * upstream_transfer_restart()), STARTING is set: a transport that finishes
 * the transfer then (a kept-alive connection that fails at once and no new
 * one to be had) has its state cleaned at once, and the caller's on_done
 * comes from the loop (VIA becomes UPSTREAM_VIA_DONE, the result waits in
 * DONE): no callback runs inside the call that started the transfer.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "upstream.h"
#include "upstream_curl.h"
#include "upstream_h2.h"
#include "upstream_http.h"

enum upstream_via {
	UPSTREAM_VIA_OWN,  /* upstream_http.c */
	UPSTREAM_VIA_CURL, /* upstream_curl.c */
	UPSTREAM_VIA_H2,   /* upstream_h2.c */
	UPSTREAM_VIA_DONE, /* finished while starting: on_done waits for the loop */
};

/* A transfer finished while it was being started, whose on_done the
 * dispatcher's deferred event delivers. */
struct upstream_done {
	struct upstream_transfer *prev, *next; /* in the dispatcher's list */
	uint64_t seq;                          /* its place in that list */
	enum upstream_result result;
	long status;
	bool has_error;
	char error[256];
};

struct upstream_transfer {
	struct upstream *up;
	struct upstream_callbacks cb;
	void *ctx;
	enum upstream_via via;
	bool restarted; /* sent again after the upstream refused it (at most once) */
	bool starting;  /* inside a transport's start: a finish is deferred */
	struct upstream_transfer *spare_next; /* in the upstream's spares (upstream.c) */
	union {
		struct uh_transfer own;
		struct upstream_curl_transfer curl;
		struct uh2_stream h2;
		struct upstream_done done;
	};
};

/* T's transport has finished it and let go of it: the caller's on_done,
 * then T is freed; while T is starting, on_done comes from the loop. */
void upstream_transfer_done(struct upstream_transfer *t, enum upstream_result result, long status,
                            const char *error);

/* T's transport let go of it, which its caller aborted: freed, no on_done.
 * The one place a transfer is freed. */
void upstream_transfer_free(struct upstream_transfer *t);

/* The own client's T reached an upstream that chose HTTP/2 and let go of
 * its connection: REQ (whose memory the own client keeps until this returns,
 * its timeout what is left of T's, > 0 or 0 for none) goes to libcurl in T,
 * paused when PAUSED. T may be gone when this returns. */
void upstream_transfer_hand_over(struct upstream_transfer *t, const struct upstream_request *req,
                                 bool paused);

/* Whether the own HTTP/2 client (upstream_h2.h) takes connections that chose
 * HTTP/2 (else libcurl carries their requests). */
bool upstream_transfer_h2_own(const struct upstream_transfer *t);
/* As upstream_transfer_hand_over(), to the own HTTP/2 client, with T's
 * connection: FD and its finished TLS session TLS to AUTHORITY, which are the
 * HTTP/2 client's from here on. */
void upstream_transfer_hand_over_h2(struct upstream_transfer *t, int fd,
                                    struct upstream_tls_conn *tls, const char *authority,
                                    const struct upstream_request *req, bool paused);

/* The own HTTP/2 client's T was refused by the upstream before it was
 * processed: T's state there is let go, and REQ (whose memory the caller
 * keeps until this returns; its timeout what is left of T's) starts again
 * in T as upstream_start() starts a request, paused when PAUSED; marked
 * restarted. T may be gone when this returns. */
void upstream_transfer_restart(struct upstream_transfer *t, const struct upstream_request *req,
                               bool paused);
