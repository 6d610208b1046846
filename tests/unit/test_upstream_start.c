/*
 * Unit tests of the upstream client's start rule (worker/upstream/upstream.h):
 * no callback runs inside the call that started the transfer. On a real
 * event loop, against a listening socket in this process driven by hand
 * between loop passes (127.0.0.1 only): a kept-alive connection the upstream
 * reset, then no descriptor left for a new one (RLIMIT_NOFILE lowered to the
 * descriptors open), so that the own HTTP/1.1 client finds the transfer
 * failed while it starts it; a new connection that connect() refuses at
 * once; the same through libcurl. Under ASan (the sanitized build runs the
 * unit suite) a transfer used after it was freed is a failure too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tap.h"
#include "upstream.h"

/* What a transfer's callbacks saw. */
struct seen {
	int done;        /* on_done calls */
	int done_inside; /* of which inside upstream_start() */
	enum upstream_result result;
	char error[256];
	/* on_done starts this transfer (to the same upstream) when set */
	struct upstream *restart_up;
	const struct upstream_request *restart_req;
	struct seen *restart_seen;
	struct upstream_transfer *restart_t;
	int restart_err;
};

static bool in_start; /* the test is inside upstream_start() */

static void on_data(void *ctx, long status, const char *data, size_t len)
{
	(void)ctx;
	(void)status;
	(void)data;
	(void)len;
}

static const struct upstream_callbacks callbacks;

static int start(struct upstream *up, const struct upstream_request *req, struct seen *s,
                 struct upstream_transfer **ret)
{
	bool outer = in_start;
	int err;

	in_start = true;
	err = upstream_start(up, req, &callbacks, s, ret);
	in_start = outer;
	return err;
}

static void on_done(void *ctx, enum upstream_result result, long status, const char *error)
{
	struct seen *s = ctx;

	(void)status;
	s->done++;
	s->done_inside += in_start;
	s->result = result;
	snprintf(s->error, sizeof(s->error), "%s", error ? error : "");
	if (s->restart_up) {
		struct upstream *up = s->restart_up;

		s->restart_up = NULL;
		s->restart_err = start(up, s->restart_req, s->restart_seen, &s->restart_t);
	}
}

static const struct upstream_callbacks callbacks = {
        .on_data = on_data,
        .on_done = on_done,
};

static int listen_local(uint16_t *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* A port on 127.0.0.1 where nothing listens: connect() is refused at once. */
static uint16_t closed_port(void)
{
	uint16_t port = 0;
	int fd = listen_local(&port);

	if (fd >= 0)
		close(fd);
	return port;
}

static void pump(struct event_base *base)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 2000};

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* Runs the loop until *COUNT reaches WANT, at most 5 s. */
static void pump_until(struct event_base *base, const int *count, int want)
{
	for (int i = 0; i < 2500 && *count < want; i++)
		pump(base);
}

/* Reads one request head (and its small body) from FD, running the loop
 * meanwhile so that the client sends it; false after 5 s. */
static bool read_request(struct event_base *base, int fd)
{
	char buf[4096];
	size_t len = 0;

	for (int i = 0; i < 2500; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 0) == 1) {
			ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

			if (n <= 0)
				return false;
			len += (size_t)n;
			buf[len] = '\0';
			char *end = strstr(buf, "\r\n\r\n");

			if (end && (size_t)(end + 4 - buf) + 2 <= len) /* the 2-byte body */
				return true;
			continue;
		}
		pump(base);
	}
	return false;
}

static void answer(int fd)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	tap_ok(write(fd, resp, sizeof(resp) - 1) == (ssize_t)sizeof(resp) - 1, "stub answers");
}

/* Resets the connection FD (RST, as an upstream that drops a kept-alive one). */
static void reset(int fd)
{
	struct linger l = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
	usleep(20000); /* loopback: the RST is there by now */
}

/* New descriptors fail with EMFILE: the limit is set to the lowest free
 * number, which keep_alive() left below the client's connections, so that
 * closing one of those frees none under the limit. */
struct fd_limit {
	struct rlimit old;
};

static bool exhaust_fds(struct fd_limit *f)
{
	int lowest = fcntl(0, F_DUPFD_CLOEXEC, 0);
	struct rlimit low;

	if (lowest < 0 || getrlimit(RLIMIT_NOFILE, &f->old) < 0)
		return false;
	close(lowest);
	low = f->old;
	low.rlim_cur = (rlim_t)lowest;
	return setrlimit(RLIMIT_NOFILE, &low) == 0;
}

static void restore_fds(struct fd_limit *f)
{
	setrlimit(RLIMIT_NOFILE, &f->old);
}

/*
 * N kept-alive connections to the stub listening on LFD: N transfers at
 * once, each answered, each connection back in the pool. Their server ends
 * in SERVER. A descriptor number below theirs is left free (exhaust_fds()).
 */
static bool keep_alive(struct event_base *base, struct upstream *up, int lfd,
                       const struct upstream_request *req, int n, int *server)
{
	struct seen s[2] = {{0}};
	struct upstream_transfer *t[2];
	int done = 0, hole = fcntl(0, F_DUPFD_CLOEXEC, 0);

	for (int i = 0; i < n; i++)
		if (start(up, req, &s[i], &t[i]) < 0)
			return false;
	for (int i = 0; i < n; i++) {
		server[i] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (server[i] < 0 || !read_request(base, server[i]))
			return false;
	}
	close(hole);
	for (int i = 0; i < n; i++)
		answer(server[i]);
	for (int i = 0; i < 2500 && done < n; i++) {
		pump(base);
		done = 0;
		for (int j = 0; j < n; j++)
			done += s[j].done;
	}
	for (int i = 0; i < n; i++)
		if (s[i].done != 1 || s[i].result != UPSTREAM_OK)
			return false;
	return upstream_active(up) == 0;
}

/* The own client: a kept-alive connection that the upstream reset, and no
 * descriptor for the new connection the request is sent again on. */
static void test_reused_conn_reset_emfile(void)
{
	struct event_base *base = event_base_new();
	struct upstream *up = upstream_new(base);
	uint16_t port = 0;
	int lfd = listen_local(&port), server[2];
	char url[64];
	struct upstream_request req = {.url = url, .body = "{}", .body_len = 2};
	struct seen s = {0}, s2 = {0}, s3 = {0};
	struct upstream_transfer *t = NULL;
	struct fd_limit f;
	int err;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/chat/completions", port);
	tap_ok(base && up && lfd >= 0, "a loop, a client and a stub");

	/* 1: on_done comes from the loop, once, with the failure */
	tap_ok(keep_alive(base, up, lfd, &req, 1, server), "a kept-alive connection");
	reset(server[0]);
	tap_ok(exhaust_fds(&f), "no descriptor left");
	err = start(up, &req, &s, &t);
	restore_fds(&f);
	tap_ok(err == 0, "start takes the kept-alive connection (%d)", err);
	tap_ok(s.done_inside == 0, "no on_done inside upstream_start()");
	tap_ok(s.done == 0 && upstream_active(up) == 1, "the transfer is alive when start returns");
	pump_until(base, &s.done, 1);
	tap_ok(s.done == 1 && s.result == UPSTREAM_ERR_INTERNAL,
	       "on_done comes once from the loop, with the failure (%d, '%s')", s.done, s.error);
	tap_str(s.error, "cannot open a new connection", "its error says why");
	tap_ok(upstream_active(up) == 0, "then the transfer is gone");

	/* 2: aborted before the loop reports it: no on_done, nothing left */
	memset(&s, 0, sizeof(s));
	tap_ok(keep_alive(base, up, lfd, &req, 1, server), "a kept-alive connection again");
	reset(server[0]);
	tap_ok(exhaust_fds(&f), "no descriptor left");
	err = start(up, &req, &s, &t);
	restore_fds(&f);
	tap_ok(err == 0 && s.done == 0, "started, no on_done yet");
	/* as a caller whose client went away: with on_done run inside the start,
	 * T would be freed already (ASan: heap-use-after-free) */
	upstream_abort(t);
	pump(base);
	pump(base);
	tap_ok(s.done == 0 && upstream_active(up) == 0, "an abort before the report: no on_done");

	/* 3: an on_done (from the loop) that starts another transfer that fails
	 * at once: that one's on_done does not run inside its start either */
	memset(&s, 0, sizeof(s));
	tap_ok(keep_alive(base, up, lfd, &req, 2, server), "two kept-alive connections");
	reset(server[0]);
	reset(server[1]);
	tap_ok(exhaust_fds(&f), "no descriptor left");
	s.restart_up = up;
	s.restart_req = &req;
	s.restart_seen = &s2;
	err = start(up, &req, &s, &t);
	tap_ok(err == 0 && s.done == 0, "the first starts, no on_done yet");
	pump_until(base, &s.done, 1);
	tap_ok(s.done == 1 && s.restart_err == 0, "its on_done started the second");
	pump_until(base, &s2.done, 1);
	restore_fds(&f);
	tap_ok(s2.done == 1 && s2.done_inside == 0 && s2.result == UPSTREAM_ERR_INTERNAL,
	       "the second's on_done came from the loop too");
	tap_ok(upstream_active(up) == 0, "both are gone");

	/* 4: the connection reset with descriptors to spare: sent again on a new one */
	tap_ok(keep_alive(base, up, lfd, &req, 1, server), "a kept-alive connection");
	reset(server[0]);
	err = start(up, &req, &s3, &t);
	tap_ok(err == 0 && s3.done == 0, "start sends again on a new connection");
	server[0] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	tap_ok(server[0] >= 0 && read_request(base, server[0]), "the request comes again");
	answer(server[0]);
	pump_until(base, &s3.done, 1);
	tap_ok(s3.done == 1 && s3.result == UPSTREAM_OK, "and is answered");
	close(server[0]);

	upstream_free(up);
	close(lfd);
	event_base_free(base);
}

/* A new connection connect() refuses at once (nothing listens on the
 * port): through the own client, and through libcurl. */
static void test_refused(const char *client)
{
	struct event_base *base;
	struct upstream *up;
	char url[64];
	struct upstream_request req = {.url = url, .body = "{}", .body_len = 2};
	struct upstream_transfer *t = NULL;
	struct seen s = {0};
	int err;

	if (client)
		setenv("LLMGATE_UPSTREAM_CLIENT", client, 1);
	base = event_base_new();
	up = upstream_new(base);
	unsetenv("LLMGATE_UPSTREAM_CLIENT");
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/chat/completions", closed_port());
	err = start(up, &req, &s, &t);
	tap_ok(err == 0 && s.done == 0, "%s: a refused connection: started, no on_done inside",
	       client ? client : "own");
	pump_until(base, &s.done, 1);
	tap_ok(s.done == 1 && s.done_inside == 0 && s.result == UPSTREAM_ERR_CONNECT,
	       "%s: on_done from the loop, a connect error (%d, '%s')", client ? client : "own",
	       s.result, s.error);
	upstream_free(up);
	event_base_free(base);
}

int main(void)
{
	static const char *const proxies[] = {"http_proxy", "https_proxy", "HTTPS_PROXY",
	                                      "all_proxy", "ALL_PROXY"};

	for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		unsetenv(proxies[i]);
	unsetenv("LLMGATE_UPSTREAM_CLIENT");
	test_reused_conn_reset_emfile();
	test_refused(NULL);
	test_refused("curl");
	return tap_done();
}
