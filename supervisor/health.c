/*
 * health: aggregation of worker reports and the global fallback mode (see
 * health.h). Runs in the supervisor only. Reports are validated against the
 * sending worker's own config before anything is counted.
 */
#include "health.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "config_groups.h"
#include "health_policy.h"
#include "ipc.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "supervisor_int.h"
#include "clock.h"

struct hdeployment {
	char *id;
	char *group;
	struct health_window window;
	struct health_counts total; /* since the daemon started */
	uint64_t latency_us;
	enum outcome last_error;
	time_t last_error_time;
};

struct hgroup {
	char *name;
	uint64_t consecutive; /* failures in a row over all its deployments */
	char *direct_azure;   /* the direct-Azure group; NULL: not a primary group */
	char primary_ids[256];
	struct health_group state;
	uint32_t probes; /* grants so far */
	uint64_t transitions;
};

struct health {
	struct supervisor *sup;
	struct hdeployment *deployments;
	size_t n_deployments;
	struct hgroup *groups;
	size_t n_groups;
	struct event *timer;
	size_t next_probe_worker;
};

/* The serving generation's config; before the first one serves, the
 * starting one's (so its workers get their modes before they accept). */
static const struct config *serving_config(const struct health *h)
{
	if (h->sup->serving)
		return h->sup->serving->config;
	return h->sup->generations ? h->sup->generations->config : NULL;
}

static struct hdeployment *find_deployment(const struct health *h, const char *id)
{
	for (size_t i = 0; i < h->n_deployments; i++)
		if (strcmp(h->deployments[i].id, id) == 0)
			return &h->deployments[i];
	return NULL;
}

static struct hgroup *find_group(const struct health *h, const char *name)
{
	for (size_t i = 0; i < h->n_groups; i++)
		if (strcmp(h->groups[i].name, name) == 0)
			return &h->groups[i];
	return NULL;
}

/* SPEC 7: the name of G's direct-Azure group, or NULL. */
static const char *direct_azure_of(const struct config *c, const struct group *g)
{
	const struct group *azure = config_direct_azure(c, g);

	return azure ? azure->name : NULL;
}

static void sum_group(const struct health *h, const char *group, long now,
                      struct health_counts *ret)
{
	memset(ret, 0, sizeof(*ret));
	for (size_t i = 0; i < h->n_deployments; i++) {
		struct health_counts c;

		if (strcmp(h->deployments[i].group, group) != 0)
			continue;
		health_window_total(&h->deployments[i].window, now, &c);
		health_counts_add(ret, &c);
	}
}

/* The group's index in SLOT's own config, or -1. */
static long index_in(const struct slot *slot, const char *group)
{
	const struct config *c = slot->gen->config;
	const struct group *g = config_find_group(c, group);

	return g ? (long)(g - c->groups) : -1;
}

static void send_mode(struct slot *slot, const struct hgroup *g, uint32_t probes)
{
	long index = index_in(slot, g->name);
	struct ipc_mode msg = {
	        .mode = (uint32_t)g->state.mode,
	        .probes = probes,
	        .epoch = g->state.epoch,
	};

	if (index < 0 || slot->pid <= 0)
		return;
	msg.group = (uint32_t)index;
	slot_send(slot, IPC_MODE, &msg, sizeof(msg));
}

static void broadcast(struct health *h, const struct hgroup *g)
{
	for (struct generation *gen = h->sup->generations; gen; gen = gen->next)
		for (size_t i = 0; i < gen->n_slots; i++)
			send_mode(&gen->slots[i], g, 0);
}

void health_summary(const struct health *h, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < h->n_groups && used < len; i++) {
		const struct hgroup *g = &h->groups[i];
		int n;

		if (!g->direct_azure || g->state.mode == MODE_NORMAL)
			continue;
		n = snprintf(buf + used, len - used, "%s%s: %s", used ? ", " : "",
		             fallback_mode_name(g->state.mode), g->name);
		if (n > 0)
			used += (size_t)n;
	}
	if (!buf[0])
		snprintf(buf, len, "mode normal");
}

static void transitioned(struct health *h, struct hgroup *g, enum fallback_mode from)
{
	g->transitions++;
	log_notice("group '%s': %s -> %s: %s", g->name, fallback_mode_name(from),
	           fallback_mode_name(g->state.mode), g->state.reason);
	if (g->state.mode == MODE_NORMAL) {
		/* Start afresh: old failures must not trip the group again at once. */
		for (size_t i = 0; i < h->n_deployments; i++)
			if (strcmp(h->deployments[i].group, g->name) == 0)
				health_window_clear(&h->deployments[i].window);
		g->consecutive = 0;
	}
	broadcast(h, g);
	supervisor_status_changed(h->sup);
}

static void grant_probe(struct health *h, struct hgroup *g)
{
	struct generation *gen = h->sup->serving;

	if (!gen || gen->n_slots == 0)
		return;
	for (size_t tries = 0; tries < gen->n_slots; tries++) {
		struct slot *slot = &gen->slots[h->next_probe_worker++ % gen->n_slots];

		if (slot->state == WORKER_READY) {
			g->probes++;
			log_info("group '%s': probe of the primary granted to worker[%u]", g->name,
			         slot->index);
			send_mode(slot, g, g->probes);
			return;
		}
	}
}

static void evaluate(struct health *h)
{
	const struct config *c = serving_config(h);
	enum fallback_setting override = h->sup->fallback_override;
	long now = clock_now_ms();

	if (!c)
		return;
	for (size_t i = 0; i < h->n_groups; i++) {
		struct hgroup *g = &h->groups[i];
		struct hgroup *azure;
		struct health_input in = {.group = g->name, .primary = g->primary_ids};
		enum fallback_mode from = g->state.mode;

		if (!g->direct_azure)
			continue;
		azure = find_group(h, g->direct_azure);
		in.has_direct_azure = azure != NULL;
		sum_group(h, g->name, now, &in.primary_window);
		in.primary_consecutive = g->consecutive;
		if (azure) {
			sum_group(h, azure->name, now, &in.azure_window);
			in.azure_consecutive = azure->consecutive;
		}
		if (health_decide(&g->state, &in, &c->fallback, override, now))
			transitioned(h, g, from);
		else if (override != FALLBACK_SETTING_ON &&
		         health_probe_grant(&g->state, &c->fallback, now))
			grant_probe(h, g);
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	evaluate(arg);
}

static void free_tables(struct health *h)
{
	for (size_t i = 0; i < h->n_deployments; i++) {
		free(h->deployments[i].id);
		free(h->deployments[i].group);
	}
	for (size_t i = 0; i < h->n_groups; i++) {
		free(h->groups[i].name);
		free(h->groups[i].direct_azure);
	}
	free(h->deployments);
	free(h->groups);
	h->deployments = NULL;
	h->groups = NULL;
	h->n_deployments = h->n_groups = 0;
}

void health_config_changed(struct health *h)
{
	const struct config *c = serving_config(h);
	struct hdeployment *deployments;
	struct hgroup *groups;
	long now = clock_now_ms();

	if (!c)
		return;
	deployments = calloc(c->n_deployments ? c->n_deployments : 1, sizeof(*deployments));
	groups = calloc(c->n_groups ? c->n_groups : 1, sizeof(*groups));
	if (!deployments || !groups) {
		free(deployments);
		free(groups);
		log_error("out of memory: deployment health not updated for the new config");
		return;
	}
	for (size_t i = 0; i < c->n_deployments; i++) {
		const struct deployment *d = &c->deployments[i];
		const struct hdeployment *old = find_deployment(h, d->id);

		if (old && old->window.window_ms == c->fallback.window_ms) {
			deployments[i] = *old;
		} else {
			health_window_init(&deployments[i].window, c->fallback.window_ms);
			if (old)
				deployments[i].total = old->total;
		}
		deployments[i].id = strdup(d->id);
		deployments[i].group = strdup(d->model_name);
	}
	for (size_t i = 0; i < c->n_groups; i++) {
		const struct group *cg = &c->groups[i];
		const struct hgroup *old = find_group(h, cg->name);
		const char *azure = direct_azure_of(c, cg);
		struct hgroup *g = &groups[i];
		size_t used = 0;

		if (old) {
			*g = *old;
		} else {
			health_group_init(&g->state, now);
			g->state.mode = MODE_NORMAL;
		}
		g->name = strdup(cg->name);
		g->direct_azure = azure ? strdup(azure) : NULL;
		g->primary_ids[0] = '\0';
		for (size_t k = 0; k < cg->n_deployments && used < sizeof(g->primary_ids); k++) {
			int n = snprintf(g->primary_ids + used, sizeof(g->primary_ids) - used,
			                 "%s%s", k ? ", " : "",
			                 c->deployments[cg->deployments[k]].id);
			if (n > 0)
				used += (size_t)n;
		}
		if (!g->direct_azure && g->state.mode != MODE_NORMAL) {
			g->state.mode = MODE_NORMAL; /* its Azure target is gone */
			g->state.epoch++;
		}
	}
	free_tables(h);
	h->deployments = deployments;
	h->n_deployments = c->n_deployments;
	h->groups = groups;
	h->n_groups = c->n_groups;

	struct timeval tv = clock_tv_ms(c->fallback.report_interval_ms);
	evtimer_del(h->timer);
	event_add(h->timer, &tv);
	evaluate(h);
}

void health_send_modes(struct health *h, struct slot *slot)
{
	for (size_t i = 0; i < h->n_groups; i++)
		if (h->groups[i].direct_azure)
			send_mode(slot, &h->groups[i], 0);
}

int health_report(struct health *h, struct slot *slot, const struct ipc_report *r)
{
	const struct config *c = slot->gen->config;
	const struct deployment *d;
	struct hdeployment *b;
	struct hgroup *g;
	struct health_counts delta;
	uint64_t successes;

	/* Checked in full before anything changes: a bad report changes nothing. */
	if (health_report_delta(r, c->n_deployments, &delta) < 0)
		return -EINVAL;
	d = &c->deployments[r->deployment];
	b = find_deployment(h, d->id);
	g = find_group(h, d->model_name);
	if (!b || !g)
		return 0; /* a deployment the serving config no longer has */
	for (int i = OUTCOME_FAILURE_FIRST; i <= OUTCOME_FAILURE_LAST; i++) {
		if (r->counts[i]) {
			b->last_error = (enum outcome)i;
			b->last_error_time = time(NULL);
		}
	}
	successes = r->counts[OUTCOME_SUCCESS];
	health_window_add(&b->window, clock_now_ms(), &delta);
	health_counts_add(&b->total, &delta);
	b->latency_us += r->latency_us;
	g->consecutive = successes ? r->trailing : g->consecutive + delta.failures;

	if (r->probe != IPC_PROBE_NONE) {
		struct hgroup *primary = g;
		const struct config *sc = serving_config(h);
		enum fallback_mode from = primary->state.mode;

		log_info("group '%s': probe of '%s' %s", primary->name, d->id,
		         r->probe == IPC_PROBE_SUCCESS ? "succeeded" : "failed");
		if (sc &&
		    health_probe_result(&primary->state, r->probe == IPC_PROBE_SUCCESS,
		                        &sc->fallback, h->sup->fallback_override, clock_now_ms()))
			transitioned(h, primary, from);
	}
	return 0;
}

void health_override_changed(struct health *h)
{
	evaluate(h);
}

int health_metrics_view(const struct health *h, struct metrics_view *view)
{
	struct metrics_group *groups = calloc(h->n_groups + 1, sizeof(*groups));
	struct metrics_deployment *deployments = calloc(h->n_deployments + 1, sizeof(*deployments));
	size_t n = 0;

	if (!groups || !deployments) {
		free(groups);
		free(deployments);
		return -ENOMEM;
	}
	for (size_t i = 0; i < h->n_groups; i++) {
		const struct hgroup *g = &h->groups[i];

		if (!g->direct_azure)
			continue;
		groups[n++] = (struct metrics_group){
		        .name = g->name,
		        .mode = (unsigned)g->state.mode,
		        .transitions = g->transitions,
		};
	}
	for (size_t i = 0; i < h->n_deployments; i++) {
		deployments[i].id = h->deployments[i].id;
		deployments[i].group = h->deployments[i].group;
		memcpy(deployments[i].by_outcome, h->deployments[i].total.by_outcome,
		       sizeof(deployments[i].by_outcome));
	}
	view->groups = groups;
	view->n_groups = n;
	view->deployments = deployments;
	view->n_deployments = h->n_deployments;
	return 0;
}

void health_metrics_free(struct metrics_view *view)
{
	free((void *)view->groups);
	free((void *)view->deployments);
	view->groups = NULL;
	view->deployments = NULL;
}

json_t *health_groups_json(const struct health *h)
{
	json_t *list = json_array();
	long now = clock_now_ms();

	for (size_t i = 0; i < h->n_groups; i++) {
		const struct hgroup *g = &h->groups[i];
		json_t *o;

		if (!g->direct_azure)
			continue;
		o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:I}", "group", g->name, "mode",
		              fallback_mode_name(g->state.mode), "direct_azure", g->direct_azure,
		              "epoch", (json_int_t)g->state.epoch, "for_ms",
		              (json_int_t)(now - g->state.since_ms), "reason", g->state.reason,
		              "transitions", (json_int_t)g->transitions);
		if (o)
			json_array_append_new(list, o);
	}
	return list;
}

json_t *health_deployments_json(const struct health *h)
{
	json_t *list = json_array();
	long now = clock_now_ms();

	for (size_t i = 0; i < h->n_deployments; i++) {
		const struct hdeployment *b = &h->deployments[i];
		struct health_counts w;
		json_t *classes = json_object(), *o;

		health_window_total(&b->window, now, &w);
		for (int k = OUTCOME_FAILURE_FIRST; k <= OUTCOME_FAILURE_LAST; k++)
			json_object_set_new(classes, outcome_name((enum outcome)k),
			                    json_integer((json_int_t)w.by_outcome[k]));
		o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:o}", "id", b->id, "group",
		              b->group, "requests", (json_int_t)b->total.requests, "failures",
		              (json_int_t)b->total.failures, "window_requests",
		              (json_int_t)w.requests, "window_failures", (json_int_t)w.failures,
		              "window_failure_ratio",
		              w.requests ? (double)w.failures / (double)w.requests : 0.0,
		              "window_failures_by_class", classes);
		if (!o)
			continue;
		if (b->last_error_time) {
			char when[32];
			struct tm tm;

			gmtime_r(&b->last_error_time, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			json_object_set_new(o, "last_error",
			                    json_string(outcome_name(b->last_error)));
			json_object_set_new(o, "last_error_at", json_string(when));
		}
		json_array_append_new(list, o);
	}
	return list;
}

struct health *health_new(struct supervisor *sup)
{
	struct health *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->sup = sup;
	h->timer = event_new(sup->base, -1, EV_PERSIST, on_timer, h);
	if (!h->timer) {
		free(h);
		return NULL;
	}
	return h;
}

void health_free(struct health *h)
{
	if (!h)
		return;
	free_tables(h);
	event_free(h->timer);
	free(h);
}
