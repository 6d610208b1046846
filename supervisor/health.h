/*
 * health: the supervisor's global view of deployment health and the fallback
 * mode of each primary group (SPEC 7). Workers' REPORT deltas are added to
 * per-deployment sliding windows; a timer runs the pure decision
 * (common/health_policy.h) for every primary group, logs each transition at
 * NOTICE with the numbers behind it, and broadcasts the new mode to every
 * worker. Probes are granted to one worker at a time. State is keyed by
 * names, so it survives reloads for the deployments and groups that remain.
 */
#pragma once

#include <jansson.h>

struct health;
struct ipc_report;
struct slot;
struct supervisor;

struct health *health_new(struct supervisor *sup);
void health_free(struct health *h);

/* The serving generation changed (start, reload): adopt its config. */
void health_config_changed(struct health *h);

/* Sends the current mode of every primary group to SLOT's worker. */
void health_send_modes(struct health *h, struct slot *slot);

/* Adds one worker report. -EINVAL when it names no deployment of that
 * worker's config (the worker is then not trusted). */
int health_report(struct health *h, struct slot *slot, const struct ipc_report *report);

/* The operator's override changed: decide again now. */
void health_override_changed(struct health *h);

/* "normal" or "fallback: gpt-4o" or "degraded: gpt-4o": for STATUS=. */
void health_summary(const struct health *h, char *buf, size_t len);

struct metrics_view;
/* Fills VIEW's groups and deployments (malloc'd arrays, names borrowed from H
 * until its next config change): free them with health_metrics_free(). */
int health_metrics_view(const struct health *h, struct metrics_view *view);
void health_metrics_free(struct metrics_view *view);

json_t *health_groups_json(const struct health *h);
json_t *health_deployments_json(const struct health *h);
