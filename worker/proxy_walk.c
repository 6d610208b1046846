/*
 * proxy_walk: the order in which a request naming a stored response tries
 * deployments (see proxy_walk.h). Runs in a worker, on the request path;
 * pure apart from the debug log line of proxy_walk_learn().
 *
 * The deployment known for an id is looked up in one place, known_deployment(),
 * and learned in one place, proxy_walk_learn(): the instance-wide id table
 * (common/response_affinity.h, built separately) plugs in there. Until then
 * no deployment is known and the walk alone makes follow-ups correct.
 */
#include "proxy_walk.h"

#include <string.h>

#include "config.h"
#include "log.h"

bool proxy_walk_id_valid(const char *id, size_t len)
{
	if (len == 0 || len > PROXY_RESPONSE_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = id[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* The deployment known to hold ID, or -1: the shared response-id table
 * (response_affinity_lookup) answers here. */
static long known_deployment(const struct config *config, const char *id, size_t len)
{
	(void)config;
	(void)id;
	(void)len;
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

static bool json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool proxy_walk_scan_id(const char *data, size_t len, const char **ret_id, size_t *ret_len)
{
	const char *p = data, *end = data + len;

	while (p < end && (p = memmem(p, (size_t)(end - p), "\"id\"", 4))) {
		const char *v = p + 4, *q;

		p += 4;
		while (v < end && json_space(*v))
			v++;
		if (v >= end || *v != ':')
			continue;
		for (v++; v < end && json_space(*v); v++)
			;
		if (v >= end || *v != '"')
			continue;
		q = memchr(v + 1, '"', (size_t)(end - v - 1));
		if (!q || !proxy_walk_id_valid(v + 1, (size_t)(q - v - 1)))
			return false;
		*ret_id = v + 1;
		*ret_len = (size_t)(q - v - 1);
		return true;
	}
	return false;
}

void proxy_walk_learn(const struct config *config, size_t dep, const char *id, size_t len)
{
	log_debug("response '%.*s' lives on deployment '%s'", (int)len, id,
	          config->deployments[dep].id);
}
