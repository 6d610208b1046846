/*
 * fuzz_upstream_url: upstream URLs as the own client parses them
 * (worker/upstream/upstream_url.c) and the request line and Host header it
 * writes from them (upstream_serialize.c). URLs come from the config, so a
 * hostile one is unlikely, but a URL the parser takes must give fields that
 * agree with it and a request head that is one well-formed request line and
 * Host header, never an overread or a header injected through the URL.
 *
 * fuzz-args: -max_len=1024
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "fuzz.h"
#include "upstream_serialize.h"
#include "upstream_url.h"

static void check_url(const char *url, const struct upstream_url *u)
{
	size_t alen = strlen(u->authority), hlen = strlen(u->host);

	if (alen == 0 || alen >= UPSTREAM_URL_MAX_AUTHORITY || hlen == 0 ||
	    hlen > UPSTREAM_URL_MAX_NAME || u->port == 0)
		abort();
	/* the authority follows the scheme as written; the host is in it */
	if (!strstr(url, u->authority) || !strstr(u->authority, u->host))
		abort();
	if (u->path[0] != '/')
		abort();
	if (u->path != url + strlen(url) - strlen(u->path) && strcmp(u->path, "/") != 0)
		abort();
	for (const char *p = u->path; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '#')
			abort();
	if (u->resolve ? u->addr_len != 0
	               : (u->addr.ss_family != AF_INET && u->addr.ss_family != AF_INET6) ||
	                         u->addr_len == 0)
		abort();
}

static void check_request(const struct upstream_url *u, const char *url)
{
	static char out[2048];
	struct upstream_request req = {.url = url, .body = "{}", .body_len = 2};
	ssize_t size = upstream_serialize_size(u, &req);
	const char *line_end, *host_end;
	size_t len;

	if (size < 0 || (size_t)size > sizeof(out))
		abort();
	len = upstream_serialize(out, u, &req);
	if (len > (size_t)size)
		abort();
	/* one request line, then Host: no CR or LF comes from the URL */
	line_end = memchr(out, '\n', len);
	if (!line_end || strncmp(out, "POST /", 6) != 0 || memcmp(line_end - 10, " HTTP/1.1\r", 10))
		abort();
	host_end = memchr(line_end + 1, '\n', len - (size_t)(line_end + 1 - out));
	if (!host_end || strncmp(line_end + 1, "Host: ", 6) != 0 ||
	    (size_t)(host_end - line_end - 8) != strlen(u->authority))
		abort();
	if (strncmp(host_end + 1, "Content-Length: 2\r\n\r\n{}", 23) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[1025];
	struct upstream_url u;

	if (size >= sizeof(url))
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	if (upstream_url_parse(url, &u) != 0)
		return 0;
	check_url(url, &u);
	check_request(&u, url);
	return 0;
}
