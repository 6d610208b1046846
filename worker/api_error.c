/*
 * api_error: OpenAI-shaped JSON errors and JSON replies (see api_error.h).
 * Runs in a worker, on the endpoints' and the proxy's paths. The body comes
 * from the one builder (common/openai_error.h), which escapes user strings
 * (a model name) properly.
 */
#include "api_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "openai_error.h"

static char fallback[] = "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\","
                         "\"param\":null,\"code\":null}}";

char *api_error_json(const char *type, const char *code, const char *fmt, va_list ap)
{
	char message[1024];
	char *text;
	size_t len;
	int n;

	n = vsnprintf(message, sizeof(message), fmt, ap);

	if (n >= (int)sizeof(message)) {
		/* cut short: do not leave half a UTF-8 character (the builder would
		 * show the whole message's non-ASCII bytes as '?') */
		size_t end = sizeof(message) - 1, start = end;

		while (start > 0 && ((unsigned char)message[start - 1] & 0xc0) == 0x80)
			start--;
		if (start > 0 && ((unsigned char)message[start - 1] & 0x80)) {
			unsigned char lead = (unsigned char)message[start - 1];
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;

			if (end - (start - 1) < need)
				message[start - 1] = '\0';
		}
	}
	len = openai_error_format(NULL, 0, type, code, message);
	text = malloc(len + 1);
	if (!text)
		return fallback;
	(void)openai_error_format(text, len + 1, type, code, message);
	return text;
}

void api_error_json_free(char *json)
{
	if (json != fallback)
		free(json);
}

int api_json_send(struct http_exchange *ex, int status, const char *json)
{
	return http_exchange_send(ex, status, "application/json", json, strlen(json));
}

int api_error_send(struct http_exchange *ex, int status, const char *type, const char *code,
                   const char *fmt, ...)
{
	va_list ap;
	char *text;
	int r;

	va_start(ap, fmt);
	text = api_error_json(type, code, fmt, ap);
	va_end(ap);
	r = api_json_send(ex, status, text);
	api_error_json_free(text);
	return r;
}
