/*
 * provider_request: the URL and headers of a request to one deployment
 * (SPEC 5; see provider_request.h). Pure: runs in workers on the request path
 * and in `llmgatectl probe`, over a deployment config_load() validated (an
 * azure deployment always has an api_version), and never logs.
 *
 * The client's own key never goes upstream: the deployment's does. A header
 * of extra_headers replaces ours of the same name (the operator asked for it).
 */
#include "provider_request.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

/* Azure's v1 API names the deployment in the body, not in the URL. */
static bool azure_v1(const char *api_version)
{
	return strcmp(api_version, "v1") == 0 || strcmp(api_version, "latest") == 0 ||
	       strcmp(api_version, "preview") == 0;
}

int provider_request_url(const struct deployment *dep, const char *op, char *buf, size_t len)
{
	int n;

	if (dep->provider != PROVIDER_AZURE)
		n = snprintf(buf, len, "%s/%s", dep->api_base, op);
	else if (azure_v1(dep->api_version))
		n = snprintf(buf, len, "%s/openai/v1/%s", dep->api_base, op);
	else
		n = snprintf(buf, len, "%s/openai/deployments/%s/%s?api-version=%s", dep->api_base,
		             dep->upstream_model, op, dep->api_version);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/* The credential sent, and whether it goes as a Bearer token. */
static const char *credential(const struct deployment *dep, const char *entra_token,
                              bool *ret_bearer)
{
	*ret_bearer = true;
	if (dep->provider == PROVIDER_AZURE && dep->entra)
		return entra_token;
	if (dep->provider == PROVIDER_AZURE && dep->azure_ad_token)
		return dep->azure_ad_token;
	*ret_bearer = dep->provider != PROVIDER_AZURE;
	return dep->api_key;
}

bool provider_request_has_credential(const struct deployment *dep)
{
	bool bearer;

	return dep->entra || credential(dep, NULL, &bearer) != NULL;
}

static bool overridden(const struct deployment *dep, const char *name)
{
	for (size_t i = 0; i < dep->n_extra_headers; i++)
		if (strcasecmp(dep->extra_headers[i].name, name) == 0)
			return true;
	return false;
}

static int ours(const struct deployment *dep, const char *name, const char *value,
                provider_header_fn *add, void *ctx)
{
	return overridden(dep, name) ? 0 : add(ctx, name, value);
}

int provider_request_headers(const struct deployment *dep, const char *entra_token, char *auth,
                             provider_header_fn *add, void *ctx)
{
	bool bearer;
	const char *cred = credential(dep, entra_token, &bearer);
	int r;

	auth[0] = '\0';
	r = ours(dep, "Content-Type", "application/json", add, ctx);
	if (r >= 0 && cred && bearer) {
		int n = snprintf(auth, PROVIDER_REQUEST_AUTH_MAX, "Bearer %s", cred);

		r = n > 0 && n < PROVIDER_REQUEST_AUTH_MAX
		            ? ours(dep, "Authorization", auth, add, ctx)
		            : -ENAMETOOLONG;
	} else if (r >= 0 && cred) {
		r = ours(dep, "api-key", cred, add, ctx);
	}
	if (r >= 0 && dep->organization)
		r = ours(dep, "OpenAI-Organization", dep->organization, add, ctx);
	for (size_t i = 0; r >= 0 && i < dep->n_extra_headers; i++)
		r = add(ctx, dep->extra_headers[i].name, dep->extra_headers[i].value);
	return r < 0 ? r : 0;
}
