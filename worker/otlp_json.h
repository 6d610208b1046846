/*
 * otlp_json: spans written as an OTLP/HTTP JSON export request
 * (ExportTraceServiceRequest, opentelemetry-proto's JSON mapping: ids as hex,
 * enums as numbers, 64-bit integers as decimal strings). Pure: appends to a
 * growable buffer; the exporter (otlp_export.c) frames a batch as
 * otlp_json_begin(), the spans separated by ',', otlp_json_end().
 *
 * Why JSON and not protobuf: both are what the OTLP/HTTP receivers accept
 * (the Collector's otlphttp receiver, Jaeger, Tempo, most vendors' intake);
 * protobuf is the spec's default for exporters, but JSON needs no new
 * dependency and no hand-written wire codec, a batch of our fixed span
 * schema encodes in one pass without allocation per span, and an operator
 * can read it with tcpdump. The cost is a larger body (about twice), paid
 * off the request path, once per batch.
 */
#pragma once

#include <stddef.h>

#include "trace_span.h"

struct otlp_buf {
	char *data;
	size_t len, cap;
	int oom; /* an append failed: the buffer is incomplete */
};

void otlp_buf_free(struct otlp_buf *b);
void otlp_buf_reset(struct otlp_buf *b);
void otlp_buf_add(struct otlp_buf *b, const char *s, size_t len);

/* The request up to the spans array, for SERVICE_NAME and llmgate VERSION. */
void otlp_json_begin(struct otlp_buf *b, const char *service_name, const char *version);
/* One span object. */
void otlp_json_span(struct otlp_buf *b, const struct trace_span *s);
/* Closes the request. */
void otlp_json_end(struct otlp_buf *b);
