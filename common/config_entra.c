/*
 * config_entra: an azure deployment's Entra ID credential from its
 * litellm_params and the environment (see config_entra.h for the order).
 * Runs in the config loader (supervisor, --check, probe); reads the
 * environment, reports through the caller's callback, never logs and never
 * quotes a secret.
 */
#include "config_entra.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

/* Which source a selector names, or -1. */
static int parse_selector(const char *s)
{
	static const struct {
		const char *name;
		int source;
	} names[] = {
	        {"client_secret", ENTRA_CLIENT_SECRET},
	        {"ClientSecretCredential", ENTRA_CLIENT_SECRET},
	        {"EnvironmentCredential", ENTRA_CLIENT_SECRET},
	        {"workload_identity", ENTRA_WORKLOAD_IDENTITY},
	        {"WorkloadIdentityCredential", ENTRA_WORKLOAD_IDENTITY},
	        {"managed_identity", ENTRA_IMDS}, /* App Service when IDENTITY_ENDPOINT is set */
	        {"ManagedIdentityCredential", ENTRA_IMDS},
	        {"default", ENTRA__COUNT},
	        {"DefaultAzureCredential", ENTRA__COUNT},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].source;
	return -1;
}

static int set(char **dst, const char *value)
{
	free(*dst);
	*dst = value ? strdup(value) : NULL;
	return !value || *dst ? 0 : -ENOMEM;
}

/* AZURE_AUTHORITY_HOST as the Azure identity libraries read it: a URL, or
 * a bare host name (https:// implied); no trailing slash. */
static int authority(struct entra_credential *c, config_entra_report_fn *report, void *ctx)
{
	const char *host = env("AZURE_AUTHORITY_HOST");
	char buf[512];
	size_t n;

	if (!host)
		host = ENTRA_DEFAULT_AUTHORITY;
	if (!strstr(host, "://"))
		snprintf(buf, sizeof(buf), "https://%s", host);
	else
		snprintf(buf, sizeof(buf), "%s", host);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	if (!entra_url_allowed(buf)) {
		report(ctx, true, NULL,
		       "AZURE_AUTHORITY_HOST must be an https:// URL (http:// only to a loopback "
		       "address)");
		return -EINVAL;
	}
	return set(&c->authority, buf);
}

static int need(const char *value, const char *key, const char *envname, const char *what,
                config_entra_report_fn *report, void *ctx)
{
	char msg[256];

	if (value)
		return 0;
	if (envname)
		snprintf(msg, sizeof(msg), "%s needs %s (or %s in the environment)", what, key,
		         envname);
	else
		snprintf(msg, sizeof(msg), "%s needs %s", what, key);
	report(ctx, true, key, msg);
	return -EINVAL;
}

static int client_secret(const struct config_entra_input *in, bool from_env,
                         struct entra_credential *c, config_entra_report_fn *report, void *ctx)
{
	const char *tenant = in->tenant_id, *client = in->client_id, *secret = in->client_secret;
	const char *what = "the client secret credential (tenant_id, client_id, client_secret)";
	int r = 0;

	if (from_env) {
		tenant = tenant ? tenant : env("AZURE_TENANT_ID");
		client = client ? client : env("AZURE_CLIENT_ID");
		secret = secret ? secret : env("AZURE_CLIENT_SECRET");
	}
	r |= need(tenant, "tenant_id", from_env ? "AZURE_TENANT_ID" : NULL, what, report, ctx);
	r |= need(client, "client_id", from_env ? "AZURE_CLIENT_ID" : NULL, what, report, ctx);
	r |= need(secret, "client_secret", from_env ? "AZURE_CLIENT_SECRET" : NULL, what, report,
	          ctx);
	if (r)
		return -EINVAL;
	c->source = ENTRA_CLIENT_SECRET;
	if (set(&c->tenant_id, tenant) || set(&c->client_id, client) ||
	    set(&c->client_secret, secret))
		return -ENOMEM;
	return authority(c, report, ctx);
}

static int workload(const struct config_entra_input *in, struct entra_credential *c,
                    config_entra_report_fn *report, void *ctx)
{
	const char *tenant = in->tenant_id ? in->tenant_id : env("AZURE_TENANT_ID");
	const char *client = in->client_id ? in->client_id : env("AZURE_CLIENT_ID");
	const char *file = env("AZURE_FEDERATED_TOKEN_FILE");
	const char *what = "workload identity";
	int r = 0;

	r |= need(tenant, "tenant_id", "AZURE_TENANT_ID", what, report, ctx);
	r |= need(client, "client_id", "AZURE_CLIENT_ID", what, report, ctx);
	if (!file) {
		report(ctx, true, NULL,
		       "workload identity needs AZURE_FEDERATED_TOKEN_FILE in the environment (set "
		       "by AKS for pods labelled azure.workload.identity/use: \"true\")");
		r = -EINVAL;
	}
	if (in->client_secret)
		report(ctx, false, "client_secret",
		       "client_secret is not used: workload identity presents the federated token "
		       "file instead");
	if (file && access(file, R_OK) < 0) {
		char msg[300];

		snprintf(
		        msg, sizeof(msg),
		        "AZURE_FEDERATED_TOKEN_FILE '%.200s' cannot be read (%s): tokens cannot be "
		        "fetched until it can",
		        file, strerror(errno));
		report(ctx, false, NULL, msg);
	}
	if (r)
		return -EINVAL;
	c->source = ENTRA_WORKLOAD_IDENTITY;
	if (set(&c->tenant_id, tenant) || set(&c->client_id, client) || set(&c->token_file, file))
		return -ENOMEM;
	return authority(c, report, ctx);
}

static int managed(const struct config_entra_input *in, struct entra_credential *c,
                   config_entra_report_fn *report, void *ctx)
{
	const char *endpoint = env("IDENTITY_ENDPOINT"), *header = env("IDENTITY_HEADER");
	const char *client = in->client_id ? in->client_id : env("AZURE_CLIENT_ID");
	const char *imds = env("AZURE_POD_IDENTITY_AUTHORITY_HOST");
	char buf[512];
	size_t n;

	if (in->tenant_id || in->client_secret)
		report(ctx, false, in->client_secret ? "client_secret" : "tenant_id",
		       "tenant_id and client_secret are not used by a managed identity");
	if (set(&c->client_id, client))
		return -ENOMEM;
	if (endpoint) {
		if (!header) {
			report(ctx, true, NULL,
			       "managed identity: IDENTITY_ENDPOINT is set but IDENTITY_HEADER is not "
			       "(App Service and Container Apps set both)");
			return -EINVAL;
		}
		if (!entra_url_allowed(endpoint)) {
			report(ctx, true, NULL,
			       "IDENTITY_ENDPOINT must be https:// or http:// to a loopback address");
			return -EINVAL;
		}
		c->source = ENTRA_APP_SERVICE;
		return set(&c->endpoint, endpoint) || set(&c->identity_header, header) ? -ENOMEM
		                                                                       : 0;
	}
	snprintf(buf, sizeof(buf), "%s", imds ? imds : ENTRA_IMDS_ENDPOINT);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '/')
		buf[--n] = '\0';
	/* IMDS is plain http on its link-local address, by design */
	if (strcmp(buf, ENTRA_IMDS_ENDPOINT) != 0 && !entra_url_allowed(buf)) {
		report(ctx, true, NULL,
		       "AZURE_POD_IDENTITY_AUTHORITY_HOST must be http://169.254.169.254, https:// "
		       "or a loopback address");
		return -EINVAL;
	}
	c->source = ENTRA_IMDS;
	return set(&c->endpoint, buf);
}

/* DefaultAzureCredential's order, from the environment. */
static int chain(const struct config_entra_input *in, struct entra_credential *c,
                 config_entra_report_fn *report, void *ctx)
{
	if (env("AZURE_FEDERATED_TOKEN_FILE"))
		return workload(in, c, report, ctx);
	if (env("AZURE_TENANT_ID") && env("AZURE_CLIENT_ID") && env("AZURE_CLIENT_SECRET"))
		return client_secret(in, true, c, report, ctx);
	return managed(in, c, report, ctx);
}

int config_entra_resolve(const struct config_entra_input *in, struct entra_credential *ret,
                         config_entra_report_fn *report, void *ctx)
{
	const char *selector = in->credential;
	bool written = in->tenant_id || in->client_id || in->client_secret;
	char msg[256];
	int source = -1, r;

	*ret = (struct entra_credential){.source = ENTRA_NONE};
	if (!selector && in->refresh_enabled)
		selector = env("AZURE_CREDENTIAL");
	if (selector) {
		source = parse_selector(selector);
		if (source < 0) {
			report(ctx, true, in->credential ? "azure_credential" : NULL,
			       "azure_credential must be client_secret, workload_identity, "
			       "managed_identity or default (or LiteLLM's ClientSecretCredential, "
			       "WorkloadIdentityCredential, ManagedIdentityCredential, "
			       "DefaultAzureCredential)");
			return -EINVAL;
		}
	} else if (written) {
		source = ENTRA_CLIENT_SECRET;
	} else if (in->refresh_enabled && !in->has_key) {
		source = ENTRA__COUNT;
	} else {
		if (in->scope_written)
			report(ctx, false, "azure_scope",
			       "azure_scope is only used with an Entra ID credential (tenant_id, "
			       "client_id, client_secret or azure_credential)");
		return 0;
	}

	if (in->has_key) {
		snprintf(
		        msg, sizeof(msg),
		        "both %s and an Entra ID credential are given: %s wins (as in LiteLLM) and "
		        "the credential is not used",
		        in->key_name, in->key_name);
		report(ctx, false, in->key_name, msg);
		return 0;
	}

	if (source == ENTRA_CLIENT_SECRET)
		r = client_secret(in, selector != NULL, ret, report, ctx);
	else if (source == ENTRA_WORKLOAD_IDENTITY)
		r = workload(in, ret, report, ctx);
	else if (source == ENTRA_IMDS)
		r = managed(in, ret, report, ctx);
	else
		r = chain(in, ret, report, ctx);
	if (r == 0)
		r = set(&ret->scope, in->scope ? in->scope : ENTRA_DEFAULT_SCOPE);
	if (r < 0)
		entra_credential_clear(ret);
	return r;
}
