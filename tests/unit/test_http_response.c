/*
 * Unit tests of the HTTP server's response wire format
 * (worker/http/http_response.c): heads for each framing and connection
 * case, the guards against a bad status or content type, chunk size lines,
 * the Date line, and the block of header lines a handler adds.
 */
#include "http_response.h"
#include "tap.h"

#include <errno.h>
#include <stdlib.h>

#define DATE "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"

static char buf[32768];

static const char *head(struct http_response_head h)
{
	size_t max, n;

	h.date = DATE;
	max = http_response_head_max(&h);
	n = http_response_head_write(buf, &h);
	buf[n] = '\0';
	return n <= max ? buf : "(longer than its room)";
}

static void test_heads(void)
{
	tap_str(head((struct http_response_head){.status = 200,
	                                         .content_type = "application/json",
	                                         .framing = HTTP_FRAMING_LENGTH,
	                                         .length = 12,
	                                         .keep_alive = true}),
	        "HTTP/1.1 200 OK\r\nServer: llmgate\r\n" DATE "Content-Type: application/json\r\n"
	        "Content-Length: 12\r\n\r\n",
	        "a whole response, kept alive");
	tap_str(head((struct http_response_head){.status = 404,
	                                         .content_type = "application/json",
	                                         .framing = HTTP_FRAMING_LENGTH,
	                                         .length = 0,
	                                         .keep_alive = true,
	                                         .http10 = true,
	                                         .lines = "x-a: 1\r\nx-b: 2\r\n",
	                                         .lines_len = 16}),
	        "HTTP/1.1 404 Not Found\r\nServer: llmgate\r\n" DATE
	        "Content-Type: application/json\r\nContent-Length: 0\r\n"
	        "Connection: keep-alive\r\nx-a: 1\r\nx-b: 2\r\n\r\n",
	        "an HTTP/1.0 client kept alive is told so; the handler's lines last");
	tap_str(head((struct http_response_head){.status = 200,
	                                         .content_type = "text/event-stream",
	                                         .framing = HTTP_FRAMING_CHUNKED}),
	        "HTTP/1.1 200 OK\r\nServer: llmgate\r\n" DATE "Content-Type: text/event-stream\r\n"
	        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
	        "a stream, closing after");
	tap_str(head((struct http_response_head){.status = 200,
	                                         .content_type = "text/event-stream",
	                                         .framing = HTTP_FRAMING_CLOSE}),
	        "HTTP/1.1 200 OK\r\nServer: llmgate\r\n" DATE "Content-Type: text/event-stream\r\n"
	        "Connection: close\r\n\r\n",
	        "a close-delimited stream");
	tap_str(head((struct http_response_head){.status = 204,
	                                         .content_type = "application/json",
	                                         .framing = HTTP_FRAMING_NONE,
	                                         .keep_alive = true}),
	        "HTTP/1.1 204 No Content\r\nServer: llmgate\r\n" DATE "\r\n",
	        "no body: no Content-Type, no length");
	tap_str(head((struct http_response_head){.status = 200,
	                                         .content_type = "text/plain\r\nX-Evil: 1",
	                                         .framing = HTTP_FRAMING_LENGTH,
	                                         .length = 1,
	                                         .keep_alive = true}),
	        "HTTP/1.1 200 OK\r\nServer: llmgate\r\n" DATE
	        "Content-Type: application/octet-stream\r\nContent-Length: 1\r\n\r\n",
	        "a content type with CRLF is replaced");
	tap_str(head((struct http_response_head){.status = 1000,
	                                         .content_type = NULL,
	                                         .framing = HTTP_FRAMING_LENGTH,
	                                         .length = 0,
	                                         .keep_alive = true}),
	        "HTTP/1.1 500 \r\nServer: llmgate\r\n" DATE "Content-Length: 0\r\n\r\n",
	        "a status out of range is sent as 500");
	tap_str(head((struct http_response_head){.status = 299,
	                                         .content_type = NULL,
	                                         .framing = HTTP_FRAMING_LENGTH,
	                                         .length = 0,
	                                         .keep_alive = true}),
	        "HTTP/1.1 299 \r\nServer: llmgate\r\n" DATE "Content-Length: 0\r\n\r\n",
	        "an unknown status has an empty reason");
	tap_ok(http_response_whole_framing(200) == HTTP_FRAMING_LENGTH &&
	               http_response_whole_framing(404) == HTTP_FRAMING_LENGTH &&
	               http_response_whole_framing(204) == HTTP_FRAMING_NONE &&
	               http_response_whole_framing(304) == HTTP_FRAMING_NONE &&
	               http_response_whole_framing(101) == HTTP_FRAMING_NONE,
	       "whole responses: a length unless the status has no body");
}

static void test_chunk_and_date(void)
{
	char line[HTTP_RESPONSE_CHUNK_LINE], date[HTTP_RESPONSE_DATE_SIZE];
	size_t n;

	n = http_response_chunk_line(line, 1);
	tap_ok(n == 3 && memcmp(line, "1\r\n", 3) == 0, "chunk of 1");
	n = http_response_chunk_line(line, 0x1a2bf);
	tap_ok(n == 7 && memcmp(line, "1a2bf\r\n", 7) == 0, "chunk sizes in lowercase hex");
	n = http_response_chunk_line(line, (size_t)-1);
	tap_ok(n == 2 * sizeof(size_t) + 2 && line[0] == 'f', "the largest size fits");
	http_response_date(date, 784111777);
	tap_str(date, DATE, "the Date line (RFC 9110 IMF-fixdate)");
}

static void test_header_block(void)
{
	struct http_header_block b = {0};
	char value[1024];
	int r = 0;

	tap_ok(http_header_block_add(&b, "x-request-id", "abc") == 0 &&
	               http_header_block_add(&b, "X-Two", "a b") == 0 && b.len == 31 &&
	               memcmp(b.lines, "x-request-id: abc\r\nX-Two: a b\r\n", 31) == 0,
	       "lines appended");
	tap_ok(http_header_block_add(&b, "x bad", "v") == -EINVAL &&
	               http_header_block_add(&b, "", "v") == -EINVAL &&
	               http_header_block_add(&b, "x-evil", "v\r\nSet-Cookie: a") == -EINVAL &&
	               b.len == 31,
	       "invalid names and values refused, nothing added");
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	while (r == 0)
		r = http_header_block_add(&b, "x-big", value);
	tap_ok(r == -E2BIG && b.len <= HTTP_HEADER_BLOCK_MAX &&
	               b.len + strlen(value) + 9 > HTTP_HEADER_BLOCK_MAX,
	       "the block stops at its limit");
	b.len = 0;
	tap_ok(http_header_block_add(&b, "x-again", "1") == 0 && b.len == 12,
	       "emptied, its memory is reused");
	http_header_block_free(&b);
	tap_ok(b.lines == NULL && b.len == 0 && b.cap == 0, "freed");
}

static void test_header_lines(void)
{
	static const char ok[] = "x-ratelimit-limit-requests: 600\r\n"
	                         "x-ratelimit-reset-requests: 12s\r\n";
	struct http_header_block b = {0};
	char big[HTTP_HEADER_BLOCK_MAX];

	tap_ok(http_header_block_add(&b, "x-request-id", "abc") == 0 &&
	               http_header_block_append(&b, ok, sizeof(ok) - 1) == 0 &&
	               b.len == 19 + sizeof(ok) - 1 &&
	               memcmp(b.lines + 19, ok, sizeof(ok) - 1) == 0,
	       "whole lines appended as they are, after the others");
	memset(big, 'v', sizeof(big));
	tap_ok(http_header_block_append(&b, big, sizeof(big)) == -E2BIG &&
	               b.len == 19 + sizeof(ok) - 1,
	       "lines past the limit: refused, nothing added");
	http_header_block_free(&b);

	tap_ok(http_header_lines_valid(ok, sizeof(ok) - 1) && http_header_lines_valid("", 0),
	       "valid lines pass the debug check");
	tap_ok(!http_header_lines_valid("x-a: 1\r\nx-b: 2", 14) &&
	               !http_header_lines_valid("x-a: 1\n", 7) &&
	               !http_header_lines_valid("x a: 1\r\n", 8) &&
	               !http_header_lines_valid("x-a 1\r\n", 7) &&
	               !http_header_lines_valid("x-a: 1\rSet-Cookie: a\r\n", 22) &&
	               !http_header_lines_valid("Content-Length: 5\r\n", 19) &&
	               !http_header_lines_valid("server: x\r\n", 11),
	       "the debug check refuses a partial line, bare LF or CR, a bad name, no colon, and the "
	       "server's own headers");
}

int main(void)
{
	test_heads();
	test_chunk_and_date();
	test_header_block();
	test_header_lines();
	return tap_done();
}
