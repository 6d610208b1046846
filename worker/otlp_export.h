/*
 * otlp_export: a worker's span exporter. Finished spans are encoded at once
 * (otlp_proto, or otlp_json with protocol http/json) into a bounded queue
 * whose bytes are the export request's body; a batch leaves as one
 * OTLP/HTTP POST through the worker's own upstream client when the queue
 * holds batch_size spans or flush_interval after the oldest waiting span,
 * one export in flight at a time. Nothing here blocks the loop or the request that ended
 * the span: a full queue drops the span, a failed export drops its batch,
 * and both are counted (otlp_export_take_counts(), reported to the
 * supervisor: llmgate_otel_spans_*_total).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "config_otel.h"
#include "trace_span.h"

struct event_base;
struct otlp_export;
struct upstream;

/* 0, or -ENOMEM. C must outlive the exporter (the worker's config). */
int otlp_export_new(const struct otel_config *c, struct upstream *up, struct event_base *base,
                    struct otlp_export **ret);
/* Sends what is queued now (a draining worker), without waiting for the
 * batch or the timer. */
void otlp_export_flush(struct otlp_export *x);
/* Nothing queued, nothing in flight. */
bool otlp_export_idle(const struct otlp_export *x);
/* At exit: what is queued or in flight is given up and counted as dropped
 * (take the counts after it for the last report). */
void otlp_export_stop(struct otlp_export *x);
void otlp_export_free(struct otlp_export *x);
/* Queues a finished span (its strings are read now, not kept). */
void otlp_export_add(struct otlp_export *x, const struct trace_span *span);
/* Spans exported (a 2xx from the collector) and dropped since the last call. */
void otlp_export_take_counts(struct otlp_export *x, uint32_t *ret_exported, uint32_t *ret_dropped);
