/*
 * Unit tests of Entra ID token acquisition's pure parts (common/entra.c) and
 * of how a deployment's credential is chosen (common/config_entra.c, through
 * config_load()): request bodies of the four styles, answers and errors,
 * the refresh schedule and the retry backoff, and the --check diagnostics.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_entra.h"
#include "diag.h"
#include "entra.h"
#include "tap.h"

/* The credential's strings are owned (char *); these literals are never written. */
#define S(lit) ((char *)(lit))

static void test_requests(void)
{
	struct entra_credential c = {
	        .source = ENTRA_CLIENT_SECRET,
	        .authority = S("https://login.microsoftonline.com"),
	        .tenant_id = S("contoso.onmicrosoft.com"),
	        .client_id = S("11111111-2222"),
	        .client_secret = S("s3cr&t=+"),
	        .scope = S(ENTRA_DEFAULT_SCOPE),
	};
	struct entra_request r;

	tap_ok(entra_request_build(&c, NULL, &r) == 0, "client secret: built");
	tap_str(r.url,
	        "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
	        "client secret: the tenant's v2.0 token endpoint");
	tap_str(r.body,
	        "grant_type=client_credentials&client_id=11111111-2222&scope=https%3A%2F%2F"
	        "cognitiveservices.azure.com%2F.default&client_secret=s3cr%26t%3D%2B",
	        "client secret: the form, encoded");
	tap_ok(!r.get && strcmp(r.header_value, "application/x-www-form-urlencoded") == 0,
	       "client secret: a POSTed form");

	c.source = ENTRA_WORKLOAD_IDENTITY;
	c.client_secret = NULL;
	tap_ok(entra_request_build(&c, NULL, &r) == -EINVAL, "workload identity needs the file");
	tap_ok(entra_request_build(&c, "eyJ.a.b", &r) == 0 &&
	               strstr(r.body,
	                      "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3A"
	                      "client-assertion-type%3Ajwt-bearer&client_assertion=eyJ.a.b") &&
	               !strstr(r.body, "client_secret"),
	       "workload identity: a client assertion, no secret");

	c = (struct entra_credential){.source = ENTRA_APP_SERVICE,
	                              .endpoint = S("http://127.0.0.1:41741/msi/token"),
	                              .identity_header = S("hdr"),
	                              .scope = S(ENTRA_DEFAULT_SCOPE)};
	tap_ok(entra_request_build(&c, NULL, &r) == 0 && r.get, "app service: a GET");
	tap_str(r.url,
	        "http://127.0.0.1:41741/msi/token?api-version=2019-08-01&resource=https%3A%2F%2F"
	        "cognitiveservices.azure.com",
	        "app service: the v1 resource, no /.default");
	tap_str(r.header_name, "X-IDENTITY-HEADER", "app service: its header");

	c = (struct entra_credential){.source = ENTRA_IMDS,
	                              .endpoint = S(ENTRA_IMDS_ENDPOINT),
	                              .client_id = S("uami"),
	                              .scope = S(ENTRA_DEFAULT_SCOPE)};
	tap_ok(entra_request_build(&c, NULL, &r) == 0, "imds: built");
	tap_str(r.url,
	        "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&"
	        "resource=https%3A%2F%2Fcognitiveservices.azure.com&client_id=uami",
	        "imds: user-assigned identity by client_id");
	tap_ok(strcmp(r.header_name, "Metadata") == 0 && strcmp(r.header_value, "true") == 0,
	       "imds: Metadata: true");
}

static void test_answers(void)
{
	struct entra_token t;
	char err[ENTRA_ERROR_MAX];
	const char *ok =
	        "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"access_token\":\"eyJ0\"}";
	const char *mi =
	        "{\"access_token\":\"eyJ1\",\"expires_on\":\"1000600\",\"resource\":\"x\"}";
	const char *refresh =
	        "{\"access_token\":\"a\",\"expires_in\":\"86400\",\"refresh_in\":43200}";
	char big[ENTRA_TOKEN_MAX + 64];

	tap_ok(entra_parse_response(200, ok, strlen(ok), 1000000, &t, err, sizeof(err)) == 0 &&
	               strcmp(t.token, "eyJ0") == 0 && t.expires_at == 1003599 &&
	               t.refresh_at == 1003599 - 300,
	       "v2.0 answer: expires_in, refreshed 5 minutes ahead");
	tap_ok(entra_parse_response(200, mi, strlen(mi), 1000000, &t, err, sizeof(err)) == 0 &&
	               t.expires_at == 1000600,
	       "managed identity answer: expires_on as a string");
	tap_ok(entra_parse_response(200, refresh, strlen(refresh), 0, &t, err, sizeof(err)) == 0 &&
	               t.refresh_at == 43200,
	       "refresh_in wins");
	tap_ok(entra_parse_response(200, "{}", 2, 0, &t, err, sizeof(err)) == -EPROTO,
	       "no access_token: malformed");
	tap_ok(entra_parse_response(200, "{\"access_token\":\"a\"}", 20, 0, &t, err, sizeof(err)) ==
	               -EPROTO,
	       "no lifetime: malformed");
	snprintf(big, sizeof(big), "{\"access_token\":\"%0*d\",\"expires_in\":60}",
	         ENTRA_TOKEN_MAX + 1, 0);
	tap_ok(entra_parse_response(200, big, strlen(big), 0, &t, err, sizeof(err)) == -EFBIG,
	       "a token over ENTRA_TOKEN_MAX is refused");

	const char *wrong = "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: "
	                    "Invalid client secret provided.\\r\\nTrace ID: x\",\"error_codes\":"
	                    "[7000215]}";
	tap_ok(entra_parse_response(401, wrong, strlen(wrong), 0, &t, err, sizeof(err)) ==
	                       -EACCES &&
	               strstr(err, "wrong client secret"),
	       "AADSTS7000215: wrong client secret");
	tap_ok(strstr(entra_error_words("AADSTS7000222: expired"), "expired") != NULL,
	       "AADSTS7000222: expired secret");
	tap_ok(strstr(entra_error_words("AADSTS700016: Application"), "unknown application") !=
	               NULL,
	       "AADSTS700016: unknown application");
	tap_ok(strstr(entra_error_words("AADSTS90002: Tenant"), "unknown tenant") != NULL,
	       "AADSTS90002: unknown tenant");
	tap_ok(strstr(entra_error_words("AADSTS700024: Client assertion is not within its valid "
	                                "time range"),
	              "federated token has expired") != NULL,
	       "AADSTS700024: expired federated token");
	tap_ok(strstr(entra_error_words("Identity not found"), "not assigned") != NULL,
	       "IMDS: managed identity not assigned");
	tap_ok(entra_error_words("AADSTS700111: x") == NULL, "codes match whole");
	tap_ok(entra_parse_response(503, "", 0, 0, &t, err, sizeof(err)) == -EAGAIN &&
	               strstr(err, "503"),
	       "5xx: temporary");
}

static void test_schedule(void)
{
	tap_ok(entra_refresh_at(100, 3600, 0) == 100 + 3300, "an hour: 5 minutes ahead");
	tap_ok(entra_refresh_at(100, 4, 0) == 103 && entra_refresh_at(100, 3, 0) == 102,
	       "seconds: one ahead");
	tap_ok(entra_refresh_at(100, 600, 0) == 550, "10 minutes: a quarter ahead");
	tap_ok(entra_refresh_at(100, 1, 0) == 101, "never before now + 1");
	tap_ok(entra_retry_ms(1, 0.0, 0, 0) == 500 && entra_retry_ms(1, 0.999, 0, 0) >= 999,
	       "first retry 0.5..1 s");
	tap_ok(entra_retry_ms(3, 0.0, 0, 0) == 2000, "doubling");
	tap_ok(entra_retry_ms(30, 0.0, 0, 0) == 30000 && entra_retry_ms(30, 0.9999, 0, 0) <= 60000,
	       "capped at 60 s");
	tap_ok(entra_retry_ms(10, 0.0, 0, 1500) == 1300, "a valid token: retried before it ends");
}

static void test_urls(void)
{
	tap_ok(entra_url_allowed("https://login.microsoftonline.us"), "https");
	tap_ok(entra_url_allowed("http://127.0.0.1:8080/x") &&
	               entra_url_allowed("http://[::1]:1") &&
	               entra_url_allowed("http://localhost:9"),
	       "http to loopback");
	tap_ok(!entra_url_allowed("http://login.microsoftonline.com") &&
	               !entra_url_allowed("http://127.0.0.1.evil.com/") &&
	               !entra_url_allowed("ftp://x"),
	       "plain http elsewhere refused");
}

static char dir[] = "/tmp/test_entra.XXXXXX";

/* Loads a config of one azure deployment with PARAMS (YAML lines) and
 * SETTINGS; returns the diagnostics as one string. */
static struct config *load(const char *params, const char *settings, int *ret, char *out,
                           size_t outlen)
{
	char path[256];
	struct diag_list d = {0};
	struct config *c = NULL;
	FILE *f;
	size_t used = 0;

	snprintf(path, sizeof(path), "%s/c.yaml", dir);
	f = fopen(path, "w");
	fprintf(f,
	        "model_list:\n  - model_name: m\n    litellm_params:\n      model: azure/gpt\n"
	        "      api_base: https://x.openai.azure.com\n      api_version: \"2024-10-21\"\n%s"
	        "%s",
	        params, settings);
	fclose(f);
	*ret = config_load(path, &c, &d);
	out[0] = '\0';
	for (size_t i = 0; i < d.n && used < outlen; i++) {
		int n = diag_format(&d.items[i], out + used, outlen - used);

		if (n > 0)
			used += (size_t)n < outlen - used ? (size_t)n : outlen - used - 1;
		if (used + 1 < outlen)
			out[used++] = '\n', out[used] = '\0';
	}
	diag_free(&d);
	return c;
}

static void test_config(void)
{
	char out[4096];
	struct config *c;
	int r;

	unsetenv("AZURE_FEDERATED_TOKEN_FILE");
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_TENANT_ID");
	unsetenv("AZURE_CLIENT_SECRET");
	unsetenv("AZURE_AUTHORITY_HOST");
	if (!mkdtemp(dir))
		return;
	c = load("      tenant_id: t\n      client_id: a\n      client_secret: sekrit-value-1\n",
	         "", &r, out, sizeof(out));
	tap_ok(r == 0 && c && c->n_credentials == 1 && c->deployments[0].entra &&
	               c->credentials[0].source == ENTRA_CLIENT_SECRET &&
	               strcmp(c->credentials[0].scope, ENTRA_DEFAULT_SCOPE) == 0 &&
	               strcmp(c->credentials[0].authority, ENTRA_DEFAULT_AUTHORITY) == 0,
	       "client secret: one credential, default scope and authority");
	tap_ok(!strstr(out, "ignored") && !strstr(out, "sekrit"),
	       "no 'ignored' warning, no secret");
	config_free(c);

	c = load("      tenant_id: t\n      client_id: a\n", "", &r, out, sizeof(out));
	tap_ok(r == -EINVAL && strstr(out, "needs client_secret"),
	       "partial: the missing key named");
	config_free(c);

	c = load(
	        "      tenant_id: t\n      client_id: a\n      client_secret: s\n      api_key: k\n",
	        "", &r, out, sizeof(out));
	tap_ok(r == 0 && c && c->n_credentials == 0 && strstr(out, "api_key wins"),
	       "key and credential: a warning, the key wins");
	config_free(c);

	c = load("", "litellm_settings:\n  enable_azure_ad_token_refresh: true\n", &r, out,
	         sizeof(out));
	tap_ok(r == 0 && c && c->n_credentials == 1 && c->credentials[0].source == ENTRA_IMDS,
	       "enable_azure_ad_token_refresh, empty environment: IMDS");
	config_free(c);

	setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token",
	       1);
	setenv("AZURE_TENANT_ID", "t", 1);
	c = load("      azure_credential: workload_identity\n", "", &r, out, sizeof(out));
	tap_ok(r == -EINVAL && strstr(out, "needs client_id (or AZURE_CLIENT_ID"),
	       "workload identity without a client id: named");
	config_free(c);
	setenv("AZURE_CLIENT_ID", "app", 1);
	c = load("", "litellm_settings:\n  enable_azure_ad_token_refresh: true\n", &r, out,
	         sizeof(out));
	tap_ok(r == 0 && c && c->credentials[0].source == ENTRA_WORKLOAD_IDENTITY,
	       "the chain: workload identity when the token file is set");
	tap_ok(strstr(out, "AZURE_FEDERATED_TOKEN_FILE '/var/run/secrets/azure/tokens/"
	                   "azure-identity-token' cannot be read") != NULL,
	       "a token file that is not there (yet): a warning");
	config_free(c);
	unsetenv("AZURE_FEDERATED_TOKEN_FILE");

	setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token", 1);
	c = load("      azure_credential: managed_identity\n", "", &r, out, sizeof(out));
	tap_ok(r == -EINVAL && strstr(out, "IDENTITY_HEADER"), "app service needs its header");
	config_free(c);
	unsetenv("IDENTITY_ENDPOINT");

	setenv("AZURE_AUTHORITY_HOST", "http://login.example", 1);
	c = load("      tenant_id: t\n      client_id: a\n      client_secret: s\n", "", &r, out,
	         sizeof(out));
	tap_ok(r == -EINVAL && strstr(out, "AZURE_AUTHORITY_HOST must be an https"),
	       "plain http authority refused");
	config_free(c);
	setenv("AZURE_AUTHORITY_HOST", "login.microsoftonline.us/", 1);
	c = load("      tenant_id: t\n      client_id: a\n      client_secret: s\n"
	         "  - model_name: m\n    litellm_params:\n      model: azure/other\n"
	         "      api_base: https://y.openai.azure.com\n      api_version: v1\n"
	         "      tenant_id: t\n      client_id: a\n      client_secret: s\n",
	         "", &r, out, sizeof(out));
	tap_ok(r == 0 && c && c->n_credentials == 1 && c->deployments[1].credential == 0 &&
	               strcmp(c->credentials[0].authority, "https://login.microsoftonline.us") == 0,
	       "sovereign cloud by host name; one credential shared by two deployments");
	config_free(c);
	unsetenv("AZURE_AUTHORITY_HOST");

	c = load("      azure_credential: KeyVault\n", "", &r, out, sizeof(out));
	tap_ok(r == -EINVAL && strstr(out, "azure_credential must be"), "unknown selector");
	config_free(c);
	snprintf(out, sizeof(out), "%s/c.yaml", dir);
	unlink(out);
	rmdir(dir);
}

int main(void)
{
	test_requests();
	test_answers();
	test_schedule();
	test_urls();
	test_config();
	return tap_done();
}
