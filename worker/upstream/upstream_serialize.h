/*
 * upstream_serialize: the request the own HTTP/1.1 client writes to an
 * upstream, head and body in one buffer for one send (or the head alone,
 * for a body sent from where it is). Pure: the caller sizes and owns the
 * buffer.
 *
 * "<method> <path> HTTP/1.1" (POST unless the request says), a Host header
 * (the URL's authority) unless the caller gives one, the caller's headers in
 * their order except the framing and connection ones (Content-Length,
 * Transfer-Encoding, Connection, Expect: ours), then our Content-Length (none
 * for a GET or DELETE without a body) and the body.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#include "upstream.h"
#include "upstream_url.h"

#define UPSTREAM_SERIALIZE_MAX_HEAD (64 * 1024)

/* The bytes REQ to U needs at most, or -EINVAL for a header name or value
 * that is no valid field, -E2BIG for a head over UPSTREAM_SERIALIZE_MAX_HEAD. */
ssize_t upstream_serialize_size(const struct upstream_url *u, const struct upstream_request *req);

/* Writes REQ to U into BUF, of upstream_serialize_size() bytes at least;
 * returns the length written, head and body (the head only when the body
 * comes from a source or is lent: sent from there after it). */
size_t upstream_serialize(char *buf, const struct upstream_url *u,
                          const struct upstream_request *req);
