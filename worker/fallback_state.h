/*
 * fallback_state: what a worker knows about deployment health and the global
 * fallback decision (SPEC 7). The supervisor decides; the worker only applies
 * the mode it was last sent for each primary group, hands out the probe
 * grants it was given, and counts every upstream attempt's outcome per
 * deployment, to be reported to the supervisor as deltas.
 *
 * Indexes are those of the worker's config: groups[] and deployments[].
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outcome.h"
#include "route.h"

struct config;

struct fallback_state;

struct fallback_state *fallback_state_new(const struct config *config);
void fallback_state_free(struct fallback_state *fs);

/* The group's direct-Azure target (SPEC 7: the first group of its fallback
 * chain whose deployments are all azure/), or -1 when it has none. */
long fallback_state_direct_azure(const struct fallback_state *fs, size_t group);

enum fallback_mode fallback_state_mode(const struct fallback_state *fs, size_t group);

/* True once per probe the supervisor granted for GROUP while in fallback:
 * the caller then sends this request to the primary first, and falls back
 * within the same request if it fails. */
bool fallback_state_take_probe(struct fallback_state *fs, size_t group);

/* Counts one attempt against deployment DEPLOYMENT. PROBE marks the attempt a
 * probe granted by fallback_state_take_probe(). */
void fallback_state_record(struct fallback_state *fs, size_t deployment, enum outcome outcome,
                           long latency_us, bool probe);

struct ipc_mode;

/* Applies a MODE message from the supervisor; -EINVAL when it names a group
 * or mode that does not exist (the caller treats the supervisor as broken). */
int fallback_state_apply(struct fallback_state *fs, const struct ipc_mode *msg);

/* Sends the counts gathered since the last call as REPORT messages on FD
 * and clears them. Returns 0 or a negative errno (counts are kept on EAGAIN). */
int fallback_state_flush(struct fallback_state *fs, int fd, uint32_t generation, uint32_t *seq);
