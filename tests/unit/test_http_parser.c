/*
 * Unit tests of the worker's strict HTTP/1.1 request parser: well-formed
 * heads, one test per request-smuggling and malformation case with the
 * status it must get, the incremental head scanner, and the chunked decoder.
 */
#include "http_parser.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>

static struct http_header headers[HTTP_PARSER_MAX_HEADERS];
static struct http_head head;
static char buf[256 * 1024];

/* Scans and parses TEXT as one request head; returns the status (200 = parsed). */
static int parse(const char *text)
{
	struct http_scan scan = {0};
	size_t len = strlen(text), start, end;
	int r;

	memcpy(buf, text, len + 1);
	r = http_scan_head(&scan, buf, len, &start, &end);
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return http_parser_status(r);
	r = http_parse_head(buf + start, end - start, headers, HTTP_PARSER_MAX_HEADERS, &head);
	return r < 0 ? http_parser_status(r) : 200;
}

static void expect(const char *text, int want, const char *what)
{
	int got = parse(text);

	tap_ok(got == want, "%s: %d (got %d%s%s)", what, want, got, got != 200 ? ", " : "",
	       got != 200 && head.error ? head.error : "");
}

static void test_well_formed(void)
{
	const struct http_header *h;

	expect("POST /v1/chat/completions?api-version=2024-02-01&x=1 HTTP/1.1\r\n"
	       "Host: example\r\nContent-Type:application/json \r\n"
	       "X-Empty:\r\nContent-Length: 17\r\n\r\n",
	       200, "a POST head parses");
	tap_str(head.method, "POST", "method");
	tap_str(head.target, "/v1/chat/completions?api-version=2024-02-01&x=1", "target");
	tap_ok(head.path_len == 20 && memcmp(head.path, "/v1/chat/completions", 20) == 0, "path");
	tap_str(head.query, "api-version=2024-02-01&x=1", "query");
	tap_ok(head.version_minor == 1 && head.keep_alive, "HTTP/1.1 keeps alive by default");
	tap_ok(head.body == HTTP_BODY_LENGTH && head.content_length == 17, "Content-Length 17");
	tap_ok(head.n_headers == 4, "4 headers");
	h = http_head_find(&head, "content-type");
	tap_str(h ? h->value : NULL, "application/json",
	        "value without OWS, case-insensitive name");
	h = http_head_find(&head, "x-empty");
	tap_ok(h && h->value_len == 0 && h->value[0] == '\0', "empty value");
	tap_ok(http_head_find(&head, "nope") == NULL, "missing header is NULL");

	expect("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 200, "close");
	tap_ok(!head.keep_alive && head.body == HTTP_BODY_NONE && !head.query, "Connection: close");
	expect("GET /x HTTP/1.0\r\n\r\n", 200, "HTTP/1.0 without Host");
	tap_ok(head.version_minor == 0 && !head.keep_alive, "HTTP/1.0 closes by default");
	expect("GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 200, "1.0 keep-alive");
	tap_ok(head.keep_alive, "HTTP/1.0 with keep-alive keeps alive");
	expect("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 200, "HTTP/1.2 is served as 1.1");
	tap_ok(head.version_minor == 1, "minor version 2 counts as 1");
	expect("GET http://example.com:80/v1/models?a=b HTTP/1.1\r\nHost: x\r\n\r\n", 200,
	       "absolute-form target");
	tap_ok(head.path_len == 10 && memcmp(head.path, "/v1/models", 10) == 0, "absolute path");
	tap_str(head.query, "a=b", "absolute-form query");
	expect("GET http://example.com HTTP/1.1\r\nHost: x\r\n\r\n", 200, "authority only");
	tap_ok(head.path_len == 1 && head.path[0] == '/', "empty path is /");
	expect("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 200, "asterisk-form");
	expect("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 200, "leading empty lines skipped");
	tap_str(head.method, "GET", "method after the empty lines");
	expect("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", 200, "chunked");
	tap_ok(head.body == HTTP_BODY_CHUNKED, "chunked body, case-insensitive");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 200, "length 0");
	tap_ok(head.body == HTTP_BODY_NONE, "Content-Length 0 means no body");
	expect("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n",
	       200, "Expect: 100-continue");
	tap_ok(head.expect_continue, "expect_continue set");
	expect("GET / HTTP/1.1\r\nHost: a\r\nX-Bin: caf\xc3\xa9\r\n\r\n", 200, "obs-text value");
}

static void test_request_line(void)
{
	expect("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "two spaces after the method");
	expect("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "two spaces before the version");
	expect("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, "trailing space");
	expect("GET /\r\nHost: a\r\n\r\n", 400, "no version (HTTP/0.9 style)");
	expect("GET\r\nHost: a\r\n\r\n", 400, "method only");
	expect(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "leading space");
	expect("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "non-token method");
	expect("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400, "tab in the target");
	expect("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, "DEL in the target");
	expect("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, "raw UTF-8 in the target");
	expect("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "relative target");
	expect("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, "fragment");
	expect("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, "* outside OPTIONS");
	expect("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "lower-case protocol name");
	expect("GET / HTTP/1\r\nHost: a\r\n\r\n", 400, "version without minor");
	expect("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, "two-digit minor");
	expect("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP/2.0 is unsupported");
	expect("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505, "HTTP/0.9 is unsupported");
	expect("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505, "HTTP/3.0 is unsupported");
}

static void test_line_endings(void)
{
	expect("GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR ending the request line");
	expect("GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400, "bare CR inside a header");
	expect("GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n", 400, "bare CR inside a value");
	expect("GET / HTTP/1.1\nHost: a\n\n", 400, "bare LF line ends");
	expect("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, "one bare LF among CRLFs");
	expect("GET / HTTP/1.1\r\nHost: a\r\n\n", 400, "bare LF as the empty line");
	expect("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", 400, "CR CR LF");

	/* the parser rejects them too when called on a head the scanner did not see */
	char raw[] = "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n";
	int r = http_parse_head(raw, sizeof(raw) - 1, headers, HTTP_PARSER_MAX_HEADERS, &head);
	tap_ok(r == -EBADMSG, "parser alone rejects a bare LF");
	/* and names it, wherever in a header line it is */
	const char *bare_lf[] = {
	        "GET / HTTP/1.1\r\nHost: a\r\nX-A\nB: b\r\n\r\n", /* in a name */
	        "GET / HTTP/1.1\r\nHost: a\r\nX: b\nc\r\n\r\n",   /* in a value */
	        "GET / HTTP/1.1\r\nHost: a\r\n\nX: b\r\n\r\n",    /* first in a line */
	        "GET / HTTP/1.1\r\nHost: a\r\n X: b\nc\r\n\r\n",  /* in a folded line */
	};
	for (size_t i = 0; i < sizeof(bare_lf) / sizeof(bare_lf[0]); i++) {
		char copy[64];
		size_t n = strlen(bare_lf[i]);

		memcpy(copy, bare_lf[i], n);
		r = http_parse_head(copy, n, headers, HTTP_PARSER_MAX_HEADERS, &head);
		tap_ok(r == -EBADMSG && head.error &&
		               strcmp(head.error, "bare CR or LF in a header") == 0,
		       "a bare LF in header line %zu is named as one (%s)", i,
		       head.error ? head.error : "no error");
	}
	char over[] = "GET / HTTP/1.1\r\nHost: a\r\nX: b\nc\r\n\r\n";
	r = http_parse_head(over, sizeof(over) - 1, headers, 1, &head);
	tap_ok(r == -EBADMSG && strcmp(head.error, "bare CR or LF in a header") == 0,
	       "a bare LF past the header limit is named before the limit");
	char nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
	r = http_parse_head(nul, sizeof(nul) - 1, headers, HTTP_PARSER_MAX_HEADERS, &head);
	tap_ok(r == -EBADMSG, "NUL byte in a value is rejected");
}

static void test_headers(void)
{
	expect("GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n two\r\n\r\n", 400, "obs-fold with SP");
	expect("GET / HTTP/1.1\r\nHost: a\r\nX: one\r\n\ttwo\r\n\r\n", 400, "obs-fold with HTAB");
	expect("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, "first header line folded");
	expect("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "space between name and colon");
	expect("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400, "tab between name and colon");
	expect("GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 400,
	       "space before the colon of Content-Length");
	expect("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400, "empty header name");
	expect("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "header without a colon");
	expect("GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n", 400, "non-token header name");
	expect("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01z\r\n\r\n", 400, "control byte in a value");
	expect("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fz\r\n\r\n", 400, "DEL in a value");
	/* values are checked eight bytes at a time: a bad byte at every place of a long one */
	static const char bad[] = {'\x01', '\x1f', '\x7f'};
	int missed = -1, tab_ok = 1;
	for (int pos = 0; pos < 24; pos++) {
		char text[128], value[25];

		for (size_t b = 0; b < sizeof(bad); b++) {
			memset(value, 'v', 24);
			value[24] = '\0';
			value[pos] = bad[b];
			snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: a\r\nX: a%s\r\n\r\n",
			         value);
			if (parse(text) != 400)
				missed = pos;
		}
		memset(value, 'v', 24);
		value[pos] = pos % 2 ? '\t' : '\x80';
		snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: a\r\nX: a%s\r\n\r\n", value);
		if (parse(text) != 200)
			tab_ok = 0;
	}
	tap_ok(missed < 0,
	       "a control byte or DEL anywhere in a long value is rejected (missed at %d)", missed);
	tap_ok(tab_ok, "HTAB and obs-text anywhere in a long value are accepted");
	expect("GET / HTTP/1.1\r\n\r\n", 400, "HTTP/1.1 without Host");
	expect("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "two Host headers");
	expect("GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417, "unknown Expect");

	char many[8192] = "GET / HTTP/1.1\r\nHost: a\r\n";
	for (int i = 1; i < HTTP_PARSER_MAX_HEADERS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "X-%d: v\r\n", i);
	strcat(many, "\r\n");
	expect(many, 200, "exactly the maximum number of headers");
	many[strlen(many) - 2] = '\0';
	strcat(many, "X-Last: v\r\n\r\n");
	expect(many, 431, "one header over the maximum");
}

static void test_framing(void)
{
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	       "Transfer-Encoding: chunked\r\n\r\n",
	       400, "Content-Length and Transfer-Encoding (CL.TE)");
	expect("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	       "Content-Length: 5\r\n\r\n",
	       400, "Transfer-Encoding and Content-Length (TE.CL)");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
	       "duplicate identical Content-Length");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
	       "conflicting Content-Length");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400,
	       "Content-Length as a list");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400,
	       "non-numeric Content-Length");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400,
	       "signed Content-Length");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400,
	       "negative Content-Length");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400,
	       "hex Content-Length");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400,
	       "Content-Length with inner space");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400,
	       "empty Content-Length");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400,
	       "overflowing Content-Length");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", 400,
	       "Content-Length just over INT64_MAX");
	expect("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", 200,
	       "Content-Length at INT64_MAX parses (the server's limit applies later)");
	expect("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
	       "Transfer-Encoding gzip");
	expect("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
	       "Transfer-Encoding gzip, chunked");
	expect("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501,
	       "Transfer-Encoding chunked, chunked");
	expect("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501,
	       "Transfer-Encoding identity");
	expect("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", 501,
	       "Transfer-Encoding xchunked");
	expect("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	       "Transfer-Encoding: chunked\r\n\r\n",
	       501, "two Transfer-Encoding lines");
	expect("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	       "Transfer-Encoding in HTTP/1.0");
}

static void test_scanner(void)
{
	const char *text = "\r\nPOST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET";
	struct http_scan scan = {0};
	size_t len = strlen(text), start = 0, end = 0, i;
	int r = -EAGAIN;

	for (i = 1; i <= len && r == -EAGAIN; i++)
		r = http_scan_head(&scan, text, i, &start, &end);
	tap_ok(r == 0 && start == 2 && end == len - 5,
	       "byte-by-byte scan finds the head (%zu..%zu)", start, end);
	tap_ok(i - 1 == len - 5, "found as soon as the empty line is complete");

	struct http_scan s2 = {0};
	tap_ok(http_scan_head(&s2, "GET / HTTP/1.1\r", 15, &start, &end) == -EAGAIN,
	       "a CR at the end waits for the next byte");
	tap_ok(http_scan_head(&s2, "GET / HTTP/1.1\rX", 16, &start, &end) == -EBADMSG,
	       "then a bare CR is an error");
}

/* Decodes TEXT in pieces of STEP bytes; returns the decoder's last result. */
static int dechunk(const char *text, size_t step, char *out, size_t cap, size_t *ret_len,
                   size_t *ret_used)
{
	struct http_chunked c;
	size_t len = strlen(text), pos = 0, o = 0;
	int r = -EAGAIN;

	http_chunked_init(&c);
	while (r == -EAGAIN && pos < len) {
		size_t n = len - pos < step ? len - pos : step, used, made;

		r = http_chunked_decode(&c, text + pos, n, &used, out + o, cap - o, &made);
		pos += used;
		o += made;
	}
	*ret_len = o;
	*ret_used = pos;
	return r;
}

static void test_chunked(void)
{
	const char *body = "5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
	char out[64];
	size_t len, used;
	int r;

	for (size_t step = 1; step <= 64; step *= 4) {
		memset(out, 0, sizeof(out));
		r = dechunk(body, step, out, sizeof(out), &len, &used);
		tap_ok(r == 0 && len == 12 && memcmp(out, "hello, world", 12) == 0,
		       "chunked body decoded in steps of %zu", step);
		tap_ok(used == strlen(body) - 4, "pipelined bytes after the body not consumed");
	}
	r = dechunk("A\r\n0123456789\r\n0\r\n\r\n", 100, out, sizeof(out), &len, &used);
	tap_ok(r == 0 && len == 10, "upper-case hex size");

	char inplace[] = "3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n";
	struct http_chunked c;
	size_t made;
	http_chunked_init(&c);
	r = http_chunked_decode(&c, inplace, strlen(inplace), &used, inplace, sizeof(inplace),
	                        &made);
	tap_ok(r == 0 && made == 6 && memcmp(inplace, "abcdef", 6) == 0, "decodes in place");

	http_chunked_init(&c);
	r = http_chunked_decode(&c, "5\r\nhello\r\n0\r\n\r\n", 15, &used, out, 3, &made);
	tap_ok(r == -ENOBUFS && made == 3, "stops when the output is full");

	static const struct {
		const char *text;
		const char *what;
	} bad[] = {
	        {"5\r\nhelloX\r\n0\r\n\r\n", "data longer than its size"},
	        {"5\r\nhell\r\n0\r\n\r\n", "data shorter than its size"},
	        {"g\r\n", "non-hex size"},
	        {"\r\n", "empty size"},
	        {" 5\r\nhello\r\n0\r\n\r\n", "space before the size"},
	        {"5 \r\nhello\r\n0\r\n\r\n", "space after the size"},
	        {"-5\r\n", "negative size"},
	        {"+5\r\n", "signed size"},
	        {"0x5\r\nhello\r\n0\r\n\r\n", "0x prefix"},
	        {"5\nhello\r\n0\r\n\r\n", "bare LF after the size"},
	        {"5\rhello\r\n0\r\n\r\n", "bare CR after the size"},
	        {"5\r\nhello\n0\r\n\r\n", "bare LF after the data"},
	        {"5\r\nhello\r\n0\r\n\n", "bare LF at the end"},
	        {"10000000000000000\r\n", "17-digit size overflows"},
	        {"5;a\x01\r\nhello\r\n0\r\n\r\n", "control byte in an extension"},
	        {"0\r\nX: a\r\n b\r\n\r\n", "obs-fold in the trailers"},
	        {"0\r\n: a\r\n\r\n", "empty trailer name"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = dechunk(bad[i].text, 1, out, sizeof(out), &len, &used);
		tap_ok(r == -EBADMSG && http_parser_status(r) == 400, "chunked: %s -> 400",
		       bad[i].what);
	}

	char ext[2048] = "1;";
	memset(ext + 2, 'x', 1100);
	strcpy(ext + 1102, "\r\na\r\n0\r\n\r\n");
	r = dechunk(ext, 64, out, sizeof(out), &len, &used);
	tap_ok(r == -EBADMSG, "over-long chunk extension");
	r = dechunk("ffffffffffffffff\r\n", 1, out, sizeof(out), &len, &used);
	tap_ok(r == -EAGAIN, "16-digit size is accepted (the server's limit applies)");
}

int main(void)
{
	test_well_formed();
	test_request_line();
	test_line_endings();
	test_headers();
	test_framing();
	test_scanner();
	test_chunked();
	return tap_done();
}
