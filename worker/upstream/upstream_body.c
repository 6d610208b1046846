/*
 * upstream_body: a request body made of parts (see upstream.h), for uploads
 * that are not held whole in memory. Runs in a worker, on its event loop.
 *
 * The memory parts are copied into the body's one allocation (they are
 * small: a rewritten form field); a file keeps one dup() of its fd (shared by
 * its ranges) and is read with pread() at the offset the reader asks for, so
 * the body has no cursor of its own: every transport (the own HTTP/1.1
 * client, the own HTTP/2 client, libcurl) reads it from 0 as many times as
 * it sends it (a retry on a new connection, a hand-over to HTTP/2, the next
 * attempt). The
 * body is counted: each transfer holds a reference until it is gone, so the
 * file outlives no transfer and no transfer outlives the file.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upstream.h"

struct upstream_body {
	unsigned refs;
	size_t n;
	uint64_t len;
	struct upstream_body_part parts[]; /* memory parts' bytes follow the array */
};

/* The fd B already holds for the file of PARTS[I] (an earlier range of it: one
 * dup() per file), or -1. */
static int same_file(const struct upstream_body *b, const struct upstream_body_part *parts,
                     size_t i)
{
	size_t k = 0;

	for (size_t j = 0; j < i; j++) {
		if (parts[j].len == 0)
			continue;
		if (!parts[j].data && parts[j].fd == parts[i].fd)
			return b->parts[k].fd;
		k++;
	}
	return -1;
}

/* Whether part I of B is the first to hold its fd (the one to close). */
static bool first_of_fd(const struct upstream_body *b, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (!b->parts[j].data && b->parts[j].fd == b->parts[i].fd)
			return false;
	return true;
}

struct upstream_body *upstream_body_new(const struct upstream_body_part *parts, size_t n)
{
	size_t bytes = 0;
	struct upstream_body *b;
	char *p;

	for (size_t i = 0; i < n; i++)
		if (parts[i].data)
			bytes += parts[i].len;
	b = malloc(sizeof(*b) + n * sizeof(*parts) + bytes);
	if (!b)
		return NULL;
	b->refs = 1;
	b->n = 0;
	b->len = 0;
	p = (char *)(b->parts + n);
	for (size_t i = 0; i < n; i++) {
		struct upstream_body_part *d = &b->parts[b->n];

		if (parts[i].len == 0)
			continue;
		*d = parts[i];
		if (parts[i].data) {
			memcpy(p, parts[i].data, parts[i].len);
			d->data = p;
			d->fd = -1;
			p += parts[i].len;
		} else {
			d->fd = same_file(b, parts, i);
			if (d->fd < 0)
				d->fd = dup(parts[i].fd);
			if (d->fd < 0) {
				upstream_body_unref(b);
				return NULL;
			}
		}
		b->n++;
		b->len += parts[i].len;
	}
	return b;
}

struct upstream_body *upstream_body_ref(struct upstream_body *b)
{
	if (b)
		b->refs++;
	return b;
}

void upstream_body_unref(struct upstream_body *b)
{
	if (!b || --b->refs > 0)
		return;
	for (size_t i = 0; i < b->n; i++)
		if (!b->parts[i].data && first_of_fd(b, i))
			close(b->parts[i].fd);
	free(b);
}

uint64_t upstream_body_len(const struct upstream_body *b)
{
	return b ? b->len : 0;
}

ssize_t upstream_body_read(const struct upstream_body *b, uint64_t off, char *buf, size_t len)
{
	size_t done = 0;
	size_t i = 0;

	while (i < b->n && off >= b->parts[i].len) {
		off -= b->parts[i].len;
		i++;
	}
	for (; i < b->n && done < len; i++, off = 0) {
		const struct upstream_body_part *part = &b->parts[i];
		size_t want = part->len - off < len - done ? (size_t)(part->len - off) : len - done;

		if (part->data) {
			memcpy(buf + done, part->data + off, want);
		} else {
			ssize_t n;

			do
				n = pread(part->fd, buf + done, want, (off_t)(part->offset + off));
			while (n < 0 && errno == EINTR);
			if (n < 0)
				return -errno;
			if ((size_t)n < want)
				return -EIO; /* the file is shorter than the part says */
		}
		done += want;
	}
	return (ssize_t)done;
}
