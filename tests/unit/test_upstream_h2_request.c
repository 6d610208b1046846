/*
 * Unit tests of the own HTTP/2 client's request fields
 * (worker/upstream/upstream_h2_request.c): the pseudo-headers first,
 * :authority from the URL or the caller's Host, lower-case names, the
 * connection-specific and own headers left out, TE only as "trailers",
 * content-length for a POST or a body and none for a bodiless GET.
 */
#include "upstream_h2_request.h"
#include "tap.h"

#include <stdio.h>
#include <string.h>

static struct uh2_field fields[64];
static char names[4096], length[24], text[8192];

/* REQ's fields as "name: value\n" lines, in order, in TEXT. */
static const char *render(const char *url, const char *method, const struct upstream_header *h,
                          size_t n, const char *body)
{
	struct upstream_request req = {
	        .method = method,
	        .url = url,
	        .headers = h,
	        .n_headers = n,
	        .body = body,
	        .body_len = strlen(body),
	};
	struct upstream_url u;
	size_t count, off = 0;

	if (upstream_url_parse(url, &u) < 0)
		return "bad url";
	tap_ok(uh2_request_max_fields(&req) <= 64 && uh2_request_names_size(&req) <= sizeof(names),
	       "%s: room", url);
	count = uh2_request_fields(fields, names, length, &u, &req);
	tap_ok(count <= uh2_request_max_fields(&req), "%s: within its bound", url);
	for (size_t i = 0; i < count; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%.*s: %.*s\n",
		                        (int)fields[i].name_len, fields[i].name,
		                        (int)fields[i].value_len, fields[i].value);
	text[off] = '\0';
	return text;
}

static void test_post(void)
{
	static const struct upstream_header h[] = {
	        {"Content-Type", "application/json"},
	        {"Authorization", "Bearer sk-test"},
	        {"X-Stainless-OS", "Linux"},
	        {"user-agent", "OpenAI/Python 1.0"},
	};

	tap_str(render("https://api.openai.com/v1/chat/completions", NULL, h, 4, "{\"a\":1}"),
	        ":method: POST\n"
	        ":scheme: https\n"
	        ":authority: api.openai.com\n"
	        ":path: /v1/chat/completions\n"
	        "content-type: application/json\n"
	        "authorization: Bearer sk-test\n"
	        "x-stainless-os: Linux\n"
	        "user-agent: OpenAI/Python 1.0\n"
	        "content-length: 7\n",
	        "POST: pseudo-headers first, names lower-cased, content-length");
}

static void test_dropped(void)
{
	static const struct upstream_header h[] = {
	        {"Connection", "keep-alive"},
	        {"Keep-Alive", "timeout=5"},
	        {"Proxy-Connection", "close"},
	        {"Transfer-Encoding", "chunked"},
	        {"Upgrade", "h2c"},
	        {"TE", "gzip"},
	        {"Content-Length", "99"},
	        {"Expect", "100-continue"},
	        {"Host", "example.test"},
	        {"te", "Trailers"},
	        {"api-key", "k"},
	};

	tap_str(render("https://127.0.0.1:8443/openai/deployments/d/chat/completions?api-version=1",
	               NULL, h, 11, ""),
	        ":method: POST\n"
	        ":scheme: https\n"
	        ":authority: example.test\n"
	        ":path: /openai/deployments/d/chat/completions?api-version=1\n"
	        "te: Trailers\n"
	        "api-key: k\n"
	        "content-length: 0\n",
	        "connection-specific and own headers left out; Host is the :authority");
}

static void test_get(void)
{
	static const struct upstream_header h[] = {{"Authorization", "Bearer x"}};

	tap_str(render("https://[::1]:8443/v1/responses/resp_1", "GET", h, 1, ""),
	        ":method: GET\n"
	        ":scheme: https\n"
	        ":authority: [::1]:8443\n"
	        ":path: /v1/responses/resp_1\n"
	        "authorization: Bearer x\n",
	        "GET without a body: no content-length");
	tap_str(render("https://h.test", "DELETE", NULL, 0, "{}"),
	        ":method: DELETE\n"
	        ":scheme: https\n"
	        ":authority: h.test\n"
	        ":path: /\n"
	        "content-length: 2\n",
	        "a body: content-length");
}

int main(void)
{
	test_post();
	test_dropped();
	test_get();
	return tap_done();
}
