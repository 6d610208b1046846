/*
 * Unit tests of the probe's diagnosis: real error bodies of Azure, OpenAI
 * and a LiteLLM proxy, and transport failures, to verdicts and words.
 */
#include <errno.h>
#include <string.h>

#include "probe_diagnosis.h"
#include "tap.h"

static struct probe_answer azure(long status, const char *body)
{
	return (struct probe_answer){
	        .azure = true,
	        .sent_credential = true,
	        .model = "azure/gpt-4o",
	        .upstream = "gpt-4o",
	        .status = status,
	        .body = body,
	        .body_len = body ? strlen(body) : 0,
	        .timeout_ms = 10000,
	        .retry_after_ms = -1,
	};
}

static struct probe_answer openai(long status, const char *body)
{
	struct probe_answer a = azure(status, body);

	a.azure = false;
	a.model = "openai/gpt-4o";
	return a;
}

static struct probe_answer failed(enum probe_transport t)
{
	struct probe_answer a = openai(0, NULL);

	a.transport = t;
	return a;
}

static void expect(struct probe_answer a, enum probe_verdict v, bool passed, bool reachable,
                   const char *words, const char *what)
{
	struct probe_diagnosis d;

	probe_diagnose(&a, &d);
	tap_ok(d.verdict == v && d.passed == passed && d.reachable == reachable &&
	               strstr(d.text, words) != NULL,
	       "%s: %s%s%s (%s)", what, probe_verdict_name(d.verdict), d.passed ? " passed" : "",
	       d.reachable ? " reachable" : "", d.text);
}

static const char azure_401[] =
        "{\"error\":{\"code\":\"401\",\"message\":\"Access denied due to invalid subscription key "
        "or wrong API endpoint. Make sure to provide a valid key for an active subscription and "
        "use a correct regional API endpoint for your resource.\"}}";

static void test_auth(void)
{
	struct probe_answer a;

	expect(azure(401, azure_401), PROBE_WRONG_KEY, false, false,
	       "wrong key or wrong endpoint for this resource", "azure 401");
	expect(azure(401, azure_401), PROBE_WRONG_KEY, false, false,
	       "Access denied due to invalid subscription key or wrong API endpoint\")",
	       "azure 401 quotes Azure's first sentence");
	a = azure(401, "{\"error\":{\"code\":\"401\",\"message\":\"Access denied due to missing "
	               "subscription key. Make sure to include subscription key when making "
	               "requests to an API.\"}}");
	a.sent_credential = false;
	expect(a, PROBE_NO_KEY, false, false, "set api_key (or azure_ad_token)", "azure no key");
	expect(azure(401,
	             "{\"statusCode\":401,\"message\":\"Unauthorized. Access token is missing, "
	             "invalid, audience is incorrect (https://cognitiveservices.azure.com), or "
	             "have expired.\"}"),
	       PROBE_WRONG_KEY, false, false, "azure_ad_token is invalid",
	       "azure AD token, gateway body shape");
	expect(openai(401, "{\"error\":{\"message\":\"Incorrect API key provided: sk-proj-********"
	                   "9f2c. You can find your API key at https://platform.openai.com/account/"
	                   "api-keys.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":"
	                   "\"invalid_api_key\"}}"),
	       PROBE_WRONG_KEY, false, false, "wrong key: the upstream refused api_key (OpenAI",
	       "openai invalid_api_key");
	expect(openai(401,
	              "{\"error\":{\"message\":\"litellm.AuthenticationError: AzureException "
	              "AuthenticationError - Access denied due to invalid subscription key or wrong "
	              "API endpoint. Make sure to provide a valid key for an active subscription "
	              "and use a correct regional API endpoint for your resource.\\nReceived Model "
	              "Group=gpt-4o\\nAvailable Model Group Fallbacks=None\",\"type\":null,"
	              "\"param\":null,\"code\":\"401\"}}"),
	       PROBE_PROXY_UPSTREAM_KEY, false, false, "fix the key in the proxy's config",
	       "litellm proxy: Azure refused the proxy's key");
	expect(openai(401, "{\"error\":{\"message\":\"Authentication Error, Invalid proxy server "
	                   "token passed. Received API Key = sk-...1234, Key Hash (Token) =9f2c. "
	                   "Unable to find token in cache or `LiteLLM_VerificationTokenTable`\","
	                   "\"type\":\"auth_error\",\"param\":\"None\",\"code\":\"401\"}}"),
	       PROBE_WRONG_KEY, false, false, "the LiteLLM proxy does not know this api_key",
	       "litellm proxy refused our key");
	expect(azure(403, "{\"error\":{\"code\":\"403\",\"message\":\"Public access is disabled. "
	                  "Please configure private endpoint.\"}}"),
	       PROBE_FORBIDDEN, false, false, "through its private endpoint",
	       "azure public access disabled");
	expect(azure(403, "{\"error\":{\"code\":\"AuthenticationTypeDisabled\",\"message\":\"Key "
	                  "based authentication is disabled for this resource.\"}}"),
	       PROBE_FORBIDDEN, false, false, "use an Entra ID credential",
	       "azure key auth disabled");
	struct probe_answer keyless =
	        azure(401, "{\"error\":{\"code\":\"PermissionDenied\",\"message\":\"The principal "
	                   "lacks the required data action.\"}}");
	keyless.entra = true;
	expect(keyless, PROBE_WRONG_KEY, false, false, "has no role on this resource",
	       "azure refused the Entra ID token probe fetched");
}

static const char deployment_not_found[] =
        "{\"error\":{\"code\":\"DeploymentNotFound\",\"message\":\"The API deployment for this "
        "resource does not exist. If you created the deployment within the last 5 minutes, "
        "please wait a moment and try again.\"}}";

static void test_not_found(void)
{
	struct probe_answer a = azure(404, deployment_not_found);

	expect(a, PROBE_DEPLOYMENT_NOT_FOUND, false, false, "deployment 'gpt-4o' does not exist",
	       "azure DeploymentNotFound");
	a.upstream = "gpt-4o-2024-08-06"; /* the seed: deployment_id wins over azure/gpt-4o */
	expect(a, PROBE_DEPLOYMENT_NOT_FOUND, false, false,
	       "'gpt-4o-2024-08-06' does not exist on this resource: it comes from deployment_id",
	       "azure DeploymentNotFound names deployment_id");
	expect(azure(404, "{\"error\":{\"code\":\"404\",\"message\":\"Resource not found\"}}"),
	       PROBE_WRONG_ENDPOINT, false, false, "wrong api_base", "azure 404 without a code");
	expect(openai(404, "{\"error\":{\"message\":\"The model `gpt-4o` does not exist or you do "
	                   "not have access to it.\",\"type\":\"invalid_request_error\",\"param\":"
	                   "null,\"code\":\"model_not_found\"}}"),
	       PROBE_MODEL_NOT_FOUND, false, false, "unknown model 'gpt-4o'",
	       "openai model_not_found");
	expect(openai(404, "{\"detail\":\"Not Found\"}"), PROBE_WRONG_ENDPOINT, false, false,
	       "ends in /v1", "OpenAI-compatible server, wrong path");
	expect(openai(400, "{\"error\":{\"message\":\"/chat/completions: Invalid model name passed "
	                   "in model=gpt-4o. Call `/v1/models` to view available models for your "
	                   "key.\",\"type\":\"invalid_request_error\",\"param\":\"model\",\"code\":"
	                   "\"400\"}}"),
	       PROBE_MODEL_NOT_FOUND, false, false, "LiteLLM proxy has no model_name",
	       "litellm proxy: unknown model group");
}

static void test_bad_request(void)
{
	expect(azure(400, "{\"error\":{\"code\":\"BadRequest\",\"message\":\"API version not "
	                  "supported\"}}"),
	       PROBE_API_VERSION, false, false, "unsupported api-version", "azure api-version");
	expect(azure(400,
	             "{\"error\":{\"message\":\"The response was filtered due to the prompt "
	             "triggering Azure OpenAI's content management policy. Please modify your "
	             "prompt and retry.\",\"type\":null,\"param\":\"prompt\",\"code\":"
	             "\"content_filter\",\"status\":400,\"innererror\":{\"code\":"
	             "\"ResponsibleAIPolicyViolation\",\"content_filter_result\":{\"violence\":{"
	             "\"filtered\":true,\"severity\":\"medium\"}}}}}"),
	       PROBE_CONTENT_FILTER, false, true, "content filter blocked the probe",
	       "azure content filter: reachable, not a 2xx");
	expect(azure(400,
	             "{\"error\":{\"code\":\"OperationNotSupported\",\"message\":\"The "
	             "chatCompletion operation does not work with the specified model, "
	             "text-embedding-ada-002. Please choose different model and try again.\"}}"),
	       PROBE_WRONG_OPERATION, false, true, "model_info.mode: embedding",
	       "azure chat on an embedding deployment");
	expect(openai(400, "{\"error\":{\"message\":\"Unsupported parameter: 'max_tokens' is not "
	                   "supported with this model. Use 'max_completion_tokens' instead.\","
	                   "\"type\":\"invalid_request_error\",\"param\":\"max_tokens\",\"code\":"
	                   "\"unsupported_parameter\"}}"),
	       PROBE_UNSUPPORTED_PARAMETER, false, true, "rejects the probe's 'max_tokens'",
	       "reasoning model refuses max_tokens");
	expect(openai(400, "{\"error\":{\"message\":\"We could not parse the JSON body of your "
	                   "request.\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":"
	                   "null}}"),
	       PROBE_BAD_REQUEST, false, false,
	       "We could not parse the JSON body of your request\"",
	       "other 400 quotes the first sentence");
}

static void test_limits_and_errors(void)
{
	struct probe_answer a;

	a = azure(429,
	          "{\"error\":{\"code\":\"429\",\"message\":\"Requests to the "
	          "ChatCompletions_Create Operation under Azure OpenAI API version "
	          "2024-08-01-preview have exceeded token rate limit of your current OpenAI S0 "
	          "pricing tier. Please retry after 86400 seconds. Please go here: "
	          "https://aka.ms/oai/quotaincrease if you would like to further increase the "
	          "default rate limit.\"}}");
	a.retry_after_ms = 86400000;
	expect(a, PROBE_RATE_LIMITED, false, false, "retry after 86400 s",
	       "azure 429 with retry-after (quotaincrease is no quota verdict)");
	a = openai(429, "{\"error\":{\"message\":\"Rate limit reached for gpt-4o in organization "
	                "org-abc on tokens per min (TPM): Limit 30000, Used 29990, Requested 20. "
	                "Please try again in 20ms.\",\"type\":\"tokens\",\"param\":null,\"code\":"
	                "\"rate_limit_exceeded\"}}");
	a.retry_after_ms = 20;
	expect(a, PROBE_RATE_LIMITED, false, false, "retry after 20 ms", "openai 429 in ms");
	expect(openai(429,
	              "{\"error\":{\"message\":\"You exceeded your current quota, please check "
	              "your plan and billing details.\",\"type\":\"insufficient_quota\","
	              "\"param\":null,\"code\":\"insufficient_quota\"}}"),
	       PROBE_QUOTA, false, false, "quota exhausted", "openai insufficient_quota");
	expect(azure(503, "<html><body>Service Unavailable</body></html>"), PROBE_SERVER_ERROR,
	       false, false, "the upstream failed (503)", "5xx with an HTML body");
	expect(openai(500, "{\"error\":{\"message\":\"litellm.APIConnectionError: AzureException "
	                   "APIConnectionError - Connection error.\",\"type\":null,\"param\":null,"
	                   "\"code\":\"500\"}}"),
	       PROBE_SERVER_ERROR, false, false, "AzureException APIConnectionError",
	       "litellm proxy cannot reach its upstream");
	a = azure(200, "{}trailing bytes past the length");
	a.body_len = 2;
	expect(a, PROBE_OK, true, true, "works", "200, body read by its length");
	expect(azure(201, NULL), PROBE_OK, true, true, "works", "any 2xx passes");
}

static void test_transport(void)
{
	struct probe_answer a;

	expect(failed(PROBE_TRANSPORT_DNS), PROBE_DNS, false, false, "host name does not resolve",
	       "dns");
	a = failed(PROBE_TRANSPORT_CONNECT);
	a.os_errno = ECONNREFUSED;
	expect(a, PROBE_CONNECT, false, false, "connection refused", "refused");
	a.os_errno = EHOSTUNREACH;
	expect(a, PROBE_CONNECT, false, false, "no route to the host", "unreachable");
	expect(failed(PROBE_TRANSPORT_CLOSED), PROBE_CLOSED, false, false,
	       "closed without an answer", "reset");
	expect(failed(PROBE_TRANSPORT_TLS), PROBE_TLS, false, false, "TLS handshake failed", "tls");
	expect(failed(PROBE_TRANSPORT_TLS_VERIFY), PROBE_TLS, false, false,
	       "certificate is not trusted", "tls verification");
	a = failed(PROBE_TRANSPORT_TIMEOUT);
	a.timeout_ms = 1000;
	expect(a, PROBE_TIMEOUT, false, false, "not even a connection", "timeout before connect");
	a.connected = true;
	expect(a, PROBE_TIMEOUT, false, false,
	       "connected, but no answer within the timeout (1000 ms)", "timeout after connect");
	expect(failed(PROBE_TRANSPORT_OTHER), PROBE_OTHER, false, false, "failed", "other");
}

int main(void)
{
	bool named = true;

	test_auth();
	test_not_found();
	test_bad_request();
	test_limits_and_errors();
	test_transport();
	for (int v = 0; v < PROBE_VERDICT__COUNT; v++)
		named = named && probe_verdict_name(v) && probe_verdict_words(v) &&
		        probe_verdict_blame(v);
	tap_ok(named, "every verdict has a name, words and a blame");
	tap_str(probe_verdict_blame(PROBE_WRONG_KEY), "key is wrong", "the seed's blame");
	tap_str(probe_verdict_name(PROBE_VERDICT__COUNT), "unknown", "out of range");
	return tap_done();
}
