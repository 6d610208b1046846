/*
 * reload: a new config beside the running one (see reload.h).
 *
 * The config is loaded and checked while the serving generation goes on; a
 * config with errors changes nothing. A good one becomes a new generation
 * (sup->pending) whose promotion or discard (generation.c) ends the reload.
 * Settings a running daemon cannot change keep their running value.
 */
#include "reload.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "diag.h"
#include "generation.h"
#include "log.h"
#include "notify.h"
#include "supervisor.h"
#include "supervisor_int.h"
#include "tls_listener.h"

/* Settings a running daemon cannot change: warn and keep the running value. */
static void keep_restart_only(const struct config *running, struct config *next)
{
	if (strcmp(running->listen, next->listen) != 0) {
		log_warning("reload: llmgate.listen changed to '%s'; it needs a restart, keeping "
		            "'%s'",
		            next->listen, running->listen);
		char *keep = strdup(running->listen);
		if (keep) {
			free(next->listen);
			next->listen = keep;
		}
	}
	if ((running->admin_listen || next->admin_listen) &&
	    (!running->admin_listen || !next->admin_listen ||
	     strcmp(running->admin_listen, next->admin_listen) != 0))
		log_warning("reload: llmgate.admin_listen changed; it needs a restart, keeping "
		            "the running one");
	if ((running->user || next->user) &&
	    (!running->user || !next->user || strcmp(running->user, next->user) != 0))
		log_warning("reload: llmgate.user changed; it needs a restart, keeping the "
		            "running user");
	if (running->response_affinity_entries != next->response_affinity_entries) {
		log_warning("reload: llmgate.response_affinity_entries changed to %ld; it needs a "
		            "restart, keeping %ld",
		            next->response_affinity_entries, running->response_affinity_entries);
		next->response_affinity_entries = running->response_affinity_entries;
	}
}

void reload_finish(struct supervisor *sup, int result, const char *message,
                   const struct diag_list *diags)
{
	reload_done_fn *done = sup->reload_done;
	void *ctx = sup->reload_ctx;

	sup->reload_done = NULL;
	sup->reload_ctx = NULL;
	if (done)
		done(ctx, result, message, diags);
}

void reload_forget(struct supervisor *sup, void *ctx)
{
	if (sup->reload_queued && sup->queued_ctx == ctx) {
		sup->queued_done = NULL;
		sup->queued_ctx = NULL;
	}
	if (sup->reload_ctx == ctx) {
		sup->reload_done = NULL;
		sup->reload_ctx = NULL;
	}
}

static void on_queued(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sup = arg;

	if (!sup->reload_queued)
		return;
	sup->reload_queued = false;
	reload_start(sup, sup->queued_done, sup->queued_ctx);
}

void reload_run_queued(struct supervisor *sup)
{
	static const struct timeval now = {0, 0};

	if (!sup->reload_queued)
		return;
	/* from the loop, not from inside the promotion */
	if (event_base_once(sup->base, -1, EV_TIMEOUT, on_queued, sup, &now) < 0)
		on_queued(-1, EV_TIMEOUT, sup);
}

/* The config at the configured path, its diagnostics logged. */
static int load(struct supervisor *sup, struct config **ret, struct diag_list *diags)
{
	int r;

	log_notice("reload: loading '%s'", sup->options->config_path);
	r = config_load(sup->options->config_path, ret, diags);
	diag_sort(diags);
	for (size_t i = 0; i < diags->n; i++) {
		char line[2048];

		diag_format(&diags->items[i], line, sizeof(line));
		log_msg(diags->items[i].severity == DIAG_ERROR ? LOG_ERR : LOG_WARNING,
		        "reload: %s", line);
	}
	return r;
}

/* The new config's TLS context (tls_listener.c), its diagnostics logged. */
static int load_tls(struct config *config, struct ssl_ctx_st **ret, struct diag_list *diags)
{
	size_t before = diags->n;
	int r = tls_listener_new(config, ret, diags);

	for (size_t i = before; i < diags->n; i++) {
		char line[2048];

		diag_format(&diags->items[i], line, sizeof(line));
		log_msg(diags->items[i].severity == DIAG_ERROR ? LOG_ERR : LOG_WARNING,
		        "reload: %s", line);
	}
	return r;
}

void reload_start(struct supervisor *sup, reload_done_fn *done, void *ctx)
{
	struct diag_list diags = {0};
	struct config *config = NULL;
	struct ssl_ctx_st *tls = NULL;
	struct generation *gen;
	char message[160];

	if (sup->stopping || sup->pending) {
		snprintf(message, sizeof(message), "%s",
		         sup->stopping ? "llmgated is stopping" : "another reload is in progress");
		log_warning("reload refused: %s", message);
		if (done)
			done(ctx, -EBUSY, message, NULL);
		return;
	}
	if (!sup->serving) {
		/* The first generation is still starting (a SIGHUP right after the
		 * start): the reload runs once it serves, so the new config is not
		 * lost and nothing is replaced half-started. */
		if (sup->reload_queued) {
			if (done)
				done(ctx, -EBUSY, "another reload is in progress", NULL);
			return;
		}
		sup->reload_queued = true;
		sup->queued_done = done;
		sup->queued_ctx = ctx;
		log_notice("reload: queued until the first generation serves");
		return;
	}
	sup->reload_done = done;
	sup->reload_ctx = ctx;
	notify_reloading();
	if (load(sup, &config, &diags) < 0 || load_tls(config, &tls, &diags) < 0) {
		config_free(config);
		snprintf(message, sizeof(message), "config has errors; generation %u keeps serving",
		         sup->serving->id);
		log_error("reload failed: %s", message);
		notify_send("READY=1");
		supervisor_status_changed(sup);
		reload_finish(sup, -EINVAL, message, &diags);
		diag_free(&diags);
		return;
	}
	keep_restart_only(sup->serving->config, config);
	supervisor_apply_core_dumps(config->core_dumps);
	gen = generation_new(sup, config);
	if (!gen) {
		log_error("reload failed: out of memory");
		tls_listener_free(tls);
		config_free(config);
		notify_send("READY=1");
		reload_finish(sup, -ENOMEM, "out of memory", &diags);
		diag_free(&diags);
		return;
	}
	diag_free(&diags);
	gen->tls = tls;
	sup->pending = gen;
	log_info("reload: starting generation %u with %zu workers", gen->id, gen->n_slots);
	generation_start(gen);
	supervisor_status_changed(sup);
}
