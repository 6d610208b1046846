/*
 * upstream_h2_request: the header fields of a request as the own HTTP/2
 * client sends them (RFC 9113 8.3.1), from the same inputs as the HTTP/1.1
 * client's request head (upstream_serialize.h): the pseudo-headers :method,
 * :scheme, :authority (the URL's, or the caller's Host) and :path first,
 * then the caller's headers with lower-case names, without Host and the
 * connection-specific ones (Connection, Keep-Alive, Proxy-Connection,
 * Transfer-Encoding, Upgrade, TE other than "trailers") and without the
 * ones the client owns (Content-Length, Expect); then content-length, for a
 * POST or a body. Pure: no allocation; private to libupstream.
 */
#pragma once

#include <stddef.h>

#include "upstream.h"
#include "upstream_url.h"

/* One field; the strings are not NUL-terminated where a length is given. */
struct uh2_field {
	const char *name, *value;
	size_t name_len, value_len;
};

/* Room for REQ's fields: how many at most, and bytes for their lower-cased names. */
size_t uh2_request_max_fields(const struct upstream_request *req);
size_t uh2_request_names_size(const struct upstream_request *req);

/* REQ's fields (its URL parsed as U) into FIELDS, lower-cased names into NAMES,
 * the content-length value into LENGTH (24 bytes); how many fields. */
size_t uh2_request_fields(struct uh2_field *fields, char *names, char *length,
                          const struct upstream_url *u, const struct upstream_request *req);
