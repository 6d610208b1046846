/*
 * api_error: OpenAI-shaped JSON errors and JSON replies (see api_error.h).
 * Runs in a worker, on the endpoints' and the proxy's paths. Messages are built
 * with jansson so that user strings (a model name) are escaped properly.
 */
#include "api_error.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"

static char fallback[] = "{\"error\":{\"message\":\"internal error\",\"type\":\"server_error\","
                         "\"param\":null,\"code\":null}}";

char *api_error_json(const char *type, const char *code, const char *fmt, va_list ap)
{
	char message[1024];
	json_t *body;
	char *text;
	int n;

	n = vsnprintf(message, sizeof(message), fmt, ap);

	if (n >= (int)sizeof(message)) {
		/* cut short: do not leave half a UTF-8 character, jansson refuses it */
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
	body = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", message, "type", type,
	                 "param", "code", code);
	if (!body) {
		/* a string from outside (an upstream's header) that is not UTF-8: show
		 * its bytes as '?' rather than lose the whole message */
		for (char *p = message; *p; p++)
			if ((unsigned char)*p >= 0x80)
				*p = '?';
		body = json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", message, "type",
		                 type, "param", "code", code);
	}
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	return text ? text : fallback;
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
