/*
 * metrics_usage: token usage aggregation and rendering (see
 * metrics_usage.h). Runs in the supervisor. Invariants: counters only
 * grow; a message is validated whole before anything is added; label
 * values are escaped as the text format requires.
 */
#include "metrics_usage.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "metrics_families.h"
#include "route.h"

#define MINUTE_BUCKETS 6 /* of 10 s: the last minute, give or take a bucket */
#define BUCKET_S       10

struct uentry {
	char *model;         /* the group named, or METRICS_UNKNOWN_MODEL */
	char *deployment;    /* its id */
	char *litellm_model; /* the deployment's litellm_params.model */
	const char *route;
	bool priced; /* the deployment had prices when counted */
	uint64_t prompt, completion, cached_prompt, reasoning, unknown;
	double cost;
};

/* Tokens per deployment in 10 s buckets, for the last minute. */
struct uminute {
	char *deployment;
	int64_t bucket_start[MINUTE_BUCKETS]; /* the bucket's 10 s period; -1 unused */
	uint64_t tokens[MINUTE_BUCKETS];
};

struct metrics_usage {
	struct uentry *e;
	size_t n, cap;
	struct uminute *m;
	size_t n_m, cap_m;
};

/* Counters only grow, whatever a worker sends: they stop at UINT64_MAX. */
static void add_sat(uint64_t *dst, uint64_t v)
{
	*dst = *dst + v < *dst ? UINT64_MAX : *dst + v;
}

struct metrics_usage *metrics_usage_new(void)
{
	return calloc(1, sizeof(struct metrics_usage));
}

void metrics_usage_free(struct metrics_usage *u)
{
	if (!u)
		return;
	for (size_t i = 0; i < u->n; i++) {
		free(u->e[i].model);
		free(u->e[i].deployment);
		free(u->e[i].litellm_model);
	}
	for (size_t i = 0; i < u->n_m; i++)
		free(u->m[i].deployment);
	free(u->e);
	free(u->m);
	free(u);
}

static bool grow(void **p, size_t *cap, size_t n, size_t size)
{
	void *q;
	size_t c;

	if (n < *cap)
		return true;
	c = *cap ? 2 * *cap : 16;
	q = realloc(*p, c * size);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

static struct uentry *find(struct metrics_usage *u, const char *model, const struct deployment *d,
                           const char *route)
{
	struct uentry *e;

	for (size_t i = 0; i < u->n; i++) {
		e = &u->e[i];
		if (e->route == route && strcmp(e->model, model) == 0 &&
		    strcmp(e->deployment, d->id) == 0 && strcmp(e->litellm_model, d->model) == 0)
			return e;
	}
	if (!grow((void **)&u->e, &u->cap, u->n, sizeof(*u->e)))
		return NULL;
	e = &u->e[u->n];
	*e = (struct uentry){.route = route};
	e->model = strdup(model);
	e->deployment = strdup(d->id);
	e->litellm_model = strdup(d->model);
	if (!e->model || !e->deployment || !e->litellm_model) {
		free(e->model);
		free(e->deployment);
		free(e->litellm_model);
		return NULL;
	}
	u->n++;
	return e;
}

static struct uminute *find_minute(struct metrics_usage *u, const char *deployment, bool add)
{
	struct uminute *m;

	for (size_t i = 0; i < u->n_m; i++)
		if (strcmp(u->m[i].deployment, deployment) == 0)
			return &u->m[i];
	if (!add || !grow((void **)&u->m, &u->cap_m, u->n_m, sizeof(*u->m)))
		return NULL;
	m = &u->m[u->n_m];
	memset(m, 0, sizeof(*m));
	for (int b = 0; b < MINUTE_BUCKETS; b++)
		m->bucket_start[b] = -1;
	m->deployment = strdup(deployment);
	if (!m->deployment)
		return NULL;
	u->n_m++;
	return m;
}

static void add_minute(struct metrics_usage *u, const char *deployment, uint64_t tokens,
                       int64_t now_s)
{
	struct uminute *m = find_minute(u, deployment, true);
	int64_t period = now_s / BUCKET_S;
	int b = (int)(period % MINUTE_BUCKETS);

	if (!m)
		return;
	if (m->bucket_start[b] != period) {
		m->bucket_start[b] = period;
		m->tokens[b] = 0;
	}
	add_sat(&m->tokens[b], tokens);
}

uint64_t metrics_usage_last_minute(const struct metrics_usage *u, const char *deployment,
                                   int64_t now_s)
{
	int64_t period = now_s / BUCKET_S;
	uint64_t sum = 0;

	for (size_t i = 0; i < u->n_m; i++) {
		const struct uminute *m = &u->m[i];

		if (strcmp(m->deployment, deployment) != 0)
			continue;
		for (int b = 0; b < MINUTE_BUCKETS; b++)
			if (m->bucket_start[b] >= 0 && period - m->bucket_start[b] < MINUTE_BUCKETS)
				sum += m->tokens[b];
	}
	return sum;
}

static bool valid(const struct config *c, const struct ipc_usage_count *e)
{
	return (e->group == IPC_NONE || e->group < c->n_groups) &&
	       e->deployment < c->n_deployments && e->route < ROUTE__COUNT && !e->reserved[0] &&
	       !e->reserved[1] && !e->reserved[2] && e->cost >= 0 && e->cost < 1e300;
}

int metrics_usage_add(struct metrics_usage *u, const struct config *c, const struct ipc_usage *msg,
                      int64_t now_s)
{
	if (msg->n > IPC_USAGE_MAX || msg->reserved)
		return -EINVAL;
	for (uint32_t i = 0; i < msg->n; i++)
		if (!valid(c, &msg->counts[i]))
			return -EINVAL;
	for (uint32_t i = 0; i < msg->n; i++) {
		const struct ipc_usage_count *k = &msg->counts[i];
		const struct deployment *d = &c->deployments[k->deployment];
		struct uentry *e = find(
		        u, k->group == IPC_NONE ? METRICS_UNKNOWN_MODEL : c->groups[k->group].name,
		        d, route_name((enum route)k->route));

		if (!e)
			continue;
		add_sat(&e->prompt, k->prompt);
		add_sat(&e->completion, k->completion);
		add_sat(&e->cached_prompt, k->cached_prompt);
		add_sat(&e->reasoning, k->reasoning);
		add_sat(&e->unknown, k->unknown);
		e->cost += k->cost;
		e->priced |= d->price.set;
		add_minute(u, d->id,
		           k->prompt + k->completion < k->prompt ? UINT64_MAX
		                                                 : k->prompt + k->completion,
		           now_s);
	}
	return 0;
}

static void label(FILE *out, const char *name, const char *value, bool first)
{
	fprintf(out, "%s%s=\"", first ? "" : ",", name);
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			fputc('\\', out), fputc(*p, out);
		else if (*p == '\n')
			fputs("\\n", out);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

static const char *head(FILE *out, enum metric_family k)
{
	const struct metric_family_info *f = &metric_families[k];

	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
	return f->name;
}

/* The LiteLLM families (as its prometheus_client writes them in the text
 * format: litellm_spend_metric is litellm_spend_metric_total): by requested_model (the group),
 * model (litellm_params.model) and model_id (the deployment), summed over routes. */
static void render_litellm(FILE *out, const struct metrics_usage *u, enum metric_family k)
{
	const char *name = head(out, k);

	for (size_t i = 0; i < u->n; i++) {
		const struct uentry *e = &u->e[i];
		bool seen = false;
		uint64_t tokens = 0;
		double cost = 0;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(u->e[j].model, e->model) == 0 &&
			       strcmp(u->e[j].deployment, e->deployment) == 0 &&
			       strcmp(u->e[j].litellm_model, e->litellm_model) == 0;
		if (seen || (k == METRIC_LITELLM_SPEND && !e->priced))
			continue;
		for (size_t j = i; j < u->n; j++) {
			const struct uentry *o = &u->e[j];

			if (strcmp(o->model, e->model) != 0 ||
			    strcmp(o->deployment, e->deployment) != 0 ||
			    strcmp(o->litellm_model, e->litellm_model) != 0)
				continue;
			tokens += k == METRIC_LITELLM_INPUT    ? o->prompt
			          : k == METRIC_LITELLM_OUTPUT ? o->completion
			                                       : o->prompt + o->completion;
			cost += o->cost;
		}
		fprintf(out, "%s{", name);
		if (k == METRIC_LITELLM_SPEND) {
			label(out, "model", e->litellm_model, true);
			label(out, "model_id", e->deployment, false);
			fprintf(out, "} %.10g\n", cost);
		} else {
			label(out, "requested_model", e->model, true);
			label(out, "model", e->litellm_model, false);
			label(out, "model_id", e->deployment, false);
			fprintf(out, "} %llu\n", (unsigned long long)tokens);
		}
	}
}

void metrics_usage_render(FILE *out, const struct metrics_usage *u)
{
	static const char *const types[] = {"prompt", "completion", "cached_prompt", "reasoning"};
	const char *name = head(out, METRIC_TOKENS);

	for (size_t i = 0; i < u->n; i++) {
		const struct uentry *e = &u->e[i];
		const uint64_t v[] = {e->prompt, e->completion, e->cached_prompt, e->reasoning};

		for (int t = 0; t < 4; t++) {
			fprintf(out, "%s{", name);
			label(out, "model", e->model, true);
			label(out, "deployment", e->deployment, false);
			label(out, "route", e->route, false);
			fprintf(out, ",type=\"%s\"} %llu\n", types[t], (unsigned long long)v[t]);
		}
	}
	name = head(out, METRIC_COST);
	for (size_t i = 0; i < u->n; i++) {
		const struct uentry *e = &u->e[i];
		bool seen = false;
		double cost = 0;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(u->e[j].model, e->model) == 0 &&
			       strcmp(u->e[j].deployment, e->deployment) == 0;
		if (seen || !e->priced)
			continue;
		for (size_t j = i; j < u->n; j++)
			if (strcmp(u->e[j].model, e->model) == 0 &&
			    strcmp(u->e[j].deployment, e->deployment) == 0)
				cost += u->e[j].cost;
		fprintf(out, "%s{", name);
		label(out, "model", e->model, true);
		label(out, "deployment", e->deployment, false);
		fprintf(out, "} %.10g\n", cost);
	}
	name = head(out, METRIC_USAGE_UNKNOWN);
	for (size_t i = 0; i < u->n; i++) {
		const struct uentry *e = &u->e[i];

		fprintf(out, "%s{", name);
		label(out, "model", e->model, true);
		label(out, "deployment", e->deployment, false);
		label(out, "route", e->route, false);
		fprintf(out, "} %llu\n", (unsigned long long)e->unknown);
	}
	render_litellm(out, u, METRIC_LITELLM_INPUT);
	render_litellm(out, u, METRIC_LITELLM_OUTPUT);
	render_litellm(out, u, METRIC_LITELLM_TOTAL);
	render_litellm(out, u, METRIC_LITELLM_SPEND);
}
