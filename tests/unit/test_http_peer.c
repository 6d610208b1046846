/*
 * Unit tests of worker/http/http_peer.c: a client's address kept compactly
 * per connection gives back the "address:port" text the access log and the
 * handlers have always seen (as inet_ntop() and "%u" would write it).
 */
#include "http_peer.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const char *v4(const char *addr, unsigned port, char buf[HTTP_PEER_MAX])
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct http_peer p;

	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, addr, &in->sin_addr);
	http_peer_set(&p, &ss);
	return http_peer_format(&p, buf);
}

static const char *v6(const char *addr, unsigned port, char buf[HTTP_PEER_MAX])
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct http_peer p;

	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, addr, &in6->sin6_addr);
	http_peer_set(&p, &ss);
	return http_peer_format(&p, buf);
}

int main(void)
{
	char buf[HTTP_PEER_MAX];
	struct sockaddr_storage un = {.ss_family = AF_UNIX};
	struct http_peer p;

	tap_str(v4("127.0.0.1", 54321, buf), "127.0.0.1:54321", "loopback");
	tap_str(v4("0.0.0.0", 0, buf), "0.0.0.0:0", "zeros");
	tap_str(v4("255.255.255.255", 65535, buf), "255.255.255.255:65535", "the longest IPv4");
	tap_str(v4("10.20.3.100", 8, buf), "10.20.3.100:8", "one to three digits per byte");
	tap_str(v6("::1", 443, buf), "[::1]:443", "IPv6 loopback");
	tap_str(v6("::ffff:192.0.2.1", 80, buf), "[::ffff:192.0.2.1]:80", "IPv4-mapped");
	tap_str(v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, buf),
	        "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "the longest IPv6 fits");
	http_peer_set(&p, &un);
	tap_str(http_peer_format(&p, buf), "local", "a local socket");
	tap_ok(sizeof(struct http_peer) <= 20, "kept in %zu bytes", sizeof(struct http_peer));
	return tap_done();
}
