/*
 * Unit tests of the one OpenAI error-body builder (common/openai_error.c):
 * the bodies the HTTP server's rejects send, escaping, bytes that are not
 * UTF-8, cutting to the buffer, and, over many random strings, the very
 * bytes jansson gave when the proxy built its errors with it; the type and
 * code columns of the reject table.
 */
#include "http_reject.h"
#include "openai_error.h"
#include "tap.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>

static char got[8192];

static const char *body(const char *type, const char *code, const char *message)
{
	size_t n = openai_error_format(got, sizeof(got), type, code, message);

	return n == strlen(got) ? got : "(length differs)";
}

/* What jansson made of it: non-UTF-8 text had its bytes >= 0x80 as '?'. */
static char *jansson_body(const char *type, const char *code, const char *message)
{
	char copy[1024];
	json_t *j = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", message, "type",
	                      type, "param", "code", code);
	char *text;

	if (!j) {
		snprintf(copy, sizeof(copy), "%s", message);
		for (char *p = copy; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		j = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", copy, "type", type,
		              "param", "code", code);
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

static void test_fixed(void)
{
	tap_str(body("invalid_request_error", "request_timeout", "the request head took too long"),
	        "{\"error\":{\"message\":\"the request head took too long\",\"type\":"
	        "\"invalid_request_error\",\"param\":null,\"code\":\"request_timeout\"}}",
	        "a reject's body");
	tap_str(body("server_error", NULL, "internal error"),
	        "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\","
	        "\"param\":null,\"code\":null}}",
	        "no code: null");
	tap_str(body("t", "c", "say \"hi\" \\ a/b\n\r\t\b\f\x01\x1f\x7f"),
	        "{\"error\":{\"message\":\"say \\\"hi\\\" \\\\ a/b\\n\\r\\t\\b\\f\\u0001\\u001F\x7f\","
	        "\"type\":\"t\",\"param\":null,\"code\":\"c\"}}",
	        "escapes");
	tap_str(body("t", NULL, "model 'caf\xc3\xa9' \xf0\x9f\x98\x80"),
	        "{\"error\":{\"message\":\"model 'caf\xc3\xa9' \xf0\x9f\x98\x80\",\"type\":\"t\","
	        "\"param\":null,\"code\":null}}",
	        "UTF-8 as is");
	tap_str(body("t", NULL, "caf\xc3\xa9 \xff bad"),
	        "{\"error\":{\"message\":\"caf?? ? bad\",\"type\":\"t\",\"param\":null,"
	        "\"code\":null}}",
	        "not UTF-8: each byte >= 0x80 as '?'");
	tap_str(body("t", NULL, "\xed\xa0\x80 \xc0\xaf"),
	        "{\"error\":{\"message\":\"??? ??\",\"type\":\"t\",\"param\":null,"
	        "\"code\":null}}",
	        "a surrogate or an overlong form is not UTF-8");
}

static void test_cut(void)
{
	const char *want = "{\"error\":{\"message\":\"m\",\"type\":\"t\",\"param\":null,"
	                   "\"code\":null}}";
	size_t len = strlen(want);
	char small[16];
	bool ok = true;

	tap_ok(openai_error_format(NULL, 0, "t", NULL, "m") == len, "the length with no buffer");
	for (size_t size = 1; size <= len + 1; size++) {
		memset(got, 'X', sizeof(got));
		size_t n = openai_error_format(got, size, "t", NULL, "m");

		ok &= n == len && strlen(got) == size - 1 && memcmp(got, want, size - 1) == 0;
	}
	tap_ok(ok, "like snprintf: cut to the buffer, NUL-terminated, full length returned");
	tap_ok(openai_error_format(small, sizeof(small), "t", NULL, "m") == len &&
	               strcmp(small, "{\"error\":{\"mess") == 0,
	       "a small buffer");
}

static void test_like_jansson(void)
{
	static const char bytes[] = "ab \"\\/\n\t\x01\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff"
	                            "\x80\xc0\xed\xa0\xf4\x90";
	char message[64];
	int differ = 0;

	srand(15);
	for (int i = 0; i < 20000; i++) {
		size_t n = (size_t)rand() % (sizeof(message) - 1);
		char *want;

		for (size_t k = 0; k < n; k++)
			message[k] = bytes[rand() % (int)(sizeof(bytes) - 1)];
		message[n] = '\0';
		want = jansson_body("invalid_request_error", i % 2 ? "code" : NULL, message);
		if (!want || strcmp(body("invalid_request_error", i % 2 ? "code" : NULL, message),
		                    want) != 0) {
			if (differ++ == 0)
				printf("# message '%s'\n#   got:  %s\n#   want: %s\n", message, got,
				       want ? want : "(none)");
		}
		free(want);
	}
	tap_ok(differ == 0, "20000 random messages: the bytes jansson made (%d differ)", differ);
}

static void test_reject_columns(void)
{
	bool ok = true;

	for (int k = 0; k < HTTP_REJECT__COUNT; k++) {
		const char *type = http_reject_type((enum http_reject)k);
		const char *code = http_reject_code((enum http_reject)k);
		bool server = http_reject_status((enum http_reject)k) >= 500;

		ok &= strcmp(type, server ? "server_error" : "invalid_request_error") == 0;
		ok &= code && *code && strspn(code, "abcdefghijklmnopqrstuvwxyz_") == strlen(code);
	}
	tap_ok(ok, "every reject: a server_error exactly when 5xx, and a snake_case code");
	tap_str(http_reject_code(HTTP_REJECT_HEAD_TOO_LARGE), "request_header_fields_too_large",
	        "431: one code, however it was found");
	tap_str(http_reject_code(HTTP_REJECT_BODY_TIMEOUT), "request_timeout", "408's code");
	tap_ok(strcmp(http_reject_type(HTTP_REJECT__COUNT), "server_error") == 0 &&
	               strcmp(http_reject_code(HTTP_REJECT__COUNT), "internal_error") == 0,
	       "out of range: an internal error");
}

int main(void)
{
	test_reject_columns();
	test_fixed();
	test_cut();
	test_like_jansson();
	return tap_done();
}
