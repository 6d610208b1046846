/*
 * Unit tests of json_scan, the lazy reader of `model` and `stream`: every
 * answer it gives must be the one the tree path (jansson with
 * JSON_REJECT_DUPLICATES) would give, and whatever it is unsure of must be
 * left to that path. Nasty inputs one by one, then a differential run over
 * many mutations of a real request body.
 */
#include "../../worker/json_scan.h"
#include "tap.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

/* What the tree path says: 1 = an object (with its model and stream), 0 = refused. */
static int tree(const char *buf, size_t len, const char **model, bool *stream)
{
	json_error_t err;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &err);
	static char model_copy[1024];
	int ok = root && json_is_object(root);

	*model = NULL;
	*stream = false;
	if (ok) {
		const char *m = json_string_value(json_object_get(root, "model"));

		if (m) {
			snprintf(model_copy, sizeof(model_copy), "%s", m);
			*model = model_copy;
		}
		*stream = json_is_true(json_object_get(root, "stream"));
	}
	json_decref(root);
	return ok;
}

/* The property: when the scan is sure, the tree path agrees with it. */
static bool agrees(const char *buf, size_t len, int *ret_scan)
{
	struct json_scan_result r;
	const char *model;
	bool stream;
	int s = json_scan_request(buf, len, &r);

	*ret_scan = s;
	if (s != 0)
		return s == -EAGAIN;
	if (!tree(buf, len, &model, &stream))
		return false;
	if (stream != r.stream)
		return false;
	if (!model || !r.model)
		return !model && !r.model;
	return strlen(model) == r.model_len && memcmp(model, r.model, r.model_len) == 0;
}

static void check(const char *text, int want, const char *what)
{
	int got;
	bool ok = agrees(text, strlen(text), &got);

	tap_ok(ok && got == want, "%s: %s", what, want == 0 ? "scanned" : "left to the tree");
}

static void test_cases(void)
{
	struct json_scan_result r;

	tap_ok(json_scan_request("{\"model\":\"gpt-4o\",\"stream\":true}", 32, &r) == 0 &&
	               r.model_len == 6 && memcmp(r.model, "gpt-4o", 6) == 0 && r.stream,
	       "model and stream read");
	check("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0,
	      "a chat request");
	check(" \t\r\n{ \"model\" : \"m\" , \"stream\" : false }\n ", 0, "whitespace everywhere");
	check("{\"stream\":true}", 0, "no model: the caller answers 400");
	check("{}", 0, "empty object");
	check("{\"a\":{\"model\":\"x\"},\"model\":\"y\"}", 0, "nested model is not the model");
	check("{\"model\":\"m\",\"stream\":\"true\"}", 0, "stream as a string is not true");
	check("{\"model\":\"m\",\"stream\":1}", 0, "stream 1 is not true");
	check("{\"model\":\"m\",\"x\":[1,-2,0.5,-0,null,true,false,\"s\",[],{}]}", 0, "all kinds");
	check("{\"model\":\"m\",\"c\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", 0, "UTF-8");
	check("{\"model\":\"m\",\"c\":\"\\u00e9\\ud83d\\ude00\\n\\\"\\/\"}", 0,
	      "escapes in values");

	check("{\"model\":\"a\",\"model\":\"b\"}", -EAGAIN, "duplicate model");
	check("{\"model\":\"a\",\"x\":{\"k\":1,\"k\":2}}", -EAGAIN, "nested duplicate");
	check("{\"model\":\"a\",\"mod\\u0065l\":\"b\"}", -EAGAIN, "escaped duplicate key");
	check("{\"model\":\"g\\u0070t\"}", -EAGAIN, "escaped model");
	check("{\"model\":42}", -EAGAIN, "non-string model");
	check("{\"model\":null}", -EAGAIN, "null model");
	check("{\"model\":[\"a\"]}", -EAGAIN, "array model");
	check("[{\"model\":\"a\"}]", -EAGAIN, "not an object");
	check("\"model\"", -EAGAIN, "a string");
	check("", -EAGAIN, "empty");
	check("{\"model\":\"a\"", -EAGAIN, "unterminated object");
	check("{\"model\":\"a}", -EAGAIN, "unterminated string");
	check("{\"model\":\"a\"}x", -EAGAIN, "trailing garbage");
	check("{\"model\":\"a\"}{}", -EAGAIN, "two objects");
	check("{\"model\":\"a\",}", -EAGAIN, "trailing comma");
	check("{\"model\":\"a\" \"b\":1}", -EAGAIN, "missing comma");
	check("{'model':'a'}", -EAGAIN, "single quotes");
	check("{model:\"a\"}", -EAGAIN, "bare key");
	check("{\"model\":\"a\",\"x\":tru}", -EAGAIN, "bad literal");
	check("{\"model\":\"a\",\"x\":truex}", -EAGAIN, "literal with a tail");
	check("{\"model\":\"a\",\"x\":01}", -EAGAIN, "leading zero");
	check("{\"model\":\"a\",\"x\":1.}", -EAGAIN, "bare decimal point");
	check("{\"model\":\"a\",\"x\":.5}", -EAGAIN, "no integer part");
	check("{\"model\":\"a\",\"x\":+1}", -EAGAIN, "plus sign");
	check("{\"model\":\"a\",\"x\":1e400}", -EAGAIN, "exponent");
	check("{\"model\":\"a\",\"x\":99999999999999999999}", -EAGAIN, "huge integer");
	check("{\"model\":\"a\",\"x\":\"\\u0000\"}", -EAGAIN, "\\u0000");
	check("{\"model\":\"a\",\"x\":\"\\ud800\"}", -EAGAIN, "lone high surrogate");
	check("{\"model\":\"a\",\"x\":\"\\udc00\"}", -EAGAIN, "lone low surrogate");
	check("{\"model\":\"a\",\"x\":\"\\x41\"}", -EAGAIN, "bad escape");
	check("{\"model\":\"a\",\"x\":\"\\u12g4\"}", -EAGAIN, "bad \\u digits");
	check("{\"model\":\"a\",\"x\":\"a\tb\"}", -EAGAIN, "raw tab in a string");
	check("{\"model\":\"a\",\"x\":\"\xc3\"}", -EAGAIN, "cut UTF-8");
	check("{\"model\":\"a\",\"x\":\"\xc0\xaf\"}", -EAGAIN, "overlong UTF-8");
	check("{\"model\":\"a\",\"x\":\"\xed\xa0\x80\"}", -EAGAIN, "UTF-8 surrogate");
	check("{\"model\":\"a\",\"x\":\"\xf4\x90\x80\x80\"}", -EAGAIN, "beyond U+10FFFF");
	check("{\"model\":\"\xff\"}", -EAGAIN, "invalid byte in the model");
	check("\xef\xbb\xbf{\"model\":\"a\"}", -EAGAIN, "byte order mark");
	check("{\"model\":\"a\",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	      -EAGAIN, "deep nesting");

	static const char nul[] = "{\"model\":\"a\"}\0";
	int got;

	tap_ok(agrees(nul, sizeof(nul) - 1, &got) && got == -EAGAIN, "NUL after the object");
}

/* Differential: mutations of a real body, each scanned and parsed. */
static void test_mutations(void)
{
	static const char seed[] =
	        "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
	        "\"h\\u00e9llo \\\"you\\\"\"},{\"role\":\"assistant\",\"content\":null}],"
	        "\"temperature\":0.5,\"n\":1,\"stop\":[\"\\n\"],\"x\":{\"y\":[true,false,-1]}}";
	static const char alphabet[] = "{}[]\",:\\ \t\n0123456789-.eEtrufalsnmodel\xc3\xa9\x80\xff";
	char buf[512];
	uint32_t rng = 12345;
	int bad = 0, sure = 0, total = 20000;

	for (int i = 0; i < total; i++) {
		size_t len = sizeof(seed) - 1;
		int edits, got;

		memcpy(buf, seed, len);
		rng = rng * 1103515245 + 12345;
		edits = 1 + (int)(rng >> 16) % 3;
		for (int e = 0; e < edits; e++) {
			size_t at;
			char ch;

			rng = rng * 1103515245 + 12345;
			at = (rng >> 8) % len;
			rng = rng * 1103515245 + 12345;
			ch = alphabet[(rng >> 8) % (sizeof(alphabet) - 1)];
			rng = rng * 1103515245 + 12345;
			switch ((rng >> 12) % 3) {
			case 0: /* replace */
				buf[at] = ch;
				break;
			case 1: /* insert */
				if (len + 1 < sizeof(buf)) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = ch;
					len++;
				}
				break;
			default: /* delete */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			}
		}
		if (!agrees(buf, len, &got)) {
			if (bad++ < 5)
				printf("# disagrees: %.*s\n", (int)len, buf);
		}
		sure += got == 0;
	}
	tap_ok(bad == 0, "%d mutations: the scan never contradicts the tree (%d scanned)", total,
	       sure);
}

/* A long string is passed sixteen bytes at a time: a byte that needs a look
 * (a control byte, a quote, a backslash, UTF-8, valid or not) at every
 * offset of a 48-byte content, against the tree. */
static void test_long_strings(void)
{
	static const struct {
		const char *bytes;
		bool valid;
	} odd[] = {
	        {"\x01", false}, {"\x1f", false},    {"\\q", false}, {"\xff", false},
	        {"\xc3", false}, {"\xc3\xa9", true}, {"\\n", true},  {"\\\"", true},
	        {"\x7f", true},  {" ", true},
	};
	int bad = 0, n = 0;

	for (size_t k = 0; k < sizeof(odd) / sizeof(odd[0]); k++)
		for (size_t at = 0; at < 48; at++) {
			char content[64], doc[160];
			size_t len = strlen(odd[k].bytes);
			int scan, m;

			memset(content, 'a', at);
			memcpy(content + at, odd[k].bytes, len);
			memset(content + at + len, 'a', 48 - at);
			content[48 + len] = '\0';
			m = snprintf(doc, sizeof(doc),
			             "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
			             "\"content\":\"%s\"}]}",
			             content);
			if (!agrees(doc, (size_t)m, &scan) || (scan == 0) != odd[k].valid)
				bad++;
			n++;
		}
	tap_ok(bad == 0, "%d long strings with an odd byte anywhere: as the tree says", n);
}

int main(void)
{
	test_cases();
	test_mutations();
	test_long_strings();
	return tap_done();
}
