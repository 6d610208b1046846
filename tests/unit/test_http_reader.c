/*
 * Unit tests of the HTTP server's input side (worker/http/http_reader.c),
 * with no socket: bytes are fed into the room the reader offers, the way
 * http_conn.c does, and each step's outcome is checked: a body that came
 * with its head, one read straight into its own buffer, chunked bodies,
 * pipelined requests, the limits and "100 Continue", bodies spooled to
 * a file (http_reader_spool.c), and a reader recycled for the next request.
 */
#include "http_reader.h"
#include "tap.h"

#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "http_server.h"

static struct http_header scratch[HTTP_PARSER_MAX_HEADERS];

/* Feeds TEXT in pieces of at most PIECE bytes; false when the room ran out. */
static bool feed(struct http_reader *r, enum http_reader_phase phase, const char *text,
                 size_t piece)
{
	size_t len = strlen(text);

	while (len > 0) {
		size_t room, n;
		char *dst = http_reader_room(r, phase, &room);

		if (!dst)
			return false;
		n = len < room ? len : room;
		n = n < piece ? n : piece;
		memcpy(dst, text, n);
		http_reader_got(r, phase, n);
		text += n;
		len -= n;
	}
	return true;
}

static bool body_is(const struct http_reader *r, const char *want)
{
	return r->body_len == strlen(want) && memcmp(r->body, want, r->body_len) == 0;
}

static void test_pipelined(void)
{
	struct http_reader r = {0};
	struct http_read_result res;

	feed(&r, HTTP_READER_HEAD,
	     "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	     "GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && body_is(&r, "{}") && r.body_in_rbuf &&
	               r.head.n_headers == 2 && r.head.headers != scratch,
	       "a body that came with its head is used where it lies");
	tap_ok(http_reader_unread(&r) > 0, "the pipelined request waits");
	http_reader_next(&r);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && r.head.body == HTTP_BODY_NONE &&
	               r.head.path_len == 2 && memcmp(r.head.path, "/b", 2) == 0,
	       "then the next request");
	http_reader_next(&r);
	tap_ok(http_reader_unread(&r) == 0 && r.rlen == 0, "nothing left");
	http_reader_free(&r);
}

static size_t limit_of(void *ctx, const char *path, size_t path_len, size_t max_body)
{
	return max_body / 2;
}

/* A connection's work goes back to the server's free list with its reader:
 * nothing of the request may stay, the callbacks must, and only a buffer of
 * the initial size is kept. */
static void test_recycle(void)
{
	struct http_reader r = {.body_limit = limit_of, .spool_fd = -1};
	struct http_read_result res;
	char big[6000];

	feed(&r, HTTP_READER_HEAD,
	     "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_BODY && r.max_body == 50, "a chunked body under way");
	res = http_reader_body(&r, 100);
	tap_ok(res.what == HTTP_READ_MORE && r.body_len == 2, "its first chunk");
	http_reader_recycle(&r); /* the client left mid-body */
	tap_ok(r.rlen == 0 && r.body == NULL && r.body_len == 0 && r.head.headers == NULL &&
	               r.head.n_headers == 0 && r.consumed == 0 && r.scan.pos == 0,
	       "a recycled reader forgets the request");
	tap_ok(r.headers != NULL && r.headers_cap == 8, "but keeps its header array (8 entries)");
	tap_ok(r.rbuf != NULL && r.rcap == 4096 && r.body_limit == limit_of && r.spool_fd == -1,
	       "it keeps its callbacks and its initial buffer");
	feed(&r, HTTP_READER_HEAD, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n", SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && r.head.path_len == 2 &&
	               memcmp(r.head.path, "/b", 2) == 0,
	       "and serves the next request");
	http_reader_next(&r);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	big[sizeof(big) - 1] = '\0';
	feed(&r, HTTP_READER_HEAD, big, SIZE_MAX);
	tap_ok(r.rcap > 4096, "a large head grows the buffer");
	http_reader_recycle(&r);
	tap_ok(r.rbuf == NULL && r.rcap == 0 && r.rlen == 0, "which is not kept");

	/* 40 headers: the array grows to hold them, and is not kept either */
	char many[1024] = "GET /c HTTP/1.1\r\nHost: x\r\n";
	for (int i = 1; i < 40; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "X-%d: %d\r\n", i, i);
	strcat(many, "\r\n");
	feed(&r, HTTP_READER_HEAD, many, SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && r.head.n_headers == 40 && r.headers_cap >= 40 &&
	               strcmp(r.head.headers[39].name, "X-39") == 0,
	       "a head of 40 headers grows the header array");
	http_reader_next(&r);
	feed(&r, HTTP_READER_HEAD, "GET /d HTTP/1.1\r\nHost: y\r\n\r\n", SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && r.head.n_headers == 1 &&
	               strcmp(r.head.headers[0].value, "y") == 0,
	       "the next request on the connection uses it as it is");
	http_reader_recycle(&r);
	tap_ok(r.headers == NULL && r.headers_cap == 0, "which is not kept once pooled");
	http_reader_free(&r);
}

static void test_body_direct(void)
{
	struct http_reader r = {0};
	struct http_read_result res;

	feed(&r, HTTP_READER_HEAD, "POST /a HTTP/1.1\r\nHost: x\r\n", SIZE_MAX);
	tap_ok(http_reader_head(&r, scratch, 100).what == HTTP_READ_MORE, "a partial head: more");
	feed(&r, HTTP_READER_HEAD, "Expect: 100-continue\r\nContent-Length: 10\r\n\r\n", SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_BODY && res.send_continue && r.body_direct,
	       "the head alone: its body is to come, the client waits for 100 Continue");
	feed(&r, HTTP_READER_BODY, "0123", 3);
	tap_ok(http_reader_body(&r, 100).what == HTTP_READ_MORE, "part of the body: more");
	feed(&r, HTTP_READER_BODY, "456789", SIZE_MAX);
	res = http_reader_body(&r, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && body_is(&r, "0123456789") && !r.body_in_rbuf,
	       "read straight into its own buffer");
	http_reader_next(&r);
	http_reader_free(&r);

	r = (struct http_reader){0};
	feed(&r, HTTP_READER_HEAD, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n01",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_BODY && !res.send_continue && r.body_len == 2,
	       "part of the body with the head is kept; no 100 Continue unasked");
	http_reader_free(&r);
}

static void test_chunked(void)
{
	struct http_reader r = {0};
	struct http_read_result res;

	feed(&r, HTTP_READER_HEAD,
	     "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_BODY, "chunked: the body follows");
	tap_ok(http_reader_body(&r, 100).what == HTTP_READ_MORE && body_is(&r, "abc"),
	       "the first chunk decoded");
	feed(&r, HTTP_READER_BODY, "2\r\nde\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\n",
	     SIZE_MAX);
	res = http_reader_body(&r, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && body_is(&r, "abcde"), "the whole body");
	http_reader_next(&r);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && r.head.path_len == 2, "the pipelined request");
	http_reader_free(&r);

	r = (struct http_reader){0};
	feed(&r, HTTP_READER_HEAD,
	     "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
	     SIZE_MAX);
	(void)http_reader_head(&r, scratch, 10);
	res = http_reader_body(&r, 10);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_BODY_TOO_LARGE &&
	               res.have_head,
	       "a chunked body over the limit");
	http_reader_free(&r);

	r = (struct http_reader){0};
	feed(&r, HTTP_READER_HEAD,
	     "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", SIZE_MAX);
	(void)http_reader_head(&r, scratch, 10);
	res = http_reader_body(&r, 10);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_MALFORMED,
	       "a malformed chunk");
	http_reader_free(&r);
}

static void test_rejects(void)
{
	struct http_reader r = {0};
	struct http_read_result res;
	static char big[HTTP_SERVER_MAX_HEAD + 8192];

	feed(&r, HTTP_READER_HEAD, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 10);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_BODY_TOO_LARGE &&
	               res.have_head,
	       "a Content-Length over the limit, with the head known");
	http_reader_free(&r);

	r = (struct http_reader){0};
	feed(&r, HTTP_READER_HEAD, "GET / HTTP/1.1\r\n\r\n", SIZE_MAX);
	res = http_reader_head(&r, scratch, 10);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_MALFORMED &&
	               !res.have_head && strcmp(res.message, "no Host in an HTTP/1.1 request") == 0,
	       "a parse error says what was wrong");
	http_reader_free(&r);

	r = (struct http_reader){0};
	feed(&r, HTTP_READER_HEAD, "GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", SIZE_MAX);
	res = http_reader_head(&r, scratch, 10);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_MALFORMED, "a bare CR");
	http_reader_free(&r);

	r = (struct http_reader){0};
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	tap_ok(!feed(&r, HTTP_READER_HEAD, big, SIZE_MAX), "the buffer stops growing");
	res = http_reader_head(&r, scratch, 10);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_HEAD_TOO_LARGE,
	       "a head over %d bytes", HTTP_SERVER_MAX_HEAD);
	http_reader_free(&r);
}

static bool spool_all(void *ctx, const char *path, size_t path_len)
{
	(void)ctx;
	return path_len == 2 && memcmp(path, "/u", 2) == 0;
}

/* The spooled body's bytes are WANT, and the reader holds none in memory. */
static bool file_is(const struct http_reader *r, const char *want)
{
	char got[256];
	ssize_t n = pread(r->spool_fd, got, sizeof(got), 0);

	return r->spooled && !r->body && n == (ssize_t)strlen(want) &&
	       r->body_len == strlen(want) && memcmp(got, want, (size_t)n) == 0;
}

static void spool_reader(struct http_reader *r, const char *dir)
{
	*r = (struct http_reader){0};
	r->body_spool = spool_all;
	r->spool_dir = dir;
}

/* A write to the spool that fails (a full disk: here a file size limit,
 * EFBIG) ends the request with 507, at the head or as the body comes. */
static void test_spool_write_fails(const char *dir)
{
	struct rlimit old, small = {.rlim_cur = 8, .rlim_max = RLIM_INFINITY};
	struct http_reader r;
	struct http_read_result res;

	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	small.rlim_max = old.rlim_max;
	setrlimit(RLIMIT_FSIZE, &small);
	spool_reader(&r, dir);
	feed(&r, HTTP_READER_HEAD,
	     "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n0123456789", SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_SPOOL_FAILED,
	       "the body that came with the head cannot be written: 507");
	http_reader_free(&r);

	spool_reader(&r, dir);
	feed(&r, HTTP_READER_HEAD, "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	feed(&r, HTTP_READER_BODY, "0123456789", SIZE_MAX);
	res = http_reader_body(&r, 100);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_SPOOL_FAILED &&
	               r.spool_err == EFBIG,
	       "a later write cannot: 507 at once, not at the body's end");
	http_reader_free(&r);
	setrlimit(RLIMIT_FSIZE, &old);
}

static void test_spool(void)
{
	char dir[] = "/tmp/llmgate-spool-test-XXXXXX";
	struct http_reader r;
	struct http_read_result res;
	int fd;

	if (!mkdtemp(dir)) {
		tap_ok(false, "a directory for the spool");
		return;
	}
	spool_reader(&r, dir);
	feed(&r, HTTP_READER_HEAD, "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_BODY && r.spooled && !r.body_direct,
	       "an upload's body that did not come whole with its head: spooled");
	tap_ok(feed(&r, HTTP_READER_BODY, "456789", 3), "the rest read into the spool's room");
	res = http_reader_body(&r, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && file_is(&r, "0123456789"),
	       "the whole body is in the file, none in memory");
	fd = r.spool_fd;
	http_reader_next(&r);
	tap_ok(!r.spooled && fcntl(fd, F_GETFD) < 0, "the request done: the file closed");
	http_reader_free(&r);

	spool_reader(&r, dir);
	feed(&r, HTTP_READER_HEAD,
	     "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	     "POST /j HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && r.body_in_rbuf && !r.spooled,
	       "a body that came with its head stays where it lies");
	http_reader_next(&r);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_BODY && !r.spooled && r.body_direct,
	       "a path the hook does not name is read into memory");
	http_reader_free(&r);

	spool_reader(&r, dir);
	feed(&r, HTTP_READER_HEAD,
	     "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_BODY && r.spooled, "a chunked upload: spooled");
	tap_ok(http_reader_body(&r, 100).what == HTTP_READ_MORE, "its first chunk");
	feed(&r, HTTP_READER_BODY, "2\r\nde\r\n0\r\n\r\nGET /n HTTP/1.1\r\nHost: x\r\n\r\n", 4);
	res = http_reader_body(&r, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && file_is(&r, "abcde"), "decoded into the file");
	http_reader_next(&r);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REQUEST && r.head.path_len == 2 && !r.spooled,
	       "the pipelined request after it");
	http_reader_free(&r);

	spool_reader(&r, dir);
	feed(&r, HTTP_READER_HEAD,
	     "POST /u HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n",
	     SIZE_MAX);
	(void)http_reader_head(&r, scratch, 10);
	res = http_reader_body(&r, 10);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_BODY_TOO_LARGE,
	       "a chunked upload that passes the limit: 413");
	http_reader_free(&r);

	spool_reader(&r, "/nonexistent-llmgate-dir");
	feed(&r, HTTP_READER_HEAD, "POST /u HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",
	     SIZE_MAX);
	res = http_reader_head(&r, scratch, 100);
	tap_ok(res.what == HTTP_READ_REJECT && res.reason == HTTP_REJECT_SPOOL_FAILED &&
	               http_reject_status(res.reason) == 507,
	       "no file can be made: 507");
	http_reader_free(&r);
	test_spool_write_fails(dir);
	tap_ok(rmdir(dir) == 0, "nothing was left in the spool directory");
}

int main(void)
{
	test_pipelined();
	test_body_direct();
	test_chunked();
	test_rejects();
	test_spool();
	test_recycle();
	return tap_done();
}
