/*
 * keys_view: the client keys as `llmgatectl key list` and /metrics show
 * them: each key's limits beside its use (this minute, in flight, this
 * budget period), read from the shared counters. Never the key or its
 * hash. Supervisor process only.
 */
#pragma once

#include <jansson.h>

struct config;

/* {"keys_file": PATH or null, "keys": [...]}: CONFIG's keys (the serving generation's). */
json_t *keys_view_json(const struct config *config);
