/*
 * resolver: host names to addresses for the worker's own upstream client,
 * without blocking the event loop.
 *
 * getaddrinfo() (so /etc/hosts, nsswitch and resolv.conf behave as for every
 * other program) runs on one helper thread per worker, started by the first
 * lookup; results come back to the loop through an eventfd. Answers are
 * cached for RESOLVER_TTL_MS (libcurl's default DNS cache time); failures are
 * not cached. Concurrent lookups of one name share one getaddrinfo().
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define RESOLVER_TTL_MS    60000
#define RESOLVER_NAME_MAX  253
#define RESOLVER_MAX_ADDRS 4

struct event_base;
struct resolver;
struct resolver_query;

/* The first addresses getaddrinfo() gives for a name, in its (RFC 6724) order. */
struct resolver_answer {
	size_t n;
	struct sockaddr_storage addr[RESOLVER_MAX_ADDRS];
	socklen_t len[RESOLVER_MAX_ADDRS];
};

/* ERR is 0 (and ANSWER has at least one address) or a getaddrinfo() EAI_*
 * code (resolver_strerror() says it; ANSWER is NULL). */
typedef void (*resolver_cb)(void *ctx, int err, const struct resolver_answer *answer);

struct resolver *resolver_new(struct event_base *base);
/* Pending queries are dropped without their callback. */
void resolver_free(struct resolver *r);

/* A fresh cached answer for NAME and PORT: true and *ANSWER set. */
bool resolver_cached(struct resolver *r, const char *name, uint16_t port,
                     struct resolver_answer *answer);

/* Starts a lookup; CB runs from the loop, never from inside this call.
 * NULL when out of memory or NAME is too long. */
struct resolver_query *resolver_lookup(struct resolver *r, const char *name, uint16_t port,
                                       resolver_cb cb, void *ctx);
/* Forgets Q: its callback will not run. */
void resolver_cancel(struct resolver_query *q);

const char *resolver_strerror(int err);

/* Pure: whether an answer stored at STORED_MS is still fresh at NOW_MS. */
bool resolver_fresh(int64_t stored_ms, int64_t now_ms);
