/*
 * upstream_curl: the libcurl transport of the upstream client, one of the
 * dispatcher's peers (upstream.c chooses; upstream_http.h and upstream_h2.h
 * are the others). It carries what the own clients do not: proxies, URLs
 * the own client does not take, everything with LLMGATE_UPSTREAM_CLIENT=curl,
 * and upstreams that chose HTTP/2 with LLMGATE_UPSTREAM_H2=curl. libcurl's multi interface runs on
 * the worker's libevent loop; libcurl itself is loaded by the first transfer (curl_api.c). Private
 * to libupstream.
 */
#pragma once

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "upstream.h"

struct event_base;
struct upstream_curl;
struct upstream_transfer;

/* A transfer as libcurl runs it, in its struct upstream_transfer. */
struct upstream_curl_transfer {
	struct upstream_transfer *owner;
	struct upstream_curl *uc;
	CURL *easy; /* NULL until it is libcurl's */
	struct curl_slist *headers;
	char *body;
	struct upstream_body *src; /* an upload from parts (a reference), read by read_cb */
	uint64_t src_off;
	bool paused;      /* the caller asked for no more data for now */
	bool aborted;     /* the caller aborted it from inside a callback */
	bool in_callback; /* one of the caller's callbacks is running */
	bool head_done;   /* on_head was called (trailers end with a blank line too) */
	char error[CURL_ERROR_SIZE];
};

/* PROXY_ENV: a proxy is set in the environment, which libcurl then reads
 * per transfer (else it is told there is none). */
struct upstream_curl *upstream_curl_new(struct event_base *base, bool proxy_env);
/* Transfers still open must have been freed. */
void upstream_curl_free(struct upstream_curl *uc);
/* As upstream_set_ca_file(), upstream_set_http2(). */
int upstream_curl_set_ca_file(struct upstream_curl *uc, const char *path);
void upstream_curl_set_http2(struct upstream_curl *uc, bool offer);

/* Starts REQ in T (zeroed) for OWNER; REQ's strings are copied. 0, or a
 * negative errno with T holding nothing. */
int upstream_curl_start(struct upstream_curl *uc, struct upstream_curl_transfer *t,
                        struct upstream_transfer *owner, const struct upstream_request *req);
/* True when T may be freed now; else (from inside a callback) it is only
 * marked, and freed once libcurl lets go. */
bool upstream_curl_abort(struct upstream_curl_transfer *t);
void upstream_curl_pause(struct upstream_curl_transfer *t);
void upstream_curl_resume(struct upstream_curl_transfer *t);
/* Lets go of what T holds (from upstream_transfer_free()). */
void upstream_curl_clean(struct upstream_curl_transfer *t);

size_t upstream_curl_active(const struct upstream_curl *uc);
