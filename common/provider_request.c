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
#include "providers.h"
#include "str_cat.h"

/* Azure's v1 API names the deployment in the body, not in the URL. */
static bool azure_v1(const char *api_version)
{
	return strcmp(api_version, "v1") == 0 || strcmp(api_version, "latest") == 0 ||
	       strcmp(api_version, "preview") == 0;
}

bool provider_request_azure_v1(const struct deployment *dep)
{
	return dep->provider == PROVIDER_AZURE && azure_v1(dep->api_version);
}

/* The Responses API's paths ("responses", "responses/{id}..."): on Azure's
 * dated API they name no deployment (the body's model does). */
static bool responses_op(const char *op)
{
	return strncmp(op, "responses", 9) == 0 && (op[9] == '\0' || op[9] == '/');
}

static bool ends_with(const char *s, const char *tail)
{
	size_t ls = strlen(s), lt = strlen(tail);

	return ls >= lt && strcmp(s + ls - lt, tail) == 0;
}

/* The host of URL (scheme://host[:port][/path]) ends in SUFFIX. */
static bool host_ends_with(const char *url, const char *suffix)
{
	const char *host = strstr(url, "://");
	size_t n, ls = strlen(suffix);

	host = host ? host + 3 : url;
	n = strcspn(host, ":/");
	return n >= ls && strncasecmp(host + n - ls, suffix, ls) == 0;
}

int provider_request_url_query(const struct deployment *dep, const char *op, const char *query,
                               char *buf, size_t len)
{
	const struct provider_info *p = provider_info(dep->provider);
	const char *v1 = "", *models = "";
	bool q = query && *query;
	const char *qs = q ? query : "";
	int n;

	switch (p ? p->path : PROVIDER_PATH_OPENAI) {
	case PROVIDER_PATH_AZURE:
		if (azure_v1(dep->api_version))
			n = str_cat(buf, len, dep->api_base, "/openai/v1/", op, q ? "?" : "", qs,
			            (char *)NULL);
		else if (responses_op(op))
			n = str_cat(buf, len, dep->api_base, "/openai/", op,
			            "?api-version=", dep->api_version, q ? "&" : "", qs,
			            (char *)NULL);
		else
			n = str_cat(buf, len, dep->api_base, "/openai/deployments/",
			            dep->upstream_model, "/", op, "?api-version=", dep->api_version,
			            q ? "&" : "", qs, (char *)NULL);
		return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
	case PROVIDER_PATH_AZURE_AI:
		if (host_ends_with(dep->api_base, ".services.ai.azure.com") &&
		    !ends_with(dep->api_base, "/models"))
			models = "/models";
		break;
	case PROVIDER_PATH_V1:
		if (!ends_with(dep->api_base, "/v1"))
			v1 = "/v1";
		break;
	case PROVIDER_PATH_OPENAI:
		break;
	}
	if (dep->api_version)
		n = str_cat(buf, len, dep->api_base, v1, models, "/", op,
		            "?api-version=", dep->api_version, q ? "&" : "", qs, (char *)NULL);
	else
		n = str_cat(buf, len, dep->api_base, v1, models, "/", op, q ? "?" : "", qs,
		            (char *)NULL);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int provider_request_url(const struct deployment *dep, const char *op, char *buf, size_t len)
{
	return provider_request_url_query(dep, op, NULL, buf, len);
}

bool provider_request_body_names_deployment(const struct deployment *dep, const char *op)
{
	return dep->provider != PROVIDER_AZURE || azure_v1(dep->api_version) || responses_op(op);
}

bool provider_request_responses_version_ok(const char *api_version)
{
	/* dated versions are YYYY-MM-DD[-preview]: their dates compare as strings */
	if (azure_v1(api_version))
		return true;
	return strncmp(api_version, PROVIDER_REQUEST_AZURE_RESPONSES_SINCE, 10) >= 0;
}

/* The credential sent, and whether it goes as a Bearer token. */
static const char *credential(const struct deployment *dep, const char *entra_token,
                              bool *ret_bearer)
{
	const struct provider_info *p = provider_info(dep->provider);

	*ret_bearer = true;
	switch (p ? p->auth : PROVIDER_AUTH_BEARER) {
	case PROVIDER_AUTH_AZURE:
		if (dep->entra)
			return entra_token;
		if (dep->azure_ad_token)
			return dep->azure_ad_token;
		*ret_bearer = false;
		break;
	case PROVIDER_AUTH_AZURE_AI:
		/* LiteLLM's rule: Foundry and Azure OpenAI hosts take api-key,
		 * serverless endpoints a Bearer token. */
		*ret_bearer = !host_ends_with(dep->api_base, ".services.ai.azure.com") &&
		              !host_ends_with(dep->api_base, ".openai.azure.com");
		break;
	case PROVIDER_AUTH_BEARER:
		break;
	}
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
		int n = str_cat(auth, PROVIDER_REQUEST_AUTH_MAX, "Bearer ", cred, (char *)NULL);

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
