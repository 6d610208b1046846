/*
 * Unit tests of a worker's request statistics and access log writer, with a
 * real socketpair and pipe but no gateway: deltas flushed as IPC messages add
 * up exactly, are cleared only once sent (a full socket keeps them, nothing
 * is counted twice), a full table folds new keys without losing totals; the
 * access log never blocks on a full pipe, writes whole lines only, and
 * counts what it drops.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "access_log.h"
#include "config.h"
#include "http_server.h"
#include "ipc.h"
#include "request_stats.h"
#include "route.h"
#include "tap.h"

#define N_DEPS 1000

static struct config *make_config(void)
{
	static struct deployment deps[N_DEPS];
	static struct group groups[2] = {{.name = (char *)"gpt-4o"}, {.name = (char *)"az"}};
	static char ids[N_DEPS][16];
	static struct config c;

	for (int i = 0; i < N_DEPS; i++) {
		snprintf(ids[i], sizeof(ids[i]), "dep-%d", i);
		deps[i].id = ids[i];
		deps[i].model_name = (char *)"gpt-4o";
	}
	c.deployments = deps;
	c.n_deployments = N_DEPS;
	c.groups = groups;
	c.n_groups = 2;
	return &c;
}

struct totals {
	uint64_t requests, dropped, latency_total, messages;
	uint64_t by_dep0_2xx;
	uint64_t rejected[HTTP_REJECT__COUNT];
};

/* Reads every message waiting on FD and adds it up. */
static void drain(int fd, struct totals *t)
{
	char buf[IPC_MAX_MESSAGE];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		struct ipc_header h;
		const void *p;

		if (ipc_decode(buf, (size_t)n, &h, &p) < 0) {
			tap_ok(0, "message decodes");
			continue;
		}
		t->messages++;
		if (h.type == IPC_REQUESTS) {
			struct ipc_requests r;

			memcpy(&r, p, sizeof(r));
			t->dropped += r.log_dropped;
			for (int k = 0; k < HTTP_REJECT__COUNT; k++)
				t->rejected[k] += r.rejected[k];
			for (uint32_t i = 0; i < r.n; i++) {
				t->requests += r.counts[i].count;
				if (r.counts[i].group == 0 && r.counts[i].deployment == 0 &&
				    r.counts[i].status == 2)
					t->by_dep0_2xx += r.counts[i].count;
			}
		} else if (h.type == IPC_LATENCY) {
			struct ipc_latency l;

			memcpy(&l, p, sizeof(l));
			t->latency_total += histogram_count(&l.latency[IPC_LATENCY_TOTAL]);
		}
	}
}

static struct request_record rec(long group, long dep, int status)
{
	return (struct request_record){
	        .id = "abc",
	        .peer = "127.0.0.1:1",
	        .group = group,
	        .deployment = dep,
	        .route = dep >= 0 ? ROUTE_PRIMARY : -1,
	        .status = status,
	        .attempts = dep >= 0,
	        .start_us = 1000,
	        .ttfb_us = dep >= 0 ? 300 : -1,
	        .upstream_us = 500,
	        .end_us = 2000,
	};
}

static void test_flush(struct event_base *base)
{
	struct config *c = make_config();
	struct request_stats *rs = NULL;
	struct totals t = {0};
	uint32_t seq = 0;
	int sv[2];

	socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv);
	tap_ok(request_stats_new(c, base, &rs) == 0, "stats created (no access log)");
	for (int i = 0; i < 10; i++) {
		struct request_record r = rec(0, 0, 200);
		request_stats_done(rs, &r);
	}
	struct request_record r404 = rec(-1, -1, 404);
	request_stats_done(rs, &r404);
	tap_ok(request_stats_flush(rs, sv[0], 1, &seq) == 0, "flushed");
	drain(sv[1], &t);
	tap_ok(t.requests == 11 && t.by_dep0_2xx == 10, "counts arrive whole (%llu)",
	       (unsigned long long)t.requests);
	tap_ok(t.latency_total == 11, "latency of both groups arrives");
	memset(&t, 0, sizeof(t));
	tap_ok(request_stats_flush(rs, sv[0], 1, &seq) == 0, "a second flush");
	drain(sv[1], &t);
	tap_ok(t.messages == 0, "nothing is sent twice");

	/* more distinct keys than the table holds: folded, totals exact */
	for (int i = 0; i < N_DEPS; i++) {
		struct request_record r = rec(1, i, 200 + (i % 3) * 100);
		request_stats_done(rs, &r);
	}
	tap_ok(request_stats_flush(rs, sv[0], 1, &seq) == 0, "flushed a full table");
	drain(sv[1], &t);
	tap_ok(t.requests == N_DEPS, "every request of a full table counted (%llu)",
	       (unsigned long long)t.requests);
	tap_ok(t.messages >= 5, "in several messages (%llu)", (unsigned long long)t.messages);

	/* a full socket: counts stay until they can be sent, never twice */
	char junk[IPC_MAX_MESSAGE] = {0};
	while (send(sv[0], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	for (int i = 0; i < 7; i++) {
		struct request_record r = rec(0, 0, 200);
		request_stats_done(rs, &r);
	}
	tap_ok(request_stats_flush(rs, sv[0], 1, &seq) == -EAGAIN, "a full socket: EAGAIN");
	{
		char buf[IPC_MAX_MESSAGE];
		while (recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
			; /* the junk */
	}
	memset(&t, 0, sizeof(t));
	tap_ok(request_stats_flush(rs, sv[0], 1, &seq) == 0, "flushed once there is room");
	drain(sv[1], &t);
	tap_ok(t.requests == 7 && t.latency_total == 7, "kept counts arrive once (%llu)",
	       (unsigned long long)t.requests);

	/* rejects of the HTTP layer: counted by reason, apart from requests */
	struct http_rejected rej = {.reason = HTTP_REJECT_HEAD_TIMEOUT, .status = 408};
	for (int i = 0; i < 3; i++)
		request_stats_rejected(rs, &rej);
	rej.reason = HTTP_REJECT_BODY_TOO_LARGE;
	rej.status = 413;
	request_stats_rejected(rs, &rej);
	rej.reason = HTTP_REJECT__COUNT;
	request_stats_rejected(rs, &rej);
	request_stats_rejected(NULL, &rej);
	memset(&t, 0, sizeof(t));
	tap_ok(request_stats_flush(rs, sv[0], 1, &seq) == 0, "rejects flushed");
	drain(sv[1], &t);
	tap_ok(t.messages == 1 && t.requests == 0 && t.latency_total == 0,
	       "rejects alone: one REQUESTS message, no request, no latency");
	tap_ok(t.rejected[HTTP_REJECT_HEAD_TIMEOUT] == 3 &&
	               t.rejected[HTTP_REJECT_BODY_TOO_LARGE] == 1 &&
	               t.rejected[HTTP_REJECT_MALFORMED] == 0,
	       "rejects by reason; an out-of-range reason is ignored");
	memset(&t, 0, sizeof(t));
	tap_ok(request_stats_flush(rs, sv[0], 1, &seq) == 0 && (drain(sv[1], &t), t.messages == 0),
	       "rejects are not sent twice");

	tap_ok(request_stats_overhead_us(100, 250) == 0, "overhead never negative");
	request_stats_free(rs);
	close(sv[0]);
	close(sv[1]);
}

static void test_access_log_pipe(struct event_base *base)
{
	struct access_log *log = NULL;
	char line[1000];
	int p[2], saved = dup(STDERR_FILENO), written = 0;
	struct timespec t0, t1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return;
	dup2(p[1], STDERR_FILENO); /* "stderr" is a pipe nobody reads for now */
	tap_ok(access_log_open(base, "stderr", &log) == 0, "stderr log opened");
	memset(line, 'x', sizeof(line));
	line[sizeof(line) - 1] = '\n';
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < 2000; i++) {
		access_log_write(log, line, sizeof(line));
		written++;
		if (i % 50 == 0)
			access_log_flush(log);
	}
	access_log_flush(log);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	tap_ok(t1.tv_sec - t0.tv_sec < 2, "a full pipe never blocks");
	uint32_t dropped = access_log_take_dropped(log);
	tap_ok(dropped > 0, "over the bound: dropped and counted (%u)", dropped);
	tap_ok(access_log_take_dropped(log) == 0, "the count is taken once");

	/* read everything the pipe got so far, then let the rest through */
	char buf[65536];
	size_t got = 0, lines = 0, partial = 0;
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	for (int round = 0; round < 200; round++) {
		ssize_t n;

		while ((n = read(p[0], buf, sizeof(buf))) > 0) {
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] == '\n')
					lines++;
			got += (size_t)n;
		}
		access_log_flush(log);
	}
	partial = got % sizeof(line);
	tap_ok(partial == 0, "only whole lines reach the pipe");
	tap_ok(lines + dropped == (size_t)written, "every line written or counted (%zu + %u)",
	       lines, dropped);
	access_log_free(log);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[0]);
	close(p[1]);
}

static void test_access_log_unopenable(struct event_base *base)
{
	struct access_log *log = NULL;
	int r = access_log_open(base, "/nonexistent-dir/x/access.log", &log);

	tap_ok(r < 0 && log != NULL, "an unopenable log is an error but still a log");
	access_log_write(log, "a\n", 2);
	access_log_write(log, "b\n", 2);
	access_log_flush(log);
	tap_ok(access_log_take_dropped(log) == 2, "its lines are counted as dropped");
	access_log_free(log);
}

/* Hostile strings still give one valid JSON line, under PIPE_BUF, with
 * every field. */
static void test_access_line(struct event_base *base)
{
	char path[] = "/tmp/llmgate-test-access-XXXXXX";
	int fd = mkstemp(path);
	struct config *c = make_config();
	struct request_stats *rs = NULL;
	static char long_path[5000], model[600];
	char text[16384];
	ssize_t n;

	close(fd);
	c->access_log = path;
	tap_ok(request_stats_new(c, base, &rs) == 0, "stats with an access log file");
	memset(long_path, '/', sizeof(long_path));
	for (size_t i = 0; i < sizeof(model) - 1; i++)
		model[i] = "\"\\\x01\xff\n a"[i % 7];
	struct request_record r = rec(0, 3, 200);
	r.path = long_path;
	r.path_len = sizeof(long_path);
	r.model = model;
	r.method = "P\"OST";
	r.key_id = "team-a";
	request_stats_done(rs, &r);
	struct request_record r2 = rec(-1, -1, 404);
	request_stats_done(rs, &r2);
	struct http_rejected rej = {
	        .reason = HTTP_REJECT_BODY_TOO_LARGE,
	        .status = 413,
	        .id = "0123abcd",
	        .peer = "127.0.0.1:9",
	        .method = "POST",
	        .path = "/v1/chat/completionsXX",
	        .path_len = 20,
	        .bytes_in = 7,
	        .bytes_out = 120,
	        .total_us = 1500,
	};
	request_stats_rejected(rs, &rej);
	rej = (struct http_rejected){.reason = HTTP_REJECT_MALFORMED, .status = 400, .id = "x"};
	request_stats_rejected(rs, &rej);
	request_stats_free(rs); /* writes what is buffered */
	c->access_log = NULL;

	fd = open(path, O_RDONLY);
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	unlink(path);
	text[n > 0 ? n : 0] = '\0';
	char *second = strchr(text, '\n');
	tap_ok(second && (size_t)(second - text) < PIPE_BUF, "the line stays under PIPE_BUF");
	if (!second)
		return;
	*second++ = '\0';
	char *third = strchr(second, '\n'), *fourth = third ? strchr(third + 1, '\n') : NULL;
	if (third)
		*third++ = '\0';
	json_error_t err;
	json_t *a = json_loads(text, 0, &err), *b = json_loads(second, JSON_DECODE_ANY, &err);
	tap_ok(a && json_object_size(a) == 17, "hostile strings: valid JSON, 17 fields");
	tap_ok(a && strcmp(json_string_value(json_object_get(a, "key")), "team-a") == 0,
	       "the client key's id");
	tap_ok(a && strncmp(json_string_value(json_object_get(a, "model")), "\"\\\x01", 3) == 0,
	       "quotes, backslashes and controls survive escaping");
	tap_ok(a && strcmp(json_string_value(json_object_get(a, "deployment")), "dep-3") == 0 &&
	               json_integer_value(json_object_get(a, "status")) == 200 &&
	               json_real_value(json_object_get(a, "total_ms")) == 1.0 &&
	               json_real_value(json_object_get(a, "overhead_ms")) == 0.5 &&
	               json_real_value(json_object_get(a, "ttfb_ms")) == 0.3,
	       "deployment, status and times");
	tap_ok(b && json_is_null(json_object_get(b, "deployment")) &&
	               json_is_null(json_object_get(b, "route")) &&
	               json_is_null(json_object_get(b, "upstream_ms")) &&
	               json_is_null(json_object_get(b, "model")) &&
	               json_is_null(json_object_get(b, "key")),
	       "none is null");
	json_decref(a);
	json_decref(b);

	/* the rejects' lines: the same fields and "reason", nothing they lack */
	tap_ok(third && fourth, "a line per reject");
	if (!third || !fourth)
		return;
	*fourth++ = '\0';
	json_t *x = json_loads(third, 0, &err), *y = json_loads(fourth, JSON_DECODE_ANY, &err);
	tap_ok(x && json_object_size(x) == 18 &&
	               strcmp(json_string_value(json_object_get(x, "reason")), "body_too_large") ==
	                       0 &&
	               json_integer_value(json_object_get(x, "status")) == 413 &&
	               strcmp(json_string_value(json_object_get(x, "path")),
	                      "/v1/chat/completions") == 0 &&
	               strcmp(json_string_value(json_object_get(x, "request_id")), "0123abcd") ==
	                       0 &&
	               json_integer_value(json_object_get(x, "bytes_in")) == 7 &&
	               json_integer_value(json_object_get(x, "bytes_out")) == 120 &&
	               json_integer_value(json_object_get(x, "attempts")) == 0 &&
	               json_real_value(json_object_get(x, "total_ms")) == 1.5 &&
	               json_is_null(json_object_get(x, "model")) &&
	               json_is_null(json_object_get(x, "deployment")) &&
	               json_is_null(json_object_get(x, "upstream_ms")) &&
	               json_is_null(json_object_get(x, "ttfb_ms")),
	       "a reject's line: reason, status, path, bytes, time; no model or deployment");
	tap_ok(y && json_object_size(y) == 18 && json_is_null(json_object_get(y, "method")) &&
	               json_is_null(json_object_get(y, "path")) &&
	               json_is_null(json_object_get(y, "client")) &&
	               strcmp(json_string_value(json_object_get(y, "reason")), "malformed") == 0,
	       "an unparsed head: method and path null");
	json_decref(x);
	json_decref(y);
}

int main(void)
{
	struct event_base *base = event_base_new();

	test_flush(base);
	test_access_log_pipe(base);
	test_access_log_unopenable(base);
	test_access_line(base);
	event_base_free(base);
	return tap_done();
}
