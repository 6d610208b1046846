/*
 * http_parser: a strict HTTP/1.1 request-head parser and a chunked body
 * decoder. Pure: no I/O, no clock, no allocation. The head is parsed in
 * place in the caller's buffer (names and values are NUL-terminated there)
 * and headers go into an array the caller provides, so a request costs no
 * allocation per header. Anything a request smuggler could play with is
 * rejected rather than interpreted (RFC 9112 sections 2.2, 3, 5, 6, 7.1).
 *
 * Errors are negative errnos; http_parser_status() gives the HTTP status to
 * answer with:
 *   -EBADMSG          400 malformed request line, header, framing or chunk
 *   -EMSGSIZE         431 header section too large (too many headers)
 *   -EPROTO           417 an Expect other than 100-continue
 *   -ENOTSUP          501 a transfer coding other than exactly "chunked"
 *   -EPROTONOSUPPORT  505 an HTTP version other than 1.x
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_header.h" /* http_is_tchar(), http_is_field_byte() */

#define HTTP_PARSER_MAX_HEADERS    100
#define HTTP_PARSER_MAX_CHUNK_LINE 1024 /* chunk size line with extensions */
#define HTTP_PARSER_MAX_TRAILERS   8192 /* trailer section of a chunked body */

enum http_body_kind {
	HTTP_BODY_NONE,
	HTTP_BODY_LENGTH,
	HTTP_BODY_CHUNKED,
	HTTP_BODY__COUNT,
};

struct http_header {
	const char *name;  /* NUL-terminated, as sent (compare case-insensitively) */
	const char *value; /* NUL-terminated, leading and trailing whitespace removed */
	size_t name_len;
	size_t value_len;
};

struct http_head {
	const char *method; /* NUL-terminated token */
	size_t method_len;
	const char *target; /* NUL-terminated request-target as sent */
	size_t target_len;
	/* The path part of the target (for absolute-form, from the first '/');
	 * not NUL-terminated when a query follows. */
	const char *path;
	size_t path_len;
	const char *query; /* after '?', NUL-terminated; NULL when there is none */
	size_t query_len;
	int version_minor; /* 0 or 1: HTTP/1.0 or HTTP/1.1 (1.2+ count as 1.1) */
	struct http_header *headers;
	size_t n_headers;
	enum http_body_kind body;
	uint64_t content_length; /* HTTP_BODY_LENGTH only */
	bool keep_alive;         /* from the version and the Connection header */
	bool expect_continue;
	const char *error; /* on failure: what was wrong, a static string */
};

/* Where http_scan_head() stopped; zero it before the first call. */
struct http_scan {
	size_t pos;
	size_t line_start;
	size_t start;
};

/*
 * Looks for the end of a request head in BUF[0..LEN), resuming where the
 * previous call on the same (grown) buffer stopped. Empty lines before the
 * request line are skipped. Returns 0 with the head at BUF[*ret_start ..
 * *ret_end) (ending with its empty line), -EAGAIN when more bytes are needed,
 * or -EBADMSG on a bare CR or a bare LF.
 */
int http_scan_head(struct http_scan *scan, const char *buf, size_t len, size_t *ret_start,
                   size_t *ret_end);

/*
 * Parses a complete head BUF[0..LEN) (request line to the empty line, CRLF
 * line ends) in place, writing NULs into BUF. HEADERS holds up to
 * MAX_HEADERS entries. Returns 0 and fills RET, or a negative errno (see the
 * table above) with RET->error set.
 */
int http_parse_head(char *buf, size_t len, struct http_header *headers, size_t max_headers,
                    struct http_head *ret);

/*
 * The pieces shared by every HTTP/1.1 head parser here (requests above,
 * upstream responses in upstream_parser.c), so that both are equally strict
 * (with the byte classes of http_header.h).
 */

/* Splits off the line at *P (ending in CRLF before END) and NUL-terminates
 * it; -EBADMSG on a bare CR or LF. */
int http_next_line(char **p, char *end, char **ret_line, size_t *ret_len);

/* Parses the header lines from P up to the empty line that ends the head
 * at END, in place, into HEADERS (at most MAX_HEADERS; *RET_N of them).
 * -EBADMSG or -EMSGSIZE with *WHY set. */
int http_parse_fields(char *p, char *end, struct http_header *headers, size_t max_headers,
                      size_t *ret_n, const char **why);

/* Content-Length: 1*DIGIT, no sign, no list, no overflow. 0 with *RET, or
 * -EBADMSG with *WHY set. */
int http_parse_length(const struct http_header *f, uint64_t *ret, const char **why);

/* Does the comma-separated VALUE hold TOKEN (case-insensitive)? */
bool http_list_has(const char *value, const char *token);

/* The first header named NAME (case-insensitive), or NULL. */
const struct http_header *http_head_find(const struct http_head *head, const char *name);

/* The HTTP status for an error of http_parse_head() or http_chunked_decode(). */
int http_parser_status(int err);

/* State of a chunked body decoder; http_chunked_init() it per body. */
struct http_chunked {
	int state;
	uint64_t remaining; /* bytes left in the current chunk */
	size_t line_len;    /* bytes of the current size line or trailer section */
	unsigned digits;
};

void http_chunked_init(struct http_chunked *c);

/*
 * Decodes IN[0..IN_LEN) into OUT (room for OUT_CAP bytes; OUT may equal IN:
 * decoding in place is allowed). Sets *ret_consumed and *ret_produced.
 * Returns 0 once the last chunk and the trailer section are consumed (bytes
 * after them, a pipelined request, are not consumed), -EAGAIN when IN is used
 * up, -ENOBUFS when OUT is full, -EBADMSG on a malformed body.
 */
int http_chunked_decode(struct http_chunked *c, const char *in, size_t in_len, size_t *ret_consumed,
                        char *out, size_t out_cap, size_t *ret_produced);
