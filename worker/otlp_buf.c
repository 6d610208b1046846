/*
 * otlp_buf: the encoders' growable buffer (see otlp_buf.h). Pure; runs in
 * workers and the unit tests. Grows by doubling from 4 KiB, so a queue of
 * spans settles at its size after the first batches.
 */
#include "otlp_buf.h"

#include <stdlib.h>
#include <string.h>

void otlp_buf_free(struct otlp_buf *b)
{
	free(b->data);
	*b = (struct otlp_buf){0};
}

void otlp_buf_reset(struct otlp_buf *b)
{
	b->len = 0;
	b->oom = 0;
}

int otlp_buf_reserve(struct otlp_buf *b, size_t more)
{
	size_t cap;
	char *n;

	if (b->len + more <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	n = realloc(b->data, cap);
	if (!n) {
		b->oom = 1;
		return -1;
	}
	b->data = n;
	b->cap = cap;
	return 0;
}

void otlp_buf_add(struct otlp_buf *b, const char *s, size_t len)
{
	if (otlp_buf_reserve(b, len) < 0)
		return;
	memcpy(b->data + b->len, s, len);
	b->len += len;
}
