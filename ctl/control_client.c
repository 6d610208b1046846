/*
 * control_client: a blocking client of the control socket, for llmgatectl
 * (see control_client.h). Bounded: one reply line of at most 16 MiB, within
 * the caller's timeout.
 */
#include "control_client.h"
#include "clock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CONTROL_MAX_REPLY (16 * 1024 * 1024)

static int send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

int control_request(const char *socket_path, const char *command, json_t *args, int timeout_ms,
                    json_t **ret_reply, char *err, size_t err_len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	json_t *request = json_pack("{s:s, s:o}", "command", command, "args",
	                            args ? json_incref(args) : json_array());
	char *text = NULL, *buf = NULL;
	size_t used = 0, cap = 0;
	long deadline = clock_now_ms() + timeout_ms;
	json_error_t jerr;
	int fd = -1, r;

	*ret_reply = NULL;
	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		snprintf(err, err_len, "socket path '%s' is too long", socket_path);
		r = -ENAMETOOLONG;
		goto out;
	}
	strcpy(addr.sun_path, socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		r = -errno;
		snprintf(err, err_len, "cannot connect to '%s': %s%s", socket_path, strerror(-r),
		         r == -ENOENT || r == -ECONNREFUSED ? " (is llmgated running?)" : "");
		goto out;
	}
	text = json_dumps(request, JSON_COMPACT);
	if (!text) {
		r = -ENOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	r = send_all(fd, text, strlen(text));
	if (r == 0)
		r = send_all(fd, "\n", 1);
	if (r < 0) {
		snprintf(err, err_len, "cannot send to '%s': %s", socket_path, strerror(-r));
		goto out;
	}

	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long left = deadline - clock_now_ms();
		ssize_t n;

		if (used > 0 && memchr(buf, '\n', used))
			break;
		if (left <= 0) {
			r = -ETIMEDOUT;
			snprintf(err, err_len, "no answer from llmgated within %d ms", timeout_ms);
			goto out;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) {
			r = -errno;
			snprintf(err, err_len, "poll: %s", strerror(-r));
			goto out;
		}
		if (cap - used < 4096) {
			char *grown;

			if (cap >= CONTROL_MAX_REPLY) {
				r = -EMSGSIZE;
				snprintf(err, err_len, "reply too large");
				goto out;
			}
			grown = realloc(buf, cap ? cap * 2 : 65536);
			if (!grown) {
				r = -ENOMEM;
				snprintf(err, err_len, "out of memory");
				goto out;
			}
			buf = grown;
			cap = cap ? cap * 2 : 65536;
		}
		n = recv(fd, buf + used, cap - used, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -ECONNRESET;
			snprintf(err, err_len, "llmgated closed the connection without an answer");
			goto out;
		}
		used += (size_t)n;
	}
	*ret_reply = json_loadb(buf, (size_t)((char *)memchr(buf, '\n', used) - buf), 0, &jerr);
	if (!*ret_reply || !json_is_object(*ret_reply)) {
		json_decref(*ret_reply);
		*ret_reply = NULL;
		r = -EBADMSG;
		snprintf(err, err_len, "malformed answer from llmgated: %s", jerr.text);
		goto out;
	}
	r = 0;
out:
	free(text);
	free(buf);
	if (fd >= 0)
		close(fd);
	json_decref(request);
	return r;
}
