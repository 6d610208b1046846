/*
 * config_otel: trace export settings from llmgate.otel, litellm_settings'
 * "otel" callback and the OTEL_* variables (see config_otel.h for the
 * precedence). Runs in the config loader (supervisor, --check); reads the
 * environment, reports through the caller's callback, never logs and never
 * quotes a header value.
 */
#include "config_otel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hex.h"
#include "http_header.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && v[0] ? v : NULL;
}

char *config_otel_traces_url(const char *base)
{
	static const char tail[] = "/v1/traces";
	size_t n = strlen(base);
	char *url;

	while (n && base[n - 1] == '/')
		n--;
	if (n >= sizeof(tail) - 1 &&
	    strncmp(base + n - (sizeof(tail) - 1), tail, sizeof(tail) - 1) == 0)
		return strndup(base, n);
	url = malloc(n + sizeof(tail));
	if (url) {
		memcpy(url, base, n);
		memcpy(url + n, tail, sizeof(tail));
	}
	return url;
}

/* S[0..N) trimmed of blanks and percent-decoded, as a new string; NULL for
 * a bad escape (*BAD set) or out of memory. */
static char *decode(const char *s, size_t n, bool *bad)
{
	char *out, *o;

	while (n && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	out = o = malloc(n + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? hex_digit_value(s[i + 1]) : -1;
			int lo = i + 2 < n ? hex_digit_value(s[i + 2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				*bad = true;
				free(out);
				return NULL;
			}
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

static bool has(const struct otel_header *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(h[i].name, name) == 0)
			return true;
	return false;
}

static void free_value(char *v)
{
	if (v) {
		explicit_bzero(v, strlen(v));
		free(v);
	}
}

int config_otel_parse_headers(const char *text, struct otel_header **headers, size_t *n, char *why,
                              size_t why_len)
{
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, ","), k;
		const char *eq = memchr(p, '=', len);
		bool bad = false;
		char *name, *value;
		struct otel_header *grown;

		if (len == 0 || strspn(p, " \t") == len) {
			p += len + (p[len] == ',');
			continue;
		}
		if (!eq) {
			snprintf(why, why_len, "an entry has no '='");
			return -EINVAL;
		}
		k = (size_t)(eq - p);
		name = decode(p, k, &bad);
		value = name ? decode(eq + 1, len - k - 1, &bad) : NULL;
		if (!name || !value) {
			free(name);
			if (bad)
				snprintf(why, why_len, "an entry has a bad %%-escape");
			return bad ? -EINVAL : -ENOMEM;
		}
		if (!http_header_name_valid(name) || !http_header_value_valid(value)) {
			snprintf(why, why_len, "'%.64s' is not a valid header%s", name,
			         http_header_name_valid(name) ? " value" : " name");
			free(name);
			free_value(value);
			return -EINVAL;
		}
		if (has(*headers, *n, name)) {
			free(name);
			free_value(value);
		} else {
			if (*n >= CONFIG_OTEL_MAX_HEADERS) {
				free(name);
				free_value(value);
				snprintf(why, why_len, "more than %d headers",
				         CONFIG_OTEL_MAX_HEADERS);
				return -E2BIG;
			}
			grown = realloc(*headers, (*n + 1) * sizeof(*grown));
			if (!grown) {
				free(name);
				free_value(value);
				return -ENOMEM;
			}
			*headers = grown;
			grown[*n].name = name;
			grown[*n].value = value;
			(*n)++;
		}
		p += len + (p[len] == ',');
	}
	return 0;
}

static bool url_ok(const char *url)
{
	return (strncmp(url, "http://", 7) == 0 && url[7]) ||
	       (strncmp(url, "https://", 8) == 0 && url[8]);
}

static int endpoint(const struct config_otel_input *in, struct otel_config *c,
                    config_otel_report_fn *report, void *ctx)
{
	const char *key = "llmgate.otel.endpoint", *v = in->endpoint;
	char msg[256];

	if (!v && (v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) {
		key = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
		c->endpoint = strdup(v);
	} else if (!v && (v = env("OTEL_EXPORTER_OTLP_ENDPOINT"))) {
		key = "OTEL_EXPORTER_OTLP_ENDPOINT";
		c->endpoint = config_otel_traces_url(v);
	} else if (v) {
		c->endpoint = config_otel_traces_url(v);
	} else {
		key = NULL;
		c->endpoint = strdup(CONFIG_OTEL_DEFAULT_URL);
	}
	if (!c->endpoint)
		return -ENOMEM;
	if (!url_ok(c->endpoint)) {
		snprintf(msg, sizeof(msg), "%s must be an http:// or https:// URL", key);
		report(ctx, true, key, msg);
		return -EINVAL;
	}
	return 0;
}

static int headers(const struct config_otel_input *in, struct otel_config *c,
                   config_otel_report_fn *report, void *ctx)
{
	static const char *const vars[] = {"OTEL_EXPORTER_OTLP_TRACES_HEADERS",
	                                   "OTEL_EXPORTER_OTLP_HEADERS"};
	char why[128], msg[256];
	int r;

	for (size_t i = 0; i < in->n_headers; i++) {
		struct otel_header *grown;

		if (has(c->headers, c->n_headers, in->headers[i].name))
			continue;
		grown = realloc(c->headers, (c->n_headers + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		c->headers = grown;
		grown[c->n_headers].name = strdup(in->headers[i].name);
		grown[c->n_headers].value = strdup(in->headers[i].value);
		c->n_headers++;
		if (!grown[c->n_headers - 1].name || !grown[c->n_headers - 1].value)
			return -ENOMEM;
	}
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = env(vars[i]);

		if (!v)
			continue;
		r = config_otel_parse_headers(v, &c->headers, &c->n_headers, why, sizeof(why));
		if (r == -ENOMEM)
			return r;
		if (r < 0) {
			snprintf(msg, sizeof(msg), "%s: %s", vars[i], why);
			report(ctx, true, vars[i], msg);
			return -EINVAL;
		}
	}
	return 0;
}

int config_otel_protocol(const char *text, enum otel_protocol *ret)
{
	if (strcmp(text, "http/protobuf") == 0)
		*ret = OTEL_PROTOCOL_PROTOBUF;
	else if (strcmp(text, "http/json") == 0)
		*ret = OTEL_PROTOCOL_JSON;
	else
		return -EINVAL;
	return 0;
}

static int protocol(const struct config_otel_input *in, struct otel_config *c,
                    config_otel_report_fn *report, void *ctx)
{
	const char *key = "llmgate.otel.protocol", *v = in->protocol;
	char msg[256];

	if (!v && (v = env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")))
		key = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
	else if (!v && (v = env("OTEL_EXPORTER_OTLP_PROTOCOL")))
		key = "OTEL_EXPORTER_OTLP_PROTOCOL";
	if (!v || config_otel_protocol(v, &c->protocol) == 0)
		return 0;
	if (strcmp(v, "grpc") == 0)
		snprintf(msg, sizeof(msg),
		         "%s: grpc is not supported: llmgate exports over OTLP/HTTP; use "
		         "http/protobuf (the collector's port 4318) or http/json",
		         key);
	else
		snprintf(msg, sizeof(msg), "%s must be http/protobuf or http/json, not '%.64s'",
		         key, v);
	report(ctx, true, key, msg);
	return -EINVAL;
}

int config_otel_resolve(const struct config_otel_input *in, struct otel_config *ret,
                        config_otel_report_fn *report, void *ctx)
{
	const char *name;
	int r;

	config_otel_clear(ret);
	if (!in->section && !in->callback)
		return 0;
	ret->enabled = true;
	ret->sample_ratio = in->sample_ratio;
	ret->queue_size = in->queue_size;
	ret->batch_size = in->batch_size;
	ret->flush_interval_ms = in->flush_interval_ms;
	ret->export_timeout_ms = in->export_timeout_ms;
	if (ret->sample_ratio < 0 || ret->sample_ratio > 1) {
		report(ctx, true, "llmgate.otel.sample_ratio",
		       "llmgate.otel.sample_ratio must be from 0 to 1");
		return -EINVAL;
	}
	if (ret->batch_size > ret->queue_size) {
		report(ctx, false, "llmgate.otel.batch_size",
		       "llmgate.otel.batch_size is larger than queue_size; queue_size is used");
		ret->batch_size = ret->queue_size;
	}
	name = in->service_name ? in->service_name : env("OTEL_SERVICE_NAME");
	ret->service_name = strdup(name ? name : "llmgate");
	if (!ret->service_name)
		return -ENOMEM;
	r = endpoint(in, ret, report, ctx);
	if (r == 0)
		r = protocol(in, ret, report, ctx);
	if (r == 0)
		r = headers(in, ret, report, ctx);
	if (r == 0 && !in->section && !in->endpoint && !env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") &&
	    !env("OTEL_EXPORTER_OTLP_ENDPOINT"))
		report(ctx, false, NULL,
		       "the 'otel' callback has no endpoint (OTEL_EXPORTER_OTLP_ENDPOINT unset): "
		       "traces go to " CONFIG_OTEL_DEFAULT_URL);
	return r;
}

void config_otel_clear(struct otel_config *c)
{
	for (size_t i = 0; i < c->n_headers; i++) {
		free(c->headers[i].name);
		free_value(c->headers[i].value);
	}
	free(c->headers);
	free(c->endpoint);
	free(c->service_name);
	*c = (struct otel_config){0};
}
