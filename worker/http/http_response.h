/*
 * http_response: the bytes of a response, as pure functions over the
 * caller's memory: the head (status line, fixed headers, framing, the
 * handler's header lines), the size line of a chunk, the Date line, and the
 * block of header lines a handler adds. Internal to the HTTP server; it
 * knows nothing of connections: http_conn.c, which owns every exchange and
 * its output, calls it and is never called back.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define HTTP_RESPONSE_DATE_SIZE  40    /* "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n" and NUL */
#define HTTP_RESPONSE_CHUNK_LINE 20    /* the hex size of a chunk and CRLF */
#define HTTP_HEADER_BLOCK_MAX    16384 /* bytes of handler-added header lines */

enum http_framing {
	HTTP_FRAMING_LENGTH,  /* Content-Length */
	HTTP_FRAMING_CHUNKED, /* Transfer-Encoding: chunked */
	HTTP_FRAMING_CLOSE,   /* ends when the connection closes (HTTP/1.0 stream) */
	HTTP_FRAMING_NONE,    /* 1xx, 204, 304: no body at all */
};

struct http_response_head {
	int status;               /* outside 100..999: sent as 500 */
	const char *content_type; /* NULL: none; not a valid field value: octet-stream */
	enum http_framing framing;
	size_t length;     /* the Content-Length of HTTP_FRAMING_LENGTH */
	bool keep_alive;   /* false: "Connection: close" */
	bool http10;       /* kept alive, an HTTP/1.0 client is told so */
	const char *date;  /* the Date line (http_response_date()) */
	const char *lines; /* the handler's header lines, "Name: value\r\n"... */
	size_t lines_len;
};

/* The framing of a whole response with STATUS: none for 1xx, 204 and 304. */
enum http_framing http_response_whole_framing(int status);

/* The room the head of H takes at most, then its bytes at BUF (that much
 * room); returns the head's length. */
size_t http_response_head_max(const struct http_response_head *h);
size_t http_response_head_write(char *buf, const struct http_response_head *h);

/* The Date line for time T into BUF. */
void http_response_date(char buf[HTTP_RESPONSE_DATE_SIZE], time_t t);

/* The size line of a chunk of LEN bytes ("%zx\r\n") into BUF; its length. */
size_t http_response_chunk_line(char buf[HTTP_RESPONSE_CHUNK_LINE], size_t len);

/* The header lines a handler adds to a response; zeroed is empty, and it
 * keeps its memory for the connection's next response. */
struct http_header_block {
	char *lines;
	size_t len, cap;
};

/* Appends "NAME: VALUE\r\n": -EINVAL for a name or value that is not a
 * valid field (no injection of lines), -E2BIG past HTTP_HEADER_BLOCK_MAX. */
int http_header_block_add(struct http_header_block *b, const char *name, const char *value);
/* The same for NAME (NLEN bytes) a name the caller knows valid: only VALUE
 * is checked. */
int http_header_block_add_known(struct http_header_block *b, const char *name, size_t nlen,
                                const char *value);
/* Appends LINES (LEN bytes, whole "Name: value\r\n" lines) as they are,
 * unchecked: for lines the caller built from constant names it knows valid
 * and not the server's own, and values it made itself. -E2BIG past
 * HTTP_HEADER_BLOCK_MAX, -ENOMEM. */
int http_header_block_append(struct http_header_block *b, const char *lines, size_t len);
/* Whether LINES (LEN bytes) are whole header lines with valid names and
 * values, none of them a response header the server owns. */
bool http_header_lines_valid(const char *lines, size_t len);
void http_header_block_free(struct http_header_block *b);
