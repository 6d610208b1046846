/*
 * provider_request: the SPEC 5 rules for what a request to a deployment
 * looks like on the wire, apart from its body: the URL of the provider's API
 * (api_base, op, api_version) and the headers (content type, the deployment's
 * credential, organization, extra_headers). One definition shared by the
 * worker's attempts (worker/proxy_request.c) and `llmgatectl probe`, so the
 * probe tests exactly what the gateway sends.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct deployment;

/* Room for "Bearer " and a credential: Entra ID tokens are JWTs of up to
 * ENTRA_TOKEN_MAX (8000) bytes. */
#define PROVIDER_REQUEST_AUTH_MAX 8208
/* Headers of ours at most (Content-Type, a credential, the organization);
 * the deployment's extra_headers come on top. */
#define PROVIDER_REQUEST_OWN_HEADERS 3

/* The first dated api-version on which Azure OpenAI serves the Responses API
 * (Microsoft's "Azure OpenAI Responses API" how-to and API version lifecycle:
 * the Responses API arrived with 2025-03-01-preview). */
#define PROVIDER_REQUEST_AZURE_RESPONSES_SINCE "2025-03-01-preview"

/*
 * Writes the URL of OP ("chat/completions", "completions", "embeddings",
 * "responses", "responses/{id}"...) on DEP into BUF, by its provider's path
 * rule (providers.h): azure
 * {api_base}/openai/deployments/{deployment}/{op}?api-version={v}, except
 * the Responses API's ops, {api_base}/openai/{op}?api-version={v}; or
 * {api_base}/openai/v1/{op} for api_version v1, latest or preview; azure_ai
 * {api_base}[/models]/{op}[?api-version={v}] (/models on
 * *.services.ai.azure.com); ollama, mistral {api_base}[/v1]/{op}; the others
 * {api_base}/{op}. DEP is as config_load() normalized it. Returns 0, or
 * -ENAMETOOLONG when it does not fit (BUF is then unusable).
 */
int provider_request_url(const struct deployment *dep, const char *op, char *buf, size_t len);

/* The same with QUERY (NULL or empty: none; no leading '?') appended as
 * the URL's query, after api-version when there is one. */
int provider_request_url_query(const struct deployment *dep, const char *op, const char *query,
                               char *buf, size_t len);

/* Whether a request for OP on DEP names its upstream model in the body's
 * "model" (OpenAI-style upstreams, Azure's v1 API, the Responses API on
 * Azure's dated API) rather than in the URL. */
bool provider_request_body_names_deployment(const struct deployment *dep, const char *op);

/* Whether Azure serves the Responses API on API_VERSION: the v1 API, or a
 * dated version whose date is not before PROVIDER_REQUEST_AZURE_RESPONSES_SINCE's. */
bool provider_request_responses_version_ok(const char *api_version);

/* Whether DEP is an Azure deployment on the v1 API (api_version v1, latest or
 * preview): its URL names no deployment, the body's "model" must. */
bool provider_request_azure_v1(const struct deployment *dep);

/* Called once per header, in order; a negative return stops the walk. */
typedef int provider_header_fn(void *ctx, const char *name, const char *value);

/*
 * Calls ADD for each header of a request to DEP: Content-Type, the
 * credential (azure: api-key, or Authorization: Bearer with azure_ad_token
 * or, for a deployment with an Entra ID credential, ENTRA_TOKEN, its
 * current token, NULL when there is none; azure_ai: api-key on
 * *.services.ai.azure.com and *.openai.azure.com, else Bearer; the others:
 * Authorization: Bearer, when there is a key), OpenAI-Organization, then every
 * extra_headers entry. One of ours whose name an extra header also has is
 * left out: the operator's wins. A Bearer value is written into AUTH
 * (PROVIDER_REQUEST_AUTH_MAX bytes), which must outlive the values' use and
 * be wiped by the caller. Returns 0, -ENAMETOOLONG when the credential does
 * not fit AUTH, or ADD's negative return.
 */
int provider_request_headers(const struct deployment *dep, const char *entra_token, char *auth,
                             provider_header_fn *add, void *ctx);

/* Whether a request to DEP carries one of the deployment's credentials (an
 * Entra ID credential counts: its token is sent). */
bool provider_request_has_credential(const struct deployment *dep);
