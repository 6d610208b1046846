/*
 * Unit tests of response_model, the reader of an answer's top-level "model"
 * for gen_ai.response.model: the answers of OpenAI and Azure as they come
 * (member order, Azure's empty first stream event), what it must not take
 * (a nested or escaped model), every cut of an answer (never a partial name,
 * never a read past the bytes given: ASan watches), and random objects
 * against jansson's reading of the same bytes.
 */
#include "../../worker/response_model.h"
#include "tap.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static char out[RESPONSE_MODEL_MAX];

static const char *object(const char *doc)
{
	return response_model_object(doc, strlen(doc), out, sizeof(out)) ? out : "";
}

static const char *events(const char *doc)
{
	return response_model_events(doc, strlen(doc), out, sizeof(out)) ? out : "";
}

static const char openai[] =
        "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1733500000,"
        "\"model\":\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":\"hi\"}}],\"usage\":{\"total_tokens\":3}}";
static const char azure[] =
        "{\"choices\":[{\"content_filter_results\":{},\"finish_reason\":\"stop\",\"index\":0,"
        "\"message\":{\"content\":\"say \\\"model\\\": \\\"no\\\" {[\",\"role\":\"assistant\","
        "\"model\":\"nested\"}}],\"created\":1733500000,\"id\":\"chatcmpl-2\","
        "\"model\":\"gpt-4o-2024-05-13\",\"object\":\"chat.completion\","
        "\"prompt_filter_results\":[],\"usage\":{\"total_tokens\":3}}";
static const char azure_stream[] =
        "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
        "\"prompt_filter_results\":[{\"prompt_index\":0}]}\n\n"
        "data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"},\"index\":0}],"
        "\"created\":1733500000,\"id\":\"chatcmpl-3\",\"model\":\"gpt-4o-2024-05-13\","
        "\"object\":\"chat.completion.chunk\"}\n\n";

static void test_answers(void)
{
	tap_str(object(openai), "gpt-4o-2024-08-06", "OpenAI: the model after id, object, created");
	tap_str(object(azure), "gpt-4o-2024-05-13",
	        "Azure: after choices, whose strings and nested model are skipped");
	tap_str(object("  \r\n{ \"model\" : \"m\" }"), "m", "whitespace around the tokens");
	tap_str(object("{\"a\":1.5e3,\"b\":true,\"c\":null,\"d\":[1,[2,{}]],\"model\":\"m\"}"), "m",
	        "numbers, literals, nested arrays before it");
	tap_str(object("{\"a\":\"x\\\\\",\"model\":\"m\"}"), "m",
	        "a string ending in an escaped backslash");
	tap_str(events(azure_stream), "gpt-4o-2024-05-13",
	        "Azure stream: the empty model of the first event is no model");
	tap_str(events("event: response.created\ndata: {\"type\":\"x\",\"model\":\"r\"}\n\n"), "r",
	        "an event with its name line");
	tap_str(events(": keep-alive\n\ndata:{\"model\":\"m\"}\n"), "m", "a comment, no space");
}

static void test_refused(void)
{
	static char long_name[RESPONSE_MODEL_MAX + 32];

	tap_str(object("{\"response\":{\"model\":\"m\"}}"), "", "nested only: not the answer's");
	tap_str(object("{\"model\":\"gpt\\u002d4\"}"), "", "escaped: not read");
	tap_str(object("{\"mod\\u0065l\":\"m\"}"), "", "an escaped key is not model");
	tap_str(object("{\"model\":\"\"}"), "", "empty");
	tap_str(response_model_object("{\"model\":\"m\x01\0\"}", 15, out, sizeof(out)) ? out : "",
	        "", "holding control bytes (the fuzzer's find)");
	tap_str(object("{\"model\":42}"), "", "not a string");
	tap_str(object("[{\"model\":\"m\"}]"), "", "not an object");
	tap_str(object("{\"a\" \"model\":\"m\"}"), "", "a member without a colon stops it");
	tap_str(object("{\"a\":1 \"model\":\"m\"}"), "", "a member without a comma stops it");
	tap_str(object("{\"a\":}],\"model\":\"m\"}"), "", "a close without an open stops it");
	tap_str(events("data: [DONE]\n\n"), "", "[DONE]");
	memset(long_name, 'x', sizeof(long_name));
	memcpy(long_name, "{\"model\":\"", 10);
	memcpy(long_name + sizeof(long_name) - 3, "\"}", 3);
	tap_str(object(long_name), "", "longer than the room for it");
}

/* Every cut of a document: nothing, or the whole model. */
static void test_cuts(const char *doc, const char *want, bool sse)
{
	size_t len = strlen(doc), bad = 0;

	for (size_t n = 0; n <= len; n++) {
		char *copy = malloc(n ? n : 1); /* exactly N bytes: ASan sees a read past them */
		size_t got;

		memcpy(copy, doc, n);
		got = sse ? response_model_events(copy, n, out, sizeof(out))
		          : response_model_object(copy, n, out, sizeof(out));
		if (got && strcmp(out, want) != 0)
			bad++;
		free(copy);
	}
	tap_ok(bad == 0, "every cut of a %zu-byte answer: nothing or '%s' (%zu wrong)", len, want,
	       bad);
}

/* A random value of depth at most DEPTH, sometimes with a "model" member. */
static json_t *random_value(int depth)
{
	static const char *const words[] = {"model", "id", "a\"b", "x\\", "{[", "", "m"};
	int kind = rand() % (depth > 0 ? 7 : 5);
	json_t *v;

	switch (kind) {
	case 0:
		return json_integer(rand() % 1000);
	case 1:
		return json_real((rand() % 1000) / 7.0);
	case 2:
		return rand() % 2 ? json_true() : json_null();
	case 3:
	case 4:
		return json_string(words[rand() % 7]);
	case 5:
		v = json_array();
		for (int i = rand() % 4; i > 0; i--)
			json_array_append_new(v, random_value(depth - 1));
		return v;
	default:
		v = json_object();
		for (int i = rand() % 5; i > 0; i--)
			json_object_set_new(v, words[rand() % 7], random_value(depth - 1));
		return v;
	}
}

static void test_against_jansson(void)
{
	size_t differ = 0, found = 0;

	srand(19);
	for (int i = 0; i < 3000; i++) {
		json_t *doc = json_object();
		char *text;
		const char *want;
		size_t got;

		for (int k = rand() % 6; k > 0; k--)
			json_object_set_new(doc, rand() % 3 ? "k" : "model", random_value(3));
		if (rand() % 2)
			json_object_set_new(doc, rand() % 2 ? "z" : "model",
			                    json_string(rand() % 2 ? "gpt-4o" : "g\"pt"));
		text = json_dumps(doc, rand() % 2 ? JSON_COMPACT : JSON_INDENT(2));
		want = json_string_value(json_object_get(doc, "model"));
		got = response_model_object(text, strlen(text), out, sizeof(out));
		/* found: jansson's value; not found: jansson has none, or one it
		 * must not take (escaped in the text, or empty) */
		if (got ? !want || strcmp(out, want) != 0
		        : want && *want && !strchr(want, '"') && !strchr(want, '\\'))
			differ++;
		found += got > 0;
		free(text);
		json_decref(doc);
	}
	tap_ok(differ == 0 && found > 500,
	       "3000 random objects: as jansson reads them (%zu found, %zu differ)", found, differ);
}

int main(void)
{
	test_answers();
	test_refused();
	test_cuts(openai, "gpt-4o-2024-08-06", false);
	test_cuts(azure, "gpt-4o-2024-05-13", false);
	test_cuts(azure_stream, "gpt-4o-2024-05-13", true);
	test_against_jansson();
	return tap_done();
}
