/*
 * Unit tests of the own upstream client's request serialisation
 * (worker/upstream/upstream_serialize.c): the exact bytes of a request,
 * the Host header, GET and DELETE, the headers that are ours, invalid fields
 * and limits.
 */
#include "upstream_serialize.h"
#include "tap.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static char out[128 * 1024];

/* Serialises a request to URL; its length, or the error of the size. */
static ssize_t serialize(const char *url, const struct upstream_header *headers, size_t n,
                         const char *body)
{
	struct upstream_request req = {
	        .url = url,
	        .headers = headers,
	        .n_headers = n,
	        .body = body,
	        .body_len = strlen(body),
	};
	struct upstream_url u;
	ssize_t size;
	size_t len;

	if (upstream_url_parse(url, &u) < 0)
		return -EDOM;
	size = upstream_serialize_size(&u, &req);
	if (size < 0)
		return size;
	memset(out, 'X', sizeof(out));
	len = upstream_serialize(out, &u, &req);
	tap_ok(len <= (size_t)size && out[size] == 'X', "%s: within its size", url);
	out[len] = '\0';
	return (ssize_t)len;
}

/* A GET (Entra managed identity endpoints): no body, no Content-Length. */
static void test_get(void)
{
	static const struct upstream_header h[] = {{"Metadata", "true"}};
	struct upstream_request req = {
	        .url = "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01",
	        .headers = h,
	        .n_headers = 1,
	        .body = "",
	        .method = "GET",
	};
	struct upstream_url u;
	size_t len;

	tap_ok(upstream_url_parse(req.url, &u) == 0, "imds url");
	len = upstream_serialize(out, &u, &req);
	out[len] = '\0';
	tap_str(out,
	        "GET /metadata/identity/oauth2/token?api-version=2018-02-01 HTTP/1.1\r\n"
	        "Host: 169.254.169.254\r\n"
	        "Metadata: true\r\n"
	        "\r\n",
	        "GET: head only");
}

/* A lent body (the exporter's batches): the head with the body's length,
 * sized and written without the body, which is sent from where it is. */
static void test_lent_body(void)
{
	static const char body[] = "0123456789";
	struct upstream_request req = {
	        .url = "http://127.0.0.1:4318/v1/traces",
	        .body = body,
	        .body_len = sizeof(body) - 1,
	        .body_lent = true,
	};
	struct upstream_url u;
	static const char head[] = "POST /v1/traces HTTP/1.1\r\n"
	                           "Host: 127.0.0.1:4318\r\n"
	                           "Content-Length: 10\r\n"
	                           "\r\n";
	ssize_t size;
	size_t len;

	tap_ok(upstream_url_parse(req.url, &u) == 0, "collector url");
	size = upstream_serialize_size(&u, &req);
	len = upstream_serialize(out, &u, &req);
	out[len] = '\0';
	tap_str(out, head, "lent: the head alone, with the body's Content-Length");
	req.body_lent = false;
	tap_ok(size >= (ssize_t)len && size == upstream_serialize_size(&u, &req) - 10,
	       "lent: sized without the body (%zd for %zu)", size, len);
}

static void test_request(void)
{
	static const struct upstream_header h[] = {
	        {"Content-Type", "application/json"},
	        {"Authorization", "Bearer sk-test"},
	};

	tap_ok(serialize("http://127.0.0.1:8080/v1/chat/completions", h, 2, "{\"a\":1}") > 0,
	       "a request");
	tap_str(out,
	        "POST /v1/chat/completions HTTP/1.1\r\n"
	        "Host: 127.0.0.1:8080\r\n"
	        "Content-Type: application/json\r\n"
	        "Authorization: Bearer sk-test\r\n"
	        "Content-Length: 7\r\n"
	        "\r\n"
	        "{\"a\":1}",
	        "head and body");
	serialize("https://my.openai.azure.com/openai/deployments/d/chat/completions?api-version=1",
	          NULL, 0, "");
	tap_str(out,
	        "POST /openai/deployments/d/chat/completions?api-version=1 HTTP/1.1\r\n"
	        "Host: my.openai.azure.com\r\n"
	        "Content-Length: 0\r\n"
	        "\r\n",
	        "a query, no headers, an empty body");
	serialize("http://[::1]:81", NULL, 0, "x");
	tap_str(out, "POST / HTTP/1.1\r\nHost: [::1]:81\r\nContent-Length: 1\r\n\r\nx",
	        "no path: '/'; an IPv6 authority as written");
}

/* GET and DELETE (the Responses API's routes by id): their method, and no
 * Content-Length without a body; a POST with an empty body keeps its 0. */
static void test_methods(void)
{
	static const struct upstream_header h[] = {{"Authorization", "Bearer k"}};
	const char *methods[] = {"GET", "DELETE"};
	struct upstream_url u;
	char want[256];

	for (size_t i = 0; i < 2; i++) {
		struct upstream_request req = {
		        .method = methods[i],
		        .url = "http://h:1/v1/responses/resp_1?limit=2",
		        .headers = h,
		        .n_headers = 1,
		        .body = "",
		};
		ssize_t size;
		size_t len;

		if (!tap_ok(upstream_url_parse(req.url, &u) == 0, "the URL parses"))
			return;
		size = upstream_serialize_size(&u, &req);
		len = upstream_serialize(out, &u, &req);
		out[len] = '\0';
		snprintf(want, sizeof(want),
		         "%s /v1/responses/resp_1?limit=2 HTTP/1.1\r\nHost: h:1\r\n"
		         "Authorization: Bearer k\r\n\r\n",
		         methods[i]);
		tap_ok(size > 0 && len <= (size_t)size, "%s: within its size", methods[i]);
		tap_str(out, want, "a bodyless method: no Content-Length");
	}
}

static void test_ours(void)
{
	static const struct upstream_header h[] = {
	        {"host", "example.org"}, {"Content-Length", "99"},   {"Transfer-Encoding", "gzip"},
	        {"CONNECTION", "close"}, {"expect", "100-continue"}, {"api-key", "k"},
	};

	serialize("http://127.0.0.1/", h, 6, "hello");
	tap_str(out,
	        "POST / HTTP/1.1\r\n"
	        "host: example.org\r\n"
	        "api-key: k\r\n"
	        "Content-Length: 5\r\n"
	        "\r\n"
	        "hello",
	        "the caller's Host kept; framing and connection headers ours");
}

static void test_invalid(void)
{
	static const struct upstream_header empty[] = {{"", "v"}};
	static const struct upstream_header space[] = {{"a b", "v"}};
	static const struct upstream_header colon[] = {{"a:", "v"}};
	static const struct upstream_header ctl[] = {{"a\x01", "v"}};
	static const struct upstream_header crlf[] = {{"a", "v\r\nx: y"}};
	static const struct upstream_header lf[] = {{"a", "v\n"}};
	static const struct upstream_header tab[] = {{"a", "v\tw"}};

	tap_ok(serialize("http://127.0.0.1/", empty, 1, "") == -EINVAL, "an empty name");
	tap_ok(serialize("http://127.0.0.1/", space, 1, "") == -EINVAL, "a space in a name");
	tap_ok(serialize("http://127.0.0.1/", colon, 1, "") == -EINVAL, "a colon in a name");
	tap_ok(serialize("http://127.0.0.1/", ctl, 1, "") == -EINVAL, "a control byte in a name");
	tap_ok(serialize("http://127.0.0.1/", crlf, 1, "") == -EINVAL, "CR LF in a value");
	tap_ok(serialize("http://127.0.0.1/", lf, 1, "") == -EINVAL, "LF in a value");
	tap_ok(serialize("http://127.0.0.1/", tab, 1, "") > 0, "a tab in a value is fine");
}

static void test_limits(void)
{
	static char big[UPSTREAM_SERIALIZE_MAX_HEAD];
	static char body[UPSTREAM_SERIALIZE_MAX_HEAD + 2];
	struct upstream_header h[] = {{"x-big", big}};

	memset(big, 'v', sizeof(big) - 200);
	tap_ok(serialize("http://127.0.0.1/", h, 1, "") > 0, "a head just under the limit");
	memset(big, 'v', sizeof(big) - 1);
	tap_ok(serialize("http://127.0.0.1/", h, 1, "") == -E2BIG, "a head over the limit");
	memset(body, 'b', sizeof(body) - 1);
	tap_ok(serialize("http://127.0.0.1/", NULL, 0, body) > UPSTREAM_SERIALIZE_MAX_HEAD,
	       "the body does not count against the head's limit");
	tap_ok(strstr(out, "Content-Length: 65537\r\n") != NULL, "a larger length");
}

int main(void)
{
	test_get();
	test_lent_body();
	test_request();
	test_methods();
	test_ours();
	test_invalid();
	test_limits();
	return tap_done();
}
