/*
 * Unit tests of worker/otlp_json.c: a batch is a valid OTLP JSON export
 * request (parsed back with jansson: ids as hex, 64-bit numbers as decimal
 * strings, kinds, parents, status, attributes by type), strings escaped and
 * invalid UTF-8 replaced; and the attribute table against llmgated(8)'s
 * TRACES section (every attribute documented, nothing else listed).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_json.h"
#include "tap.h"

static json_t *encode(const struct trace_span *spans, size_t n)
{
	struct otlp_buf b = {0};
	json_error_t err;
	json_t *root;

	otlp_json_begin(&b, "svc \"x\"", "0.1.0");
	for (size_t i = 0; i < n; i++) {
		struct trace_span c = spans[i];

		if (i)
			otlp_buf_add(&b, ",", 1);
		trace_span_name(&c, c.name_op, strlen(c.name_op), c.name_model,
		                c.name_model ? strlen(c.name_model) : 0);
		otlp_json_span(&b, &c);
	}
	otlp_json_end(&b);
	root = json_loadb(b.data, b.len, 0, &err);
	if (!root)
		printf("# %s: %.*s\n", err.text, (int)b.len, b.data);
	otlp_buf_free(&b);
	return root;
}

static const char *attr_string(json_t *span, const char *key, const char *kind)
{
	size_t i;
	json_t *kv;

	json_array_foreach(
	        json_object_get(span, "attributes"), i,
	        kv) if (strcmp(json_string_value(json_object_get(kv, "key")), key) ==
	                0) return json_string_value(json_object_get(json_object_get(kv, "value"),
	                                                            kind));
	return NULL;
}

static void test_encode(void)
{
	static const char model[] = "gpt-\"4o\"\n\xc3\xa9\xff";
	struct trace_span s[2] = {
	        {.kind = TRACE_KIND_SERVER,
	         .trace_id = {0x4b, [15] = 0x36},
	         .span_id = {1, 2, 3, 4, 5, 6, 7, 8},
	         .name_op = "chat",
	         .name_model = model,
	         .trace_state = "a=b",
	         .trace_state_len = 3,
	         .start_ns = 1700000000123456789,
	         .end_ns = 1700000000223456789,
	         .error = true},
	        {.kind = TRACE_KIND_CLIENT,
	         .trace_id = {0x4b, [15] = 0x36},
	         .span_id = {9, 9, 9, 9, 9, 9, 9, 9},
	         .parent_id = {1, 2, 3, 4, 5, 6, 7, 8},
	         .has_parent = true,
	         .name_op = "embeddings",
	         .start_ns = 1,
	         .end_ns = 2},
	};
	json_t *root, *spans, *a, *b, *resource;

	trace_span_str(&s[0], TRACE_ATTR_REQUEST_MODEL, model, strlen(model));
	trace_span_int(&s[0], TRACE_ATTR_HTTP_STATUS, 502);
	trace_span_str(&s[0], TRACE_ATTR_ERROR_TYPE, "502", 3);
	trace_span_int(&s[1], TRACE_ATTR_SERVER_PORT, -1);
	trace_span_int(&s[0], TRACE_ATTR_ATTEMPTS, 100);
	trace_span_int(&s[0], TRACE_ATTR_INPUT_TOKENS, 7);
	trace_span_int(&s[0], TRACE_ATTR_OUTPUT_TOKENS, 10);
	trace_span_int(&s[0], TRACE_ATTR_ATTEMPT, 0);
	root = encode(s, 2);
	if (!tap_ok(root != NULL, "the batch is valid JSON"))
		return;
	resource = json_object_get(json_array_get(json_object_get(root, "resourceSpans"), 0),
	                           "resource");
	tap_str(attr_string(resource, "service.name", "stringValue"), "svc \"x\"",
	        "service.name, escaped");
	spans = json_object_get(
	        json_array_get(
	                json_object_get(json_array_get(json_object_get(root, "resourceSpans"), 0),
	                                "scopeSpans"),
	                0),
	        "spans");
	tap_ok(json_array_size(spans) == 2, "two spans");
	a = json_array_get(spans, 0);
	b = json_array_get(spans, 1);
	tap_str(json_string_value(json_object_get(a, "traceId")),
	        "4b000000000000000000000000000036", "trace id as hex");
	tap_str(json_string_value(json_object_get(a, "spanId")), "0102030405060708",
	        "span id as hex");
	tap_ok(!json_object_get(a, "parentSpanId"), "no parent: none written");
	tap_str(json_string_value(json_object_get(b, "parentSpanId")), "0102030405060708",
	        "the child's parent");
	tap_ok(json_integer_value(json_object_get(a, "kind")) == 2 &&
	               json_integer_value(json_object_get(b, "kind")) == 3,
	       "kinds SERVER and CLIENT");
	tap_str(json_string_value(json_object_get(a, "name")),
	        "chat gpt-\"4o\"\n\xc3\xa9\xef\xbf\xbd",
	        "the name: escaped, invalid UTF-8 replaced");
	tap_str(json_string_value(json_object_get(b, "name")), "embeddings",
	        "a name without model");
	tap_str(json_string_value(json_object_get(a, "startTimeUnixNano")), "1700000000123456789",
	        "times as decimal strings");
	tap_str(json_string_value(json_object_get(a, "traceState")), "a=b", "trace state");
	tap_ok(json_integer_value(json_object_get(json_object_get(a, "status"), "code")) == 2,
	       "an error's status code 2");
	tap_ok(!json_object_get(b, "status"), "no error: status unset");
	tap_str(attr_string(a, "http.response.status_code", "intValue"), "502",
	        "an integer attribute");
	tap_str(attr_string(a, "error.type", "stringValue"), "502", "a string attribute");
	tap_str(attr_string(b, "server.port", "intValue"), "-1", "a negative integer");
	tap_ok(strcmp(attr_string(a, "llmgate.attempts", "intValue"), "100") == 0 &&
	               strcmp(attr_string(a, "gen_ai.usage.input_tokens", "intValue"), "7") == 0 &&
	               strcmp(attr_string(a, "gen_ai.usage.output_tokens", "intValue"), "10") ==
	                       0 &&
	               strcmp(attr_string(a, "llmgate.attempt", "intValue"), "0") == 0,
	       "integers of one, two and three digits, and 0");
	tap_ok(json_array_size(json_object_get(b, "attributes")) == 1, "only the attributes set");
	json_decref(root);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	text = calloc(1, (size_t)n + 1);
	if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

/* ".It Li a , b" lists attributes a and b. */
static void test_documented(void)
{
	char *page = read_file(LLMGATED_MAN), *section, *end;
	bool documented[TRACE_ATTR__COUNT] = {0}, all = true, only = true;

	section = page ? strstr(page, "\n.Sh TRACES\n") : NULL;
	if (!tap_ok(section != NULL, "llmgated(8) has a TRACES section")) {
		free(page);
		return;
	}
	end = strstr(section + 1, "\n.Sh ");
	if (end)
		*end = '\0';
	for (char *line = strtok(section, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, ".It Li ", 7) != 0)
			continue;
		for (char *name = strtok_r(line + 7, " ,", &end); name;
		     name = strtok_r(NULL, " ,", &end)) {
			int k = 0;

			while (k < TRACE_ATTR__COUNT && strcmp(trace_attrs[k].key, name) != 0)
				k++;
			if (k == TRACE_ATTR__COUNT) {
				only = false;
				printf("# listed but not set: %s\n", name);
			} else {
				documented[k] = true;
			}
		}
	}
	for (int k = 0; k < TRACE_ATTR__COUNT; k++)
		if (!documented[k]) {
			all = false;
			printf("# not documented: %s\n", trace_attrs[k].key);
		}
	tap_ok(all, "every span attribute is in llmgated(8) TRACES");
	tap_ok(only, "TRACES lists no attribute the code does not set");
	free(page);
}

int main(void)
{
	test_encode();
	test_documented();
	return tap_done();
}
