/*
 * metrics_usage: the supervisor's aggregate of the workers' token usage
 * (IPC USAGE_COUNTS deltas, issue 19) and its /metrics families:
 * llmgate_tokens_total, llmgate_cost_total, llmgate_usage_unknown_total and
 * LiteLLM's litellm_input_tokens_metric, litellm_output_tokens_metric,
 * litellm_total_tokens_metric, litellm_spend_metric; and the tokens each
 * deployment used in the last minute (llmgatectl deployments). Keyed by
 * names (model group, deployment id, route), so a reload never resets a
 * counter; labels come from the config only. Part of metrics.c's struct
 * metrics; metrics_render() calls metrics_usage_render().
 */
#pragma once

#include <stdint.h>
#include <stdio.h>

#include "ipc.h"

struct config;
struct metrics_usage;

struct metrics_usage *metrics_usage_new(void);
void metrics_usage_free(struct metrics_usage *u);

/* Adds a worker's deltas at NOW_S (monotonic seconds, for the minute
 * window). CONFIG is the sending worker's. -EINVAL when an entry names no
 * group, deployment or route of it; nothing is added then. */
int metrics_usage_add(struct metrics_usage *u, const struct config *config,
                      const struct ipc_usage *msg, int64_t now_s);

/* Prompt plus completion tokens DEPLOYMENT (an id) used in the 60 s
 * before NOW_S, as reported (a worker reports every report_interval). */
uint64_t metrics_usage_last_minute(const struct metrics_usage *u, const char *deployment,
                                   int64_t now_s);

void metrics_usage_render(FILE *out, const struct metrics_usage *u);
