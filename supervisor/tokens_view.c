/*
 * tokens_view: what llmgatectl deployments and /metrics show of the Entra ID
 * token of each keyless Azure deployment (see tokens.h), from
 * tokens_state(). Runs in the supervisor; never shows a token.
 */
#include "tokens.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <time.h>

#include "config.h"
#include "metrics.h"

int tokens_metrics_view(const struct tokens *t, const struct config *config,
                        struct metrics_token **ret, size_t *ret_n)
{
	int64_t now = (int64_t)time(NULL);
	struct metrics_token *v;
	size_t n = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < config->n_deployments; i++)
		n += config->deployments[i].entra;
	if (n == 0)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < config->n_deployments; i++) {
		const struct deployment *d = &config->deployments[i];
		struct token_state st;

		if (!d->entra)
			continue;
		v[n] = (struct metrics_token){
		        .deployment = d->id,
		        .source = entra_source_name(config->credentials[d->credential].source),
		};
		if (tokens_state(t, config, d->credential, &st)) {
			v[n].fetches = st.fetches;
			v[n].failures = st.failures;
			v[n].expires_in_seconds = st.valid ? (double)(st.expires_at - now) : 0;
		}
		n++;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

json_t *tokens_deployment_json(const struct tokens *t, const struct config *config,
                               const struct deployment *dep)
{
	struct token_state st;
	int64_t now = (int64_t)time(NULL);
	json_t *o;

	if (!dep->entra || dep->credential >= config->n_credentials)
		return NULL;
	o = json_pack("{s:s}", "source",
	              entra_source_name(config->credentials[dep->credential].source));
	if (!o)
		return NULL;
	if (!tokens_state(t, config, dep->credential, &st)) {
		json_object_set_new(o, "state", json_string("none"));
		return o;
	}
	json_object_set_new(o, "state",
	                    json_string(st.valid            ? "valid"
	                                : st.expires_at > 0 ? "expired"
	                                                    : "none"));
	if (st.expires_at > 0)
		json_object_set_new(o, "expires_in_s", json_integer(st.expires_at - now));
	if (st.last_refresh > 0)
		json_object_set_new(o, "last_refresh_s_ago", json_integer(now - st.last_refresh));
	if (st.next_fetch > 0)
		json_object_set_new(o, "next_fetch_in_s", json_integer(st.next_fetch - now));
	json_object_set_new(o, "fetches", json_integer((json_int_t)st.fetches));
	json_object_set_new(o, "failures", json_integer((json_int_t)st.failures));
	json_object_set_new(o, "last_error", json_string(st.last_error));
	return o;
}
