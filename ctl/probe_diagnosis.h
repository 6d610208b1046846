/*
 * probe_diagnosis: what one probe answer means, in plain words (SPEC 9.3).
 * Pure: from the provider, the transport result, the HTTP status and the
 * error body that OpenAI, Azure or a LiteLLM proxy sent, to a verdict and a
 * sentence. No I/O, no clock; unit-tested with real error bodies.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* How the transfer ended, before any HTTP status is looked at. */
enum probe_transport {
	PROBE_TRANSPORT_OK, /* an HTTP answer arrived */
	PROBE_TRANSPORT_DNS,
	PROBE_TRANSPORT_CONNECT,    /* no TCP connection: refused, unreachable */
	PROBE_TRANSPORT_CLOSED,     /* connected, then closed or reset without an answer */
	PROBE_TRANSPORT_TLS,        /* handshake failed */
	PROBE_TRANSPORT_TLS_VERIFY, /* certificate not trusted or not for this host */
	PROBE_TRANSPORT_TIMEOUT,
	PROBE_TRANSPORT_OTHER,
	PROBE_TRANSPORT__COUNT,
};

/* X(enum suffix, name, short words, what it says about a route: "the
 * primary's <blame>") */
#define PROBE_VERDICTS(X)                                                                     \
	X(OK, "ok", "works", "route works")                                                   \
	X(CONTENT_FILTER, "content_filter", "content filter", "content filter blocks a ping") \
	X(WRONG_KEY, "wrong_key", "wrong key", "key is wrong")                                \
	X(NO_KEY, "no_key", "no key", "key is missing")                                       \
	X(ENTRA_TOKEN, "entra_token", "no Entra ID token", "Entra ID credential fails")       \
	X(PROXY_UPSTREAM_KEY, "proxy_upstream_key", "proxy's upstream key",                   \
	  "proxy reaches its upstream with a wrong key (fix it in the proxy's own config)")   \
	X(FORBIDDEN, "forbidden", "forbidden", "resource refuses this caller")                \
	X(WRONG_ENDPOINT, "wrong_endpoint", "wrong endpoint", "api_base is wrong")            \
	X(DEPLOYMENT_NOT_FOUND, "deployment_not_found", "unknown deployment",                 \
	  "deployment name is wrong")                                                         \
	X(MODEL_NOT_FOUND, "model_not_found", "unknown model", "model name is wrong")         \
	X(API_VERSION, "unsupported_api_version", "unsupported api-version",                  \
	  "api_version is not supported")                                                     \
	X(WRONG_OPERATION, "wrong_operation", "wrong operation",                              \
	  "deployment does not serve this operation")                                         \
	X(UNSUPPORTED_PARAMETER, "unsupported_parameter", "unsupported parameter",            \
	  "model rejects the probe's parameters")                                             \
	X(RATE_LIMITED, "rate_limited", "rate limited", "deployment is rate limited")         \
	X(QUOTA, "quota_exceeded", "quota exhausted", "quota is exhausted")                   \
	X(SERVER_ERROR, "server_error", "server error", "upstream is failing")                \
	X(BAD_REQUEST, "bad_request", "rejected", "upstream rejects the probe")               \
	X(DNS, "dns", "DNS", "host name does not resolve from here")                          \
	X(CONNECT, "connect", "no connection", "address does not accept connections")         \
	X(CLOSED, "closed", "closed", "connection closes without an answer")                  \
	X(TLS, "tls", "TLS", "TLS fails")                                                     \
	X(TIMEOUT, "timeout", "timeout", "upstream does not answer in time")                  \
	X(OTHER, "other", "failed", "transfer fails")

#define PROBE_VERDICT_ENUM(id, name, words, blame) PROBE_##id,
enum probe_verdict {
	PROBE_VERDICTS(PROBE_VERDICT_ENUM) PROBE_VERDICT__COUNT,
};
#undef PROBE_VERDICT_ENUM

/* One probe's answer: plain data filled in by probe.c. */
struct probe_answer {
	bool azure;
	bool sent_credential; /* an api_key or azure_ad_token went with the request */
	bool entra;           /* the credential was an Entra ID token probe fetched */
	const char *model;    /* litellm_params.model as written, e.g. "azure/gpt-4o" */
	const char *upstream; /* azure: the deployment in the URL; else the model sent */
	enum probe_transport transport;
	int os_errno;     /* of a failed connect, or 0 */
	bool connected;   /* a TCP connection was made (tells the timeouts apart) */
	long timeout_ms;  /* the probe's timeout, for the words */
	long status;      /* HTTP status, 0 without an answer */
	const char *body; /* the answer's body, not necessarily NUL-terminated */
	size_t body_len;
	long retry_after_ms; /* retry-after-ms, x-ms-retry-after-ms or retry-after; -1 if none */
};

struct probe_diagnosis {
	enum probe_verdict verdict;
	bool passed;    /* a 2xx: the deployment served the probe */
	bool reachable; /* reached and authenticated, though not necessarily a 2xx */
	char text[400];
};

const char *probe_verdict_name(enum probe_verdict verdict);
/* "wrong key", "timeout": for "(401 wrong key)" */
const char *probe_verdict_words(enum probe_verdict verdict);
/* "key is wrong": for "the primary's key is wrong" */
const char *probe_verdict_blame(enum probe_verdict verdict);

void probe_diagnose(const struct probe_answer *answer, struct probe_diagnosis *ret);
