/*
 * http_peer: a client's address kept compactly per connection (20 bytes
 * instead of a formatted string) and formatted as "address:port" only when
 * a request or a log line needs it. Pure: no socket, no allocation.
 * Internal to worker/http.
 */
#pragma once

#include <stdint.h>
#include <sys/socket.h>

/* "[" + an IPv6 address (45 at most) + "]:" + 5 digits + NUL */
#define HTTP_PEER_MAX 56

struct http_peer {
	uint8_t addr[16]; /* IPv4: the first 4 bytes */
	uint16_t port;    /* host order */
	uint8_t family;   /* AF_INET, AF_INET6; anything else (a local socket): 0 */
};

/* The peer of an accepted socket's address SS. */
void http_peer_set(struct http_peer *p, const struct sockaddr_storage *ss);

/* Writes "a.b.c.d:port", "[v6]:port" or "local" into BUF; returns BUF. */
const char *http_peer_format(const struct http_peer *p, char buf[HTTP_PEER_MAX]);
