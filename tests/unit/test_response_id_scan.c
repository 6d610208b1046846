/*
 * Unit tests of the response id scanner (common/response_id_scan.c): the
 * top-level id of a Responses body, the id in the first event of a
 * Responses stream (every prefix of it: "more" until the id is whole), and
 * everything that is no id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "response_id_scan.h"
#include "tap.h"

/* The id the scanner finds, "" for none (-ENOENT), "MORE" for -EAGAIN. */
static const char *scan(int (*fn)(const char *, size_t, const char **, size_t *), const char *in,
                        size_t len)
{
	static char out[RESPONSE_AFFINITY_ID_MAX + 1];
	const char *id;
	size_t id_len;
	int r = fn(in, len, &id, &id_len);

	if (r == -EAGAIN)
		return "MORE";
	if (r == -ENOENT)
		return "";
	if (r != 0 || id_len > RESPONSE_AFFINITY_ID_MAX || id < in || id + id_len > in + len)
		return "BAD";
	memcpy(out, id, id_len);
	out[id_len] = '\0';
	return out;
}

static void body(const char *in, const char *want, const char *what)
{
	tap_str(scan(response_id_scan_body, in, strlen(in)), want, what);
}

static void stream(const char *in, const char *want, const char *what)
{
	tap_str(scan(response_id_scan_stream, in, strlen(in)), want, what);
}

static void test_body(void)
{
	char big[400];

	body("{\"id\":\"resp_67ccd2bed1ec8190\",\"object\":\"response\",\"status\":\"completed\"}",
	     "resp_67ccd2bed1ec8190", "an OpenAI response body");
	body(" \n{ \"object\" : \"response\" , \"created_at\": 1741476542, \"x\": -1.5e3, "
	     "\"t\": true, \"n\": null,"
	     "\"output\":[{\"id\":\"msg_1\",\"content\":[{\"text\":\"}\\\"{ ] \\\\\"}]}],"
	     "\"metadata\":{\"id\":\"not-this\"}, \"id\" : \"resp_last\" } ",
	     "resp_last", "the top-level id after nested ids, strings with brackets and escapes");
	body("{\"output\":[{\"id\":\"msg_1\"}],\"object\":\"response\"}", "",
	     "only nested ids: none");
	body("{\"id\":42}", "", "a number is no id");
	body("{\"id\":\"resp_\\u0031\"}", "", "an id with an escape is not taken");
	body("{\"id\":\"resp 1\"}", "", "an id with a space is not taken");
	body("{\"id\":\"resp/../1\"}", "", "an id with a slash is not taken");
	body("{\"id\":\"\"}", "", "an empty id is not taken");
	body("{\"\\u0069d\":\"resp_1\"}", "", "a key written with an escape never matches");
	body("[{\"id\":\"resp_1\"}]", "", "an array is no response");
	body("", "", "nothing");
	body("{\"object\":\"response\",\"id\"", "", "truncated before the id");
	body("{\"object\":\"response\",\"id\":\"resp_1", "", "truncated in the id");
	body("{\"object\" \"response\",\"id\":\"resp_1\"}", "", "a missing colon ends the scan");
	body("{\"object\":\"response\" \"id\":\"resp_1\"}", "", "a missing comma ends the scan");
	body("{\"error\":{\"message\":\"x\",\"type\":\"invalid_request_error\"}}", "",
	     "an error body has none");

	snprintf(big, sizeof(big), "{\"id\":\"%0*d\"}", RESPONSE_AFFINITY_ID_MAX, 7);
	tap_ok(strlen(scan(response_id_scan_body, big, strlen(big))) == RESPONSE_AFFINITY_ID_MAX,
	       "an id of %d bytes is taken", RESPONSE_AFFINITY_ID_MAX);
	snprintf(big, sizeof(big), "{\"id\":\"%0*d\"}", RESPONSE_AFFINITY_ID_MAX + 1, 7);
	body(big, "", "a longer one is not");
}

#define CREATED                                                                                 \
	"event: response.created\n"                                                             \
	"data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":"      \
	"\"resp_abc123\",\"object\":\"response\",\"created_at\":1741290958,\"status\":"         \
	"\"in_progress\",\"instructions\":\"You are a helpful assistant.\",\"output\":[]}}\n\n" \
	"event: response.in_progress\n"                                                         \
	"data: {\"type\":\"response.in_progress\",\"response\":{\"id\":\"resp_abc123\"}}\n\n"

static void test_stream(void)
{
	const char *s = CREATED;
	const char *id_end = strstr(s, "resp_abc123") + strlen("resp_abc123\"");
	int wrong = 0;

	stream(s, "resp_abc123", "the first event of an OpenAI Responses stream");
	for (size_t n = 0; n < strlen(s); n++) {
		const char *got = scan(response_id_scan_stream, s, n);
		const char *want = s + n < id_end ? "MORE" : "resp_abc123";

		if (strcmp(got, want) != 0) {
			if (!wrong)
				printf("# prefix of %zu bytes: '%s', want '%s'\n", n, got, want);
			wrong++;
		}
	}
	tap_ok(wrong == 0, "every prefix: more until the id's closing quote, then the id");

	stream("event: response.created\r\ndata: {\"type\":\"response.created\",\"response\":{"
	       "\"id\":\"resp_crlf\"}}\r\n\r\n",
	       "resp_crlf", "CRLF lines");
	stream("\xef\xbb\xbf: keep-alive\n\n\nretry: 100\nid: 7\n"
	       "data:{\"response\":{\"object\":\"response\",\"id\":\"resp_plain\"}}\n\n",
	       "resp_plain", "a BOM, comments, blank lines, no event name, no space after data:");
	stream("event: response.in_progress\ndata: {\"response\":{\"id\":\"resp_1\"}}\n\n", "",
	       "a first event that is not response.created");
	stream("event: error\ndata: {\"type\":\"error\",\"code\":\"server_error\"}\n\n", "",
	       "an error event first");
	stream("data: {\"type\":\"error\",\"response\":{\"id\":\"resp_1\"}}\n\n", "",
	       "a data type that is not response.created");
	stream("event: response.created\n\nevent: x\ndata: {\"response\":{\"id\":\"resp_1\"}}\n\n",
	       "", "a named event without data is not dispatched; the next one counts");
	stream("data: {\"type\":\"response.created\",\"response\":{\"status\":\"queued\"}}\n", "",
	       "a whole data line without an id");
	stream("data: {\"type\":\"response.created\",\"response\":{\"status\":\"queued\"", "MORE",
	       "a data line still arriving");
	stream("data: {\"type\":\"response.created\",\n", "",
	       "JSON over several data lines is not followed");
	stream("data: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"", "resp_1",
	       "the id before its line ends");
	stream("data: [DONE]\n\n", "", "a chat stream's end");
	stream("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\"}\n\n", "",
	       "a chat completion chunk has no response id");
	stream("event: response.cre", "MORE", "an event line still arriving");
	stream("", "MORE", "nothing yet");

	size_t n = RESPONSE_ID_SCAN_STREAM_MAX + 10;
	char *big = malloc(n + 1);

	if (big) {
		memset(big, 'x', n);
		memcpy(big, ": ", 2);
		big[n] = '\0';
		stream(big, "", "no id in the first 64 KiB: none");
		free(big);
	}
}

int main(void)
{
	test_body();
	test_stream();
	return tap_done();
}
