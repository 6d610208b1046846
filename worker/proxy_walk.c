/*
 * proxy_walk: the order in which a request naming a stored response tries
 * deployments (see proxy_walk.h). Runs in a worker, on the request path;
 * pure apart from the instance-wide id table (common/response_affinity.h),
 * which is looked up in one place, known_deployment(), and learned in one
 * place, proxy_walk_learn(). Without the table (off, or the id evicted or
 * learned by another instance) the walk alone makes follow-ups correct.
 */
#include "proxy_walk.h"

#include <string.h>

#include "config.h"
#include "log.h"
#include "response_affinity.h"
#include "response_id_scan.h"

/* The deployment known to hold ID, or -1 (none known, or one this config
 * no longer has). */
static long known_deployment(const struct config *config, const char *id, size_t len)
{
	char dep_id[RESPONSE_AFFINITY_DEPLOYMENT_MAX + 1];

	if (!response_affinity_lookup(id, len, dep_id, sizeof(dep_id)))
		return -1;
	for (size_t i = 0; i < config->n_deployments; i++)
		if (strcmp(config->deployments[i].id, dep_id) == 0)
			return (long)i;
	return -1;
}

static void add(struct proxy_walk *w, size_t dep)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->deps[i] == dep)
			return;
	if (w->n < PROXY_WALK_MAX)
		w->deps[w->n++] = dep;
}

static bool serves_responses(const struct config *config, const struct group *g)
{
	for (size_t i = 0; i < g->n_deployments; i++) {
		const char *mode = config->deployments[g->deployments[i]].mode;

		if (mode && strcmp(mode, "responses") == 0)
			return true;
	}
	return false;
}

static void add_group(struct proxy_walk *w, const struct config *config, size_t group)
{
	const struct group *g = &config->groups[group];

	for (size_t i = 0; i < g->n_deployments; i++)
		add(w, g->deployments[i]);
}

void proxy_walk_init(struct proxy_walk *w, const struct config *config, long group, const char *id,
                     size_t len)
{
	long known = known_deployment(config, id, len);
	bool any = false;

	w->active = true;
	w->n = w->next = 0;
	w->not_found = w->failed = 0;
	memcpy(w->id, id, len);
	w->id[len] = '\0';
	if (known >= 0)
		add(w, (size_t)known);
	if (group >= 0) {
		add_group(w, config, (size_t)group);
		return;
	}
	for (size_t g = 0; g < config->n_groups; g++) {
		if (serves_responses(config, &config->groups[g])) {
			add_group(w, config, g);
			any = true;
		}
	}
	for (size_t g = 0; !any && g < config->n_groups; g++)
		add_group(w, config, g);
}

long proxy_walk_next(struct proxy_walk *w)
{
	return w->next < w->n ? (long)w->deps[w->next++] : -1;
}

bool proxy_walk_not_found(enum proxy_op op, long status, const char *body, size_t len)
{
	static const char code[] = "previous_response_not_found";

	if (proxy_op_by_id(op))
		return status == 404;
	if (op != PROXY_OP_RESPONSES || (status != 400 && status != 404))
		return false;
	return body && memmem(body, len, code, sizeof(code) - 1) != NULL;
}

void proxy_walk_learn(const struct config *config, size_t dep, const char *id, size_t len)
{
	response_affinity_learn(id, len, config->deployments[dep].id);
	log_debug("response '%.*s' lives on deployment '%s'", (int)len, id,
	          config->deployments[dep].id);
}
