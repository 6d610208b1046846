/*
 * config_otel: the OpenTelemetry trace export settings, from llmgate.otel,
 * LiteLLM's litellm_settings callbacks ("otel" in callbacks,
 * success_callback or failure_callback) and the variables the OpenTelemetry
 * SDKs read (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT,
 * OTEL_EXPORTER_OTLP_TRACES_HEADERS, OTEL_EXPORTER_OTLP_HEADERS,
 * OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL,
 * OTEL_SERVICE_NAME). Part of the config loader: config.c reads the YAML and
 * calls config_otel_resolve() once; this file owns precedence, the
 * endpoint's /v1/traces, the headers' syntax and every check. It reports
 * through a callback and never shows a header value (they carry API keys).
 *
 * Precedence, first wins:
 *   endpoint: llmgate.otel.endpoint (a base URL: /v1/traces appended unless
 *     its path already ends so), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as
 *     is, per the OTLP exporter spec), OTEL_EXPORTER_OTLP_ENDPOINT
 *     (+ /v1/traces), http://localhost:4318/v1/traces;
 *   headers: llmgate.otel.headers, then OTEL_EXPORTER_OTLP_TRACES_HEADERS,
 *     then OTEL_EXPORTER_OTLP_HEADERS, merged by name (earlier wins);
 *   protocol: llmgate.otel.protocol, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
 *     OTEL_EXPORTER_OTLP_PROTOCOL, http/protobuf (the OTLP exporter spec's
 *     default); http/json the other choice, grpc refused (no gRPC client);
 *   service name: llmgate.otel.service_name, OTEL_SERVICE_NAME, "llmgate".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define CONFIG_OTEL_MAX_HEADERS 32
#define CONFIG_OTEL_DEFAULT_URL "http://localhost:4318/v1/traces"

struct otel_header {
	char *name;
	char *value; /* a secret */
};

enum otel_protocol {
	OTEL_PROTOCOL_PROTOBUF, /* http/protobuf, application/x-protobuf */
	OTEL_PROTOCOL_JSON,     /* http/json, application/json */
};

struct otel_config {
	bool enabled;
	enum otel_protocol protocol;
	char *endpoint; /* the full traces URL */
	struct otel_header *headers;
	size_t n_headers;
	char *service_name;
	double sample_ratio;    /* 0..1 */
	long queue_size;        /* spans waiting to be exported, at most */
	long batch_size;        /* spans per export request, at most */
	long flush_interval_ms; /* the longest a span waits for its batch */
	long export_timeout_ms; /* one export request */
};

struct config_otel_input {
	bool section;  /* llmgate.otel is written */
	bool callback; /* "otel" in one of litellm_settings' callback lists */
	const char *endpoint;
	const struct otel_header *headers; /* llmgate.otel.headers, checked by the loader */
	size_t n_headers;
	const char *service_name;
	const char *protocol; /* llmgate.otel.protocol, or NULL */
	double sample_ratio;
	long queue_size, batch_size, flush_interval_ms, export_timeout_ms;
};

/* ERROR or warning MSG about KEY (an llmgate.otel key, a variable, or NULL). */
typedef void config_otel_report_fn(void *ctx, bool error, const char *key, const char *msg);

/* Resolves IN into RET (RET->enabled false when nothing asks for traces:
 * the rest is then empty). 0, -EINVAL after reporting an error, -ENOMEM. */
int config_otel_resolve(const struct config_otel_input *in, struct otel_config *ret,
                        config_otel_report_fn *report, void *ctx);

/* The protocol named TEXT (http/protobuf, http/json): 0, or -EINVAL. */
int config_otel_protocol(const char *text, enum otel_protocol *ret);

/* Frees what RET holds, wiping the header values. */
void config_otel_clear(struct otel_config *c);

/* The traces URL of a base endpoint: BASE with /v1/traces appended (one
 * slash between) unless its path ends with /v1/traces. NULL: out of memory. */
char *config_otel_traces_url(const char *base);

/* Parses the OTEL_EXPORTER_OTLP_HEADERS syntax, "name=value,name=value"
 * (values percent-decoded, white space around either trimmed), adding to
 * *HEADERS (N of them) those whose name is not there yet. 0, -EINVAL (what
 * was wrong in WHY, never a value), -E2BIG past CONFIG_OTEL_MAX_HEADERS, or
 * -ENOMEM. */
int config_otel_parse_headers(const char *text, struct otel_header **headers, size_t *n, char *why,
                              size_t why_len);
