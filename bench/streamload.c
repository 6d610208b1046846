/*
 * bench/streamload.c: the load client of bench/run's realistic-streams cell (wrk cannot
 * measure per-event timing). Counted and bounded: opens N connections to 127.0.0.1:PORT
 * (in batches, so that no listen backlog overflows), then sends one streamed request on
 * each, spread evenly over SPREAD_MS, and reads every stream to its end ("data: [DONE]").
 * For each stream it notes when each SSE event ("data: " at the start of a line) arrived.
 * Prints one line of JSON: streams completed and failed, and the percentiles (µs) of the
 * time from sending the request to the first event (ttfe), of the gaps between
 * consecutive events of a stream (gap), and of the time to the last event (last). Gives
 * up after TIMEOUT_S seconds (the streams not done by then count as failed).
 *
 * Usage: streamload PORT CONNECTIONS SPREAD_MS TIMEOUT_S REQUEST_FILE
 * (REQUEST_FILE: the whole HTTP/1.1 request, head and body, sent as it is).
 * Built by bench/run with cc -O2 into its temporary directory; one thread, epoll.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 64 /* per stream: 20 content events, finish, [DONE] */
#define BATCH      100

struct stream {
	int fd;
	int state; /* 0 connecting, 1 connected, 2 sent, 3 done, 4 failed */
	int64_t sent_ns;
	int n_events;
	int64_t ev_ns[MAX_EVENTS];
	char tail[8]; /* the last bytes of the previous read: a marker may straddle reads */
	size_t tail_len;
	int head_checked;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(int64_t *v, size_t n, double p)
{
	if (n == 0)
		return -1;
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

/* Scans what was read for "\ndata: " (an event starts) and "[DONE]" (the end). */
static void scan(struct stream *s, const char *buf, size_t n, int64_t t)
{
	char joined[8 + 65536];
	size_t len = s->tail_len + n;

	memcpy(joined, s->tail, s->tail_len);
	memcpy(joined + s->tail_len, buf, n);
	if (!s->head_checked && len >= 12) {
		s->head_checked = 1;
		if (memcmp(joined, "HTTP/1.1 200", 12) != 0) {
			s->state = 4;
			return;
		}
	}
	for (size_t i = 0; i + 7 <= len; i++) {
		/* a marker that ended inside the tail was counted at the previous read */
		if (joined[i] == '\n' && memcmp(joined + i, "\ndata: ", 7) == 0 &&
		    i + 7 > s->tail_len) {
			if (s->n_events < MAX_EVENTS)
				s->ev_ns[s->n_events] = t;
			s->n_events++;
			if (i + 13 <= len && memcmp(joined + i + 7, "[DONE]", 6) == 0)
				s->state = 3;
		}
	}
	if (s->state != 3 && s->n_events > 0 && memmem(joined, len, "[DONE]", 6))
		s->state = 3;
	s->tail_len = len < 7 ? len : 7;
	memcpy(s->tail, joined + len - s->tail_len, s->tail_len);
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: %s PORT CONNECTIONS SPREAD_MS TIMEOUT_S REQUEST_FILE\n",
		        argv[0]);
		return 2;
	}
	int port = atoi(argv[1]), n = atoi(argv[2]), spread_ms = atoi(argv[3]);
	int64_t deadline = now_ns() + (int64_t)atoi(argv[4]) * 1000000000;
	FILE *f = fopen(argv[5], "rb");
	static char req[65536];
	size_t req_len;

	if (!f || n < 1) {
		perror("request file");
		return 2;
	}
	req_len = fread(req, 1, sizeof(req), f);
	fclose(f);

	struct stream *st = calloc((size_t)n, sizeof(*st));
	int ep = epoll_create1(0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int connected = 0, one = 1;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	/* connect in batches, each waited for */
	for (int first = 0; first < n; first += BATCH) {
		int last = first + BATCH < n ? first + BATCH : n;

		for (int i = first; i < last; i++) {
			struct epoll_event e = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};

			st[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			setsockopt(st[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (connect(st[i].fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
			    errno != EINPROGRESS) {
				st[i].state = 4;
				continue;
			}
			epoll_ctl(ep, EPOLL_CTL_ADD, st[i].fd, &e);
		}
		while (connected < last && now_ns() < deadline) {
			struct epoll_event evs[256];
			int k = epoll_wait(ep, evs, 256, 100);

			for (int j = 0; j < k; j++) {
				struct stream *s = &st[evs[j].data.u32];
				int err = 0;
				socklen_t el = sizeof(err);

				getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				s->state = err ? 4 : 1;
				struct epoll_event e = {.events = EPOLLIN,
				                        .data.u32 = evs[j].data.u32};
				epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e);
				connected++;
			}
		}
	}
	/* send the requests spread over spread_ms, reading as they go */
	int64_t start = now_ns();
	int next = 0, done = 0;
	static char buf[65536];

	while (done < n && now_ns() < deadline) {
		int64_t t = now_ns();

		while (next < n &&
		       (spread_ms <= 0 || t - start >= (int64_t)next * spread_ms * 1000000 / n)) {
			struct stream *s = &st[next++];

			if (s->state != 1) {
				s->state = 4;
				done++;
				continue;
			}
			s->sent_ns = now_ns();
			if (send(s->fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
				s->state = 4;
				done++;
				continue;
			}
			s->state = 2;
		}
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, next < n ? 1 : 100);

		for (int j = 0; j < k; j++) {
			struct stream *s = &st[evs[j].data.u32];
			ssize_t r = read(s->fd, buf, sizeof(buf));
			int64_t rt = now_ns();

			if (s->state != 2) {
				if (r <= 0 && s->state == 1) {
					s->state = 4; /* closed before we sent */
					done++;
					epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
				}
				continue;
			}
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				s->state = 4;
			} else {
				scan(s, buf, (size_t)r, rt);
			}
			if (s->state >= 3) {
				done++;
				epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
				close(s->fd);
				s->fd = -1;
			}
		}
	}

	int64_t *ttfe = malloc(sizeof(int64_t) * (size_t)n);
	int64_t *last = malloc(sizeof(int64_t) * (size_t)n);
	int64_t *gap = malloc(sizeof(int64_t) * (size_t)n * MAX_EVENTS);
	size_t nt = 0, ng = 0, events = 0;
	int ok = 0, failed = 0;

	for (int i = 0; i < n; i++) {
		struct stream *s = &st[i];
		int ne = s->n_events < MAX_EVENTS ? s->n_events : MAX_EVENTS;

		if (s->state != 3 || ne == 0) {
			failed++;
			continue;
		}
		ok++;
		events += (size_t)s->n_events;
		ttfe[nt] = s->ev_ns[0] - s->sent_ns;
		last[nt++] = s->ev_ns[ne - 1] - s->sent_ns;
		for (int e = 1; e < ne; e++)
			gap[ng++] = s->ev_ns[e] - s->ev_ns[e - 1];
	}
	qsort(ttfe, nt, sizeof(int64_t), cmp64);
	qsort(last, nt, sizeof(int64_t), cmp64);
	qsort(gap, ng, sizeof(int64_t), cmp64);
	printf("{\"streams\": %d, \"completed\": %d, \"failed\": %d, \"events\": %zu, "
	       "\"ttfe_p50_us\": %.0f, \"ttfe_p99_us\": %.0f, \"gap_p50_us\": %.0f, "
	       "\"gap_p99_us\": %.0f, \"last_p50_us\": %.0f, \"last_p99_us\": %.0f}\n",
	       n, ok, failed, events, pct(ttfe, nt, 0.5), pct(ttfe, nt, 0.99), pct(gap, ng, 0.5),
	       pct(gap, ng, 0.99), pct(last, nt, 0.5), pct(last, nt, 0.99));
	return failed ? 1 : 0;
}
