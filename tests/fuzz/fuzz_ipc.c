/*
 * fuzz_ipc: messages on the supervisor <-> worker socketpair. Each message
 * goes through ipc_decode() and then through what its receiver does with the
 * payload's fields: the supervisor checks a REPORT against its config
 * (health_report_delta(), tests/fixtures/full.yaml) and adds it to a health
 * window, adds REQUESTS (request counts and the HTTP layer's rejects),
 * LATENCY and USAGE_COUNTS (token usage) to its metrics (rendered at the end of each input, as
 * /metrics would show them: one rejects series per fixed reason, whatever was sent); a worker
 * applies a MODE to its fallback_state, a LOG_LEVEL and a TOKEN (its token store). A compromised
 * worker must not take the supervisor down, whatever it sends. OTEL_SPANS (span counters) go to the
 * metrics too.
 *
 * The input is a sequence of messages, each preceded by its length as two
 * bytes, little-endian (one SOCK_SEQPACKET recv() each).
 *
 * fuzz-args: -max_len=9000
 */
#include <string.h>

#include "supervisor/metrics.h"
#include "supervisor/metrics_usage.h"
#include "worker/fallback_state.h"
#include "worker/token_store.h"
#include "fuzz.h"
#include "health_policy.h"
#include "ipc.h"
#include "log.h"

static struct config *config;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	config = fuzz_fixture_config("full.yaml");
	return 0;
}

static void supervisor_side(const struct ipc_header *h, const void *payload,
                            struct health_window *window, struct metrics *metrics)
{
	struct health_counts delta, total;

	if (h->type == IPC_REPORT) {
		struct ipc_report report;

		memcpy(&report, payload, sizeof(report));
		if (health_report_delta(&report, config->n_deployments, &delta) < 0)
			return;
		if (report.deployment >= config->n_deployments || report.trailing > delta.failures)
			abort();
		health_window_add(window, 1000, &delta);
		health_window_total(window, 1000, &total);
	} else if (h->type == IPC_REQUESTS) {
		struct ipc_requests requests;

		memcpy(&requests, payload, sizeof(requests));
		(void)metrics_add_requests(metrics, config, &requests);
	} else if (h->type == IPC_LATENCY) {
		struct ipc_latency latency;

		memcpy(&latency, payload, sizeof(latency));
		(void)metrics_add_latency(metrics, config, &latency);
	} else if (h->type == IPC_USAGE_COUNTS) {
		static struct ipc_usage usage;

		memcpy(&usage, payload, sizeof(usage));
		(void)metrics_usage_add(metrics_usage(metrics), config, &usage, h->seq);
	} else if (h->type == IPC_OTEL_SPANS) {
		struct ipc_otel_spans spans;

		memcpy(&spans, payload, sizeof(spans));
		metrics_add_otel_spans(metrics, &spans);
	} else if (h->type == IPC_HELLO) {
		struct ipc_hello hello;

		memcpy(&hello, payload, sizeof(hello));
	}
}

static void worker_side(const struct ipc_header *h, const void *payload, struct fallback_state *rs)
{
	if (h->type == IPC_MODE) {
		struct ipc_mode mode;

		memcpy(&mode, payload, sizeof(mode));
		if (fallback_state_apply(rs, &mode) == 0) {
			if (mode.group >= config->n_groups)
				abort();
			(void)fallback_state_mode(rs, mode.group);
			(void)fallback_state_take_probe(rs, mode.group);
		}
	} else if (h->type == IPC_LOG_LEVEL) {
		struct ipc_log_level level;
		int before = log_get_level();

		memcpy(&level, payload, sizeof(level));
		log_set_level(level.level);
		if (log_level_name(log_get_level()) == NULL)
			abort();
		log_set_level(before);
	} else if (h->type == IPC_TOKEN) {
		static struct ipc_token token;

		memcpy(&token, payload, sizeof(token));
		if (token_store_apply(&token) == 0 &&
		    (token.credential >= config->n_credentials || token.length > IPC_TOKEN_MAX))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fallback_state *rs = fallback_state_new(config);
	struct metrics *metrics = metrics_new();
	struct metrics_view view = {.version = "fuzz"};
	struct health_window window;
	char *text = NULL;
	size_t text_len = 0;
	FILE *out;

	if (!rs || !metrics || token_store_init(config) < 0)
		abort();
	health_window_init(&window, config->fallback.window_ms);
	while (size >= 2) {
		size_t n = (size_t)data[0] | (size_t)data[1] << 8;
		struct ipc_header h;
		const void *payload;
		uint8_t *msg;

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		msg = malloc(n ? n : 1); /* exactly N bytes, like the receive buffer's content */
		if (!msg)
			abort();
		memcpy(msg, data, n);
		if (ipc_decode(msg, n, &h, &payload) == 0) {
			if (h.length != ipc_payload_size(h.type) || n != sizeof(h) + h.length)
				abort();
			(void)ipc_type_name(h.type);
			supervisor_side(&h, payload, &window, metrics);
			worker_side(&h, payload, rs);
		}
		free(msg);
		data += n;
		size -= n;
	}
	out = open_memstream(&text, &text_len);
	if (!out)
		abort();
	metrics_render(out, metrics, &view);
	fclose(out);
	int rejected_series = 0;
	for (const char *p = text; (p = strstr(p, "\nllmgate_http_rejected_total{")); p++)
		rejected_series++;
	if (rejected_series != HTTP_REJECT__COUNT)
		abort(); /* a worker cannot add a label value */
	free(text);
	metrics_free(metrics);
	fallback_state_free(rs);
	token_store_free();
	return 0;
}
