/*
 * Unit tests of common/config_otel.c: the traces URL of a base endpoint,
 * the OTEL_EXPORTER_OTLP_HEADERS syntax (percent-decoding, trimming, bad
 * entries, the bound), and the precedence of llmgate.otel over the OTEL_*
 * variables over the defaults; no message ever quotes a header value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config_otel.h"
#include "tap.h"

static char last[512];
static int errors, warnings;

static void report(void *ctx, bool error, const char *key, const char *msg)
{
	(void)ctx;
	(void)key;
	snprintf(last, sizeof(last), "%s", msg);
	if (error)
		errors++;
	else
		warnings++;
}

static void url(const char *base, const char *want)
{
	char *got = config_otel_traces_url(base);

	tap_str(got, want, base);
	free(got);
}

static void test_url(void)
{
	url("http://c:4318", "http://c:4318/v1/traces");
	url("http://c:4318/", "http://c:4318/v1/traces");
	url("https://c/otlp", "https://c/otlp/v1/traces");
	url("http://c:4318/v1/traces", "http://c:4318/v1/traces");
	url("http://c:4318/v1/traces/", "http://c:4318/v1/traces");
}

static void test_headers(void)
{
	struct otel_header *h = NULL;
	size_t n = 0;
	char why[128] = "";
	int r;

	r = config_otel_parse_headers(" api-key = sec%20ret%3D1 ,x-tenant=t1,,", &h, &n, why,
	                              sizeof(why));
	tap_ok(r == 0 && n == 2, "two headers");
	tap_str(n > 0 ? h[0].name : NULL, "api-key", "the name, trimmed");
	tap_str(n > 0 ? h[0].value : NULL, "sec ret=1", "the value, trimmed and decoded");
	r = config_otel_parse_headers("API-KEY=other,x-more=1", &h, &n, why, sizeof(why));
	tap_ok(r == 0 && n == 3 && strcmp(h[0].value, "sec ret=1") == 0,
	       "a name already there keeps its first value");
	tap_ok(config_otel_parse_headers("novalue", &h, &n, why, sizeof(why)) == -EINVAL,
	       "an entry without '='");
	tap_ok(config_otel_parse_headers("a=%zzsecret", &h, &n, why, sizeof(why)) == -EINVAL &&
	               !strstr(why, "secret"),
	       "a bad escape, the value not quoted");
	tap_ok(config_otel_parse_headers("a=%0d%0aX: y", &h, &n, why, sizeof(why)) == -EINVAL,
	       "no line breaks smuggled in");
	tap_ok(config_otel_parse_headers("bad name=v", &h, &n, why, sizeof(why)) == -EINVAL,
	       "an invalid name");
	for (int i = 0; i < 40; i++) {
		char one[32];

		snprintf(one, sizeof(one), "h%d=v", i);
		r = config_otel_parse_headers(one, &h, &n, why, sizeof(why));
		if (r < 0)
			break;
	}
	tap_ok(r == -E2BIG && n == CONFIG_OTEL_MAX_HEADERS, "at most %d headers",
	       CONFIG_OTEL_MAX_HEADERS);
	struct otel_config c = {.headers = h, .n_headers = n};
	config_otel_clear(&c);
}

static struct config_otel_input input(void)
{
	return (struct config_otel_input){.sample_ratio = 1,
	                                  .queue_size = 2048,
	                                  .batch_size = 512,
	                                  .flush_interval_ms = 1000,
	                                  .export_timeout_ms = 10000};
}

static void test_resolve(void)
{
	struct config_otel_input in = input();
	struct otel_config c = {0};
	char name[] = "x-api-key", value[] = "from-config";
	struct otel_header written = {name, value};

	unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_ENDPOINT");
	unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
	unsetenv("OTEL_SERVICE_NAME");
	tap_ok(config_otel_resolve(&in, &c, report, NULL) == 0 && !c.enabled,
	       "nothing asks for traces: off");

	in.callback = true;
	warnings = 0;
	tap_ok(config_otel_resolve(&in, &c, report, NULL) == 0 && c.enabled, "the callback: on");
	tap_str(c.endpoint, CONFIG_OTEL_DEFAULT_URL, "the spec's default endpoint");
	tap_ok(warnings == 1, "with a warning");
	tap_str(c.service_name, "llmgate", "service name llmgate");

	setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318", 1);
	setenv("OTEL_SERVICE_NAME", "gw-eu", 1);
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=from-env,x-env=1", 1);
	config_otel_resolve(&in, &c, report, NULL);
	tap_str(c.endpoint, "http://base:4318/v1/traces", "the base variable gets /v1/traces");
	tap_str(c.service_name, "gw-eu", "OTEL_SERVICE_NAME");
	tap_ok(c.n_headers == 2, "the variable's headers");

	setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:1/custom", 1);
	config_otel_resolve(&in, &c, report, NULL);
	tap_str(c.endpoint, "http://traces:1/custom", "the traces variable wins, as is");

	in.section = true;
	in.endpoint = "https://mine:4318/";
	in.service_name = "written";
	in.headers = &written;
	in.n_headers = 1;
	config_otel_resolve(&in, &c, report, NULL);
	tap_str(c.endpoint, "https://mine:4318/v1/traces", "llmgate.otel.endpoint wins");
	tap_str(c.service_name, "written", "llmgate.otel.service_name wins");
	tap_ok(c.n_headers == 2 && strcmp(c.headers[0].value, "from-config") == 0,
	       "llmgate.otel.headers win by name, the variable's others kept");

	errors = 0;
	in.endpoint = "ftp://x";
	tap_ok(config_otel_resolve(&in, &c, report, NULL) == -EINVAL && errors == 1,
	       "an endpoint that is no http(s) URL is an error");
	in.endpoint = NULL;
	unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	setenv("OTEL_EXPORTER_OTLP_HEADERS", "x=%zzTOPSECRET", 1);
	tap_ok(config_otel_resolve(&in, &c, report, NULL) == -EINVAL && !strstr(last, "TOPSECRET"),
	       "a bad header variable is an error that does not quote it");
	unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
	in.sample_ratio = -0.5;
	tap_ok(config_otel_resolve(&in, &c, report, NULL) == -EINVAL, "a negative ratio");
	in.sample_ratio = 0;
	in.batch_size = 4096;
	warnings = 0;
	tap_ok(config_otel_resolve(&in, &c, report, NULL) == 0 && c.batch_size == 2048 &&
	               warnings == 1,
	       "a batch larger than the queue is cut to it, with a warning");
	config_otel_clear(&c);
}

int main(void)
{
	test_url();
	test_headers();
	test_resolve();
	return tap_done();
}
