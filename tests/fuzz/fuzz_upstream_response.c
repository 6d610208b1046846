/*
 * fuzz_upstream_response: what comes back from an upstream, as the worker
 * and `llmgatectl probe` read it: the status line, each header line split as
 * the worker's libcurl header callback does (header_line_split()) and the
 * retry-after headers read (proxy_retry_after_ms()), then the error body
 * decoded and diagnosed (probe_diagnose()) as an OpenAI and as an Azure
 * answer. The input is the raw response: status line, header lines, an
 * empty line, the body.
 *
 * fuzz-args: -max_len=8192
 */
#include <stdbool.h>
#include <string.h>

#include "../../ctl/probe_diagnosis.h"
#include "../../worker/upstream/header_line.h"
#include "../../worker/proxy_plan.h"
#include "fuzz.h"
#include "outcome.h"

static long status_of(const char *line, size_t len)
{
	const char *sp = memchr(line, ' ', len);
	long status = 0;

	for (const char *p = sp ? sp + 1 : line + len; p < line + len && p < sp + 4; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		status = status * 10 + (*p - '0');
	}
	return status;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	long status = 0, retry_after_ms = -1;
	bool first = true;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl ? nl + 1 : end) - p), name_len, value_len;
		char *line = malloc(len); /* libcurl's buffer: exactly the line */
		const char *value;
		bool precise;

		if (!line)
			abort();
		memcpy(line, p, len);
		p += len;
		if (first) {
			status = status_of(line, len);
			first = false;
		} else if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
			free(line);
			break;
		} else if (header_line_split(line, len, &name_len, &value, &value_len)) {
			long wait;

			if (name_len > len || value < line || value + value_len > line + len)
				abort();
			wait = proxy_retry_after_ms(line, name_len, value, value_len, &precise);
			if (wait >= 0)
				retry_after_ms = wait;
		}
		free(line);
	}

	for (int azure = 0; azure <= 1; azure++) {
		size_t body_len = (size_t)(end - p);
		char *body = malloc(body_len ? body_len : 1);
		struct probe_answer a = {
		        .azure = azure,
		        .sent_credential = true,
		        .model = azure ? "azure/gpt-4o" : "openai/gpt-4o",
		        .upstream = "gpt-4o",
		        .transport = PROBE_TRANSPORT_OK,
		        .connected = true,
		        .timeout_ms = 10000,
		        .status = status,
		        .body = body,
		        .body_len = body_len,
		        .retry_after_ms = retry_after_ms,
		};
		struct probe_diagnosis d;

		if (!body)
			abort();
		memcpy(body, p, body_len);
		probe_diagnose(&a, &d);
		if (d.verdict >= PROBE_VERDICT__COUNT || !memchr(d.text, '\0', sizeof(d.text)))
			abort();
		(void)outcome_from_status(status, azure);
		free(body);
	}
	return 0;
}
