/*
 * trace_sampler: whether a request's trace is recorded and exported. Pure.
 * Parent-based, as the OpenTelemetry SDKs' default "parentbased_traceidratio":
 * a request whose client sent a valid traceparent follows its sampled flag;
 * any other is sampled when its trace id falls under the ratio, decided from
 * the id's last 8 bytes (the random part W3C level 2 describes), so every
 * process that sees the same trace id with the same ratio decides the same.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "trace_context.h"

/* RATIO in [0, 1]; PARENT NULL when the client sent no valid traceparent. */
bool trace_sampler_decide(double ratio, const struct trace_parent *parent,
                          const uint8_t trace_id[TRACE_ID_LEN]);
