/*
 * status: builds the control socket's JSON views of the supervisor (see
 * status.h). Runs in the supervisor only.
 */
#include "status.h"

#include <time.h>
#include <unistd.h>

#include "build_config.h"
#include "client_limits.h"
#include "config.h"
#include "health.h"
#include "metrics.h"
#include "metrics_usage.h"
#include "secret.h"
#include "supervisor.h"
#include "supervisor_int.h"
#include "tls_listener.h"
#include "tokens.h"
#include "clock.h"

json_t *status_workers_json(struct supervisor *sup)
{
	json_t *list = json_array();

	for (const struct generation *g = sup->generations; g; g = g->next) {
		for (size_t i = 0; i < g->n_slots; i++) {
			const struct slot *s = &g->slots[i];
			json_t *w = json_pack(
			        "{s:i, s:i, s:s, s:i, s:s, s:i, s:i}", "slot", (int)s->index, "pid",
			        (int)s->pid, "state", worker_state_name(s->state), "generation",
			        (int)g->id, "generation_state", generation_state_name(g->state),
			        "restarts", (int)s->restarts, "crashes", (int)s->crashes);

			if (!w)
				continue;
			json_object_set_new(
			        w, "uptime_ms",
			        json_integer(s->pid > 0 ? clock_ms_since(&s->started) : 0));
			if (s->state == WORKER_BACKOFF)
				json_object_set_new(w, "next_restart_ms",
				                    json_integer(s->next_delay_ms));
			if (s->last_exit[0])
				json_object_set_new(w, "last_exit", json_string(s->last_exit));
			json_array_append_new(list, w);
		}
	}
	return list;
}

/* A deployment's rpm/tpm ceiling (router_settings.enable_pre_call_checks)
 * beside this minute's use, for the whole instance. */
static json_t *ceiling_json(const struct deployment *d)
{
	struct timespec now;
	long rpm, tpm;

	clock_gettime(CLOCK_REALTIME, &now);
	client_limits_deployment_view(
	        d->ceiling_slot, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, &rpm, &tpm);
	return json_pack("{s:o, s:I, s:o, s:I}", "rpm",
	                 d->rpm > 0 ? json_integer(d->rpm) : json_null(), "rpm_used",
	                 (json_int_t)rpm, "tpm", d->tpm > 0 ? json_integer(d->tpm) : json_null(),
	                 "tpm_used", (json_int_t)tpm);
}

json_t *status_deployments_json(struct supervisor *sup)
{
	json_t *list = json_array();
	const struct config *c = sup->serving ? sup->serving->config : NULL;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);

	for (size_t i = 0; c && i < c->n_deployments; i++) {
		const struct deployment *d = &c->deployments[i];
		char key[64];
		json_t *b = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:b}", "id", d->id, "model_name",
		                      d->model_name, "provider", provider_name(d->provider),
		                      "api_base", d->api_base, "upstream_model", d->upstream_model,
		                      "served", !d->not_served);

		if (!b)
			continue;
		if (d->api_version)
			json_object_set_new(b, "api_version", json_string(d->api_version));
		if (d->not_served)
			json_object_set_new(b, "not_served", json_string(d->not_served));
		if (sup->health) {
			json_t *hb = health_deployments_json(sup->health);
			size_t k;
			json_t *v;

			json_array_foreach(hb, k, v) if (json_equal(json_object_get(v, "id"),
			                                            json_object_get(b, "id")))
			        json_object_update(b, v);
			json_decref(hb);
		}
		json_object_set_new(
		        b, "key",
		        json_string(d->entra ? "entra"
		                             : secret_mask(d->azure_ad_token ? d->azure_ad_token
		                                                             : d->api_key,
		                                           key, sizeof(key))));
		if (d->entra)
			json_object_set_new(b, "token", tokens_deployment_json(sup->tokens, c, d));
		json_object_set_new(
		        b, "tokens_last_minute",
		        json_integer((json_int_t)metrics_usage_last_minute(
		                metrics_usage(sup->metrics), d->id, (int64_t)now.tv_sec)));
		if (d->ceiling_slot != CLIENT_KEY_NO_SLOT)
			json_object_set_new(b, "ceiling", ceiling_json(d));
		json_array_append_new(list, b);
	}
	return list;
}

json_t *status_fallback_json(struct supervisor *sup)
{
	json_t *f = json_pack("{s:s}", "override", fallback_setting_name(sup->fallback_override));
	char when[32];
	struct tm tm;

	if (!f)
		return NULL;
	if (sup->fallback_override_uid == (uid_t)-1)
		json_object_set_new(f, "set_by", json_string("config"));
	else
		json_object_set_new(f, "set_by_uid", json_integer(sup->fallback_override_uid));
	gmtime_r(&sup->fallback_override_time, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_set_new(f, "since", json_string(when));
	return f;
}

json_t *status_json(struct supervisor *sup)
{
	/* Before the first generation serves, show the one starting. */
	const struct generation *g = sup->serving ? sup->serving : sup->generations;
	json_t *s = json_pack("{s:s, s:i, s:I}", "version", LLMGATE_VERSION, "pid", (int)getpid(),
	                      "uptime_ms", (json_int_t)supervisor_uptime_ms(sup));

	if (!s)
		return NULL;
	json_object_set_new(s, "config", json_string(sup->options->config_path));
	if (g) {
		json_object_set_new(s, "generation", json_integer(g->id));
		json_object_set_new(s, "listen", json_string(g->config->listen));
		if (g->tls) {
			struct tls_listener_info t;

			tls_listener_describe(g->tls, &t);
			json_object_set_new(s, "tls",
			                    json_pack("{s:s, s:s, s:b}", "certificate", t.subject,
			                              "expires", t.expires, "mtls", t.mtls));
		}
		json_object_set_new(s, "workers_ready",
		                    json_integer((json_int_t)generation_ready(g)));
		json_object_set_new(s, "workers_configured", json_integer((json_int_t)g->n_slots));
	}
	json_object_set_new(s, "reloading", json_boolean(sup->pending != NULL));
	json_object_set_new(s, "fallback", status_fallback_json(sup));
	json_object_set_new(s, "groups",
	                    sup->health ? health_groups_json(sup->health) : json_array());
	json_object_set_new(s, "workers", status_workers_json(sup));
	json_object_set_new(s, "deployments", status_deployments_json(sup));
	return s;
}
