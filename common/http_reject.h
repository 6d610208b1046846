/*
 * http_reject: why a worker's HTTP server answered a request itself, before
 * any route ran (a malformed, oversized, too slow or unsupported request, or
 * plain HTTP sent to a TLS listener).
 * A small fixed set: its names are the reason label values of
 * llmgate_http_rejected_total, so a client can never create a label value.
 * Shared by workers (who count and log), the IPC codec (which carries the
 * counts) and the supervisor (which renders them).
 */
#pragma once

/*
 * X(NAME, label value, status, OpenAI error type, OpenAI error code): each
 * reason has exactly one status and one error body shape (see
 * openai_error.h; the message says what exactly was wrong).
 */
#define HTTP_REJECTS(X)                                                                           \
	X(MALFORMED, "malformed", 400, "invalid_request_error", "bad_request")                    \
	X(HEAD_TOO_LARGE, "head_too_large", 431, "invalid_request_error",                         \
	  "request_header_fields_too_large")                                                      \
	X(BODY_TOO_LARGE, "body_too_large", 413, "invalid_request_error", "request_too_large")    \
	X(HEAD_TIMEOUT, "head_timeout", 408, "invalid_request_error", "request_timeout")          \
	X(BODY_TIMEOUT, "body_timeout", 408, "invalid_request_error", "request_timeout")          \
	X(UNSUPPORTED_EXPECT, "unsupported_expect", 417, "invalid_request_error",                 \
	  "unsupported_request")                                                                  \
	X(UNSUPPORTED_TRANSFER_CODING, "unsupported_transfer_coding", 501, "server_error",        \
	  "unsupported_request")                                                                  \
	X(UNSUPPORTED_VERSION, "unsupported_version", 505, "server_error", "unsupported_request") \
	X(OUT_OF_MEMORY, "out_of_memory", 503, "server_error", "out_of_memory")                   \
	X(SPOOL_FAILED, "spool_failed", 507, "server_error", "insufficient_storage")              \
	X(PLAIN_HTTP_ON_TLS, "plain_http_on_tls", 400, "invalid_request_error",                   \
	  "plain_http_on_tls_port")

enum http_reject {
#define HTTP_REJECT_ENUM(name, label, status, type, code) HTTP_REJECT_##name,
	HTTP_REJECTS(HTTP_REJECT_ENUM)
#undef HTTP_REJECT_ENUM
	        HTTP_REJECT__COUNT,
};

/* The label value of REASON ("unknown" out of range). */
const char *http_reject_name(enum http_reject reason);
/* The status the server answers REASON with (500 out of range). */
int http_reject_status(enum http_reject reason);
/* The OpenAI error type and code of its answer ("server_error" and
 * "internal_error" out of range). */
const char *http_reject_type(enum http_reject reason);
const char *http_reject_code(enum http_reject reason);
/* The reason of a request-head parse error with that status
 * (http_parser_status()): 431, 417, 501, 505, anything else malformed. */
enum http_reject http_reject_of_status(int status);
