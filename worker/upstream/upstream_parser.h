/*
 * upstream_parser: a strict HTTP/1.1 response-head parser for the worker's
 * own upstream client (upstream_http_transfer.c). Pure: no I/O, no clock, no
 * allocation; the head is parsed in place (names and values NUL-terminated
 * in the caller's buffer) into a header array the caller provides. Bodies
 * are framed by the caller with http_parser.h's chunked decoder.
 *
 * Whatever could make us read a response differently from the upstream that
 * wrote it is refused (-EBADMSG), never guessed at: a bare CR or LF, obs-fold,
 * whitespace before a colon, a malformed status line, Content-Length that is
 * not one plain number, Content-Length together with Transfer-Encoding, a
 * transfer coding other than exactly "chunked", too many headers (-EMSGSIZE).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_parser.h"

#define UPSTREAM_PARSER_MAX_HEAD    (64 * 1024)
#define UPSTREAM_PARSER_MAX_HEADERS 100

enum upstream_body_kind {
	UPSTREAM_BODY_NONE,    /* 1xx, 204, 304, or Content-Length: 0 */
	UPSTREAM_BODY_LENGTH,  /* Content-Length bytes */
	UPSTREAM_BODY_CHUNKED, /* Transfer-Encoding: chunked */
	UPSTREAM_BODY_CLOSE,   /* until the upstream closes */
};

struct upstream_head {
	int status;        /* 100..599 */
	int version_minor; /* HTTP/1.0 or 1.1 */
	struct http_header *headers;
	size_t n_headers;
	enum upstream_body_kind body;
	uint64_t content_length; /* UPSTREAM_BODY_LENGTH only */
	bool keep_alive;         /* the connection may carry another request */
	const char *error;       /* on failure: what was wrong, a static string */
};

/*
 * Looks for the end of a response head in BUF[0..LEN): 0 with *RET_END just
 * past its empty line, -EAGAIN when more bytes are needed, -EBADMSG on a
 * bare CR or LF or bytes before the status line. SCAN as for
 * http_scan_head(), zeroed per head.
 */
int upstream_scan_head(struct http_scan *scan, const char *buf, size_t len, size_t *ret_end);

/* Parses a complete head BUF[0..LEN) in place. Returns 0 or a negative
 * errno with RET->error set. */
int upstream_parse_head(char *buf, size_t len, struct http_header *headers, size_t max_headers,
                        struct upstream_head *ret);
