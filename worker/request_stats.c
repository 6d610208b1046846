/*
 * request_stats: per-request counting, latency histograms and the access
 * log line (see request_stats.h). Runs in a worker. Invariants: nothing on
 * the request path allocates or makes a system call; a count is cleared only
 * once the message carrying it was sent, so nothing is counted twice.
 *
 * Counts live in a small open-addressing table keyed by (group, deployment,
 * route, status class); a slot with count 0 is free. It is emptied at every
 * report, so it only ever holds the combinations of one report interval; if
 * it fills anyway, further new combinations are folded into the catch-all
 * key (no model, no deployment, no route) so totals stay exact.
 */
#include "request_stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access_log.h"
#include "config.h"
#include "histogram.h"
#include "http_server.h"
#include "ipc.h"
#include "proxy_plan.h"

#define STATS_SLOTS       1024 /* a power of two */
#define STATS_MAX_USED    768
#define ACCESS_LINE_MAX   3072 /* < PIPE_BUF: one write per line */
#define ACCESS_STRING_MAX 256  /* of any one client-controlled string */

struct request_stats {
	const struct config *config;
	struct ipc_request_count slots[STATS_SLOTS];
	size_t used;
	struct ipc_latency *latency; /* n_groups + 1: the last is "no model" */
	bool *latency_dirty;
	struct access_log *log;
	uint32_t log_dropped; /* taken from the log, not yet reported */
};

int64_t request_stats_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t request_stats_overhead_us(int64_t total_us, int64_t upstream_us)
{
	int64_t o = total_us - upstream_us;

	return o > 0 ? o : 0;
}

void request_stats_add_header(struct http_exchange *ex, int64_t overhead_us)
{
	char value[32];

	snprintf(value, sizeof(value), "%" PRId64 ".%03" PRId64, overhead_us / 1000,
	         overhead_us % 1000);
	http_exchange_add_header(ex, "x-llmgate-overhead-ms", value);
}

int request_stats_new(const struct config *config, struct event_base *base,
                      struct request_stats **ret)
{
	struct request_stats *rs = calloc(1, sizeof(*rs));
	int r = 0;

	if (!rs)
		return -ENOMEM;
	rs->config = config;
	rs->latency = calloc(config->n_groups + 1, sizeof(*rs->latency));
	rs->latency_dirty = calloc(config->n_groups + 1, sizeof(*rs->latency_dirty));
	if (!rs->latency || !rs->latency_dirty) {
		request_stats_free(rs);
		return -ENOMEM;
	}
	for (size_t i = 0; i <= config->n_groups; i++)
		rs->latency[i].group = i < config->n_groups ? (uint32_t)i : IPC_NONE;
	if (config->access_log) {
		r = access_log_open(base, config->access_log, &rs->log);
		if (r == -ENOMEM) {
			request_stats_free(rs);
			return r;
		}
	}
	*ret = rs;
	return 0;
}

void request_stats_free(struct request_stats *rs)
{
	if (!rs)
		return;
	access_log_free(rs->log);
	free(rs->latency);
	free(rs->latency_dirty);
	free(rs);
}

static uint32_t index_or_none(long i)
{
	return i < 0 ? IPC_NONE : (uint32_t)i;
}

static size_t slot_of(const struct ipc_request_count *k)
{
	uint64_t h = ((uint64_t)k->group * 0x9e3779b1u) ^ ((uint64_t)k->deployment * 0x85ebca6bu) ^
	             ((uint64_t)k->route << 8) ^ k->status;

	return (size_t)((h ^ (h >> 17)) & (STATS_SLOTS - 1));
}

/* The slot of KEY: its own, or a free one claimed for it while fewer than
 * LIMIT slots are used; NULL when there is none. */
static struct ipc_request_count *lookup(struct request_stats *rs,
                                        const struct ipc_request_count *key, size_t limit)
{
	size_t i = slot_of(key);

	for (size_t n = 0; n < STATS_SLOTS; n++, i = (i + 1) & (STATS_SLOTS - 1)) {
		struct ipc_request_count *s = &rs->slots[i];

		if (s->count == 0) {
			if (rs->used >= limit)
				return NULL;
			*s = *key;
			rs->used++;
			return s;
		}
		if (s->group == key->group && s->deployment == key->deployment &&
		    s->route == key->route && s->status == key->status)
			return s;
	}
	return NULL;
}

static void count(struct request_stats *rs, struct ipc_request_count key)
{
	struct ipc_request_count *s = lookup(rs, &key, STATS_MAX_USED);

	if (!s) {
		/* full: the catch-all key of its status class, which may use the
		 * slots kept free (there are only five of them) */
		key.group = key.deployment = IPC_NONE;
		key.route = IPC_ROUTE_NONE;
		s = lookup(rs, &key, STATS_SLOTS);
	}
	if (s)
		s->count++;
}

/* Appends S (at most MAX bytes of it) JSON-escaped to OUT; bytes that are
 * not printable ASCII become \u00XX so every line is valid JSON. */
static size_t json_escape(char *out, size_t size, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (len > ACCESS_STRING_MAX)
		len = ACCESS_STRING_MAX;
	for (size_t i = 0; i < len && o + 7 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[c >> 4];
			out[o + 5] = hex[c & 15];
			o += 6;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return o;
}

static void ms(char *buf, size_t size, int64_t us)
{
	if (us < 0)
		snprintf(buf, size, "null");
	else
		snprintf(buf, size, "%" PRId64 ".%03" PRId64, us / 1000, us % 1000);
}

static void access_line(struct request_stats *rs, const struct request_record *rec,
                        int64_t total_us, int64_t overhead_us)
{
	char line[ACCESS_LINE_MAX], when[40], id[140], peer[140], method[40], path[520], model[520],
	        dep[520], up[32], ttfb[32], total[32], over[32];
	const struct config *c = rs->config;
	struct timespec now;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = (int)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - (size_t)n, ".%03ldZ", now.tv_nsec / 1000000);
	json_escape(id, sizeof(id), rec->id ? rec->id : "", rec->id ? strlen(rec->id) : 0);
	json_escape(peer, sizeof(peer), rec->peer ? rec->peer : "",
	            rec->peer ? strlen(rec->peer) : 0);
	json_escape(method, sizeof(method), rec->method ? rec->method : "",
	            rec->method ? strlen(rec->method) : 0);
	json_escape(path, sizeof(path), rec->path ? rec->path : "", rec->path ? rec->path_len : 0);
	json_escape(model, sizeof(model), rec->model ? rec->model : "",
	            rec->model ? strlen(rec->model) : 0);
	if (rec->deployment >= 0 && (size_t)rec->deployment < c->n_deployments)
		json_escape(dep, sizeof(dep), c->deployments[rec->deployment].id,
		            strlen(c->deployments[rec->deployment].id));
	ms(up, sizeof(up), rec->attempts > 0 ? rec->upstream_us : -1);
	ms(ttfb, sizeof(ttfb), rec->ttfb_us);
	ms(total, sizeof(total), total_us);
	ms(over, sizeof(over), overhead_us);
	n = snprintf(line, sizeof(line),
	             "{\"time\":\"%s\",\"request_id\":\"%s\",\"client\":\"%s\",\"method\":\"%s\","
	             "\"path\":\"%s\",\"model\":%s%s%s,\"deployment\":%s%s%s,\"route\":%s%s%s,"
	             "\"status\":%d,\"attempts\":%d,\"bytes_in\":%zu,\"bytes_out\":%zu,"
	             "\"upstream_ms\":%s,\"ttfb_ms\":%s,\"total_ms\":%s,\"overhead_ms\":%s}\n",
	             when, id, peer, method, path, rec->model ? "\"" : "",
	             rec->model ? model : "null", rec->model ? "\"" : "",
	             rec->deployment >= 0 ? "\"" : "", rec->deployment >= 0 ? dep : "null",
	             rec->deployment >= 0 ? "\"" : "", rec->route >= 0 ? "\"" : "",
	             rec->route >= 0 ? proxy_route_name((enum proxy_route)rec->route) : "null",
	             rec->route >= 0 ? "\"" : "", rec->status, rec->attempts, rec->bytes_in,
	             rec->bytes_out, up, ttfb, total, over);
	/* every part is bounded above, so the line always fits */
	if (n > 0 && (size_t)n < sizeof(line))
		access_log_write(rs->log, line, (size_t)n);
}

void request_stats_done(struct request_stats *rs, const struct request_record *rec)
{
	const struct config *c;
	int64_t total, upstream, overhead;
	size_t g;
	struct ipc_request_count key = {0};

	if (!rs)
		return;
	c = rs->config;
	total = rec->end_us - rec->start_us;
	if (total < 0)
		total = 0;
	upstream = rec->attempts > 0 ? rec->upstream_us : 0;
	overhead = request_stats_overhead_us(total, upstream);

	key.group = rec->group >= 0 && (size_t)rec->group < c->n_groups ? (uint32_t)rec->group
	                                                                : IPC_NONE;
	key.deployment = rec->deployment >= 0 && (size_t)rec->deployment < c->n_deployments
	                         ? index_or_none(rec->deployment)
	                         : IPC_NONE;
	key.route = rec->route >= 0 && rec->route < PROXY_ROUTE__COUNT ? (uint8_t)rec->route
	                                                               : IPC_ROUTE_NONE;
	key.status = rec->status >= 100 && rec->status < 600 ? (uint8_t)(rec->status / 100) : 5;
	count(rs, key);

	g = key.group == IPC_NONE ? c->n_groups : key.group;
	histogram_observe(&rs->latency[g].latency[IPC_LATENCY_TOTAL], total);
	if (rec->ttfb_us >= 0)
		histogram_observe(&rs->latency[g].latency[IPC_LATENCY_TTFB], rec->ttfb_us);
	histogram_observe(&rs->latency[g].latency[IPC_LATENCY_OVERHEAD], overhead);
	rs->latency_dirty[g] = true;

	if (rs->log)
		access_line(rs, rec, total, overhead);
}

static int flush_counts(struct request_stats *rs, int fd, uint32_t generation, uint32_t *seq)
{
	size_t next = 0;

	rs->log_dropped += access_log_take_dropped(rs->log);
	do {
		struct ipc_requests msg = {.log_dropped = rs->log_dropped};
		size_t taken[IPC_REQUEST_COUNTS];
		int r;

		for (; next < STATS_SLOTS && msg.n < IPC_REQUEST_COUNTS; next++) {
			if (rs->slots[next].count == 0)
				continue;
			taken[msg.n] = next;
			msg.counts[msg.n++] = rs->slots[next];
		}
		if (msg.n == 0 && msg.log_dropped == 0)
			break;
		r = ipc_send(fd, IPC_REQUESTS, generation, ++*seq, &msg, sizeof(msg));
		if (r < 0)
			return r; /* what was not sent stays counted */
		for (uint32_t i = 0; i < msg.n; i++)
			memset(&rs->slots[taken[i]], 0, sizeof(rs->slots[0]));
		rs->used -= msg.n;
		rs->log_dropped = 0;
	} while (next < STATS_SLOTS);
	return 0;
}

int request_stats_flush(struct request_stats *rs, int fd, uint32_t generation, uint32_t *seq)
{
	int r;

	if (!rs)
		return 0;
	access_log_flush(rs->log);
	r = flush_counts(rs, fd, generation, seq);
	if (r < 0)
		return r;
	for (size_t g = 0; g <= rs->config->n_groups; g++) {
		if (!rs->latency_dirty[g])
			continue;
		r = ipc_send(fd, IPC_LATENCY, generation, ++*seq, &rs->latency[g],
		             sizeof(rs->latency[g]));
		if (r < 0)
			return r;
		memset(rs->latency[g].latency, 0, sizeof(rs->latency[g].latency));
		rs->latency_dirty[g] = false;
	}
	return 0;
}
