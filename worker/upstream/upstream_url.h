/*
 * upstream_url: the upstream URLs the worker's own HTTP/1.1 client takes,
 * parsed once per attempt into what a connection and a request head need.
 * Pure: no I/O, no allocation, no event loop; the result points into the URL.
 *
 * Taken: "http://" or "https://" (any case), an authority without userinfo
 * whose host is an IPv4 dotted quad, a bracketed IPv6 literal, "localhost"
 * (127.0.0.1) or a DNS name, an optional port 1..65535, then a path (and
 * query) of visible ASCII, or nothing ("/"). Everything else is refused
 * (-EINVAL) and left to libcurl: userinfo, a fragment, a query with no path,
 * other spellings of addresses ("127.1"), names that are no DNS names.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define UPSTREAM_URL_MAX_AUTHORITY 300
#define UPSTREAM_URL_MAX_NAME      253 /* a DNS name, as RESOLVER_NAME_MAX */

struct upstream_url {
	char authority[UPSTREAM_URL_MAX_AUTHORITY]; /* as in the URL: also the Host header */
	char host[UPSTREAM_URL_MAX_NAME + 1];       /* without brackets or port */
	bool tls;                                   /* https */
	bool resolve;                               /* HOST is a name to resolve */
	uint16_t port;
	const char *path;             /* path and query, in the URL, or "/" */
	struct sockaddr_storage addr; /* the address, unless RESOLVE */
	socklen_t addr_len;           /* 0 when RESOLVE */
};

/* Parses URL (NUL-terminated) into *RET: 0, or -EINVAL for a URL not taken. */
int upstream_url_parse(const char *url, struct upstream_url *ret);

/* The last URL upstream_url_parse_cached() parsed in full: its scheme and
 * authority, and what they parsed to. Zeroed is empty. */
struct upstream_url_cache {
	char prefix[sizeof("https://") + UPSTREAM_URL_MAX_AUTHORITY];
	size_t prefix_len; /* 0: empty */
	struct upstream_url url;
};

/* upstream_url_parse(), the same result, for a worker that sends every
 * attempt of a deployment to one scheme and authority: a URL that starts
 * with the cached ones followed by '/' takes their parse, and only its
 * path is checked; any other is parsed in full and cached. */
int upstream_url_parse_cached(struct upstream_url_cache *c, const char *url,
                              struct upstream_url *ret);
