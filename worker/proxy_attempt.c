/*
 * proxy_attempt: the upstream attempts of a proxied request (see
 * proxy_call.h). Runs in a worker, on its event loop.
 *
 * Attempts: proxy_plan says which deployment comes next (round-robin within
 * the group, retries on other deployments, then the fallback groups; in the
 * global fallback mode the direct-Azure group, after one probe of the primary
 * when the supervisor granted one); what an outcome leads to is its retry
 * class (outcome.h). Every attempt's outcome is counted in fallback_state,
 * with its latency to the response head; a client that leaves is no
 * deployment's failure, so nothing is counted for the attempt it cut. When no
 * attempt is left the client gets the best we have: a kept 4xx answer, else
 * our 504 (timeouts) or 502.
 *
 * Time: one deadline per client request (router_settings.timeout) over all
 * attempts and waits, until the response is committed; then one timer per
 * attempt: the whole transfer for a non-streamed request; for a stream, the
 * time to its first body byte (stream_timeout), then the idle time between
 * chunks (proxy_relay.c), so that a long healthy stream is never cut.
 *
 * A non-streamed answer is buffered (up to PROXY_MAX_RESPONSE: past it the
 * transfer stops and the client gets a 502) and sent whole; a 2xx one must
 * look like what its op answers (proxy_request_answer): for most ops a JSON
 * object, or it is the attempt's failure (an HTML page from a proxy in front
 * of the upstream, a garbled body): only its first and last bytes are looked
 * at, as parsing every answer costs more than it finds. Transcriptions and
 * translations may answer text, srt or vtt (a JSON content type must still
 * hold an object); speech answers audio bytes, relayed as they come
 * (proxy_relay.c).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "fallback_state.h"
#include "http_header.h"
#include "log.h"
#include "proxy_call.h"
#include "proxy_request.h"
#include "token_store.h"
#include "upstream.h"

void proxy_attempt_record(struct proxy_call *call, enum outcome outcome)
{
	int64_t end = call->head_us ? call->head_us : clock_now_us();

	if (!call->recorded)
		proxy_trace_attempt_outcome(call, outcome);
	call->upstream_end_us = end > call->upstream_end_us ? end : call->upstream_end_us;
	if (call->recorded || !call->proxy->fallback_state)
		return;
	call->recorded = true;
	fallback_state_record(call->proxy->fallback_state, proxy_dep_index(call, call->dep),
	                      outcome, (long)(end - call->attempt_us), call->probe);
}

static void add_tried(struct proxy_call *call, const char *what)
{
	size_t used = strlen(call->tried);

	snprintf(call->tried + used, sizeof(call->tried) - used, "%s'%s' (%s)", used ? ", " : "",
	         call->dep->id, what);
}

static void copy_value(char *dst, size_t size, const char *value, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, value, len);
	dst[len] = '\0';
}

static void on_header(void *ctx, const char *name, size_t name_len, const char *value,
                      size_t value_len)
{
	struct proxy_call *call = ctx;
	bool precise = false;
	long wait;

	if (http_header_name_is(name, name_len, "content-type")) {
		copy_value(call->content_type, sizeof(call->content_type), value, value_len);
		return;
	}
	wait = proxy_retry_after_ms(name, name_len, value, value_len, &precise);
	if (wait < 0)
		return;
	if (precise) {
		call->retry_after_ms = wait;
		call->retry_precise = true;
		copy_value(call->retry.after_ms, sizeof(call->retry.after_ms), value, value_len);
	} else {
		if (!call->retry_precise)
			call->retry_after_ms = wait;
		copy_value(call->retry.after, sizeof(call->retry.after), value, value_len);
	}
}

static void on_head(void *ctx, long status)
{
	struct proxy_call *call = ctx;

	call->head_us = clock_now_us();
	call->status = status;
	call->ttfb_us = call->head_us - call->attempt_us;
}

static bool is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Notes the ends of a non-streamed body as it arrives (see the top). */
static void note_body_ends(struct proxy_call *call, const char *data, size_t len)
{
	for (size_t i = 0; !call->body_first && i < len; i++)
		if (!is_json_space(data[i]))
			call->body_first = data[i];
	for (size_t i = len; i > 0; i--) {
		if (!is_json_space(data[i - 1])) {
			call->body_last = data[i - 1];
			break;
		}
	}
}

static bool body_is_json_object(const struct proxy_call *call)
{
	return call->body_first == '{' && call->body_last == '}';
}

/* Whether a 2xx answer's body is one the op answers (proxy_request_answer):
 * a JSON object; any bytes (speech); or text whose JSON form (by its
 * content type) must still be an object (transcriptions, translations). */
static bool answer_fits_op(const struct proxy_call *call)
{
	switch (proxy_request_answer(call->op)) {
	case PROXY_ANSWER_BYTES:
		return true;
	case PROXY_ANSWER_TEXT:
		return strncasecmp(call->content_type, "application/json", 16) != 0 ||
		       body_is_json_object(call);
	default:
		return body_is_json_object(call);
	}
}

static void on_data(void *ctx, long status, const char *data, size_t len)
{
	struct proxy_call *call = ctx;

	if (!call->ex)
		return;
	if (!call->head_us)
		on_head(call, status);
	if (proxy_trace_wants_answer(&call->trace))
		proxy_trace_answer_data(&call->trace, status, data, len);
	if (proxy_relay_data(call, status, data, len))
		return;
	if (call->stream_requested)
		proxy_arm_idle(call); /* a stream request answered in one piece: its body flows */
	if (evbuffer_get_length(call->body) + len > PROXY_MAX_RESPONSE) {
		/* stop downloading now; on_done will not come */
		upstream_abort(call->t);
		call->t = NULL;
		/* a 2xx the client cannot get is the deployment's failure, like an
		 * invalid one (see on_done) */
		proxy_attempt_record(
		        call, status < 300 ? OUTCOME_5XX
		                           : outcome_from_status(status, call->dep->provider ==
		                                                                 PROVIDER_AZURE));
		log_warning("upstream '%s': response over %d bytes, refused", call->dep->id,
		            PROXY_MAX_RESPONSE);
		proxy_answer_error(
		        call, 502, "upstream_error", "response_too_large",
		        "the upstream response of deployment '%s' is over the limit of %d bytes",
		        call->dep->id, PROXY_MAX_RESPONSE);
		return;
	}
	note_body_ends(call, data, len);
	evbuffer_add(call->body, data, len);
}

static void on_retry(evutil_socket_t fd, short what, void *arg);

/* No attempt is left: the client gets the best we have. */
static void give_up(struct proxy_call *call)
{
	if (call->kept.status) {
		log_info("request %s: no deployment answered well (%s); passing on %ld from '%s'",
		         call->id, call->tried, call->kept.status, call->kept.dep->id);
		proxy_answer_send_kept(call);
	} else if (call->last_failure == OUTCOME_TIMEOUT) {
		log_warning("request %s: no deployment answered in time (%s)", call->id,
		            call->tried);
		proxy_answer_error(call, 504, "timeout", "upstream_timeout",
		                   "no deployment of model '%s' answered in time; tried %s",
		                   call->model, call->tried);
	} else {
		log_warning("request %s: no deployment answered (%s)", call->id, call->tried);
		proxy_answer_error(call, 502, "upstream_error", "upstream_unavailable",
		                   "no deployment of model '%s' answered; tried %s", call->model,
		                   call->tried);
	}
}

/* Starts the next attempt from the loop in MS. The retry timer is made at
 * its first use (most calls never retry); without memory for it, the
 * client gets the best we have now. */
static void retry_in(struct proxy_call *call, long ms)
{
	if (!call->retry_timer &&
	    !(call->retry_timer = evtimer_new(call->proxy->base, on_retry, call))) {
		log_error("request %s: out of memory for a retry", call->id);
		give_up(call);
		return;
	}
	proxy_timer_set(call->retry_timer, ms);
}

static long remaining_ms(const struct proxy_call *call)
{
	int64_t left;

	if (!call->deadline_us)
		return -1;
	left = call->deadline_us - clock_now_us();
	return left > 0 ? (long)((left + 999) / 1000) : 0;
}

static void deadline_passed(struct proxy_call *call)
{
	log_warning("request %s: deadline of %ld ms passed after %d attempt%s (%s)", call->id,
	            call->proxy->config->router_timeout_ms, call->attempts,
	            call->attempts == 1 ? "" : "s", call->tried[0] ? call->tried : "none");
	proxy_answer_error(call, 504, "timeout", "deadline_exceeded",
	                   "the request to model '%s' took longer than %ld ms; tried %s",
	                   call->model, call->proxy->config->router_timeout_ms,
	                   call->tried[0] ? call->tried : "nothing");
}

/* The walk of a request naming a stored response goes on to its next
 * deployment, at once; when it is over the client gets the "not found"
 * answer (kept), or our 502 when some deployment could not say. */
static void walk_on(struct proxy_call *call)
{
	long next = proxy_walk_next(&call->walk);

	if (next >= 0) {
		const struct config *config = call->proxy->config;

		call->plan.deployment = (size_t)next;
		if (proxy_op_by_id(call->op)) /* counted under the group that answers */
			call->group = (long)(config_find_group(
			                             config, config->deployments[next].model_name) -
			                     config->groups);
		log_info("request %s: response '%s' not on deployment '%s', trying '%s'", call->id,
		         call->walk.id, call->dep->id, call->proxy->config->deployments[next].id);
		retry_in(call, 0);
		return;
	}
	if (call->walk.failed || !call->kept.status) {
		log_warning("request %s: response '%s' not found, and %d deployment%s did not "
		            "answer (%s)",
		            call->id, call->walk.id, call->walk.failed,
		            call->walk.failed == 1 ? "" : "s", call->tried);
		proxy_answer_error(call, 502, "upstream_error", "upstream_unavailable",
		                   "response '%s' was not found on the deployments that answered, "
		                   "and %d did not answer; tried %s",
		                   call->walk.id, call->walk.failed, call->tried);
		return;
	}
	log_info("request %s: response '%s' is on none of the %d deployments tried (%s)", call->id,
	         call->walk.id, call->walk.not_found, call->tried);
	proxy_answer_send_kept(call);
}

/* The current attempt failed as WHAT (its outcome counted; DETAIL, when not
 * NULL, for the log): the next one, or the end. WAIT_MS is the retry-after
 * the upstream asked for, or -1. An op by id walks on instead: the
 * response may be on the next deployment. */
static void attempt_failed(struct proxy_call *call, enum outcome outcome, const char *what,
                           const char *detail, long wait_ms)
{
	const struct deployment *prev = call->dep;
	size_t prev_step = call->plan.step;
	long left = remaining_ms(call), wait;

	add_tried(call, what);
	call->last_failure = outcome;
	log_info("request %s: deployment '%s' failed (%s%s%s)", call->id, prev->id, what,
	         detail ? ": " : "", detail ? detail : "");
	if (left == 0) {
		deadline_passed(call);
		return;
	}
	if (call->walk.active && proxy_op_by_id(call->op)) {
		call->walk.failed++;
		walk_on(call);
		return;
	}
	if (!proxy_plan_next(&call->plan, call->proxy->balancer, outcome_retry_class(outcome))) {
		give_up(call);
		return;
	}
	wait = proxy_plan_wait_ms(wait_ms, call->plan.step == prev_step,
	                          call->plan.deployment == proxy_dep_index(call, prev),
	                          call->plan.retries, left);
	if (wait < 0) {
		/* the deployment asked for a wait the deadline does not leave */
		if (!proxy_plan_next_group(&call->plan, call->proxy->balancer)) {
			give_up(call);
			return;
		}
		wait = 0;
	}
	log_info("request %s: retrying on deployment '%s' (%s) in %ld ms", call->id,
	         call->proxy->config->deployments[call->plan.deployment].id,
	         route_name(proxy_plan_current(&call->plan)->route), wait);
	retry_in(call, wait);
}

/* The outcome of a failed transfer: a timeout, or else a connect failure
 * (refused, reset, DNS, TLS; also a body cut short). */
static enum outcome transport_outcome(enum upstream_result result)
{
	return result == UPSTREAM_ERR_TIMEOUT ? OUTCOME_TIMEOUT : OUTCOME_CONNECT;
}

static void keep_answer(struct proxy_call *call, long status)
{
	struct kept_answer *k = &call->kept;

	if (!k->body && !(k->body = evbuffer_new()))
		return;
	evbuffer_drain(k->body, evbuffer_get_length(k->body));
	evbuffer_add_buffer(k->body, call->body);
	k->status = status;
	memcpy(k->content_type, call->content_type, sizeof(k->content_type));
	k->retry = call->retry;
	k->dep = call->dep;
	k->route = proxy_plan_current(&call->plan)->route;
	k->ttfb_us = call->ttfb_us;
	k->json = body_is_json_object(call);
}

/*
 * The kind of a 400 the config has error fallbacks for (config.h), from the
 * answer's error code as OpenAI and Azure write it: context_length_exceeded;
 * Azure's content_filter (innererror ResponsibleAIPolicyViolation). -1: none.
 */
static int error_kind(struct evbuffer *body)
{
	size_t len = evbuffer_get_length(body);
	const char *text = len <= 65536 ? (const char *)evbuffer_pullup(body, -1) : NULL;
	json_t *root = text ? json_loadb(text, len, 0, NULL) : NULL;
	json_t *err = json_object_get(root, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	const char *inner =
	        json_string_value(json_object_get(json_object_get(err, "innererror"), "code"));
	int kind = -1;

	if (code && strcmp(code, "context_length_exceeded") == 0)
		kind = ERROR_FALLBACK_CONTEXT_WINDOW;
	else if ((code && strcmp(code, "content_filter") == 0) ||
	         (inner && strcmp(inner, "ResponsibleAIPolicyViolation") == 0))
		kind = ERROR_FALLBACK_CONTENT_POLICY;
	json_decref(root);
	return kind;
}

/* A 400 the group has an error fallback for: the request moves to those
 * groups before anything reached the client (true); the answer is kept
 * for the client should they fail too. */
static bool error_fallback(struct proxy_call *call)
{
	const struct config *config = call->proxy->config;
	const struct group *g = &config->groups[proxy_plan_current(&call->plan)->group];
	const char *what;
	int kind;

	if (g->n_error_fallbacks[ERROR_FALLBACK_CONTEXT_WINDOW] == 0 &&
	    g->n_error_fallbacks[ERROR_FALLBACK_CONTENT_POLICY] == 0)
		return false; /* most groups: no 400 is parsed for them */
	kind = error_kind(call->body);
	if (kind < 0 || g->n_error_fallbacks[kind] == 0)
		return false;
	what = kind == ERROR_FALLBACK_CONTEXT_WINDOW ? "context_length_exceeded" : "content_filter";
	keep_answer(call, 400);
	add_tried(call, what);
	if (remaining_ms(call) == 0 ||
	    !proxy_plan_divert(&call->plan, call->proxy->balancer, g->error_fallbacks[kind],
	                       g->n_error_fallbacks[kind])) {
		give_up(call);
		return true;
	}
	log_info("request %s: deployment '%s' answered %s; falling back to deployment '%s'",
	         call->id, call->dep->id, what, config->deployments[call->plan.deployment].id);
	retry_in(call, 0);
	return true;
}

/* Whether the answer says the stored response the call names is not on
 * this deployment (proxy_walk_not_found, over the buffered body). */
static bool not_found(struct proxy_call *call, long status)
{
	size_t len = evbuffer_get_length(call->body);

	return proxy_walk_not_found(
	        call->op, status, (const char *)evbuffer_pullup(call->body, (ev_ssize_t)len), len);
}

static void on_done(void *ctx, enum upstream_result result, long status, const char *error)
{
	struct proxy_call *call = ctx;
	bool azure = call->dep->provider == PROVIDER_AZURE;
	char what[64];

	call->t = NULL;
	call->upstream_end_us = clock_now_us();
	evtimer_del(call->attempt_timer);
	if (!call->ex) {
		proxy_call_free(call);
		return;
	}
	if (call->streaming) {
		if (result == UPSTREAM_OK) {
			proxy_relay_end(call);
			return;
		}
		log_warning("upstream '%s': stream broken (%s error): %s", call->dep->id,
		            upstream_result_name(result), error);
		proxy_relay_fail(call,
		                 result == UPSTREAM_ERR_TIMEOUT ? "upstream_timeout"
		                                                : upstream_result_name(result),
		                 "the stream from deployment '%s' failed (%s error)", call->dep->id,
		                 upstream_result_name(result));
		return;
	}
	if (result == UPSTREAM_ERR_ABORTED || result == UPSTREAM_ERR_INTERNAL) {
		log_warning("upstream '%s': %s error: %s", call->dep->id,
		            upstream_result_name(result), error);
		proxy_answer_error(call, 502, "upstream_error", upstream_result_name(result),
		                   "the request to deployment '%s' failed (%s error)",
		                   call->dep->id, upstream_result_name(result));
		return;
	}
	if (result != UPSTREAM_OK) {
		enum outcome outcome = transport_outcome(result);

		proxy_attempt_record(call, outcome);
		attempt_failed(call, outcome, upstream_result_name(result), error, -1);
		return;
	}

	enum outcome outcome = outcome_from_status(status, azure);

	if (status >= 300 && status < 400) {
		/* a redirect (an http api_base moved to https...): we do not follow it,
		 * and the client cannot, without the location we do not pass on */
		proxy_attempt_record(call, OUTCOME_5XX);
		snprintf(what, sizeof(what), "%ld", status);
		attempt_failed(call, OUTCOME_5XX, what, "a redirect, not followed", -1);
		return;
	}
	if (status >= 200 && status < 300 && !answer_fits_op(call)) {
		char detail[256];

		proxy_attempt_record(call, OUTCOME_5XX);
		snprintf(detail, sizeof(detail),
		         "%ld with a body that is not a JSON object (%zu bytes of '%s')", status,
		         evbuffer_get_length(call->body),
		         call->content_type[0] ? call->content_type : "no content type");
		attempt_failed(call, OUTCOME_5XX, "invalid response", detail, -1);
		return;
	}
	if (call->walk.active && not_found(call, status)) {
		/* an answer from a healthy deployment, only not the one we need */
		proxy_attempt_record(call, OUTCOME_SUCCESS);
		keep_answer(call, status);
		add_tried(call, "not found");
		call->walk.not_found++;
		walk_on(call);
		return;
	}
	proxy_attempt_record(call, outcome);
	if (status == 400 && error_fallback(call))
		return;
	if (outcome_retry_class(outcome) == OUTCOME_RETRY_NONE) {
		if (status < 400)
			proxy_attempt_log_answered(call);
		proxy_answer_send(call, status, call->dep, proxy_plan_current(&call->plan)->route,
		                  &call->retry, call->content_type, call->body,
		                  body_is_json_object(call), call->ttfb_us);
		return;
	}
	if (status < 500)
		keep_answer(call, status);
	snprintf(what, sizeof(what), "%ld", status);
	attempt_failed(call, outcome, what, NULL, call->retry_after_ms);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_call *call = arg;

	(void)fd;
	(void)what;
	if (call->streaming)
		return;
	if (call->t) {
		/* cut by the deadline, it did not answer in the time it had */
		upstream_abort(call->t);
		call->t = NULL;
		proxy_attempt_record(call, OUTCOME_TIMEOUT);
		add_tried(call, "timeout");
	}
	deadline_passed(call);
}

static void on_attempt_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_call *call = arg;
	long elapsed = (long)((clock_now_us() - call->attempt_us) / 1000);
	char detail[64];

	(void)fd;
	(void)what;
	if (!call->t)
		return;
	upstream_abort(call->t);
	call->t = NULL;
	if (call->streaming) {
		log_warning("upstream '%s': stream idle for %ld ms, cut", call->dep->id,
		            call->idle_ms);
		proxy_relay_fail(call, "upstream_timeout",
		                 "the stream from deployment '%s' stalled for %ld ms",
		                 call->dep->id, call->idle_ms);
		return;
	}
	proxy_attempt_record(call, OUTCOME_TIMEOUT);
	snprintf(detail, sizeof(detail), "no %s after %ld ms",
	         call->stream_requested ? "stream data" : "complete answer", elapsed);
	attempt_failed(call, OUTCOME_TIMEOUT, "timeout", detail, -1);
}

static int start_attempt(struct proxy_call *call)
{
	const struct config *config = call->proxy->config;
	const struct deployment *dep = &config->deployments[call->plan.deployment];
	const char *traceparent = proxy_trace_attempt_start(call); /* ends the last one's */
	struct proxy_request r;
	long timeout_ms, first_ms, ceiling_reset_ms;
	int err;

	call->dep = dep;
	call->probe = proxy_plan_current(&call->plan)->probe;
	call->status = 0;
	call->head_us = 0;
	call->ttfb_us = -1;
	call->recorded = false;
	call->retry_after_ms = -1;
	call->retry_precise = false;
	call->content_type[0] = '\0';
	call->body_first = call->body_last = '\0';
	memset(&call->retry, 0, sizeof(call->retry));
	evbuffer_drain(call->body, evbuffer_get_length(call->body));

	if (!proxy_keys_ceiling_take(call, dep, &ceiling_reset_ms)) {
		/* at its rpm/tpm ceiling this minute: skipped like a cooling
		 * deployment, nothing sent, no retry used */
		log_info("request %s: deployment '%s' is at its rpm/tpm ceiling, skipped", call->id,
		         dep->id);
		if (proxy_plan_skip(&call->plan, call->proxy->balancer))
			return start_attempt(call);
		if (call->attempts > 0)
			give_up(call);
		else
			proxy_keys_ceiling_refuse(call, ceiling_reset_ms);
		return 0;
	}

	if (dep->entra && !token_store_get(dep->credential, (int64_t)time(NULL))) {
		/* keyless Azure without a valid token: nothing to send; counted like a
		 * 401, so the group moves on and the global fallback sees it */
		call->attempt_us = clock_now_us();
		if (call->attempts++ == 0)
			call->first_attempt_us = call->attempt_us;
		proxy_attempt_record(call, OUTCOME_AUTH_TOKEN);
		attempt_failed(call, OUTCOME_AUTH_TOKEN, "auth_token",
		               "no valid Entra ID token (see llmgatectl deployments)", -1);
		return 0;
	}
	bool inject =
	        config->stream_usage_inject && call->op == PROXY_OP_CHAT && call->stream_requested;

	if (!call->root && call->raw_len &&
	    ((inject && proxy_request_inject_needs_tree(call->raw, call->raw_len)) ||
	     proxy_request_needs_tree(dep, call->op, call->model, call->named_by_path,
	                              call->proxy->defaults[proxy_dep_index(call, dep)]))) {
		/* json_scan vouched for the body: this parse does not fail */
		call->root = json_loadb(call->raw, call->raw_len,
		                        JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
		if (!call->root)
			return -ENOMEM;
	}
	struct proxy_request_target target = {
	        .model = call->model,
	        .named_by_path = call->named_by_path,
	        .response_id = call->walk.id,
	        .query = call->query,
	        .inject_usage = inject,
	        .form = call->has_form ? &call->form : NULL,
	        .raw = call->raw,
	        .raw_len = call->raw_len,
	        .raw_fd = call->raw_fd,
	};
	err = proxy_request_build(&r, dep, call->op, &target, call->root,
	                          call->proxy->defaults[proxy_dep_index(call, dep)]);
	if (err < 0) {
		log_warning("request %s: cannot build the request to deployment '%s': %s", call->id,
		            dep->id, strerror(-err));
		proxy_request_clear(&r);
		return err;
	}
	if (traceparent)
		proxy_request_trace_headers(&r, traceparent, call->trace.state);
	timeout_ms = dep->timeout_ms > 0 ? dep->timeout_ms : config->request_timeout_ms;
	first_ms = timeout_ms;
	if (call->stream_requested && dep->stream_timeout_ms > 0)
		first_ms = dep->stream_timeout_ms;
	call->idle_ms =
	        timeout_ms < PROXY_STREAM_IDLE_MAX_MS ? timeout_ms : PROXY_STREAM_IDLE_MAX_MS;

	struct upstream_request ureq = {
	        .method = proxy_request_method(call->op),
	        .url = r.url,
	        .headers = r.headers,
	        .n_headers = r.n_headers,
	        .body = r.body ? r.body : call->raw,
	        .body_len = r.body  ? r.body_len
	                    : r.src ? (size_t)upstream_body_len(r.src)
	                            : call->raw_len,
	        .body_src = r.src,
	        .timeout_ms = 0, /* our timers: see the top of this file */
	};
	static const struct upstream_callbacks callbacks = {
	        .on_header = on_header,
	        .on_head = on_head,
	        .on_data = on_data,
	        .on_done = on_done,
	};
	call->usage_injected = r.usage_injected;
	err = upstream_start(call->proxy->up, &ureq, &callbacks, call, &call->t);
	proxy_request_clear(&r);
	if (err < 0)
		return err;
	call->attempt_us = clock_now_us();
	if (call->attempts++ == 0)
		call->first_attempt_us = call->attempt_us;
	proxy_timer_set(call->attempt_timer, first_ms);
	log_debug("request %s: attempt %d: '%s' -> deployment '%s' (%s%s%s)", call->id,
	          call->attempts, call->model, dep->id,
	          route_name(proxy_plan_current(&call->plan)->route), call->probe ? ", probe" : "",
	          call->stream_requested ? ", stream" : "");
	return 0;
}

/* Starts the next attempt the plan holds; the client gets a 500 when it
 * cannot start. */
static void start_or_fail(struct proxy_call *call)
{
	int err = start_attempt(call);

	if (err < 0)
		proxy_answer_error(call, 500, "server_error", NULL,
		                   "cannot start the upstream request: %s", strerror(-err));
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_or_fail(arg);
}

int proxy_attempt_timers_new(struct proxy_call *call)
{
	struct event_base *base = call->proxy->base;

	/* a call from the pool has them already, for the same call and base */
	if (!call->deadline_timer)
		call->deadline_timer = evtimer_new(base, on_deadline, call);
	if (!call->attempt_timer)
		call->attempt_timer = evtimer_new(base, on_attempt_timeout, call);
	/* the retry timer: at the first retry (retry_in) */
	return call->deadline_timer && call->attempt_timer ? 0 : -ENOMEM;
}

void proxy_attempt_first(struct proxy_call *call)
{
	const struct config *config = call->proxy->config;

	if (config->router_timeout_ms > 0) {
		call->deadline_us = call->received_us + (int64_t)config->router_timeout_ms * 1000;
		proxy_timer_set(call->deadline_timer, config->router_timeout_ms);
	}
	start_or_fail(call);
}

void proxy_attempt_log_answered(const struct proxy_call *call)
{
	if (call->walk.active && call->walk.not_found)
		log_info("request %s: response '%s' found on deployment '%s' after %d not-found "
		         "answer%s",
		         call->id, call->walk.id, call->dep->id, call->walk.not_found,
		         call->walk.not_found == 1 ? "" : "s");
	else if (call->attempts > 1)
		log_info("request %s: deployment '%s' answered after %d attempts (%s)", call->id,
		         call->dep->id, call->attempts, call->tried);
}
