/*
 * access_log: the non-blocking access log writer (see access_log.h). Runs in
 * a worker. Invariants: the buffer holds whole lines only and never more
 * than ACCESS_LOG_MAX_BUFFER bytes; nothing here sleeps or waits on the
 * descriptor: a socket (journald's stream) is written with MSG_DONTWAIT; a
 * pipe or terminal on stderr is reopened through /proc/self/fd/2 as our own
 * O_NONBLOCK open file description, or, when that is refused, written only
 * after poll() says it is writable (PIPE_BUF bytes then fit, unless another
 * writer fills the pipe in between: the one window where a write may wait);
 * a regular file is written directly (it does not block on space). The
 * flags of the shared stderr description are never changed: the supervisor
 * and the other workers write to it too.
 */
#include "access_log.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define ACCESS_LOG_RETRY_MS 50 /* after a full pipe or socket */

enum sink {
	SINK_FILE,   /* a regular file: write everything at once */
	SINK_SOCKET, /* journald's stdout stream, for one */
	SINK_OTHER,  /* a pipe or a terminal: poll, then PIPE_BUF at a time */
};

struct access_log {
	char *target;
	int fd; /* -1: could not be opened */
	bool own_fd;
	bool nonblocking; /* our own O_NONBLOCK description: no poll needed */
	enum sink sink;
	struct evbuffer *buf;
	struct event *flush_event;
	bool scheduled;
	bool reported;
	uint32_t dropped;
};

static void report_once(struct access_log *log, const char *what, int err)
{
	if (log->reported)
		return;
	log->reported = true;
	log_warning("access log '%s': %s: %s; lines are dropped and counted", log->target, what,
	            strerror(err));
}

static size_t count_lines(const char *data, size_t len)
{
	size_t n = 0;

	for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data))); p++)
		n++;
	return n;
}

/* Drops the whole buffer, counting its lines. */
static void drop_all(struct access_log *log)
{
	size_t len = evbuffer_get_length(log->buf);

	if (len == 0)
		return;
	log->dropped += (uint32_t)count_lines((const char *)evbuffer_pullup(log->buf, -1), len);
	evbuffer_drain(log->buf, len);
}

/* Writes LEN bytes at DATA once, without blocking: bytes written, 0 when it
 * would block, or a negative errno. */
static ssize_t write_some(struct access_log *log, const char *data, size_t len)
{
	ssize_t n;

	if (log->sink == SINK_SOCKET) {
		n = send(log->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	} else {
		if (log->sink == SINK_OTHER && !log->nonblocking) {
			struct pollfd pfd = {.fd = log->fd, .events = POLLOUT};

			if (poll(&pfd, 1, 0) <= 0 || !(pfd.revents & POLLOUT))
				return (pfd.revents & (POLLERR | POLLHUP)) ? -EPIPE : 0;
		}
		n = write(log->fd, data, len);
	}
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
	return n;
}

static void schedule(struct access_log *log, long ms)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = ms * 1000};

	if (log->scheduled || !log->flush_event)
		return;
	log->scheduled = true;
	evtimer_add(log->flush_event, &tv);
}

void access_log_flush(struct access_log *log)
{
	if (!log)
		return;
	if (log->fd < 0) {
		drop_all(log);
		return;
	}
	if (log->sink == SINK_FILE) {
		/* all at once, straight from the buffer's chunks (writev) */
		while (evbuffer_get_length(log->buf) > 0) {
			int n = evbuffer_write(log->buf, log->fd);

			if (n < 0 && errno != EINTR) {
				report_once(log, "cannot write", errno);
				drop_all(log);
				return;
			}
		}
		return;
	}
	while (evbuffer_get_length(log->buf) > 0) {
		size_t len = evbuffer_get_length(log->buf);
		const char *data;
		ssize_t n;

		if (len > PIPE_BUF) {
			/* whole lines only: never half a line in one write */
			data = (const char *)evbuffer_pullup(log->buf, PIPE_BUF);
			const char *nl = memrchr(data, '\n', PIPE_BUF);
			len = nl ? (size_t)(nl - data) + 1 : PIPE_BUF;
		} else {
			data = (const char *)evbuffer_pullup(log->buf, -1);
		}
		n = write_some(log, data, len);
		if (n == 0) {
			schedule(log, ACCESS_LOG_RETRY_MS);
			return;
		}
		if (n < 0) {
			report_once(log, "cannot write", (int)-n);
			drop_all(log);
			return;
		}
		if ((size_t)n < len) {
			/* a partial write: the rest of that line is lost, count it */
			size_t cut = (size_t)n;
			const char *nl = memchr(data + cut, '\n', len - cut);
			size_t end = nl ? (size_t)(nl - data) + 1 : len;

			log->dropped++;
			evbuffer_drain(log->buf, end);
			continue;
		}
		evbuffer_drain(log->buf, (size_t)n);
	}
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct access_log *log = arg;

	log->scheduled = false;
	access_log_flush(log);
}

static enum sink sink_of(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return SINK_OTHER;
	if (S_ISREG(st.st_mode))
		return SINK_FILE;
	if (S_ISSOCK(st.st_mode))
		return SINK_SOCKET;
	return SINK_OTHER;
}

int access_log_open(struct event_base *base, const char *target, struct access_log **ret)
{
	struct access_log *log = calloc(1, sizeof(*log));
	int r = 0;

	if (!log)
		return -ENOMEM;
	log->fd = -1;
	log->target = strdup(target);
	log->buf = evbuffer_new();
	log->flush_event = evtimer_new(base, on_flush, log);
	if (!log->target || !log->buf || !log->flush_event) {
		access_log_free(log);
		return -ENOMEM;
	}
	if (strcmp(target, "stderr") == 0) {
		log->fd = STDERR_FILENO;
		if (sink_of(log->fd) == SINK_OTHER) {
			/* A pipe or terminal: its own open file description,
			 * non-blocking without touching the shared stderr. */
			int fd = open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);

			if (fd >= 0) {
				log->fd = fd;
				log->own_fd = true;
				log->nonblocking = true;
			}
		}
	} else {
		log->fd =
		        open(target, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0640);
		if (log->fd < 0) {
			r = -errno;
			report_once(log, "cannot open", errno);
		}
		log->own_fd = log->fd >= 0;
	}
	if (log->fd >= 0)
		log->sink = sink_of(log->fd);
	*ret = log;
	return r;
}

void access_log_free(struct access_log *log)
{
	if (!log)
		return;
	if (log->buf)
		access_log_flush(log);
	if (log->flush_event)
		event_free(log->flush_event);
	if (log->buf)
		evbuffer_free(log->buf);
	if (log->own_fd)
		close(log->fd);
	free(log->target);
	free(log);
}

void access_log_write(struct access_log *log, const char *line, size_t len)
{
	if (log->fd < 0 || evbuffer_get_length(log->buf) + len > ACCESS_LOG_MAX_BUFFER) {
		log->dropped++;
		return;
	}
	if (evbuffer_add(log->buf, line, len) < 0) {
		log->dropped++;
		return;
	}
	schedule(log, 0);
}

uint32_t access_log_take_dropped(struct access_log *log)
{
	uint32_t n = log ? log->dropped : 0;

	if (log)
		log->dropped = 0;
	return n;
}
