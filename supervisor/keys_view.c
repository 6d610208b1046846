/*
 * keys_view: the client keys' figures for the control socket (see
 * keys_view.h). Supervisor process; reads the shared counters with atomic
 * loads only (client_limits_view()), so a wedged worker cannot stall it.
 */
#include "keys_view.h"

#include <stdio.h>
#include <time.h>

#include "client_keys.h"
#include "client_limits.h"
#include "config.h"

static json_t *limit(long v)
{
	return v > 0 ? json_integer(v) : json_null();
}

static json_t *period_text(const struct budget_period *p)
{
	char buf[32];

	if (p->unit == BUDGET_NONE)
		return json_null();
	if (p->unit == BUDGET_MONTHS)
		snprintf(buf, sizeof(buf), "%ldmo", p->n);
	else if (p->n % 86400 == 0)
		snprintf(buf, sizeof(buf), "%ldd", p->n / 86400);
	else if (p->n % 3600 == 0)
		snprintf(buf, sizeof(buf), "%ldh", p->n / 3600);
	else if (p->n % 60 == 0)
		snprintf(buf, sizeof(buf), "%ldm", p->n / 60);
	else
		snprintf(buf, sizeof(buf), "%lds", p->n);
	return json_string(buf);
}

static json_t *key_json(const struct config *config, const struct client_key *k, int64_t now_ms)
{
	struct client_limit_view v;
	json_t *models = json_null(), *refused = json_object();

	client_limits_view(k, now_ms, &v);
	if (k->groups) {
		models = json_array();
		for (size_t i = 0; i < k->n_groups; i++)
			json_array_append_new(models,
			                      json_string(config->groups[k->groups[i]].name));
	}
	for (int i = CLIENT_LIMIT_BUDGET; i <= CLIENT_LIMIT_TPM; i++)
		json_object_set_new(refused,
		                    client_limit_verdict_name((enum client_limit_verdict)i),
		                    json_integer((json_int_t)v.refused[i]));
	return json_pack(
	        "{s:s, s:o, s:s, s:o, s:o, s:I, s:o, s:I, s:o, s:I, s:o, s:f, s:o, s:o, s:o, "
	        "s:I, s:I, s:o, s:b}",
	        "id", k->id, "alias", k->alias ? json_string(k->alias) : json_null(), "state",
	        k->disabled                                 ? "disabled"
	        : k->expires && k->expires <= now_ms / 1000 ? "expired"
	        : k->slot == CLIENT_KEY_NO_SLOT             ? "no-slot"
	                                                    : "active",
	        "models", models, "rpm", limit(k->rpm), "rpm_used", (json_int_t)v.rpm_used, "tpm",
	        limit(k->tpm), "tpm_used", (json_int_t)v.tpm_used, "max_parallel_requests",
	        limit(k->max_parallel), "parallel", (json_int_t)v.parallel, "max_budget",
	        k->max_budget_nano >= 0 ? json_real((double)k->max_budget_nano / CLIENT_KEY_NANO)
	                                : json_null(),
	        "spend", (double)v.spend_nano / CLIENT_KEY_NANO, "budget_duration",
	        period_text(&k->period), "period_end",
	        k->period.unit != BUDGET_NONE
	                ? json_integer((json_int_t)budget_period_end(&k->period, v.period_start))
	                : json_null(),
	        "expires", k->expires ? json_integer((json_int_t)k->expires) : json_null(),
	        "requests", (json_int_t)v.requests, "tokens", (json_int_t)v.tokens, "refused",
	        refused, "counted", v.found);
}

json_t *keys_view_json(const struct config *config)
{
	struct timespec ts;
	json_t *keys = json_array();
	int64_t now_ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (size_t i = 0; config && config->client_keys && i < config->client_keys->n; i++)
		json_array_append_new(keys,
		                      key_json(config, &config->client_keys->keys[i], now_ms));
	return json_pack("{s:o, s:o}", "keys_file",
	                 config && config->keys_file ? json_string(config->keys_file) : json_null(),
	                 "keys", keys);
}
