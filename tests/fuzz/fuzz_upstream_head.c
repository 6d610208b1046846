/*
 * fuzz_upstream_head: what an upstream sends to the worker's own HTTP/1.1
 * client (worker/upstream/upstream_parser.c): the response head found incrementally
 * (byte 0 of the input picks the size of each read), parsed in place, and
 * a chunked body decoded in pieces with http_parser.c's decoder. A hostile
 * or broken upstream must get an error, never a crash, an overread or a head
 * whose fields contradict each other.
 *
 * fuzz-args: -max_len=8192
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "http_parser.h"
#include "upstream_parser.h"

#define MAX_BODY 8192

static void check_head(const struct upstream_head *h)
{
	if (h->status < 100 || h->status > 599 || h->n_headers > UPSTREAM_PARSER_MAX_HEADERS)
		abort();
	if (h->body > UPSTREAM_BODY_CLOSE)
		abort();
	for (size_t i = 0; i < h->n_headers; i++)
		if (!h->headers[i].name || !h->headers[i].value)
			abort();
}

static void decode_chunked(const char *in, size_t in_len, size_t step)
{
	static char out[MAX_BODY];
	struct http_chunked c;
	size_t pos = 0, len = 0;

	http_chunked_init(&c);
	while (pos < in_len) {
		size_t n = in_len - pos < step ? in_len - pos : step, used = 0, made = 0;
		int r = http_chunked_decode(&c, in + pos, n, &used, out + len, MAX_BODY - len,
		                            &made);

		if (used > n || made > MAX_BODY - len)
			abort();
		pos += used;
		len += made;
		if (r != -EAGAIN || used == 0)
			break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_header headers[UPSTREAM_PARSER_MAX_HEADERS];
	struct upstream_head head;
	struct http_scan scan = {0};
	size_t step, have = 0, end = 0;
	char *buf;
	int r = -EAGAIN;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 64 + 1;
	data++;
	size--;
	buf = malloc(size ? size : 1); /* exactly the bytes read so far, like a read buffer */
	if (!buf)
		abort();
	memcpy(buf, data, size);
	while (r == -EAGAIN && have < size) {
		have = have + step < size ? have + step : size;
		r = upstream_scan_head(&scan, buf, have, &end);
	}
	if (r == 0) {
		if (end > have)
			abort();
		memset(&head, 0, sizeof(head));
		r = upstream_parse_head(buf, end, headers, UPSTREAM_PARSER_MAX_HEADERS, &head);
		if (r == 0) {
			check_head(&head);
			if (head.body == UPSTREAM_BODY_CHUNKED)
				decode_chunked(buf + end, size - end, step);
		} else if (!head.error) {
			abort();
		}
	}
	free(buf);
	return 0;
}
