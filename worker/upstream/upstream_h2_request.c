/*
 * upstream_h2_request: the own HTTP/2 client's request fields (see
 * upstream_h2_request.h). Runs in a worker, once per request; pure.
 */
#include "upstream_h2_request.h"

#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "decimal.h"
#include "http_header.h"

size_t uh2_request_max_fields(const struct upstream_request *req)
{
	return req->n_headers + 5; /* 4 pseudo-headers and content-length */
}

size_t uh2_request_names_size(const struct upstream_request *req)
{
	size_t size = 0;

	for (size_t i = 0; i < req->n_headers; i++)
		size += strlen(req->headers[i].name) + 1;
	return size;
}

/* Whether NAME (of LEN bytes) is not sent in HTTP/2 (RFC 9113 8.2.2), is
 * ours, or is Host. Lengths first: most names match none of them. */
static bool dropped(const char *name, size_t len, const char *value)
{
	if (http_header_is_own(name, HTTP_OWN_UPSTREAM))
		return true; /* content-length, transfer-encoding, connection, expect */
	if (http_header_name_is(name, len, "host") ||
	    http_header_name_is(name, len, "keep-alive") ||
	    http_header_name_is(name, len, "proxy-connection") ||
	    http_header_name_is(name, len, "upgrade"))
		return true;
	return http_header_name_is(name, len, "te") && strcasecmp(value, "trailers") != 0;
}

static struct uh2_field field(const char *name, const char *value)
{
	return (struct uh2_field){name, value, strlen(name), strlen(value)};
}

size_t uh2_request_fields(struct uh2_field *fields, char *names, char *length,
                          const struct upstream_url *u, const struct upstream_request *req)
{
	const char *method = req->method ? req->method : "POST";
	const char *authority = u->authority;
	bool post = !req->method || strcmp(req->method, "POST") == 0;
	size_t n = 0;

	for (size_t i = 0; i < req->n_headers; i++)
		if (http_header_name_is(req->headers[i].name, strlen(req->headers[i].name), "host"))
			authority = req->headers[i].value;
	fields[n++] = field(":method", method);
	fields[n++] = field(":scheme", u->tls ? "https" : "http");
	fields[n++] = field(":authority", authority);
	fields[n++] = field(":path", u->path);
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct upstream_header *h = &req->headers[i];
		size_t len = strlen(h->name);

		if (dropped(h->name, len, h->value))
			continue;
		for (size_t k = 0; k < len; k++)
			names[k] = (char)(h->name[k] >= 'A' && h->name[k] <= 'Z' ? h->name[k] + 32
			                                                         : h->name[k]);
		fields[n++] = (struct uh2_field){names, h->value, len, strlen(h->value)};
		names += len + 1;
	}
	if (post || req->body_len)
		fields[n++] =
		        (struct uh2_field){"content-length", length, 14,
		                           (size_t)(decimal_put(length, req->body_len) - length)};
	return n;
}
