/*
 * otlp_json: spans written as an OTLP/HTTP JSON export request
 * (ExportTraceServiceRequest, opentelemetry-proto's JSON mapping: ids as hex,
 * enums as numbers, 64-bit integers as decimal strings). Pure: appends to a
 * growable buffer; the exporter (otlp_export.c) frames a batch as
 * otlp_json_begin(), the spans separated by ',', otlp_json_end().
 *
 * The encodings and why protobuf is the default: OTLP/HTTP protobuf
 * (otlp_proto.c) is what every OpenTelemetry SDK exports by default
 * (OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf) and what every receiver takes;
 * its body is about half the size, and its hot path has no escaping and no
 * hex: ids are raw bytes, integers varints, the per-deployment attributes
 * bytes encoded once. JSON stays as an operator's choice (http/json) for a
 * receiver that only takes JSON, or to read an export with tcpdump; it
 * costs more per span (escaping, hex ids, decimal numbers).
 */
#pragma once

#include <stddef.h>

#include "otlp_buf.h"
#include "trace_span.h"

/* The request up to the spans array, for SERVICE_NAME and llmgate VERSION. */
void otlp_json_begin(struct otlp_buf *b, const char *service_name, const char *version);
/* One span object. */
void otlp_json_span(struct otlp_buf *b, const struct trace_span *s);
/* Closes the request. */
void otlp_json_end(struct otlp_buf *b);
