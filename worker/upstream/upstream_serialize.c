/*
 * upstream_serialize: the own client's request bytes (see
 * upstream_serialize.h). Runs in a worker, once per attempt; pure, and no
 * printf on the hot path.
 */
#include "upstream_serialize.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "decimal.h"
#include "http_header.h"

static char *put(char *p, const char *s, size_t len)
{
	memcpy(p, s, len);
	return p + len;
}

#define PUT_LIT(p, lit) put(p, lit, sizeof(lit) - 1)

ssize_t upstream_serialize_size(const struct upstream_url *u, const struct upstream_request *req)
{
	/* the request line, Host and Content-Length with a 20-digit length fit in 96 */
	size_t head = strlen(u->path) + strlen(u->authority) + 96 +
	              (req->method ? strlen(req->method) : 0);

	for (size_t i = 0; i < req->n_headers; i++) {
		const struct upstream_header *h = &req->headers[i];

		if (!http_header_name_valid(h->name) || !http_header_value_valid(h->value))
			return -EINVAL;
		head += strlen(h->name) + strlen(h->value) + 4;
	}
	if (head > UPSTREAM_SERIALIZE_MAX_HEAD)
		return -E2BIG;
	return (ssize_t)(head + (req->body_src || req->body_lent ? 0 : req->body_len));
}

size_t upstream_serialize(char *buf, const struct upstream_url *u,
                          const struct upstream_request *req)
{
	bool own_host = false;
	char *p = buf;

	for (size_t i = 0; i < req->n_headers; i++)
		/* "host" and its NUL: the compare stops at the first byte that differs */
		own_host |= http_ascii_caseeq(req->headers[i].name, "host", sizeof("host"));
	const char *method = req->method ? req->method : "POST";
	bool post = !req->method || strcmp(req->method, "POST") == 0;

	p = put(p, method, strlen(method));
	p = PUT_LIT(p, " ");
	p = put(p, u->path, strlen(u->path));
	p = PUT_LIT(p, " HTTP/1.1\r\n");
	if (!own_host) {
		p = PUT_LIT(p, "Host: ");
		p = put(p, u->authority, strlen(u->authority));
		p = PUT_LIT(p, "\r\n");
	}
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct upstream_header *h = &req->headers[i];

		if (http_header_is_own(h->name, HTTP_OWN_UPSTREAM))
			continue;
		p = put(p, h->name, strlen(h->name));
		p = PUT_LIT(p, ": ");
		p = put(p, h->value, strlen(h->value));
		p = PUT_LIT(p, "\r\n");
	}
	if (post || req->body_len) {
		/* a GET or DELETE without a body has no framing header at all */
		p = PUT_LIT(p, "Content-Length: ");
		p = decimal_put(p, req->body_len);
		p = PUT_LIT(p, "\r\n");
	}
	p = PUT_LIT(p, "\r\n");
	if (!req->body_src && !req->body_lent)
		p = put(p, req->body, req->body_len); /* else sent from the source after the head */
	return (size_t)(p - buf);
}
