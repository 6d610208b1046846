/*
 * metrics: aggregation of worker request statistics and the Prometheus
 * rendering (see metrics.h). Runs in the supervisor. Invariants: counters
 * only grow; a worker message is validated whole before anything is added;
 * every label value is escaped as the text format requires.
 */
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client_limits.h"
#include "config.h"
#include "http_reject.h"
#include "metrics_usage.h"
#include "route.h"

struct mcount {
	char *model;
	char *deployment;
	const char *route; /* static: route_name() or METRICS_NONE */
	unsigned status;   /* class 1..5 */
	uint64_t count;
};

struct mlatency {
	char *model;
	struct histogram_total h[IPC_LATENCY__COUNT];
};

struct metrics {
	struct mcount *counts;
	size_t n_counts, cap_counts;
	struct mlatency *latency;
	size_t n_latency, cap_latency;
	uint64_t log_dropped;
	uint64_t otel_exported, otel_dropped;
	uint64_t rejected[HTTP_REJECT__COUNT]; /* by enum http_reject */
	struct metrics_usage *usage;           /* token usage (metrics_usage.c) */
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(struct metrics));

	if (m && !(m->usage = metrics_usage_new())) {
		free(m);
		return NULL;
	}
	return m;
}

struct metrics_usage *metrics_usage(struct metrics *m)
{
	return m->usage;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_counts; i++) {
		free(m->counts[i].model);
		free(m->counts[i].deployment);
	}
	for (size_t i = 0; i < m->n_latency; i++)
		free(m->latency[i].model);
	free(m->counts);
	free(m->latency);
	metrics_usage_free(m->usage);
	free(m);
}

static bool entry_valid(const struct config *c, const struct ipc_request_count *e)
{
	return (e->group == IPC_NONE || e->group < c->n_groups) &&
	       (e->deployment == IPC_NONE || e->deployment < c->n_deployments) &&
	       (e->route == IPC_ROUTE_NONE || e->route < ROUTE__COUNT) && e->status >= 1 &&
	       e->status <= 5 && e->reserved == 0;
}

static const char *model_of(const struct config *c, uint32_t group)
{
	return group == IPC_NONE ? METRICS_UNKNOWN_MODEL : c->groups[group].name;
}

static struct mcount *find_count(struct metrics *m, const char *model, const char *deployment,
                                 const char *route, unsigned status)
{
	struct mcount *e;

	for (size_t i = 0; i < m->n_counts; i++) {
		e = &m->counts[i];
		if (e->status == status && e->route == route && strcmp(e->model, model) == 0 &&
		    strcmp(e->deployment, deployment) == 0)
			return e;
	}
	if (m->n_counts == m->cap_counts) {
		size_t cap = m->cap_counts ? 2 * m->cap_counts : 32;
		struct mcount *n = realloc(m->counts, cap * sizeof(*n));

		if (!n)
			return NULL;
		m->counts = n;
		m->cap_counts = cap;
	}
	e = &m->counts[m->n_counts];
	*e = (struct mcount){.route = route, .status = status};
	e->model = strdup(model);
	e->deployment = strdup(deployment);
	if (!e->model || !e->deployment) {
		free(e->model);
		free(e->deployment);
		return NULL;
	}
	m->n_counts++;
	return e;
}

int metrics_add_requests(struct metrics *m, const struct config *c, const struct ipc_requests *msg)
{
	if (msg->n > IPC_REQUEST_COUNTS)
		return -EINVAL;
	for (uint32_t i = 0; i < msg->n; i++)
		if (!entry_valid(c, &msg->counts[i]))
			return -EINVAL;
	m->log_dropped += msg->log_dropped;
	for (int k = 0; k < HTTP_REJECT__COUNT; k++)
		m->rejected[k] += msg->rejected[k]; /* uint32 deltas into uint64: no wrap */
	for (uint32_t i = 0; i < msg->n; i++) {
		const struct ipc_request_count *e = &msg->counts[i];
		struct mcount *t = find_count(
		        m, model_of(c, e->group),
		        e->deployment == IPC_NONE ? METRICS_NONE : c->deployments[e->deployment].id,
		        e->route == IPC_ROUTE_NONE ? METRICS_NONE
		                                   : route_name((enum route)e->route),
		        e->status);

		if (t)
			t->count += e->count;
	}
	return 0;
}

void metrics_add_otel_spans(struct metrics *m, const struct ipc_otel_spans *msg)
{
	m->otel_exported += msg->exported;
	m->otel_dropped += msg->dropped;
}

static struct mlatency *find_latency(struct metrics *m, const char *model)
{
	struct mlatency *e;

	for (size_t i = 0; i < m->n_latency; i++)
		if (strcmp(m->latency[i].model, model) == 0)
			return &m->latency[i];
	if (m->n_latency == m->cap_latency) {
		size_t cap = m->cap_latency ? 2 * m->cap_latency : 8;
		struct mlatency *n = realloc(m->latency, cap * sizeof(*n));

		if (!n)
			return NULL;
		m->latency = n;
		m->cap_latency = cap;
	}
	e = &m->latency[m->n_latency];
	memset(e, 0, sizeof(*e));
	e->model = strdup(model);
	if (!e->model)
		return NULL;
	m->n_latency++;
	return e;
}

int metrics_add_latency(struct metrics *m, const struct config *c, const struct ipc_latency *msg)
{
	struct mlatency *e;

	if ((msg->group != IPC_NONE && msg->group >= c->n_groups) || msg->reserved != 0)
		return -EINVAL;
	e = find_latency(m, model_of(c, msg->group));
	if (!e)
		return 0;
	for (int k = 0; k < IPC_LATENCY__COUNT; k++)
		histogram_merge(&e->h[k], &msg->latency[k]);
	return 0;
}

/* A label value, escaped: backslash, double quote and line feed. */
static void label(FILE *out, const char *value)
{
	fputc('"', out);
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

const struct metric_family_info metric_families[METRIC__COUNT] = {
#define METRIC_ROW(id, name, type, labels, help) [METRIC_##id] = {#name, #type, labels, help},
        METRICS_FAMILIES(METRIC_ROW)
#undef METRIC_ROW
};

/* The HELP and TYPE lines of family K; returns its name for the samples. */
static const char *family(FILE *out, enum metric_family k)
{
	const struct metric_family_info *f = &metric_families[k];

	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, f->type);
	return f->name;
}

static void render_histograms(FILE *out, const struct metrics *m, enum metric_family k, int kind)
{
	const char *name = family(out, k);

	for (size_t i = 0; i < m->n_latency; i++) {
		const struct histogram_total *h = &m->latency[i].h[kind];
		uint64_t cumulative = 0;

		if (h->count == 0)
			continue;
		for (unsigned b = 0; b < HISTOGRAM_BUCKETS; b++) {
			cumulative += h->buckets[b];
			fprintf(out, "%s_bucket{model=", name);
			label(out, m->latency[i].model);
			if (b < HISTOGRAM_BOUNDS)
				fprintf(out, ",le=\"%g\"} %llu\n",
				        (double)histogram_bounds_us[b] / 1e6,
				        (unsigned long long)cumulative);
			else
				fprintf(out, ",le=\"+Inf\"} %llu\n",
				        (unsigned long long)cumulative);
		}
		fprintf(out, "%s_sum{model=", name);
		label(out, m->latency[i].model);
		fprintf(out, "} %.6f\n", (double)h->sum_us / 1e6);
		fprintf(out, "%s_count{model=", name);
		label(out, m->latency[i].model);
		fprintf(out, "} %llu\n", (unsigned long long)h->count);
	}
}

/* A family of one sample without labels. */
static void render_scalar(FILE *out, enum metric_family k, const char *format, ...)
        __attribute__((format(printf, 3, 4)));

static void render_scalar(FILE *out, enum metric_family k, const char *format, ...)
{
	va_list ap;

	fprintf(out, "%s ", family(out, k));
	va_start(ap, format);
	vfprintf(out, format, ap);
	va_end(ap);
	fputc('\n', out);
}

/* llmgate_deployment_attempts_total and _failures_total: outcomes FIRST..LAST of
 * every deployment, under the label LABEL. */
static void render_backends(FILE *out, const struct metrics_view *v, enum metric_family k,
                            const char *label_name, int first, int last)
{
	const char *name = family(out, k);

	for (size_t i = 0; i < v->n_deployments; i++)
		for (int o = first; o <= last; o++) {
			fprintf(out, "%s{deployment=", name);
			label(out, v->deployments[i].id);
			fprintf(out, ",group=");
			label(out, v->deployments[i].group);
			fprintf(out, ",%s=\"%s\"} %llu\n", label_name,
			        outcome_name((enum outcome)o),
			        (unsigned long long)v->deployments[i].by_outcome[o]);
		}
}

static void render_affinity(FILE *out, const struct response_affinity_stats *a)
{
	const char *name;

	render_scalar(out, METRIC_AFFINITY_ENTRIES, "%llu", (unsigned long long)a->entries);
	render_scalar(out, METRIC_AFFINITY_CAPACITY, "%llu", (unsigned long long)a->capacity);
	name = family(out, METRIC_AFFINITY_LOOKUPS);
	fprintf(out, "%s{result=\"hit\"} %llu\n%s{result=\"miss\"} %llu\n", name,
	        (unsigned long long)a->hits, name, (unsigned long long)a->misses);
	render_scalar(out, METRIC_AFFINITY_LEARNED, "%llu", (unsigned long long)a->learned);
	render_scalar(out, METRIC_AFFINITY_EVICTIONS, "%llu", (unsigned long long)a->evicted);
}

static void key_labels(FILE *out, const char *name, const struct client_key *k)
{
	fprintf(out, "%s{key=", name);
	label(out, k->id);
	fprintf(out, ",alias=");
	label(out, k->alias ? k->alias : "");
}

/* The client keys' families: one sample per key (refused: per limit), from
 * the shared counters. Ids and aliases only, never a key or its hash. */
static void render_keys(FILE *out, const struct metrics_view *v)
{
	static const enum client_limit_verdict limits[] = {
	        CLIENT_LIMIT_BUDGET, CLIENT_LIMIT_PARALLEL, CLIENT_LIMIT_RPM, CLIENT_LIMIT_TPM};
	size_t n = v->client_keys ? v->client_keys->n : 0;
	struct client_limit_view *views = calloc(n ? n : 1, sizeof(*views));
	struct timespec now;
	const char *name;

	if (!views)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	for (size_t i = 0; i < n; i++)
		client_limits_view(&v->client_keys->keys[i],
		                   (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, &views[i]);
	name = family(out, METRIC_KEY_REQUESTS);
	for (size_t i = 0; i < n; i++) {
		key_labels(out, name, &v->client_keys->keys[i]);
		fprintf(out, "} %llu\n", (unsigned long long)views[i].requests);
	}
	name = family(out, METRIC_KEY_REFUSED);
	for (size_t i = 0; i < n; i++)
		for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
			key_labels(out, name, &v->client_keys->keys[i]);
			fprintf(out, ",limit=\"%s\"} %llu\n", client_limit_verdict_name(limits[l]),
			        (unsigned long long)views[i].refused[limits[l]]);
		}
	name = family(out, METRIC_KEY_TOKENS);
	for (size_t i = 0; i < n; i++) {
		const struct client_limit_view *w = &views[i];
		const struct {
			const char *type;
			uint64_t n;
		} types[] = {{"prompt", w->prompt},
		             {"completion", w->completion},
		             {"estimated", w->estimated}};

		for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
			key_labels(out, name, &v->client_keys->keys[i]);
			fprintf(out, ",type=\"%s\"} %llu\n", types[t].type,
			        (unsigned long long)types[t].n);
		}
	}
	name = family(out, METRIC_KEY_COST);
	for (size_t i = 0; i < n; i++) {
		key_labels(out, name, &v->client_keys->keys[i]);
		fprintf(out, "} %.9f\n", (double)views[i].cost_nano / CLIENT_KEY_NANO);
	}
	name = family(out, METRIC_KEY_IN_FLIGHT);
	for (size_t i = 0; i < n; i++) {
		key_labels(out, name, &v->client_keys->keys[i]);
		fprintf(out, "} %ld\n", views[i].parallel);
	}
	name = family(out, METRIC_KEY_SPEND);
	for (size_t i = 0; i < n; i++) {
		key_labels(out, name, &v->client_keys->keys[i]);
		fprintf(out, "} %.9f\n", (double)views[i].spend_nano / CLIENT_KEY_NANO);
	}
	free(views);
}

/* The Entra ID token families: one sample per keyless Azure deployment each. */
static void render_tokens(FILE *out, const struct metrics_view *v)
{
	static const enum metric_family k[] = {
	        METRIC_ENTRA_TOKEN_FETCHES, METRIC_ENTRA_TOKEN_FAILURES, METRIC_ENTRA_TOKEN_EXPIRY};

	for (size_t f = 0; f < sizeof(k) / sizeof(k[0]); f++) {
		const char *name = family(out, k[f]);

		for (size_t i = 0; i < v->n_tokens; i++) {
			const struct metrics_token *t = &v->tokens[i];

			fprintf(out, "%s{deployment=", name);
			label(out, t->deployment);
			fprintf(out, ",source=\"%s\"} ", t->source);
			if (k[f] == METRIC_ENTRA_TOKEN_EXPIRY)
				fprintf(out, "%.0f\n", t->expires_in_seconds);
			else
				fprintf(out, "%llu\n",
				        (unsigned long long)(k[f] == METRIC_ENTRA_TOKEN_FETCHES
				                                     ? t->fetches
				                                     : t->failures));
		}
	}
}

void metrics_render(FILE *out, const struct metrics *m, const struct metrics_view *v)
{
	const char *name = family(out, METRIC_BUILD_INFO);

	fprintf(out, "%s{version=", name);
	label(out, v->version);
	fprintf(out, "} 1\n");
	render_scalar(out, METRIC_START_TIME, "%.3f", v->start_time_seconds);
	render_scalar(out, METRIC_GENERATION, "%u", v->generation);

	name = family(out, METRIC_WORKERS);
	for (int s = 0; s < WORKER_STATE__COUNT; s++)
		fprintf(out, "%s{state=\"%s\"} %llu\n", name,
		        worker_state_name((enum worker_state)s), (unsigned long long)v->workers[s]);
	render_scalar(out, METRIC_WORKER_RESTARTS, "%llu", (unsigned long long)v->restarts);

	name = family(out, METRIC_REQUESTS);
	for (size_t i = 0; i < m->n_counts; i++) {
		const struct mcount *e = &m->counts[i];

		fprintf(out, "%s{model=", name);
		label(out, e->model);
		fprintf(out, ",deployment=");
		label(out, e->deployment);
		fprintf(out, ",route=\"%s\",status_class=\"%uxx\"} %llu\n", e->route, e->status,
		        (unsigned long long)e->count);
	}
	name = family(out, METRIC_HTTP_REJECTED);
	for (int k = 0; k < HTTP_REJECT__COUNT; k++)
		fprintf(out, "%s{status=\"%d\",reason=\"%s\"} %llu\n", name,
		        http_reject_status((enum http_reject)k),
		        http_reject_name((enum http_reject)k), (unsigned long long)m->rejected[k]);
	render_histograms(out, m, METRIC_REQUEST_DURATION, IPC_LATENCY_TOTAL);
	render_histograms(out, m, METRIC_UPSTREAM_TTFB, IPC_LATENCY_TTFB);
	render_histograms(out, m, METRIC_OVERHEAD, IPC_LATENCY_OVERHEAD);

	render_backends(out, v, METRIC_DEPLOYMENT_ATTEMPTS, "outcome", 0, OUTCOME__COUNT - 1);
	render_backends(out, v, METRIC_DEPLOYMENT_FAILURES, "class", OUTCOME_FAILURE_FIRST,
	                OUTCOME_FAILURE_LAST);

	name = family(out, METRIC_FALLBACK_MODE);
	for (size_t i = 0; i < v->n_groups; i++)
		for (int k = 0; k < MODE__COUNT; k++) {
			fprintf(out, "%s{group=", name);
			label(out, v->groups[i].name);
			fprintf(out, ",mode=\"%s\"} %d\n",
			        fallback_mode_name((enum fallback_mode)k),
			        v->groups[i].mode == (unsigned)k);
		}
	name = family(out, METRIC_FALLBACK_TRANSITIONS);
	for (size_t i = 0; i < v->n_groups; i++) {
		fprintf(out, "%s{group=", name);
		label(out, v->groups[i].name);
		fprintf(out, "} %llu\n", (unsigned long long)v->groups[i].transitions);
	}
	metrics_usage_render(out, m->usage);
	render_scalar(out, METRIC_ACCESS_LOG_DROPPED, "%llu", (unsigned long long)m->log_dropped);
	render_affinity(out, &v->affinity);
	render_tokens(out, v);
	render_scalar(out, METRIC_OTEL_SPANS_EXPORTED, "%llu",
	              (unsigned long long)m->otel_exported);
	render_scalar(out, METRIC_OTEL_SPANS_DROPPED, "%llu", (unsigned long long)m->otel_dropped);
	render_keys(out, v);
}
