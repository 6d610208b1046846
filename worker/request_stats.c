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
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access_log.h"
#include "config.h"
#include "histogram.h"
#include "http_reject.h"
#include "http_server.h"
#include "ipc.h"
#include "log.h"
#include "route.h"
#include "usage_cost.h"

#define USAGE_SLOTS       256 /* a power of two */
#define USAGE_MAX_USED    IPC_USAGE_MAX
#define STATS_SLOTS       1024 /* a power of two */
#define STATS_MAX_USED    768
#define ACCESS_LINE_MAX   3072 /* < PIPE_BUF: one write per line */
#define ACCESS_STRING_MAX 400  /* escaped bytes of one string: a line holds all */

struct request_stats {
	const struct config *config;
	struct ipc_request_count slots[STATS_SLOTS];
	size_t used;
	struct ipc_latency *latency; /* n_groups + 1: the last is "no model" */
	bool *latency_dirty;
	struct access_log *log;
	uint32_t rejected[HTTP_REJECT__COUNT]; /* by enum http_reject, not yet reported */
	bool any_rejected;
	uint32_t log_dropped;             /* taken from the log, not yet reported */
	struct ipc_usage usage;           /* token usage since the last report */
	uint8_t usage_index[USAGE_SLOTS]; /* hash of the key: its usage.counts index + 1 */
	uint8_t usage_last;               /* the index the last request counted into */
	bool usage_full_logged;
	time_t when_sec; /* the second WHEN shows (formatting it costs more than a line) */
	char when[24];   /* "YYYY-MM-DDTHH:MM:SS" */
};

int64_t request_stats_overhead_us(int64_t total_us, int64_t upstream_us)
{
	int64_t o = total_us - upstream_us;

	return o > 0 ? o : 0;
}

struct request_record request_record_early(const char *id, const char *peer, const char *method,
                                           const char *path, size_t path_len, int status,
                                           size_t bytes_in, size_t bytes_out)
{
	return (struct request_record){
	        .id = id,
	        .peer = peer,
	        .method = method,
	        .path = path,
	        .path_len = path_len,
	        .group = -1,
	        .deployment = -1,
	        .route = -1,
	        .status = status,
	        .bytes_in = bytes_in,
	        .bytes_out = bytes_out,
	        .ttfb_us = -1,
	};
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

/* The usage entry of KEY: found through the open-addressing index, or
 * appended; NULL when the message is full. */
static struct ipc_usage_count *usage_entry(struct request_stats *rs,
                                           const struct ipc_usage_count *key)
{
	uint64_t h;
	size_t i;
	struct ipc_usage_count *e = &rs->usage.counts[rs->usage_last];

	/* the common case: the key of the request before (no hash) */
	if (rs->usage_last < rs->usage.n && e->group == key->group &&
	    e->deployment == key->deployment && e->route == key->route)
		return e;
	h = ((uint64_t)key->group * 0x9e3779b1u) ^ ((uint64_t)key->deployment * 0x85ebca6bu) ^
	    key->route;
	i = (size_t)((h ^ (h >> 15)) & (USAGE_SLOTS - 1));
	for (size_t n = 0; n < USAGE_SLOTS; n++, i = (i + 1) & (USAGE_SLOTS - 1)) {
		if (rs->usage_index[i] == 0) {
			if (rs->usage.n >= USAGE_MAX_USED)
				return NULL;
			e = &rs->usage.counts[rs->usage.n++];
			*e = *key;
			rs->usage_index[i] = (uint8_t)rs->usage.n;
			rs->usage_last = (uint8_t)(rs->usage.n - 1);
			return e;
		}
		e = &rs->usage.counts[rs->usage_index[i] - 1];
		if (e->group == key->group && e->deployment == key->deployment &&
		    e->route == key->route) {
			rs->usage_last = (uint8_t)(rs->usage_index[i] - 1);
			return e;
		}
	}
	return NULL;
}

/* The request's usage (or its absence) for the next USAGE_COUNTS message. */
static void count_usage(struct request_stats *rs, const struct request_record *rec,
                        const struct ipc_request_count *k, double cost)
{
	struct ipc_usage_count key = {
	        .group = k->group, .deployment = k->deployment, .route = k->route};
	struct ipc_usage_count *e;
	const struct usage *u = &rec->usage;

	if (!rec->usage_expected || k->deployment == IPC_NONE || k->route == IPC_ROUTE_NONE)
		return;
	e = usage_entry(rs, &key);
	if (!e) {
		key.group = IPC_NONE; /* full: folded into "(unknown)" model, totals kept */
		e = usage_entry(rs, &key);
	}
	if (!e) {
		if (!rs->usage_full_logged)
			log_warning("usage counts of one report interval overflow; some are lost");
		rs->usage_full_logged = true;
		return;
	}
	if (!u->known) {
		e->unknown++;
		return;
	}
	e->prompt += (uint64_t)u->prompt;
	e->completion += (uint64_t)u->completion;
	e->cached_prompt += (uint64_t)(u->has_cached ? u->cached_prompt : 0);
	e->reasoning += (uint64_t)(u->has_reasoning ? u->reasoning : 0);
	e->cost += cost;
}

/* The access log line is built by hand: snprintf() cost more than all the
 * rest of a request's accounting. Every append is bounded by the line. */
struct line {
	char *p, *end; /* end leaves room for the final '}' and '\n' */
};

static void put(struct line *l, const char *s, size_t len)
{
	if (len > (size_t)(l->end - l->p))
		len = (size_t)(l->end - l->p);
	memcpy(l->p, s, len);
	l->p += len;
}

#define PUT(l, literal) put((l), literal, sizeof(literal) - 1)

static void put_u64(struct line *l, uint64_t v)
{
	char digits[20];
	size_t n = 0;

	do {
		digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(l, digits + sizeof(digits) - n, n);
}

/* Milliseconds with three decimals, from microseconds; null when negative. */
static void put_ms(struct line *l, int64_t us)
{
	char frac[4] = {'.'};

	if (us < 0) {
		PUT(l, "null");
		return;
	}
	put_u64(l, (uint64_t)us / 1000);
	frac[1] = (char)('0' + us % 1000 / 100);
	frac[2] = (char)('0' + us % 100 / 10);
	frac[3] = (char)('0' + us % 10);
	put(l, frac, 4);
}

/* A JSON string of S cut to ACCESS_STRING_MAX bytes as written, or null;
 * bytes that are not printable ASCII become \u00XX, so every line is valid
 * JSON whatever a client sent. */
static void put_string(struct line *l, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	if (!s) {
		PUT(l, "null");
		return;
	}
	PUT(l, "\"");
	size_t room = l->end - l->p > 1 ? (size_t)(l->end - l->p) - 1 : 0;
	char *limit = l->p + (room < ACCESS_STRING_MAX ? room : ACCESS_STRING_MAX);

	for (size_t i = 0; i < len && limit - l->p >= 6; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			*l->p++ = '\\';
			*l->p++ = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			memcpy(l->p, "\\u00", 4);
			l->p[4] = hex[c >> 4];
			l->p[5] = hex[c & 15];
			l->p += 6;
		} else {
			*l->p++ = (char)c;
		}
	}
	PUT(l, "\"");
}

static void put_cstring(struct line *l, const char *s)
{
	put_string(l, s, s ? strlen(s) : 0);
}

/* REJECT: NULL, or the reason of a request the HTTP layer rejected (an
 * extra "reason" field ends its line). */
/* A count the answer reported, or null. */
static void put_count(struct line *l, bool has, int64_t v)
{
	if (has)
		put_u64(l, (uint64_t)v);
	else
		PUT(l, "null");
}

/* The usage fields: counts, null where not reported; cost, null without a
 * price (or without usage). */
static void put_usage(struct line *l, const struct request_record *rec, const double *cost)
{
	const struct usage *u = &rec->usage;
	char num[40];
	int n;

	PUT(l, ",\"prompt_tokens\":");
	put_count(l, u->known, u->prompt);
	PUT(l, ",\"completion_tokens\":");
	put_count(l, u->known, u->completion);
	PUT(l, ",\"cached_tokens\":");
	put_count(l, u->known && u->has_cached, u->cached_prompt);
	PUT(l, ",\"reasoning_tokens\":");
	put_count(l, u->known && u->has_reasoning, u->reasoning);
	PUT(l, ",\"cost\":");
	if (cost && (n = snprintf(num, sizeof(num), "%.10g", *cost)) > 0 && (size_t)n < sizeof(num))
		put(l, num, (size_t)n);
	else
		PUT(l, "null");
}

static void access_line(struct request_stats *rs, const struct request_record *rec,
                        int64_t total_us, int64_t overhead_us, const char *reject,
                        const double *cost)
{
	const struct config *c = rs->config;
	char buf[ACCESS_LINE_MAX], ms3[4];
	struct line l = {.p = buf, .end = buf + sizeof(buf) - 2};
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != rs->when_sec || !rs->when[0]) {
		struct tm tm;

		gmtime_r(&now.tv_sec, &tm);
		strftime(rs->when, sizeof(rs->when), "%Y-%m-%dT%H:%M:%S", &tm);
		rs->when_sec = now.tv_sec;
	}
	ms3[0] = '.';
	ms3[1] = (char)('0' + now.tv_nsec / 100000000);
	ms3[2] = (char)('0' + now.tv_nsec / 10000000 % 10);
	ms3[3] = (char)('0' + now.tv_nsec / 1000000 % 10);
	PUT(&l, "{\"time\":\"");
	put(&l, rs->when, strlen(rs->when));
	put(&l, ms3, 4);
	PUT(&l, "Z\",\"request_id\":");
	put_cstring(&l, rec->id);
	PUT(&l, ",\"client\":");
	put_cstring(&l, rec->peer);
	PUT(&l, ",\"method\":");
	put_cstring(&l, rec->method);
	PUT(&l, ",\"path\":");
	put_string(&l, rec->path, rec->path ? rec->path_len : 0);
	PUT(&l, ",\"model\":");
	put_cstring(&l, rec->model);
	PUT(&l, ",\"deployment\":");
	put_cstring(&l, rec->deployment >= 0 && (size_t)rec->deployment < c->n_deployments
	                        ? c->deployments[rec->deployment].id
	                        : NULL);
	PUT(&l, ",\"route\":");
	put_cstring(&l, rec->route >= 0 && rec->route < ROUTE__COUNT
	                        ? route_name((enum route)rec->route)
	                        : NULL);
	PUT(&l, ",\"key\":");
	put_cstring(&l, rec->key_id);
	PUT(&l, ",\"status\":");
	put_u64(&l, rec->status > 0 ? (uint64_t)rec->status : 0);
	PUT(&l, ",\"attempts\":");
	put_u64(&l, rec->attempts > 0 ? (uint64_t)rec->attempts : 0);
	PUT(&l, ",\"bytes_in\":");
	put_u64(&l, rec->bytes_in);
	PUT(&l, ",\"bytes_out\":");
	put_u64(&l, rec->bytes_out);
	PUT(&l, ",\"upstream_ms\":");
	put_ms(&l, rec->attempts > 0 ? rec->upstream_us : -1);
	PUT(&l, ",\"ttfb_ms\":");
	put_ms(&l, rec->ttfb_us);
	PUT(&l, ",\"total_ms\":");
	put_ms(&l, total_us);
	PUT(&l, ",\"overhead_ms\":");
	put_ms(&l, overhead_us);
	if (rec->usage_expected)
		put_usage(&l, rec, cost);
	if (reject) {
		PUT(&l, ",\"reason\":");
		put_cstring(&l, reject);
	}
	/* the strings are bounded, so this always fits: still, never a torn line */
	*l.p++ = '}';
	*l.p++ = '\n';
	access_log_write(rs->log, buf, (size_t)(l.p - buf));
}

void request_stats_done(struct request_stats *rs, const struct request_record *rec)
{
	const struct config *c;
	int64_t total, upstream, overhead;
	size_t g;
	struct ipc_request_count key = {0};
	double cost = 0;
	bool has_cost = false;

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
	key.route =
	        rec->route >= 0 && rec->route < ROUTE__COUNT ? (uint8_t)rec->route : IPC_ROUTE_NONE;
	key.status = rec->status >= 100 && rec->status < 600 ? (uint8_t)(rec->status / 100) : 5;
	count(rs, key);

	g = key.group == IPC_NONE ? c->n_groups : key.group;
	histogram_observe(&rs->latency[g].latency[IPC_LATENCY_TOTAL], total);
	if (rec->ttfb_us >= 0)
		histogram_observe(&rs->latency[g].latency[IPC_LATENCY_TTFB], rec->ttfb_us);
	histogram_observe(&rs->latency[g].latency[IPC_LATENCY_OVERHEAD], overhead);
	rs->latency_dirty[g] = true;

	if (rec->usage_expected && key.deployment != IPC_NONE) {
		const struct usage_price *p = &c->deployments[key.deployment].price;

		cost = usage_cost(&rec->usage, p);
		has_cost = p->set && rec->usage.known;
		count_usage(rs, rec, &key, cost);
	}
	if (rs->log)
		access_line(rs, rec, total, overhead, NULL, has_cost ? &cost : NULL);
}

void request_stats_rejected(struct request_stats *rs, const struct http_rejected *r)
{
	if (!rs || (unsigned)r->reason >= HTTP_REJECT__COUNT)
		return;
	if (rs->rejected[r->reason] < UINT32_MAX)
		rs->rejected[r->reason]++;
	rs->any_rejected = true;
	if (rs->log) {
		struct request_record rec =
		        request_record_early(r->id, r->peer, r->method, r->path, r->path_len,
		                             r->status, r->bytes_in, r->bytes_out);

		access_line(rs, &rec, r->total_us, r->total_us, http_reject_name(r->reason), NULL);
	}
}

static int flush_counts(struct request_stats *rs, int fd, uint32_t generation, uint32_t *seq)
{
	size_t next = 0;

	rs->log_dropped += access_log_take_dropped(rs->log);
	do {
		struct ipc_requests msg = {.log_dropped = rs->log_dropped};
		size_t taken[IPC_REQUEST_COUNTS];
		bool rejects = rs->any_rejected;
		int r;

		if (rejects)
			memcpy(msg.rejected, rs->rejected, sizeof(msg.rejected));

		for (; next < STATS_SLOTS && msg.n < IPC_REQUEST_COUNTS; next++) {
			if (rs->slots[next].count == 0)
				continue;
			taken[msg.n] = next;
			msg.counts[msg.n++] = rs->slots[next];
		}
		if (msg.n == 0 && msg.log_dropped == 0 && !rejects)
			break;
		r = ipc_send(fd, IPC_REQUESTS, generation, ++*seq, &msg, sizeof(msg));
		if (r < 0)
			return r; /* what was not sent stays counted */
		for (uint32_t i = 0; i < msg.n; i++)
			memset(&rs->slots[taken[i]], 0, sizeof(rs->slots[0]));
		rs->used -= msg.n;
		rs->log_dropped = 0;
		if (rejects) {
			memset(rs->rejected, 0, sizeof(rs->rejected));
			rs->any_rejected = false;
		}
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
	if (rs->usage.n) {
		r = ipc_send(fd, IPC_USAGE_COUNTS, generation, ++*seq, &rs->usage,
		             sizeof(rs->usage));
		if (r < 0)
			return r;
		rs->usage.n = 0;
		memset(rs->usage_index, 0, sizeof(rs->usage_index));
	}
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
