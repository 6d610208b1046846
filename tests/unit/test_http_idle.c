/*
 * The HTTP server's idle connections (worker/http), in one process: the
 * server listens on an abstract AF_UNIX socket (no network) and the test
 * drives its event loop while it plays the client. An idle keep-alive
 * connection holds no work (reader, exchange, buffers, timer: struct
 * http_work, back in the server's free list) and closes at the idle
 * timeout; pipelined requests that arrive on an idle connection are served
 * in order; a head that stalls is under the header timeout again (the
 * first one's counted from accept); a connection that never sends a byte
 * closes at the header timeout.
 */
#include "http_conn.h"
#include "tap.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define IDLE_MS   150
#define HEADER_MS 500

static struct event_base *base;
static struct http_server *srv;
static socklen_t addr_len;
static struct sockaddr_un addr;

/* Answers every request with its path. */
static void handler(void *ctx, struct http_exchange *ex, const struct http_request *req)
{
	http_exchange_send(ex, 200, "text/plain", req->path, req->path_len);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop for MS milliseconds. */
static void run_for(long ms)
{
	long end = now_ms() + ms;

	while (now_ms() < end) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

static int client(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS)
		abort();
	run_for(5); /* accepted */
	return fd;
}

static void say(int fd, const char *text)
{
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
}

/* Reads what FD has until WANT responses are whole (each ends with its
 * path, "/x", after a 2-byte Content-Length), EOF, or MS pass; returns the
 * bytes (NUL-terminated, static) and sets *EOF_AT to the time of an EOF. */
static const char *read_all(int fd, int want, long ms, long *eof_at)
{
	static char buf[8192];
	size_t len = 0;
	long end = now_ms() + ms;

	*eof_at = 0;
	while (now_ms() < end) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		int whole = 0;

		if (n == 0) {
			*eof_at = now_ms();
			break;
		}
		if (n > 0)
			len += (size_t)n;
		buf[len] = '\0';
		for (const char *p = buf; (p = strstr(p, "Content-Length: 2\r\n")); p++)
			whole += strstr(p, "\r\n\r\n") && strlen(strstr(p, "\r\n\r\n")) >= 6;
		if (want > 0 && whole >= want)
			break;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	buf[len] = '\0';
	return buf;
}

/* The one connection's work (NULL: idle, holding none). */
static struct http_work *work(void)
{
	return srv->conns ? srv->conns->w : (struct http_work *)-1;
}

static void test_keep_alive_idles(void)
{
	long eof_at, start;
	const char *got;
	int fd = client();

	tap_ok(srv->n_conns == 1 && work() == NULL, "a new connection holds no work");
	say(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
	got = read_all(fd, 1, 2000, &eof_at);
	tap_ok(strncmp(got, "HTTP/1.1 200 ", 13) == 0 && strstr(got, "\r\n\r\n/a"), "served");
	tap_ok(work() == NULL && srv->n_free_work == 1,
	       "the idle keep-alive connection gave its work back");

	say(fd, "GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n");
	got = read_all(fd, 2, 2000, &eof_at);
	tap_ok(strstr(got, "\r\n\r\n/b") && strstr(got, "\r\n\r\n/c") &&
	               strstr(got, "\r\n\r\n/b") < strstr(got, "\r\n\r\n/c"),
	       "pipelined requests on an idle connection are served in order");
	tap_ok(work() == NULL && srv->n_free_work == 1, "idle again, with the same work reused");

	say(fd, "GET /d HTTP/1.1\r\n");
	run_for(50);
	tap_ok(work() != NULL && work() != (struct http_work *)-1, "a partial head makes it busy");
	say(fd, "Host: x\r\n\r\n");
	got = read_all(fd, 1, 2000, &eof_at);
	tap_ok(strstr(got, "\r\n\r\n/d") != NULL, "and is served when whole");

	start = now_ms();
	got = read_all(fd, 0, 4 * HEADER_MS, &eof_at);
	tap_ok(eof_at && *got == '\0', "the idle connection closes quietly");
	tap_ok(eof_at - start >= IDLE_MS - 20 && eof_at - start < HEADER_MS,
	       "at the idle timeout (%ld ms, configured %d)", eof_at - start, IDLE_MS);
	tap_ok(srv->n_conns == 0, "and is gone");
	close(fd);
}

static void test_header_timeouts(void)
{
	long eof_at, start = now_ms();
	const char *got;
	int fd = client();

	got = read_all(fd, 0, 4 * HEADER_MS, &eof_at);
	tap_ok(eof_at && *got == '\0' && eof_at - start >= HEADER_MS - 20,
	       "a connection that never sends a byte closes at the header timeout (%ld ms)",
	       eof_at - start);
	close(fd);

	start = now_ms();
	fd = client();
	run_for(HEADER_MS / 2);
	say(fd, "GET /e HTTP/1.1\r\n");
	got = read_all(fd, 0, 4 * HEADER_MS, &eof_at);
	tap_ok(strncmp(got, "HTTP/1.1 408 ", 13) == 0, "a stalled first head gets 408");
	tap_ok(eof_at && eof_at - start < HEADER_MS + HEADER_MS / 4,
	       "the first head's timeout counts from accept (%ld ms)", eof_at - start);
	close(fd);

	fd = client();
	say(fd, "GET /f HTTP/1.1\r\nHost: x\r\n\r\n");
	got = read_all(fd, 1, 2000, &eof_at);
	run_for(IDLE_MS / 2);
	start = now_ms();
	say(fd, "GET /g HTTP/1.1\r\n");
	got = read_all(fd, 0, 4 * HEADER_MS, &eof_at);
	tap_ok(strncmp(got, "HTTP/1.1 408 ", 13) == 0 && eof_at - start >= HEADER_MS - 20,
	       "a keep-alive head's header timeout counts from its first byte (%ld ms)",
	       eof_at - start);
	close(fd);
}

int main(void)
{
	struct http_server_options opts;
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "llmgate-test-http-idle-%d",
	         (int)getpid());
	addr_len =
	        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, addr_len) < 0 || listen(lfd, 16) < 0)
		return 1;
	base = event_base_new();
	http_server_options_default(&opts, 1024, HEADER_MS, 1000);
	opts.idle_timeout_ms = IDLE_MS;
	opts.handler = handler;
	if (http_server_new(base, &opts, lfd, &srv) < 0)
		return 1;
	test_keep_alive_idles();
	test_header_timeouts();
	http_server_free(srv);
	event_base_free(base);
	return tap_done();
}
