/*
 * test_endpoint_table: the route table (worker/endpoint_table.c) and its docs agree. Every
 * row is in README's "Client API" table and in llmgated(8) CLIENT API; every path README's
 * table names is a row; the body limits are the config's (uploads: llmgate.max_upload_size_mb,
 * also through /openai/v1 and the Azure-SDK path). The pass-through rows are documented by
 * the pass-through part of issue 22 and not checked here. The config loader's view of the
 * table (common/api_paths.h, through config_passthrough.c) agrees with it: every row but the
 * files ones is an own route no pass-through endpoint may take, every own-route prefix covers
 * a row, and the files rows are the files-API paths.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_paths.h"
#include "config.h"
#include "config_passthrough.h"
#include "endpoint_table.h"
#include "tap.h"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *text;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	if (text && fread(text, 1, (size_t)n, f) != (size_t)n) {
		free(text);
		text = NULL;
	}
	fclose(f);
	return text;
}

/* TEXT from the line starting with START to the next line starting with NEXT (cut there). */
static char *section(char *text, const char *start, const char *next)
{
	char *s = text ? strstr(text, start) : NULL, *e;

	if (!s)
		return NULL;
	e = strstr(s + strlen(start), next);
	if (e)
		*e = '\0';
	return s;
}

/* README names PATH as a route: `PATH`, `METHOD PATH`, or `PATH…` for a prefix. */
static bool in_readme(const char *readme, const struct endpoint *e)
{
	char want[160];

	snprintf(want, sizeof(want), "`%s`", e->path);
	if (strstr(readme, want))
		return true;
	snprintf(want, sizeof(want), " %s`", e->path);
	if (strstr(readme, want))
		return true;
	snprintf(want, sizeof(want), "`%s\xe2\x80\xa6`", e->path); /* `/v1/conversations…` */
	if (strstr(readme, want))
		return true;
	snprintf(want, sizeof(want), " %s", e->path); /* a pattern, inside a cell */
	return e->kind != ENDPOINT_PROXY && e->kind != ENDPOINT_MODELS && strstr(readme, want);
}

/* llmgated(8) names PATH as a word of an .It line (or, for a pattern, its first part). */
static bool in_man(const char *man, const struct endpoint *e)
{
	char want[160];
	size_t n;

	snprintf(want, sizeof(want), "%s", e->path);
	want[strcspn(want, "{")] = '\0';
	n = strlen(want);
	for (const char *p = man; (p = strstr(p, want)); p++) {
		char after = p[n];

		if (p[-1] == ' ' &&
		    (after == ' ' || after == '\n' || after == '\0' || want[n - 1] == '/'))
			return true;
	}
	return false;
}

static void test_rows_documented(void)
{
	char *readme_text = slurp(README_MD), *man_text = slurp(LLMGATED_MAN);
	const char *readme = section(readme_text, "## Client API", "\n## ");
	const char *man = section(man_text, ".Sh CLIENT API", "\n.Sh ");
	size_t n;
	const struct endpoint *t = endpoint_table(&n);

	tap_ok(readme && man, "README's Client API and llmgated(8) CLIENT API are found");
	for (size_t i = 0; readme && man && i < n; i++) {
		if (t[i].kind == ENDPOINT_PASS_THROUGH)
			continue;
		tap_ok(in_readme(readme, &t[i]), "README documents %s %s", t[i].method, t[i].path);
		tap_ok(in_man(man, &t[i]), "llmgated(8) documents %s %s", t[i].method, t[i].path);
	}
	free(readme_text);
	free(man_text);
}

/* Each `/v1/...` or `/...` path in README's table's first column is a row. */
static void test_readme_paths_are_rows(void)
{
	char *text = slurp(README_MD);
	char *readme = section(text, "## Client API", "\n## ");
	size_t n, checked = 0;
	const struct endpoint *t = endpoint_table(&n);

	for (char *line = readme ? strstr(readme, "\n| `") : NULL; line;
	     line = strstr(line + 1, "\n| `")) {
		char *cell_end = strstr(line + 3, " | ");

		if (!cell_end)
			break;
		for (char *p = line + 3; p < cell_end && (p = strchr(p, '`')) && p < cell_end;) {
			char *close = strchr(p + 1, '`'), *path;
			size_t len;
			bool found = false;

			if (!close || close > cell_end)
				break;
			path = memchr(p + 1, '/', (size_t)(close - p - 1));
			len = path ? (size_t)(close - path) : 0;
			if (path && !memchr(path, '{', len) &&
			    !memmem(path, len, "\xe2\x80\xa6", 3) && !memchr(path, '?', len) &&
			    !memchr(path, ' ', len)) {
				bool under = len > 10 && memcmp(path, "/openai/v1/", 11) == 0;
				const char *rest = under ? path + 10 : path;
				size_t rlen = under ? len - 10 : len;

				for (size_t i = 0; i < n; i++)
					found |= strlen(t[i].path) == rlen &&
					         memcmp(t[i].path, rest, rlen) == 0 &&
					         (!under || t[i].api);
				tap_ok(found, "README's %.*s is a row of the table", (int)len,
				       path);
				checked++;
			}
			p = close + 1;
		}
	}
	tap_ok(checked >= 20, "README's table names %zu plain paths", checked);
	free(text);
}

static void test_limits(void)
{
	struct config c = {.max_request_size = 10u << 20, .max_upload_size = 25u << 20};
	static const struct {
		const char *path;
		size_t want;
	} cases[] = {
	        {"/v1/audio/transcriptions", 25u << 20},
	        {"/audio/translations", 25u << 20},
	        {"/openai/v1/images/edits", 25u << 20},
	        {"/openai/deployments/whisper/audio/transcriptions", 25u << 20},
	        {"/v1/images/generations", 10u << 20},
	        {"/v1/chat/completions", 10u << 20},
	        {"/openai/deployments/gpt/chat/completions", 10u << 20},
	        {"/nowhere", 10u << 20},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		tap_ok(endpoint_table_body_limit(&c, cases[i].path, strlen(cases[i].path)) ==
		               cases[i].want,
		       "the body limit of %s", cases[i].path);
}

/* The table's body rule and limit agree with what admission does by op. */
static void test_body_rules(void)
{
	size_t n;
	const struct endpoint *t = endpoint_table(&n);
	bool all = true;

	for (size_t i = 0; i < n; i++) {
		bool form = t[i].body == ENDPOINT_BODY_FORM;

		if (t[i].kind != ENDPOINT_PROXY)
			continue;
		if (form != proxy_op_multipart(t[i].op) ||
		    form != (t[i].limit == ENDPOINT_LIMIT_UPLOAD)) {
			tap_ok(0, "%s: body rule, limit and op agree", t[i].path);
			all = false;
		}
	}
	tap_ok(all, "every proxied row's body rule and limit match its op (forms are uploads)");
}

static void test_lookups(void)
{
	const struct endpoint *e = endpoint_table_find("/v1/moderations", 15, false);

	tap_ok(e && e->op == PROXY_OP_MODERATIONS && e->body == ENDPOINT_BODY_JSON,
	       "moderations is a JSON route by model");
	e = endpoint_table_find("/audio/transcriptions", 21, true);
	tap_ok(e && e->body == ENDPOINT_BODY_FORM && e->limit == ENDPOINT_LIMIT_UPLOAD,
	       "transcriptions is an upload, also under /openai/v1");
	tap_ok(!endpoint_table_find("/health/liveliness", 18, true),
	       "no health route under /openai/v1");
	e = endpoint_table_prefix("/v1/files/file-abc/content", 26);
	tap_ok(e && e->kind == ENDPOINT_PASS_THROUGH, "/v1/files/... is a pass-through row");
	tap_ok(!endpoint_table_prefix("/v1/filesystem", 14), "a prefix ends at a '/'");
	{
		size_t len = 20;
		bool under;
		const char *p = endpoint_table_api_path("/openai/images/edits", &len, &under);

		tap_ok(under && len == 13 && memcmp(p, "/images/edits", 13) == 0,
		       "the AzureOpenAI client's /openai/images/edits is /images/edits");
		len = 26;
		p = endpoint_table_api_path("/openai/images/generations", &len, &under);
		tap_ok(!under && len == 26, "but /openai/images/generations is no API path");
	}
}

/* ROW's path up to a pattern's first '{', without a trailing '/', into BUF. */
static size_t row_literal(const struct endpoint *row, char *buf, size_t size)
{
	size_t n = strcspn(row->path, "{");

	if (n >= size)
		n = size - 1;
	memcpy(buf, row->path, n);
	while (n > 1 && buf[n - 1] == '/')
		n--;
	buf[n] = '\0';
	return n;
}

static bool own(const char *path, size_t len)
{
	return config_passthrough_own_route(path, len) != NULL;
}

/* The config loader keeps pass-through endpoints off the table's rows. */
static void test_own_routes(void)
{
	static const char *const prefixes[] = API_OWN_ROUTES;
	size_t n;
	const struct endpoint *t = endpoint_table(&n);
	const char *op;
	bool all = true;

	for (size_t i = 0; i < n; i++) {
		char lit[160], azure[192];
		size_t len = row_literal(&t[i], lit, sizeof(lit)), alen;
		bool files = config_passthrough_files_path(lit, len, &op);

		/* the row as an Azure v1 base URL sends it: /openai/v1 + the OpenAI path */
		alen = (size_t)snprintf(azure, sizeof(azure), "/openai/v1%s",
		                        strncmp(lit, "/v1/", 4) == 0 ? lit + 3 : lit);
		if (t[i].kind == ENDPOINT_PASS_THROUGH) {
			if (!files || own(lit, len)) {
				tap_ok(0, "%s: a files-API path, no own route", t[i].path);
				all = false;
			}
			continue;
		}
		if (!own(lit, len) || (t[i].api && !own(azure, alen)) || files) {
			tap_ok(0, "%s: under one of llmgate's own route prefixes, no files path",
			       t[i].path);
			all = false;
		}
	}
	tap_ok(all, "every row is an own route (api_paths.h), or a files-API row");
	all = true;
	for (size_t j = 0; j < sizeof(prefixes) / sizeof(prefixes[0]); j++) {
		size_t plen = strlen(prefixes[j]);
		bool covers = false;

		for (size_t i = 0; i < n && !covers; i++) {
			char lit[160];
			size_t len = row_literal(&t[i], lit, sizeof(lit));

			covers = t[i].kind != ENDPOINT_PASS_THROUGH && len >= plen &&
			         memcmp(lit, prefixes[j], plen) == 0 &&
			         (len == plen || lit[plen] == '/');
		}
		if (!covers) {
			tap_ok(0, "own route prefix %s covers a row of the table", prefixes[j]);
			all = false;
		}
	}
	tap_ok(all, "every own route prefix covers a row of the table");
	tap_ok(!own("/vendor/x", 9) && !own("/v1/chatter", 11) && own("/v1/chat", 8),
	       "own routes are prefixes of whole path segments");
}

int main(void)
{
	test_rows_documented();
	test_readme_paths_are_rows();
	test_limits();
	test_body_rules();
	test_lookups();
	test_own_routes();
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
