/*
 * Unit tests of the strict response-head parser of the worker's own upstream
 * client: well-formed heads and their framing, then one test per malformed
 * or ambiguous response (status line, line endings, obs-fold, conflicting
 * or repeated framing headers, sizes), and chunked bodies as responses use
 * them (the decoder is http_parser's, tested there in depth).
 */
#include "upstream_parser.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>

static struct http_header headers[UPSTREAM_PARSER_MAX_HEADERS];
static struct upstream_head head;
static char buf[256 * 1024];

/* Scans and parses TEXT as one response head: 0, -EAGAIN or the error. */
static int parse_len(const char *text, size_t len)
{
	struct http_scan scan = {0};
	size_t end;
	int r;

	memcpy(buf, text, len);
	head = (struct upstream_head){0};
	r = upstream_scan_head(&scan, buf, len, &end);
	if (r < 0)
		return r;
	return upstream_parse_head(buf, end, headers, UPSTREAM_PARSER_MAX_HEADERS, &head);
}

static int parse(const char *text)
{
	return parse_len(text, strlen(text));
}

static void bad(const char *text, const char *what)
{
	int r = parse(text);

	tap_ok(r == -EBADMSG || r == -EMSGSIZE, "%s is refused (got %d%s%s)", what, r,
	       head.error ? ": " : "", head.error ? head.error : "");
}

static void test_well_formed(void)
{
	tap_ok(parse("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	             "Content-Length: 12\r\n\r\n{\"a\":1}") == 0,
	       "a plain 200 parses");
	tap_ok(head.status == 200 && head.body == UPSTREAM_BODY_LENGTH &&
	               head.content_length == 12 && head.keep_alive,
	       "status, length and keep-alive");
	tap_ok(head.n_headers == 2 && strcmp(headers[0].name, "Content-Type") == 0 &&
	               strcmp(headers[0].value, "application/json") == 0,
	       "headers in place, NUL-terminated");

	tap_ok(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") == 0 &&
	               head.body == UPSTREAM_BODY_CHUNKED,
	       "chunked");
	tap_ok(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n") == 0 &&
	               head.body == UPSTREAM_BODY_CHUNKED,
	       "chunked, any case");
	tap_ok(parse("HTTP/1.1 200 OK\r\n\r\n") == 0 && head.body == UPSTREAM_BODY_CLOSE &&
	               !head.keep_alive,
	       "no framing: read until close, no reuse");
	tap_ok(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") == 0 &&
	               head.body == UPSTREAM_BODY_NONE && head.keep_alive,
	       "Content-Length 0: no body");
	tap_ok(parse("HTTP/1.1 204 No Content\r\n\r\n") == 0 && head.body == UPSTREAM_BODY_NONE &&
	               head.keep_alive,
	       "204: no body");
	tap_ok(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n") == 0 &&
	               head.body == UPSTREAM_BODY_NONE,
	       "304: no body whatever the length says");
	tap_ok(parse("HTTP/1.1 100 Continue\r\n\r\n") == 0 && head.status == 100 &&
	               head.body == UPSTREAM_BODY_NONE,
	       "1xx interim head");
	tap_ok(parse("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\n"
	             "Content-Length: 1\r\n\r\n") == 0 &&
	               !head.keep_alive,
	       "Connection: close in a list ends reuse");
	tap_ok(parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n") == 0 &&
	               head.version_minor == 0 && !head.keep_alive,
	       "HTTP/1.0: no reuse");
	tap_ok(parse("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n") == 0 && head.status == 200,
	       "status line without a reason");
	tap_ok(parse("HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n") == 0, "empty reason");
	tap_ok(parse("HTTP/1.1 429 Too Many Requests\r\nRetry-After:  3 \r\n"
	             "Content-Length: 1\r\n\r\n") == 0 &&
	               strcmp(headers[0].value, "3") == 0 && headers[0].value_len == 1,
	       "value trimmed");
	tap_ok(parse("HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 1\r\n\r\n") == 0 &&
	               headers[0].value_len == 0,
	       "empty value");
	tap_ok(parse("HTTP/1.1 200 OK\r\nX-Obs: caf\xc3\xa9\r\nContent-Length: 1\r\n\r\n") == 0,
	       "obs-text in a value");
	tap_ok(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n") == -EAGAIN,
	       "an incomplete head needs more");
}

static void test_status_line(void)
{
	bad("HTTP/1.1 20 OK\r\n\r\n", "two-digit status");
	bad("HTTP/1.1 2000 OK\r\n\r\n", "four-digit status");
	bad("HTTP/1.1 abc OK\r\n\r\n", "non-numeric status");
	bad("HTTP/1.1 099 Odd\r\n\r\n", "status under 100");
	bad("HTTP/1.1 600 Odd\r\n\r\n", "status over 599");
	bad("HTTP/1.1  200 OK\r\n\r\n", "two spaces before the status");
	bad("HTTP/1.1\t200 OK\r\n\r\n", "tab before the status");
	bad("HTTP/2 200 OK\r\n\r\n", "HTTP/2 status line");
	bad("HTTP/2.0 200 OK\r\n\r\n", "HTTP/2.0 status line");
	bad("HTTP/1.x 200 OK\r\n\r\n", "bad minor version");
	bad("http/1.1 200 OK\r\n\r\n", "lowercase protocol");
	bad("ICY 200 OK\r\n\r\n", "not HTTP");
	bad("HTTP/1.1 200 O\x01K\r\n\r\n", "control byte in the reason");
	bad("\r\nHTTP/1.1 200 OK\r\n\r\n", "empty line before the status line");
	bad("garbage\r\n\r\n", "garbage");
}

static void test_line_endings(void)
{
	static const char nul_head[] = "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 1\r\n\r\n";

	bad("HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n", "bare LF after the status line");
	bad("HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\n", "bare LF after a header");
	bad("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\n", "bare LF as the empty line");
	bad("HTTP/1.1 200 OK\rContent-Length: 1\r\n\r\n", "bare CR");
	bad("HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", "bare CR in a value");
	tap_ok(parse_len(nul_head, sizeof(nul_head) - 1) == -EBADMSG, "NUL in a value is refused");
}

static void test_headers(void)
{
	char *big;
	size_t n;

	bad("HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 1\r\n\r\n", "obs-fold");
	bad("HTTP/1.1 200 OK\r\n\tX-A: 1\r\n\r\n", "a first header starting with a tab");
	bad("HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n", "space before the colon");
	bad("HTTP/1.1 200 OK\r\n: 1\r\n\r\n", "empty header name");
	bad("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "header without a colon");
	bad("HTTP/1.1 200 OK\r\nX(A): 1\r\n\r\n", "separator in a header name");

	big = malloc(200 * 16 + 64);
	n = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < UPSTREAM_PARSER_MAX_HEADERS + 1; i++)
		n += (size_t)sprintf(big + n, "X-H%d: v\r\n", i);
	sprintf(big + n, "\r\n");
	tap_ok(parse(big) == -EMSGSIZE, "too many headers: -EMSGSIZE");
	free(big);
}

static void test_framing(void)
{
	bad("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "Content-Length with Transfer-Encoding");
	bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
	    "Transfer-Encoding with Content-Length");
	bad("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
	    "two different Content-Lengths");
	bad("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
	    "two equal Content-Lengths");
	bad("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", "Content-Length list");
	bad("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n", "signed Content-Length");
	bad("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "negative Content-Length");
	bad("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", "hex Content-Length");
	bad("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "empty Content-Length");
	bad("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
	    "Content-Length overflow");
	bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "gzip, chunked");
	bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", "chunked twice");
	bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n", "identity coding");
	bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "two Transfer-Encoding headers");
	bad("HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n", "xchunked");
	bad("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
	    "Transfer-Encoding in HTTP/1.0");
}

static void test_sizes(void)
{
	struct http_scan scan = {0};
	size_t end, n = 0;
	char *big = malloc(UPSTREAM_PARSER_MAX_HEAD + 64);
	int r;

	n += (size_t)sprintf(big, "HTTP/1.1 200 OK\r\nX-Big: ");
	memset(big + n, 'a', UPSTREAM_PARSER_MAX_HEAD);
	n += UPSTREAM_PARSER_MAX_HEAD;
	r = upstream_scan_head(&scan, big, n, &end);
	tap_ok(r == -EAGAIN, "a head still open at the limit needs more (the client stops there)");
	free(big);
}

static int dechunk(const char *in, char *out, size_t cap, size_t *ret_len)
{
	struct http_chunked c;
	size_t used;

	http_chunked_init(&c);
	return http_chunked_decode(&c, in, strlen(in), &used, out, cap, ret_len);
}

static void test_chunked(void)
{
	char out[256];
	size_t len = 0;

	tap_ok(dechunk("5\r\nhello\r\n0\r\n\r\n", out, sizeof(out), &len) == 0 && len == 5 &&
	               memcmp(out, "hello", 5) == 0,
	       "one chunk, last chunk");
	tap_ok(dechunk("z\r\nhello\r\n0\r\n\r\n", out, sizeof(out), &len) == -EBADMSG,
	       "non-hex chunk size");
	tap_ok(dechunk("5\nhello\r\n0\r\n\r\n", out, sizeof(out), &len) == -EBADMSG,
	       "bare LF after a chunk size");
	tap_ok(dechunk("5\r\nhelloX\r\n0\r\n\r\n", out, sizeof(out), &len) == -EBADMSG,
	       "chunk longer than its size");
	tap_ok(dechunk("-5\r\nhello\r\n", out, sizeof(out), &len) == -EBADMSG, "negative size");
	tap_ok(dechunk(" 5\r\nhello\r\n", out, sizeof(out), &len) == -EBADMSG,
	       "space before a size");
	tap_ok(dechunk("10000000000000000\r\n", out, sizeof(out), &len) == -EBADMSG,
	       "17-digit size");
	tap_ok(dechunk("5\r\nhello\r\n0\r\n  folded\r\n\r\n", out, sizeof(out), &len) == -EBADMSG,
	       "obs-fold in the trailers");
}

int main(void)
{
	test_well_formed();
	test_status_line();
	test_line_endings();
	test_headers();
	test_framing();
	test_sizes();
	test_chunked();
	return tap_done();
}
