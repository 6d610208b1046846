/*
 * otlp_proto: spans written as an OTLP/HTTP protobuf export request
 * (opentelemetry-proto's ExportTraceServiceRequest, application/x-protobuf),
 * the default encoding (otlp_json.h says why). Pure, hand-written wire
 * format: varints, fixed64 and length-delimited fields, no library.
 *
 * A batch is otlp_proto_head() followed by the spans' bytes as they were
 * queued: each otlp_proto_span() is one complete ScopeSpans.spans field, so
 * the exporter sends its queue as the body's tail without copying it, and
 * only the head (ExportTraceServiceRequest -> ResourceSpans -> Resource,
 * ScopeSpans -> Scope, whose lengths depend on the spans' total) is written
 * at send time. Strings that may come from a client are made valid UTF-8
 * (U+FFFD for a bad byte): a collector refuses a whole batch over one bad
 * string field.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "otlp_buf.h"
#include "trace_span.h"

/* One span as a ScopeSpans.spans field (tag, length, Span message). The
 * attributes in S->PRE_SET are S->PRE's bytes, copied as they are. */
void otlp_proto_span(struct otlp_buf *b, const struct trace_span *s);

/* One attribute as a complete Span.attributes field, for a span's PRE
 * bytes (attributes fixed per deployment, encoded once). */
void otlp_proto_attr_string(struct otlp_buf *b, enum trace_attr a, const char *v, size_t len);
void otlp_proto_attr_int(struct otlp_buf *b, enum trace_attr a, int64_t v);
/* A PRE piece is read OTLP_PROTO_PIECE_PAD bytes at a time: once its
 * attributes are in, this pads its buffer (zeros past its end, not in its
 * length); 0, or -1 (OOM set). */
#define OTLP_PROTO_PIECE_PAD 16
int otlp_proto_piece_pad(struct otlp_buf *b);

/* The most bytes otlp_proto_head() writes for SERVICE_NAME and VERSION. */
size_t otlp_proto_head_max(const char *service_name, const char *version);
/* The request up to its spans, SPANS_LEN bytes of otlp_proto_span()
 * output, into BUF (otlp_proto_head_max() bytes): its length. */
size_t otlp_proto_head(char *buf, const char *service_name, const char *version, size_t spans_len);
