/*
 * http_reader_spool: an upload's request body written to a file as it is
 * read, instead of held in memory (see http_reader.h). Runs in a worker.
 *
 * The file is made unlinked (O_TMPFILE, or mkostemp() and unlink() where the
 * file system has no O_TMPFILE), mode 0600, in the server's spool directory:
 * it never outlives its last fd and nobody else can open it. The request's
 * handler gets it as its body (http_request.body_fd), reads it with pread()
 * and may dup() it for as long as it sends it; the reader closes its own fd
 * when the request is done or the connection goes.
 *
 * A Content-Length body is read into one buffer of the worker's (64 KiB,
 * shared by all its connections: each read is written out before the next
 * read), a chunked one is decoded from the connection's buffer into it: the
 * memory an upload in flight costs is the connection's, never its size. A
 * write that fails (the disk is full) ends the request with 507.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http_reader.h"
#include "http_server.h"

#define SPOOL_BUF (64 * 1024)

static __thread char spool_buf[SPOOL_BUF];

static int spool_open(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if (!dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if (snprintf(path, sizeof(path), "%s/llmgate-upload-XXXXXX", dir) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static int spool_write(struct http_reader *r, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(r->spool_fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->spool_err = n < 0 ? errno : EIO;
			return -EIO;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

bool http_reader_spool_begin(struct http_reader *r, size_t avail)
{
	r->spool_fd = spool_open(r->spool_dir);
	if (r->spool_fd < 0)
		return false;
	r->spooled = true;
	r->spool_err = 0;
	if (r->head.body == HTTP_BODY_LENGTH) {
		r->body_want = r->head.content_length;
		/* what came with the head: all of it is body (less than its length) */
		if (avail > 0 && spool_write(r, r->rbuf + r->head_end, avail) == 0)
			r->body_len = avail;
		r->rlen = r->head_end;
	} else {
		http_chunked_init(&r->chunked);
	}
	return true;
}

char *http_reader_spool_room(struct http_reader *r, size_t *ret_room)
{
	uint64_t left = r->body_want - r->body_len;

	*ret_room = left < SPOOL_BUF ? (size_t)left : SPOOL_BUF;
	return *ret_room ? spool_buf : NULL;
}

void http_reader_spool_got(struct http_reader *r, size_t n)
{
	if (r->spool_err == 0 && spool_write(r, spool_buf, n) == 0)
		r->body_len += n;
}

int http_reader_spool_chunked(struct http_reader *r, size_t max)
{
	const char *in = r->rbuf + r->head_end;
	size_t in_len = r->rlen - r->head_end;

	while (in_len > 0) {
		size_t used, made;
		int e = http_chunked_decode(&r->chunked, in, in_len, &used, spool_buf, SPOOL_BUF,
		                            &made);

		in += used;
		in_len -= used;
		if (made > max - r->body_len)
			return -E2BIG;
		if (made > 0 && spool_write(r, spool_buf, made) < 0)
			return -EIO;
		r->body_len += made;
		if (e == -EBADMSG)
			return -EBADMSG;
		if (e == 0) {
			/* keep what follows (a pipelined request) right after the head */
			memmove(r->rbuf + r->head_end, in, in_len);
			r->rlen = r->head_end + in_len;
			r->consumed = r->head_end;
			return 0;
		}
	}
	r->rlen = r->head_end;
	return -EAGAIN;
}

void http_reader_spool_end(struct http_reader *r)
{
	if (!r->spooled)
		return;
	close(r->spool_fd);
	r->spooled = false;
	r->spool_fd = -1;
}
