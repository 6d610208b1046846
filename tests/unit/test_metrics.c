/*
 * Unit tests of the supervisor's metrics aggregate and its Prometheus text
 * rendering: deltas of two "workers" add up exactly, indexes become names,
 * unknown models fold into one label, invalid entries are refused whole,
 * histogram buckets are cumulative, label values are escaped, and every
 * line of the output is a comment or a well-formed sample. The family
 * table (metrics_families.h) is checked against llmgated(8)'s METRICS
 * section: every family documented with its labels, nothing more.
 */
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ipc.h"
#include "metrics.h"
#include "route.h"
#include "tap.h"

static struct deployment deps[2] = {
        {.id = (char *)"eu\"1", .model_name = (char *)"gpt-4o"},
        {.id = (char *)"azure-2", .model_name = (char *)"az"},
};
static size_t g0[] = {0}, g1[] = {1};
static struct group groups[2] = {
        {.name = (char *)"gpt-4o", .deployments = g0, .n_deployments = 1},
        {.name = (char *)"az", .deployments = g1, .n_deployments = 1},
};
static struct config cfg = {
        .deployments = deps, .n_deployments = 2, .groups = groups, .n_groups = 2};

static char *render(const struct metrics *m, const struct metrics_view *v)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	metrics_render(out, m, v);
	fclose(out);
	return text;
}

static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static void test_aggregate_render(void)
{
	struct metrics *m = metrics_new();
	struct ipc_requests r;
	struct ipc_latency l;
	struct metrics_group mg = {.name = "gpt-4o", .mode = 1, .transitions = 3};
	struct metrics_deployment mb = {.id = "eu\"1", .group = "gpt-4o", .by_outcome = {5, 2}};
	struct metrics_view v = {.version = "9.9",
	                         .generation = 4,
	                         .restarts = 2,
	                         .groups = &mg,
	                         .n_groups = 1,
	                         .deployments = &mb,
	                         .n_deployments = 1};
	char *text;

	memset(&r, 0, sizeof(r));
	r.n = 3;
	r.log_dropped = 1;
	r.counts[0] = (struct ipc_request_count){0, 0, ROUTE_PRIMARY, 2, 0, 5};
	r.counts[1] = (struct ipc_request_count){0, 1, ROUTE_DIRECT_AZURE, 2, 0, 2};
	r.counts[2] = (struct ipc_request_count){IPC_NONE, IPC_NONE, IPC_ROUTE_NONE, 4, 0, 1};
	tap_ok(metrics_add_requests(m, &cfg, &r) == 0, "worker 1 counts added");
	r.n = 1;
	r.log_dropped = 2;
	r.counts[0] = (struct ipc_request_count){0, 0, ROUTE_PRIMARY, 2, 0, 4};
	tap_ok(metrics_add_requests(m, &cfg, &r) == 0, "worker 2 counts added");

	r.counts[0].deployment = 2;
	tap_ok(metrics_add_requests(m, &cfg, &r) < 0, "an unknown deployment is refused");
	r.counts[0] = (struct ipc_request_count){5, 0, ROUTE_PRIMARY, 2, 0, 4};
	tap_ok(metrics_add_requests(m, &cfg, &r) < 0, "an unknown group is refused");
	r.counts[0] = (struct ipc_request_count){0, 0, 7, 2, 0, 4};
	tap_ok(metrics_add_requests(m, &cfg, &r) < 0, "an unknown route is refused");
	r.counts[0] = (struct ipc_request_count){0, 0, 0, 6, 0, 4};
	tap_ok(metrics_add_requests(m, &cfg, &r) < 0, "an unknown status class is refused");
	r.n = IPC_REQUEST_COUNTS + 1;
	tap_ok(metrics_add_requests(m, &cfg, &r) < 0, "too many entries are refused");
	r.n = 0;
	r.log_dropped = 0;
	r.rejected[HTTP_REJECT_HEAD_TIMEOUT] = 2;
	r.rejected[HTTP_REJECT_OUT_OF_MEMORY] = UINT32_MAX;
	tap_ok(metrics_add_requests(m, &cfg, &r) == 0, "rejects of worker 1");
	r.rejected[HTTP_REJECT_OUT_OF_MEMORY] = UINT32_MAX;
	r.rejected[HTTP_REJECT_MALFORMED] = 1;
	tap_ok(metrics_add_requests(m, &cfg, &r) == 0, "rejects of worker 2");
	r.n = IPC_REQUEST_COUNTS + 1;
	tap_ok(metrics_add_requests(m, &cfg, &r) < 0, "a refused message adds no reject");
	memset(&r, 0, sizeof(r));

	memset(&l, 0, sizeof(l));
	l.group = 0;
	histogram_observe(&l.latency[IPC_LATENCY_TOTAL], 300);
	histogram_observe(&l.latency[IPC_LATENCY_TOTAL], 2000000);
	histogram_observe(&l.latency[IPC_LATENCY_OVERHEAD], 90);
	tap_ok(metrics_add_latency(m, &cfg, &l) == 0, "latency added");
	tap_ok(metrics_add_latency(m, &cfg, &l) == 0, "latency added again");
	l.group = 2;
	tap_ok(metrics_add_latency(m, &cfg, &l) < 0, "latency of an unknown group refused");

	text = render(m, &v);
	tap_ok(has_line(text, "llmgate_build_info{version=\"9.9\"} 1"), "build info");
	tap_ok(has_line(text, "llmgate_generation 4"), "generation");
	tap_ok(has_line(text, "llmgate_worker_restarts_total 2"), "restarts");
	tap_ok(has_line(text, "llmgate_requests_total{model=\"gpt-4o\",deployment=\"eu\\\"1\","
	                      "route=\"primary\",status_class=\"2xx\"} 9"),
	       "requests of both workers add up, quotes escaped");
	tap_ok(has_line(text, "llmgate_requests_total{model=\"gpt-4o\",deployment=\"azure-2\","
	                      "route=\"direct-azure\",status_class=\"2xx\"} 2"),
	       "route and deployment of another group");
	tap_ok(has_line(text, "llmgate_requests_total{model=\"(unknown)\",deployment=\"(none)\","
	                      "route=\"(none)\",status_class=\"4xx\"} 1"),
	       "unknown model folded");
	tap_ok(has_line(text, "llmgate_request_duration_seconds_bucket{model=\"gpt-4o\","
	                      "le=\"0.0001\"} 0"),
	       "first bucket empty");
	tap_ok(has_line(text, "llmgate_request_duration_seconds_bucket{model=\"gpt-4o\","
	                      "le=\"0.0005\"} 2"),
	       "300us lands in le=0.0005");
	tap_ok(has_line(text, "llmgate_request_duration_seconds_bucket{model=\"gpt-4o\","
	                      "le=\"2.5\"} 4"),
	       "buckets are cumulative");
	tap_ok(has_line(text, "llmgate_request_duration_seconds_bucket{model=\"gpt-4o\","
	                      "le=\"+Inf\"} 4"),
	       "+Inf bucket is the count");
	tap_ok(has_line(text, "llmgate_request_duration_seconds_count{model=\"gpt-4o\"} 4"),
	       "count");
	tap_ok(has_line(text, "llmgate_request_duration_seconds_sum{model=\"gpt-4o\"} 4.000600"),
	       "sum in seconds");
	tap_ok(!strstr(text, "llmgate_upstream_ttfb_seconds_count"), "empty histograms omitted");
	tap_ok(has_line(text,
	                "llmgate_deployment_failures_total{deployment=\"eu\\\"1\",group=\"gpt-4o\","
	                "class=\"connect\"} 2"),
	       "failures by class");
	tap_ok(has_line(text,
	                "llmgate_deployment_attempts_total{deployment=\"eu\\\"1\",group=\"gpt-4o\","
	                "outcome=\"success\"} 5"),
	       "attempts by outcome");
	tap_ok(has_line(text, "llmgate_fallback_mode{group=\"gpt-4o\",mode=\"fallback\"} 1") &&
	               has_line(text, "llmgate_fallback_mode{group=\"gpt-4o\",mode=\"normal\"} 0"),
	       "mode gauge is one-hot");
	tap_ok(has_line(text, "llmgate_fallback_transitions_total{group=\"gpt-4o\"} 3"),
	       "transitions");
	tap_ok(has_line(text, "llmgate_access_log_dropped_total 3"), "dropped log lines add up");
	tap_ok(has_line(text,
	                "llmgate_http_rejected_total{status=\"408\",reason=\"head_timeout\"} 4"),
	       "rejects add up by reason");
	tap_ok(has_line(text, "llmgate_http_rejected_total{status=\"400\",reason=\"malformed\"} 1"),
	       "malformed: 400");
	tap_ok(has_line(text,
	                "llmgate_http_rejected_total{status=\"503\",reason=\"out_of_memory\"} "
	                "8589934590"),
	       "huge deltas add up in 64 bits");
	tap_ok(has_line(
	               text,
	               "llmgate_http_rejected_total{status=\"505\",reason=\"unsupported_version\"} 0"),
	       "every reason shows from the start");
	{
		int n = 0;
		for (const char *p = text; (p = strstr(p, "\nllmgate_http_rejected_total{")); p++)
			n++;
		tap_ok(n == HTTP_REJECT__COUNT, "one series per reason (%d)", n);
	}

	/* every line: a HELP/TYPE comment or name{labels} value */
	regex_t re;
	int bad = 0;
	regcomp(&re,
	        "^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+|[a-zA-Z_:][a-zA-Z0-9_:]*"
	        "(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\",?)*\\})? [-+0-9.eInf]+)$",
	        REG_EXTENDED | REG_NOSUB);
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (regexec(&re, line, 0, NULL, 0) != 0) {
			printf("# bad line: %s\n", line);
			bad++;
		}
	regfree(&re);
	tap_ok(bad == 0, "every line is well-formed");
	free(text);
	metrics_free(m);
}

/* The man page, whole, or NULL. */
static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	int c;

	if (!f) {
		fclose(out);
		free(text);
		return NULL;
	}
	while ((c = fgetc(f)) != EOF)
		fputc(c, out);
	fclose(f);
	fclose(out);
	return text;
}

/* The family table against llmgated(8): each ".It Li NAME [Brq LABELS]" item
 * of the METRICS section is one family; the table must have exactly those. */
static void test_families_documented(void)
{
	char *page = read_file(LLMGATED_MAN);
	char *section = page ? strstr(page, "\n.Sh METRICS\n") : NULL;
	bool documented[METRIC__COUNT] = {0};
	int items = 0;

	if (!tap_ok(section != NULL, "llmgated(8) at %s has a METRICS section", LLMGATED_MAN)) {
		free(page);
		return;
	}
	section += strlen("\n.Sh METRICS\n");
	char *end = strstr(section, "\n.Sh ");
	if (end)
		end[1] = '\0';
	for (char *line = strtok(section, "\n"); line; line = strtok(NULL, "\n")) {
		char *labels;
		int k;

		if (strncmp(line, ".It Li ", 7) != 0)
			continue;
		line += 7;
		labels = strstr(line, " Brq ");
		if (labels) {
			*labels = '\0';
			labels += 5;
		}
		items++;
		for (k = 0; k < METRIC__COUNT; k++)
			if (strcmp(metric_families[k].name, line) == 0)
				break;
		if (!tap_ok(k < METRIC__COUNT, "documented family %s exists", line))
			continue;
		documented[k] = true;
		tap_str(labels ? labels : "", metric_families[k].labels, line);
	}
	for (int k = 0; k < METRIC__COUNT; k++)
		tap_ok(documented[k], "%s is documented in llmgated(8)", metric_families[k].name);
	tap_ok(items == METRIC__COUNT, "one item per family (%d items, %d families)", items,
	       METRIC__COUNT);
	free(page);
}

/* Every family's HELP and TYPE come from the table, once each. */
static void test_families_rendered(void)
{
	struct metrics *m = metrics_new();
	struct metrics_view v = {.version = "1"};
	char *text = render(m, &v);

	for (int k = 0; k < METRIC__COUNT; k++) {
		const struct metric_family_info *f = &metric_families[k];
		char help[512], type[128];

		snprintf(help, sizeof(help), "# HELP %s %s", f->name, f->help);
		snprintf(type, sizeof(type), "# TYPE %s %s", f->name, f->type);
		tap_ok(has_line(text, help) && has_line(text, type), "%s: HELP and TYPE", f->name);
	}
	free(text);
	metrics_free(m);
}

int main(void)
{
	test_aggregate_render();
	test_families_documented();
	test_families_rendered();
	return tap_done();
}
