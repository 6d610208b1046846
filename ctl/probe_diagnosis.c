/*
 * probe_diagnosis: decodes OpenAI's, Azure's and a LiteLLM proxy's error
 * answers into plain words (see probe_diagnosis.h). Runs in llmgatectl.
 *
 * Error bodies are read as {"error": {"code", "message", "type", "param"}}
 * (OpenAI, Azure, LiteLLM), else {"statusCode", "message"} (Azure's gateway)
 * or {"detail"} (vLLM and other FastAPI servers); anything else falls back
 * to the status alone. The decisions go by code first, then by the stable
 * opening words of the message, then by status. A message is quoted only as
 * its first sentence, cut short: OpenAI and LiteLLM mask the key they echo,
 * and probe.c scrubs our own secrets from the text once more.
 *
 * passed means a 2xx, as the exit status wants; reachable adds the answers
 * that prove the route reaches an authenticated upstream (content filter,
 * wrong operation, unsupported parameter), which is what comparing routes
 * needs.
 */
#include "probe_diagnosis.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define PROBE_VERDICT_ROW(id, name, words, blame) [PROBE_##id] = {name, words, blame},
static const struct {
	const char *name, *words, *blame;
} verdicts[PROBE_VERDICT__COUNT] = {PROBE_VERDICTS(PROBE_VERDICT_ROW)};
#undef PROBE_VERDICT_ROW

const char *probe_verdict_name(enum probe_verdict verdict)
{
	return (unsigned)verdict < PROBE_VERDICT__COUNT ? verdicts[verdict].name : "unknown";
}

const char *probe_verdict_words(enum probe_verdict verdict)
{
	return (unsigned)verdict < PROBE_VERDICT__COUNT ? verdicts[verdict].words : "unknown";
}

const char *probe_verdict_blame(enum probe_verdict verdict)
{
	return (unsigned)verdict < PROBE_VERDICT__COUNT ? verdicts[verdict].blame : "route fails";
}

/* The error fields of a body, whichever shape it has. */
struct probe_error {
	char code[64];
	const char *message;
	const char *type;
	const char *param;
	char excerpt[160]; /* the message's first sentence, printable */
};

static bool contains(const char *haystack, const char *needle)
{
	return haystack && strcasestr(haystack, needle) != NULL;
}

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static void read_error(json_t *root, struct probe_error *e)
{
	json_t *error = json_object_get(root, "error");
	json_t *code;

	memset(e, 0, sizeof(*e));
	if (json_is_object(error)) {
		code = json_object_get(error, "code");
		e->message = json_string_value(json_object_get(error, "message"));
		e->type = json_string_value(json_object_get(error, "type"));
		e->param = json_string_value(json_object_get(error, "param"));
	} else {
		code = json_object_get(root, "code");
		e->message = json_string_value(json_object_get(root, "message"));
		if (!e->message)
			e->message = json_string_value(json_object_get(root, "detail"));
		if (!e->message)
			e->message = json_string_value(error); /* {"error": "text"} */
	}
	if (json_is_string(code))
		snprintf(e->code, sizeof(e->code), "%s", json_string_value(code));
	else if (json_is_integer(code))
		snprintf(e->code, sizeof(e->code), "%lld", (long long)json_integer_value(code));
	if (!e->message)
		return;
	size_t n = 0;
	for (const char *p = e->message; *p && n < sizeof(e->excerpt) - 4; p++) {
		if (p[0] == '.' && (p[1] == ' ' || p[1] == '\n' || p[1] == '\0'))
			break;
		e->excerpt[n++] = (unsigned char)*p < 0x20 ? ' ' : *p;
	}
	if (n == sizeof(e->excerpt) - 4)
		strcpy(e->excerpt + n, "...");
}

__attribute__((format(printf, 5, 6))) static void set(struct probe_diagnosis *d,
                                                      enum probe_verdict verdict, bool passed,
                                                      bool reachable, const char *fmt, ...)
{
	va_list ap;

	d->verdict = verdict;
	d->passed = passed;
	d->reachable = reachable;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
}

static void transport(const struct probe_answer *a, struct probe_diagnosis *d)
{
	switch (a->transport) {
	case PROBE_TRANSPORT_DNS:
		set(d, PROBE_DNS, false, false,
		    "the host name does not resolve: a typo in api_base, or a private DNS zone "
		    "this machine cannot see");
		break;
	case PROBE_TRANSPORT_CONNECT:
		if (a->os_errno == ECONNREFUSED)
			set(d, PROBE_CONNECT, false, false,
			    "connection refused: nothing listens at api_base's host and port");
		else if (a->os_errno == EHOSTUNREACH || a->os_errno == ENETUNREACH)
			set(d, PROBE_CONNECT, false, false,
			    "no route to the host: a private endpoint not reachable from this "
			    "network, or a firewall");
		else
			set(d, PROBE_CONNECT, false, false, "could not connect to api_base (%s)",
			    a->os_errno ? strerror(a->os_errno) : "no connection");
		break;
	case PROBE_TRANSPORT_CLOSED:
		set(d, PROBE_CLOSED, false, false,
		    "the connection was closed without an answer: not an HTTP server, http:// to "
		    "a TLS port, or a proxy or firewall cut it");
		break;
	case PROBE_TRANSPORT_TLS:
		set(d, PROBE_TLS, false, false,
		    "the TLS handshake failed: https:// to a plain-HTTP port, or TLS intercepted "
		    "on the way");
		break;
	case PROBE_TRANSPORT_TLS_VERIFY:
		set(d, PROBE_TLS, false, false,
		    "the TLS certificate is not trusted or not for this host name (a private "
		    "endpoint's internal CA, or a hostname that does not match)");
		break;
	case PROBE_TRANSPORT_TIMEOUT:
		if (a->connected)
			set(d, PROBE_TIMEOUT, false, false,
			    "connected, but no answer within the timeout (%ld ms): the upstream is "
			    "stuck or overloaded",
			    a->timeout_ms);
		else
			set(d, PROBE_TIMEOUT, false, false,
			    "no answer within the timeout (%ld ms), not even a connection: packets "
			    "dropped by a firewall, or an unreachable private endpoint",
			    a->timeout_ms);
		break;
	default:
		set(d, PROBE_OTHER, false, false, "the transfer failed before an answer");
		break;
	}
}

/* " (\"...\")" quoting the upstream, or "" when it said nothing. */
static const char *quote(const struct probe_error *e, const char *who, char *buf, size_t len)
{
	if (!e->excerpt[0])
		return "";
	snprintf(buf, len, " (%s: \"%s\")", who, e->excerpt);
	return buf;
}

static void unauthorized(const struct probe_answer *a, const struct probe_error *e,
                         struct probe_diagnosis *d)
{
	char q[200];

	if (starts_with(e->message, "litellm.")) {
		/* A LiteLLM proxy answered for its own upstream: our key to it is fine. */
		set(d, PROBE_PROXY_UPSTREAM_KEY, false, false,
		    "the LiteLLM proxy accepted our key, but its upstream refused the proxy's own "
		    "key: fix the key in the proxy's config%s",
		    quote(e, "proxy", q, sizeof(q)));
	} else if (!a->sent_credential) {
		set(d, PROBE_NO_KEY, false, false,
		    "the upstream wants a key and none is configured: set api_key%s",
		    a->azure ? " (or azure_ad_token)" : "");
	} else if (a->entra) {
		set(d, PROBE_WRONG_KEY, false, false,
		    "Azure refused the Entra ID token: the identity has no role on this resource "
		    "(Cognitive Services OpenAI User), or azure_scope is not "
		    "https://cognitiveservices.azure.com/.default%s",
		    quote(e, "Azure", q, sizeof(q)));
	} else if (a->azure && contains(e->message, "token")) {
		set(d, PROBE_WRONG_KEY, false, false,
		    "Azure refused the token: azure_ad_token is invalid, expired or for another "
		    "audience%s",
		    quote(e, "Azure", q, sizeof(q)));
	} else if (a->azure) {
		set(d, PROBE_WRONG_KEY, false, false,
		    "wrong key or wrong endpoint for this resource: api_key is not a key of the "
		    "resource at api_base%s",
		    quote(e, "Azure", q, sizeof(q)));
	} else if (contains(e->message, "proxy server token")) {
		set(d, PROBE_WRONG_KEY, false, false,
		    "wrong key: the LiteLLM proxy does not know this api_key");
	} else {
		set(d, PROBE_WRONG_KEY, false, false, "wrong key: the upstream refused api_key%s",
		    strcmp(e->code, "invalid_api_key") == 0 ? " (OpenAI: invalid_api_key)" : "");
	}
}

static void forbidden(const struct probe_answer *a, const struct probe_error *e,
                      struct probe_diagnosis *d)
{
	char q[200];

	if (contains(e->message, "private endpoint") || contains(e->message, "firewall") ||
	    contains(e->message, "public access"))
		set(d, PROBE_FORBIDDEN, false, false,
		    "the resource refuses this network: public access is off or firewall rules "
		    "apply; call it through its private endpoint%s",
		    quote(e, a->azure ? "Azure" : "upstream", q, sizeof(q)));
	else if (strcmp(e->code, "AuthenticationTypeDisabled") == 0 ||
	         contains(e->message, "Key based authentication is disabled"))
		set(d, PROBE_FORBIDDEN, false, false,
		    "key authentication is disabled on this resource: use an Entra ID credential "
		    "(tenant_id, client_id, client_secret or azure_credential) instead of api_key");
	else if (strcmp(e->code, "unsupported_country_region_territory") == 0)
		set(d, PROBE_FORBIDDEN, false, false,
		    "the upstream does not serve this country or region");
	else
		set(d, PROBE_FORBIDDEN, false, false,
		    "forbidden (403): the key is known but may not use this deployment%s",
		    quote(e, a->azure ? "Azure" : "upstream", q, sizeof(q)));
}

static void not_found(const struct probe_answer *a, const struct probe_error *e,
                      struct probe_diagnosis *d)
{
	const char *named = a->model && strncmp(a->model, "azure/", 6) == 0 ? a->model + 6 : NULL;

	if (a->azure && strcmp(e->code, "DeploymentNotFound") == 0) {
		if (named && a->upstream && strcmp(named, a->upstream) != 0)
			set(d, PROBE_DEPLOYMENT_NOT_FOUND, false, false,
			    "deployment '%s' does not exist on this resource: it comes from "
			    "deployment_id (which wins over '%s'); check the deployment names in "
			    "the Azure portal",
			    a->upstream, a->model);
		else
			set(d, PROBE_DEPLOYMENT_NOT_FOUND, false, false,
			    "deployment '%s' does not exist on this resource: check the name after "
			    "azure/ (or set deployment_id) against the Azure portal",
			    a->upstream ? a->upstream : "?");
	} else if (strcmp(e->code, "model_not_found") == 0 ||
	           (!a->azure && contains(e->message, "model") &&
	            contains(e->message, "does not exist"))) {
		set(d, PROBE_MODEL_NOT_FOUND, false, false,
		    "unknown model '%s': the upstream does not serve it, or this key has no "
		    "access to it",
		    a->upstream ? a->upstream : "?");
	} else if (a->azure) {
		set(d, PROBE_WRONG_ENDPOINT, false, false,
		    "wrong api_base: no Azure OpenAI resource answers at this URL (api_base is "
		    "https://<resource>.openai.azure.com, without /openai/...)");
	} else {
		set(d, PROBE_WRONG_ENDPOINT, false, false,
		    "wrong api_base: nothing at this path (an OpenAI-compatible api_base usually "
		    "ends in /v1)");
	}
}

static void bad_request(const struct probe_answer *a, const struct probe_error *e,
                        struct probe_diagnosis *d)
{
	char q[200];

	if (contains(e->message, "api version") || contains(e->message, "api-version"))
		set(d, PROBE_API_VERSION, false, false,
		    "unsupported api-version: this resource does not know api_version%s",
		    quote(e, "Azure", q, sizeof(q)));
	else if (strcmp(e->code, "OperationNotSupported") == 0)
		set(d, PROBE_WRONG_OPERATION, false, true,
		    "reachable and authenticated, but this deployment does not do chat "
		    "completions (an embedding model? set model_info.mode: embedding)");
	else if (strcmp(e->code, "unsupported_parameter") == 0 ||
	         (e->param && contains(e->message, "unsupported")))
		set(d, PROBE_UNSUPPORTED_PARAMETER, false, true,
		    "reachable and authenticated, but the model rejects the probe's '%s'",
		    e->param ? e->param : "parameters");
	else if (contains(e->message, "Invalid model name passed"))
		set(d, PROBE_MODEL_NOT_FOUND, false, false,
		    "unknown model '%s': the LiteLLM proxy has no model_name of that name",
		    a->upstream ? a->upstream : "?");
	else
		set(d, PROBE_BAD_REQUEST, false, false, "the upstream rejected the probe%s",
		    quote(e, a->azure ? "Azure" : "upstream", q, sizeof(q)));
}

static void too_many(const struct probe_answer *a, const struct probe_error *e,
                     struct probe_diagnosis *d)
{
	char retry[64] = "";

	if (a->retry_after_ms >= 1000)
		snprintf(retry, sizeof(retry), "; retry after %ld s", a->retry_after_ms / 1000);
	else if (a->retry_after_ms >= 0)
		snprintf(retry, sizeof(retry), "; retry after %ld ms", a->retry_after_ms);
	if (strcmp(e->code, "insufficient_quota") == 0 || contains(e->type, "insufficient_quota") ||
	    contains(e->message, "exceeded your current quota"))
		set(d, PROBE_QUOTA, false, false,
		    "quota exhausted: the key works but its plan or billing allows no more");
	else
		set(d, PROBE_RATE_LIMITED, false, false,
		    "rate limited (429): the key works but the deployment is at its rate or quota "
		    "limit%s",
		    retry);
}

void probe_diagnose(const struct probe_answer *a, struct probe_diagnosis *ret)
{
	json_t *root = a->body && a->body_len ? json_loadb(a->body, a->body_len, 0, NULL) : NULL;
	struct probe_error e;
	char q[200];

	memset(ret, 0, sizeof(*ret));
	read_error(root, &e);
	if (a->transport != PROBE_TRANSPORT_OK) {
		transport(a, ret);
	} else if (a->status >= 200 && a->status < 300) {
		set(ret, PROBE_OK, true, true, "works");
	} else if (strcmp(e.code, "content_filter") == 0 || contains(e.code, "ResponsibleAI") ||
	           contains(e.message, "content management policy")) {
		set(ret, PROBE_CONTENT_FILTER, false, true,
		    "reachable and authenticated; the content filter blocked the probe");
	} else if (a->status == 401) {
		unauthorized(a, &e, ret);
	} else if (a->status == 403) {
		forbidden(a, &e, ret);
	} else if (a->status == 404) {
		not_found(a, &e, ret);
	} else if (a->status == 400 || a->status == 422) {
		bad_request(a, &e, ret);
	} else if (a->status == 429) {
		too_many(a, &e, ret);
	} else if (a->status == 408) {
		set(ret, PROBE_TIMEOUT, false, false, "the upstream gave up waiting (408)");
	} else if (a->status >= 500) {
		set(ret, PROBE_SERVER_ERROR, false, false, "the upstream failed (%ld)%s", a->status,
		    quote(&e, a->azure ? "Azure" : "upstream", q, sizeof(q)));
	} else {
		set(ret, PROBE_BAD_REQUEST, false, false, "unexpected answer %ld%s", a->status,
		    quote(&e, a->azure ? "Azure" : "upstream", q, sizeof(q)));
	}
	json_decref(root);
}
