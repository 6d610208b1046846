/*
 * otlp_buf: the growable byte buffer the span encoders (otlp_json,
 * otlp_proto) append to and the exporter (otlp_export) queues and sends.
 * An append that cannot grow the buffer sets OOM and leaves it as it was
 * before that append; the caller drops what it was adding.
 */
#pragma once

#include <stddef.h>

struct otlp_buf {
	char *data;
	size_t len, cap;
	int oom; /* an append failed: the buffer is incomplete */
};

void otlp_buf_free(struct otlp_buf *b);
void otlp_buf_reset(struct otlp_buf *b);
/* Room for MORE bytes after LEN: 0, or -1 (OOM set). */
int otlp_buf_reserve(struct otlp_buf *b, size_t more);
void otlp_buf_add(struct otlp_buf *b, const char *s, size_t len);
