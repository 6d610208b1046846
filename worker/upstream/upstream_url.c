/*
 * upstream_url: the own client's URL parser (see upstream_url.h). Runs in a
 * worker, once per attempt, from the dispatcher (upstream.c); pure.
 */
#include "upstream_url.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

static int parse_port(const char *s, size_t len, uint16_t *ret)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

/* A DNS name: labels of letters, digits, '-' and '_' joined by dots, none
 * empty or starting or ending with '-', not all digits and dots (those are
 * addresses in some other spelling, like "127.1", left to libcurl). */
static bool valid_host_name(const char *s, size_t len)
{
	size_t label = 0;
	bool alpha = false;

	if (len == 0 || len > UPSTREAM_URL_MAX_NAME)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return false;
		if (ch == '-' && label == 0)
			return false;
		alpha |= !(ch >= '0' && ch <= '9');
		if (++label > 63)
			return false;
	}
	return alpha && s[len - 1] != '-';
}

/* "[v6]" or "[v6]:port", A[0..END) */
static int parse_ipv6(const char *a, const char *end, struct upstream_url *u)
{
	const char *close = memchr(a, ']', (size_t)(end - a));
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&u->addr;
	size_t hlen;

	if (!close || (size_t)(close - a - 1) >= sizeof(u->host))
		return -EINVAL;
	hlen = (size_t)(close - a - 1);
	memcpy(u->host, a + 1, hlen);
	u->host[hlen] = '\0';
	if (close + 1 < end &&
	    (close[1] != ':' || parse_port(close + 2, (size_t)(end - close - 2), &u->port) < 0))
		return -EINVAL;
	if (inet_pton(AF_INET6, u->host, &s6->sin6_addr) != 1)
		return -EINVAL;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(u->port);
	u->addr_len = sizeof(*s6);
	return 0;
}

/* "host" or "host:port", A[0..END): a dotted quad, "localhost" or a name */
static int parse_host(const char *a, const char *end, struct upstream_url *u)
{
	const char *colon = memchr(a, ':', (size_t)(end - a));
	size_t hlen = (size_t)((colon ? colon : end) - a);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&u->addr;

	if (hlen == 0 || hlen >= sizeof(u->host))
		return -EINVAL;
	memcpy(u->host, a, hlen);
	u->host[hlen] = '\0';
	if (colon && parse_port(colon + 1, (size_t)(end - colon - 1), &u->port) < 0)
		return -EINVAL;

	/* "localhost" is 127.0.0.1; a TLS peer must still be "localhost" */
	const char *ip = strcasecmp(u->host, "localhost") == 0 ? "127.0.0.1" : u->host;

	/* inet_pton accepts only the dotted quad, not "127.1" or hex */
	if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1) {
		if (!valid_host_name(u->host, hlen))
			return -EINVAL;
		u->resolve = true; /* resolved when a connection is made */
		return 0;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons(u->port);
	u->addr_len = sizeof(*s4);
	return 0;
}

/* A path and query of visible ASCII, no fragment. */
static bool path_valid(const char *p)
{
	for (; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
			return false;
	return true;
}

int upstream_url_parse(const char *url, struct upstream_url *u)
{
	const char *a, *end;
	size_t alen;

	if (strncasecmp(url, "http://", 7) == 0) {
		a = url + 7;
		u->port = 80;
		u->tls = false;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		a = url + 8;
		u->port = 443;
		u->tls = true;
	} else {
		return -EINVAL;
	}
	end = a + strcspn(a, "/?#");
	/* "http://host?q" and fragments: leave the odd ones to libcurl */
	if (*end == '#' || *end == '?')
		return -EINVAL;
	alen = (size_t)(end - a);
	if (alen == 0 || alen >= sizeof(u->authority) || memchr(a, '@', alen))
		return -EINVAL;
	if (!path_valid(end))
		return -EINVAL;
	memcpy(u->authority, a, alen);
	u->authority[alen] = '\0';
	u->path = *end ? end : "/";
	u->resolve = false;
	u->addr_len = 0;
	memset(&u->addr, 0, sizeof(u->addr));
	return a[0] == '[' ? parse_ipv6(a, end, u) : parse_host(a, end, u);
}

int upstream_url_parse_cached(struct upstream_url_cache *c, const char *url, struct upstream_url *u)
{
	size_t n = c->prefix_len;
	int r;

	/* strncmp stops at URL's end: url[n] is read only when URL is longer */
	if (n && strncmp(url, c->prefix, n) == 0 && url[n] == '/') {
		if (!path_valid(url + n))
			return -EINVAL;
		*u = c->url;
		u->path = url + n;
		return 0;
	}
	r = upstream_url_parse(url, u);
	if (r < 0)
		return r;
	/* the scheme and authority, as upstream_url_parse() split them */
	n = u->tls ? 8 : 7;
	n += strcspn(url + n, "/?#");
	if (url[n] == '/' && n < sizeof(c->prefix)) {
		memcpy(c->prefix, url, n);
		c->prefix_len = n;
		c->url = *u;
	}
	return 0;
}
