/*
 * proxy_keys: a client key's part of admission (issue 20). Runs in a
 * worker, on the request path, after the group is known and before any
 * attempt: the key's model allowlist, then its budget and limits in the
 * instance-wide counters (common/client_limits.h). A refused request is
 * answered here and nothing goes upstream. Every answer of a key with an
 * rpm or tpm limit carries the x-ratelimit-* headers OpenAI sends; a 429
 * carries retry-after (seconds) and retry-after-ms, which the OpenAI SDKs
 * honour. At the end of the call its parallel count is released and its
 * tokens and spend settled (proxy_keys_finish()). A pass-through request,
 * which names no model, is held to the same budget, rpm and parallel limits
 * (proxy_keys_admit_limits(): no tokens).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "answer.h"
#include "api_error.h"
#include "client_keys.h"
#include "decimal.h"
#include "client_limits.h"
#include "http_server.h"
#include "proxy_call.h"
#include "proxy_keys.h"
#include "usage_cost.h"

#define ESTIMATE_DEFAULT_OUTPUT 0 /* no max_tokens: only the prompt is reserved */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 5, 6))) static void refuse(const struct early_answer *e, int status,
                                                         const char *type, const char *code,
                                                         const char *fmt, ...)
{
	va_list ap;
	char *json;

	va_start(ap, fmt);
	json = api_error_json(type, code, fmt, ap);
	va_end(ap);
	answer_early(e, status, json);
	api_error_json_free(json);
}

/* The number after "NAME" at P (just past the name's closing quote), or
 * -1: spaces and a colon, then digits. */
static long number_after(const char *p, const char *end)
{
	long v;

	for (; p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ':'); p++)
		;
	if (p >= end || *p < '0' || *p > '9')
		return -1;
	for (v = 0; p < end && *p >= '0' && *p <= '9' && v < 100000000; p++)
		v = v * 10 + (*p - '0');
	return v;
}

/* Tokens reserved until the answer reports its usage: the prompt at about
 * four bytes a token, plus the output the request allows: the first
 * "max_completion_tokens", else "max_output_tokens", else "max_tokens" (an
 * estimate only: a name inside a message can fool it; it only sizes a
 * reservation). One pass over the body: each "max_ is looked at once. */
static long estimate_tokens(const struct proxy_call *call)
{
	static const struct {
		const char *rest; /* after "max_ */
		size_t len;
	} names[] = {
	        {"completion_tokens\"", sizeof("completion_tokens\"") - 1},
	        {"output_tokens\"", sizeof("output_tokens\"") - 1},
	        {"tokens\"", sizeof("tokens\"") - 1},
	};
	const char *p = call->raw, *end = call->raw + call->raw_len;
	long found[3] = {-1, -1, -1};
	bool seen[3] = {false, false, false};
	long est = (long)(call->raw_len / 4);

	/* an underscore is rare in a body: memchr for it, then "max before it */
	while (!seen[0] && p < end && (p = memchr(p, '_', (size_t)(end - p))) != NULL) {
		if (p - call->raw < 4 || memcmp(p - 4, "\"max", 4) != 0) {
			p++;
			continue;
		}
		p++;
		for (size_t i = 0; i < 3; i++) {
			if ((size_t)(end - p) < names[i].len ||
			    memcmp(p, names[i].rest, names[i].len) != 0)
				continue;
			if (!seen[i]) {
				seen[i] = true;
				found[i] = number_after(p + names[i].len, end);
			}
			p += names[i].len;
			break;
		}
	}
	/* as the names' first mentions say, in that order of preference */
	for (size_t i = 0; i < 3; i++)
		if (found[i] >= 0)
			return est + found[i];
	return est + ESTIMATE_DEFAULT_OUTPUT;
}

/* V in decimal at P (negative: 0); returns the end. */
static char *put_long(char *p, long v)
{
	return decimal_put(p, v < 0 ? 0 : (uint64_t)v);
}

static char *put_text(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

#define PUT(p, s) put_text(p, s, sizeof(s) - 1)

/* "12s", "450ms": as OpenAI writes x-ratelimit-reset-*. */
static char *put_reset(char *p, long ms)
{
	if (ms < 1000)
		return PUT(put_long(p, ms), "ms");
	return PUT(put_long(p, (ms + 999) / 1000), "s");
}

static void add_long(struct http_exchange *ex, const char *name, long v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%ld", v < 0 ? 0 : v);
	http_exchange_add_header(ex, name, buf);
}

/* The x-ratelimit-* lines of a key with an rpm or tpm limit, made by hand
 * into one buffer and added in one call (constant names, digits: nothing to
 * check on every request). */
static void ratelimit_headers(struct http_exchange *ex, const struct client_key *k,
                              const struct client_limit_info *info)
{
	char lines[512], reset[32], *p = lines;
	size_t reset_len = (size_t)(put_reset(reset, info->reset_ms) - reset);

	if (info->limit_requests >= 0) {
		p = PUT(p, "x-ratelimit-limit-requests: ");
		/* the limit is the key's rpm, formatted when the keys were loaded */
		p = PUT(put_text(p, k->rpm_text, k->rpm_text_len),
		        "\r\nx-ratelimit-remaining-requests: ");
		p = PUT(put_long(p, info->remaining_requests), "\r\nx-ratelimit-reset-requests: ");
		p = PUT(put_text(p, reset, reset_len), "\r\n");
	}
	if (info->limit_tokens >= 0) {
		p = PUT(p, "x-ratelimit-limit-tokens: ");
		p = PUT(put_text(p, k->tpm_text, k->tpm_text_len),
		        "\r\nx-ratelimit-remaining-tokens: ");
		p = PUT(put_long(p, info->remaining_tokens), "\r\nx-ratelimit-reset-tokens: ");
		p = PUT(put_text(p, reset, reset_len), "\r\n");
	}
	if (p > lines)
		http_exchange_add_header_lines(ex, lines, (size_t)(p - lines));
}

static void retry_headers(struct http_exchange *ex, long ms)
{
	add_long(ex, "retry-after", (ms + 999) / 1000);
	add_long(ex, "retry-after-ms", ms);
}

static void model_denied(const struct proxy_call *call, const struct early_answer *e)
{
	const struct config *config = call->proxy->config;
	const struct client_key *k = call->key;
	char list[1024] = "";
	size_t used = 0;

	for (size_t i = 0; i < k->n_groups && used < sizeof(list); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s'%s'", used ? ", " : "",
		                 config->groups[k->groups[i]].name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	refuse(e, 401, "invalid_request_error", "key_model_access_denied",
	       "key '%s' may not use model '%s'; it may use: %s", k->id, call->model,
	       list[0] ? list : "(none)");
}

int proxy_keys_admit(struct proxy_call *call, const struct proxy_target *target,
                     const struct early_answer *e)
{
	const struct client_key *k = target->key;

	call->hold.slot = CLIENT_KEY_NO_SLOT;
	if (!k)
		return 0;
	call->key = k;
	call->key_id = k->id;
	if (call->group >= 0 && !client_key_allows(k, (size_t)call->group)) {
		model_denied(call, e);
		return -1;
	}
	/* the estimate only matters to a tpm limit */
	return proxy_keys_admit_limits(k, k->tpm > 0 ? estimate_tokens(call) : 0, e, &call->hold);
}

int proxy_keys_admit_limits(const struct client_key *k, long tokens, const struct early_answer *e,
                            struct client_limit_hold *hold)
{
	struct client_limit_info info;
	enum client_limit_verdict v;

	hold->slot = CLIENT_KEY_NO_SLOT;
	v = client_limits_admit(k, now_ms(), tokens, &info, hold);
	ratelimit_headers(e->ex, k, &info);
	switch (v) {
	case CLIENT_LIMIT_OK:
		return 0;
	case CLIENT_LIMIT_BUDGET:
		/* LiteLLM's answer to a key over its max_budget: 400,
		 * budget_exceeded (a retry cannot succeed before the period
		 * ends, so not a 429 the SDKs would retry) */
		refuse(e, 400, "budget_exceeded", "budget_exceeded",
		       "Budget has been exceeded! Key '%s': current cost %.6f, max budget %.6f%s",
		       k->id, (double)info.spend_nano / CLIENT_KEY_NANO,
		       (double)k->max_budget_nano / CLIENT_KEY_NANO,
		       info.period_end ? "; it resets with the next budget period" : "");
		return -1;
	case CLIENT_LIMIT_PARALLEL:
		if (k->slot == CLIENT_KEY_NO_SLOT) {
			refuse(e, 503, "server_error", "key_limits_unavailable",
			       "the limits of key '%s' cannot be counted (the key table is full)",
			       k->id);
			return -1;
		}
		retry_headers(e->ex, 1000);
		refuse(e, 429, "requests", "rate_limit_exceeded",
		       "Rate limit reached for key '%s': %ld parallel requests at most", k->id,
		       k->max_parallel);
		return -1;
	case CLIENT_LIMIT_RPM:
		retry_headers(e->ex, info.reset_ms);
		refuse(e, 429, "requests", "rate_limit_exceeded",
		       "Rate limit reached for key '%s' on requests per minute (RPM): limit %ld; "
		       "try again in %ld ms",
		       k->id, k->rpm, info.reset_ms);
		return -1;
	case CLIENT_LIMIT_TPM:
	default:
		retry_headers(e->ex, info.reset_ms);
		refuse(e, 429, "tokens", "rate_limit_exceeded",
		       "Rate limit reached for key '%s' on tokens per minute (TPM): limit %ld; try "
		       "again in %ld ms",
		       k->id, k->tpm, info.reset_ms);
		return -1;
	}
}

/*
 * The cost of the call's answer in 1e-9 cost units: the usage its answer
 * reported at its deployment's prices (usage_cost.h, as the access log and
 * llmgate_cost_total count it). No usage or no prices: no spend.
 */
static int64_t call_cost_nano(const struct proxy_call *call)
{
	double cost;

	if (!call->usage.known || !call->dep)
		return 0;
	cost = usage_cost(&call->usage, &call->dep->price);
	return cost > 0 && cost < 9e9 ? (int64_t)(cost * 1e9 + 0.5) : cost >= 9e9 ? INT64_MAX : 0;
}

void proxy_keys_finish(struct proxy_call *call)
{
	long tokens = call->usage.known ? (long)call->usage.total : -1;

	client_limits_deployment_settle(&call->ceiling, tokens);
	if (call->hold.slot == CLIENT_KEY_NO_SLOT)
		return;
	client_limits_finish(&call->hold, &call->usage, call_cost_nano(call));
}

bool proxy_keys_ceiling_take(struct proxy_call *call, const struct deployment *dep,
                             long *ret_reset_ms)
{
	/* an op on a stored response goes where the response is: no skipping */
	if (!call->proxy->config->deployment_ceilings || dep->ceiling_slot == CLIENT_KEY_NO_SLOT ||
	    call->walk.active)
		return true;
	/* an earlier attempt failed: its tokens were not used */
	client_limits_deployment_settle(&call->ceiling, 0);
	return client_limits_deployment_take(dep->ceiling_slot, dep->rpm, dep->tpm,
	                                     estimate_tokens(call), now_ms(), &call->ceiling,
	                                     ret_reset_ms);
}

void proxy_keys_ceiling_refuse(struct proxy_call *call, long reset_ms)
{
	if (call->ex)
		retry_headers(call->ex, reset_ms);
	proxy_answer_error(call, 429, "requests", "rate_limit_exceeded",
	                   "No deployments available for model '%s': every deployment is at its "
	                   "rpm/tpm limit this minute (router_settings.enable_pre_call_checks); "
	                   "try again in %ld ms",
	                   call->model, reset_ms);
}
