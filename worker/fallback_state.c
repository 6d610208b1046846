/*
 * fallback_state: a worker's view of the global fallback mode and its outcome
 * counters (see fallback_state.h). Runs in a worker; no allocation after
 * creation, so recording an outcome on the request path is a few adds.
 */
#include "fallback_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_groups.h"
#include "ipc.h"

struct group_state {
	enum fallback_mode mode;
	uint64_t epoch;
	uint32_t probes_granted; /* total the supervisor has granted us */
	uint32_t probes_taken;
	long direct_azure; /* group index or -1 */
};

struct deployment_counts {
	uint32_t counts[OUTCOME__COUNT];
	uint32_t trailing;
	uint32_t probe;
	uint64_t latency_us;
	bool dirty;
};

struct fallback_state {
	const struct config *config;
	struct group_state *groups;
	struct deployment_counts *deployments;
};

static long find_direct_azure(const struct config *config, const struct group *g)
{
	const struct group *azure = config_direct_azure(config, g);

	return azure ? (long)(azure - config->groups) : -1;
}

struct fallback_state *fallback_state_new(const struct config *config)
{
	struct fallback_state *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->config = config;
	fs->groups = calloc(config->n_groups ? config->n_groups : 1, sizeof(*fs->groups));
	fs->deployments =
	        calloc(config->n_deployments ? config->n_deployments : 1, sizeof(*fs->deployments));
	if (!fs->groups || !fs->deployments) {
		fallback_state_free(fs);
		return NULL;
	}
	for (size_t i = 0; i < config->n_groups; i++)
		fs->groups[i].direct_azure = find_direct_azure(config, &config->groups[i]);
	return fs;
}

void fallback_state_free(struct fallback_state *fs)
{
	if (!fs)
		return;
	free(fs->groups);
	free(fs->deployments);
	free(fs);
}

long fallback_state_direct_azure(const struct fallback_state *fs, size_t group)
{
	return group < fs->config->n_groups ? fs->groups[group].direct_azure : -1;
}

enum fallback_mode fallback_state_mode(const struct fallback_state *fs, size_t group)
{
	return group < fs->config->n_groups ? fs->groups[group].mode : MODE_NORMAL;
}

bool fallback_state_take_probe(struct fallback_state *fs, size_t group)
{
	struct group_state *g;

	if (group >= fs->config->n_groups)
		return false;
	g = &fs->groups[group];
	if (g->mode != MODE_FALLBACK || g->probes_taken >= g->probes_granted)
		return false;
	g->probes_taken = g->probes_granted; /* one probe per grant, never a backlog */
	return true;
}

void fallback_state_record(struct fallback_state *fs, size_t deployment, enum outcome outcome,
                           long latency_us, bool probe)
{
	struct deployment_counts *b;

	if (deployment >= fs->config->n_deployments || (unsigned)outcome >= OUTCOME__COUNT)
		return;
	b = &fs->deployments[deployment];
	b->counts[outcome]++;
	if (outcome == OUTCOME_SUCCESS)
		b->trailing = 0;
	else if (outcome_is_failure(outcome))
		b->trailing++;
	b->latency_us += latency_us > 0 ? (uint64_t)latency_us : 0;
	if (probe)
		b->probe = outcome == OUTCOME_SUCCESS ? IPC_PROBE_SUCCESS : IPC_PROBE_FAILURE;
	b->dirty = true;
}

int fallback_state_apply(struct fallback_state *fs, const struct ipc_mode *msg)
{
	struct group_state *g;

	if (msg->group >= fs->config->n_groups || msg->mode >= MODE__COUNT)
		return -EINVAL;
	g = &fs->groups[msg->group];
	if (msg->epoch < g->epoch)
		return 0; /* late message of an older decision */
	g->mode = (enum fallback_mode)msg->mode;
	g->epoch = msg->epoch;
	if (msg->probes > g->probes_granted)
		g->probes_granted = msg->probes;
	if (g->probes_taken > g->probes_granted)
		g->probes_taken = g->probes_granted;
	return 0;
}

int fallback_state_flush(struct fallback_state *fs, int fd, uint32_t generation, uint32_t *seq)
{
	for (size_t i = 0; i < fs->config->n_deployments; i++) {
		struct deployment_counts *b = &fs->deployments[i];
		struct ipc_report msg = {.deployment = (uint32_t)i};
		int r;

		if (!b->dirty)
			continue;
		memcpy(msg.counts, b->counts, sizeof(msg.counts));
		msg.trailing = b->trailing;
		msg.probe = b->probe;
		msg.latency_us = b->latency_us;
		r = ipc_send(fd, IPC_REPORT, generation, ++*seq, &msg, sizeof(msg));
		if (r < 0)
			return r;
		memset(b->counts, 0, sizeof(b->counts));
		b->trailing = 0;
		b->probe = IPC_PROBE_NONE;
		b->latency_us = 0;
		b->dirty = false;
	}
	return 0;
}
