/*
 * generation: worker generations and their life cycle (see generation.h).
 *
 * A reload starts generation N+1 beside N; only once every new worker has
 * said READY is N+1 promoted and N drained under a timer (nginx's model,
 * HAProxy's READY-before-retire). N+1 that does not become ready in time, or
 * loses a worker first, is discarded and N keeps serving. The first
 * generation has nothing to fall back to: its workers keep being respawned.
 * Invariant: at most one generation serves (sup->serving) and at most one
 * starts beside it (sup->pending).
 */
#include "generation.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "client_keys_state.h"
#include "clock.h"
#include "config.h"
#include "health.h"
#include "log.h"
#include "notify.h"
#include "reload.h"
#include "supervisor_int.h"
#include "tls_listener.h"
#include "tokens.h"

#define STOP_GRACE_MS    1000  /* beyond drain_timeout before SIGKILL */
#define READY_TIMEOUT_MS 15000 /* a new generation must be ready by then */

static const char *const generation_state_names[GEN_STATE__COUNT] = {
        [GEN_STARTING] = "starting",
        [GEN_SERVING] = "serving",
        [GEN_DRAINING] = "draining",
        [GEN_DISCARDED] = "discarded",
};

const char *generation_state_name(enum generation_state state)
{
	return (unsigned)state < GEN_STATE__COUNT ? generation_state_names[state] : "unknown";
}

static size_t gen_live(const struct generation *gen)
{
	size_t n = 0;

	for (size_t i = 0; i < gen->n_slots; i++)
		if (gen->slots[i].pid > 0)
			n++;
	return n;
}

size_t generation_ready(const struct generation *gen)
{
	size_t n = 0;

	for (size_t i = 0; i < gen->n_slots; i++)
		if (gen->slots[i].state == WORKER_READY)
			n++;
	return n;
}

size_t generation_live_all(const struct supervisor *sup)
{
	size_t n = 0;

	for (const struct generation *g = sup->generations; g; g = g->next)
		n += gen_live(g);
	return n;
}

void generation_kill_stragglers(struct generation *gen)
{
	for (size_t i = 0; i < gen->n_slots; i++) {
		if (gen->slots[i].pid > 0) {
			log_warning("worker[%zu]: pid %d of generation %u still running after the "
			            "drain timeout, killing it",
			            i, gen->slots[i].pid, gen->id);
			slot_kill(&gen->slots[i], SIGKILL);
		}
	}
}

static void on_gen_timer(evutil_socket_t fd, short what, void *arg)
{
	struct generation *gen = arg;

	if (gen->state == GEN_STARTING) {
		char why[96];

		snprintf(why, sizeof(why), "only %zu of %zu workers ready after %d ms",
		         generation_ready(gen), gen->n_slots, READY_TIMEOUT_MS);
		generation_discard(gen, why);
	} else {
		generation_kill_stragglers(gen);
	}
}

/* Frees GEN's parts: its slots, timer and CONFIG (when not NULL). */
static void gen_release(struct generation *gen)
{
	for (size_t i = 0; gen->slots && i < gen->n_slots; i++)
		slot_release(&gen->slots[i]);
	if (gen->timer)
		event_free(gen->timer);
	free(gen->slots);
	config_free(gen->config);
	tls_listener_free(gen->tls);
	free(gen);
}

struct generation *generation_new(struct supervisor *sup, struct config *config)
{
	struct generation *gen = calloc(1, sizeof(*gen));
	long n = config->workers;

	if (!gen)
		return NULL;
	if (n <= 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	gen->sup = sup;
	gen->state = GEN_STARTING;
	gen->n_slots = n > 0 ? (size_t)n : 1;
	gen->slots = calloc(gen->n_slots, sizeof(*gen->slots));
	gen->timer = evtimer_new(sup->base, on_gen_timer, gen);
	if (!gen->slots || !gen->timer) {
		gen_release(gen);
		return NULL;
	}
	for (size_t i = 0; i < gen->n_slots; i++) {
		if (slot_init(&gen->slots[i], gen, (unsigned)i) < 0) {
			gen->n_slots = i + 1; /* the rest were never initialised */
			gen_release(gen);
			return NULL;
		}
	}
	gen->id = ++sup->last_generation;
	gen->config = config;
	client_keys_state_attach(config);
	gen->next = sup->generations;
	sup->generations = gen;
	return gen;
}

void generation_free(struct generation *gen)
{
	struct supervisor *sup = gen->sup;

	for (struct generation **p = &sup->generations; *p; p = &(*p)->next) {
		if (*p == gen) {
			*p = gen->next;
			break;
		}
	}
	gen_release(gen);
}

void generation_reap(struct supervisor *sup)
{
	struct generation *g = sup->generations, *next;

	for (; g; g = next) {
		next = g->next;
		if ((g->state == GEN_DRAINING || g->state == GEN_DISCARDED) && gen_live(g) == 0 &&
		    g != sup->serving) {
			log_info("generation %u: all workers gone", g->id);
			generation_free(g);
			tokens_prune(sup->tokens);
		}
	}
	if (sup->stopping && generation_live_all(sup) == 0)
		event_base_loopexit(sup->base, NULL);
}

void generation_start(struct generation *gen)
{
	struct timeval tv = clock_tv_ms(READY_TIMEOUT_MS);

	/* before the workers: the token process learns new credentials */
	if (tokens_config(gen->sup->tokens, gen->config) < 0)
		log_error("out of memory: Entra ID credentials of generation %u not fetched",
		          gen->id);
	for (size_t i = 0; i < gen->n_slots; i++)
		slot_start(&gen->slots[i]);
	/* The first generation has nothing to fall back to: it keeps trying. */
	if (gen->sup->serving)
		evtimer_add(gen->timer, &tv);
}

static void gen_promote(struct generation *gen)
{
	struct supervisor *sup = gen->sup;
	struct generation *old = sup->serving;

	evtimer_del(gen->timer);
	gen->state = GEN_SERVING;
	sup->serving = gen;
	health_config_changed(sup->health);
	if (sup->pending == gen)
		sup->pending = NULL;
	if (old) {
		log_notice("reload: generation %u serving with %zu workers, draining generation %u",
		           gen->id, gen->n_slots, old->id);
		generation_drain(old, "replaced by a new generation");
		generation_reap(sup);
	} else {
		log_notice("ready: generation %u, %zu workers, listening on '%s'", gen->id,
		           gen->n_slots, gen->config->listen);
	}
	notify_send("READY=1");
	supervisor_status_changed(sup);
	if (old) {
		char message[96];

		snprintf(message, sizeof(message), "generation %u serving", gen->id);
		reload_finish(sup, 0, message, NULL);
	} else {
		reload_run_queued(sup);
	}
}

void generation_slot_ready(struct generation *gen)
{
	if (gen->state == GEN_STARTING && generation_ready(gen) == gen->n_slots)
		gen_promote(gen);
	else
		supervisor_status_changed(gen->sup);
}

void generation_drain(struct generation *gen, const char *why)
{
	long grace = gen->config->drain_timeout_ms + STOP_GRACE_MS;
	struct timeval tv = clock_tv_ms(grace);

	gen->state = GEN_DRAINING;
	log_info("generation %u: draining %zu workers (%s)", gen->id, gen_live(gen), why);
	for (size_t i = 0; i < gen->n_slots; i++)
		slot_drain(&gen->slots[i]);
	evtimer_add(gen->timer, &tv);
}

void generation_discard(struct generation *gen, const char *why)
{
	struct supervisor *sup = gen->sup;
	char message[256];

	snprintf(message, sizeof(message),
	         "generation %u discarded (%s); generation %u keeps serving", gen->id, why,
	         sup->serving ? sup->serving->id : 0);
	log_error("reload failed: %s", message);
	evtimer_del(gen->timer);
	gen->state = GEN_DISCARDED;
	if (sup->pending == gen)
		sup->pending = NULL;
	for (size_t i = 0; i < gen->n_slots; i++)
		slot_discard(&gen->slots[i]);
	notify_send("READY=1");
	supervisor_status_changed(sup);
	if (sup->serving && sup->serving != gen)
		reload_finish(sup, -ECHILD, message, NULL);
	generation_reap(sup);
}

static struct slot *slot_by_pid(struct supervisor *sup, pid_t pid)
{
	for (struct generation *g = sup->generations; g; g = g->next)
		for (size_t i = 0; i < g->n_slots; i++)
			if (g->slots[i].pid == pid)
				return &g->slots[i];
	return NULL;
}

void generation_child_exited(struct supervisor *sup, pid_t pid, int status)
{
	struct slot *slot = slot_by_pid(sup, pid);
	struct generation *gen;
	char how[96];
	long uptime;

	if (tokens_child_exited(sup->tokens, pid, status))
		return;
	if (!slot)
		return;
	gen = slot->gen;
	uptime = slot_exited(slot, status, how, sizeof(how));
	if (sup->stopping || gen->state == GEN_DRAINING || gen->state == GEN_DISCARDED) {
		slot_event(slot, WORKER_EV_EXITED);
		log_info("worker[%u]: pid %d of generation %u stopped after %ld ms, %s",
		         slot->index, pid, gen->id, uptime, how);
		generation_reap(sup);
		return;
	}
	if (gen->state == GEN_STARTING && sup->serving) {
		slot_event(slot, WORKER_EV_EXITED);
		log_error("worker[%u]: pid %d of new generation %u %s before it was ready",
		          slot->index, pid, gen->id, how);
		generation_discard(gen, "a worker died before it was ready");
		return;
	}
	slot_crashed(slot, uptime);
	log_error("worker[%u]: pid %d of generation %u %s after %ld ms uptime; restart in %ld ms",
	          slot->index, pid, gen->id, how, uptime, slot->next_delay_ms);
	supervisor_status_changed(sup);
}
