/*
 * fuzz_response_id_scan: the scanner that finds a new response id in an
 * upstream's answer (common/response_id_scan.c), checked against jansson and
 * against itself. The same bytes go to both entry points:
 *
 * - as a body: whenever the scanner returns an id and jansson (duplicate
 *   keys refused) reads the bytes as an object, that object's "id" is the
 *   same string;
 * - as a stream: an id returned lies on a `data:` line whose JSON, when
 *   jansson reads it (duplicates refused), has that "response"."id"; and the
 *   answer never contradicts the answer for a shorter prefix of the same
 *   bytes (a prefix says "more", or the same thing).
 *
 * fuzz-args: -max_len=4096
 */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "fuzz.h"
#include "response_id_scan.h"

static void same_id(const json_t *v, const char *id, size_t len)
{
	if (v && (!json_is_string(v) || json_string_length(v) != len ||
	          memcmp(json_string_value(v), id, len) != 0))
		abort();
}

static void check_body(const char *data, size_t size)
{
	const char *id;
	size_t len;
	json_error_t jerr;
	json_t *root;
	int r = response_id_scan_body(data, size, &id, &len);

	if (r == -ENOENT)
		return;
	if (r != 0 || len == 0 || len > RESPONSE_AFFINITY_ID_MAX || id < data ||
	    id + len > data + size)
		abort();
	root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (root && json_is_object(root)) {
		if (!json_object_get(root, "id"))
			abort(); /* an id where the tree has none */
		same_id(json_object_get(root, "id"), id, len);
	}
	json_decref(root);
}

static int scan_stream(const char *data, size_t size, const char **id, size_t *len)
{
	int r = response_id_scan_stream(data, size, id, len);

	if (r != 0 && r != -EAGAIN && r != -ENOENT)
		abort();
	if (r == 0 && (*len == 0 || *len > RESPONSE_AFFINITY_ID_MAX || *id < data ||
	               *id + *len > data + size))
		abort();
	return r;
}

static void check_stream(const char *data, size_t size)
{
	const char *id, *line, *eol, *json;
	size_t len;
	json_error_t jerr;
	json_t *root;
	int r = scan_stream(data, size, &id, &len);

	/* prefixes: all of them for short inputs, a sample for long ones */
	for (size_t n = 0; n < size; n += size <= 512 ? 1 : size / 64 + 1) {
		const char *pid;
		size_t plen;
		int pr = scan_stream(data, n, &pid, &plen);

		if (pr == -EAGAIN)
			continue;
		if (pr != r || (r == 0 && (pid != id || plen != len)))
			abort();
	}
	if (r != 0)
		return;
	for (line = id; line > data && line[-1] != '\n' && line[-1] != '\r'; line--)
		;
	if (line == data && size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
		line += 3; /* the BOM before the first line */
	if (strncmp(line, "data:", 5) != 0 || id - line < 5)
		abort(); /* not on a data line */
	json = line + 5 + (line[5] == ' ');
	for (eol = id; eol < data + size && *eol != '\n' && *eol != '\r'; eol++)
		;
	root = json_loadb(json, (size_t)(eol - json), JSON_REJECT_DUPLICATES, &jerr);
	if (root && json_is_object(root)) {
		const json_t *resp = json_object_get(root, "response");

		if (!json_is_object(resp) || !json_object_get(resp, "id"))
			abort();
		same_id(json_object_get(resp, "id"), id, len);
	}
	json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_body((const char *)data, size);
	check_stream((const char *)data, size);
	return 0;
}
