/*
 * client_limits: the shared counters of the client keys (see
 * client_limits.h for the design: windows, parallel cells, budgets). The
 * supervisor maps the table and assigns slots and cells; workers count on
 * the request path with atomics only. Everything a worker reads from the
 * table that indexes anything (a slot number in a key, a cell) is checked
 * against the table's bounds first.
 */
#include "client_limits.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct limit_slot {
	char id[CLIENT_KEY_ID_MAX + 1];
	_Atomic uint32_t state; /* SLOT_FREE, SLOT_USED, SLOT_RETIRED */
	_Atomic uint64_t retired_seq;
	_Atomic uint64_t rpm; /* minute << 32 | requests */
	_Atomic uint64_t tpm; /* minute << 32 | tokens */
	_Atomic int32_t parallel;
	_Atomic int64_t period_start;
	_Atomic int64_t spend_nano;
	_Atomic uint64_t requests, tokens, refused[5];
	/* what the answers used, for /metrics: tokens by type, cost since the
	 * slot was made (never reset by a budget period) */
	_Atomic uint64_t prompt, completion, estimated;
	_Atomic uint64_t cost_nano;
	_Atomic int32_t cell[CLIENT_LIMITS_CELLS];
};

enum { SLOT_FREE, SLOT_USED, SLOT_RETIRED };

struct ceiling_slot {
	char id[128];
	_Atomic uint64_t rpm; /* minute << 32 | requests */
	_Atomic uint64_t tpm; /* minute << 32 | tokens */
};

struct limit_table {
	uint64_t retire_seq; /* supervisor only */
	/* slots below it have been used (never free again), none above: loops
	 * stop here, so that pages of slots never used are never touched */
	uint32_t high;
	uint32_t n_ceilings; /* deployment slots used (supervisor) */
	bool cell_used[CLIENT_LIMITS_CELLS];
	struct ceiling_slot ceilings[CLIENT_LIMITS_DEPLOYMENTS];
	struct limit_slot slots[CLIENT_LIMITS_SLOTS];
};

static struct limit_table *table;
static int my_cell = CLIENT_LIMITS_NO_CELL;

int client_limits_init(void)
{
	void *p;

	if (table)
		return -EBUSY;
	p = mmap(NULL, sizeof(*table), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	table = p; /* zero-filled: every slot free, every cell free */
	return 0;
}

void client_limits_free(void)
{
	if (table)
		munmap(table, sizeof(*table));
	table = NULL;
	my_cell = CLIENT_LIMITS_NO_CELL;
}

static void slot_clear(struct limit_slot *s, const char *id, int64_t period_start)
{
	snprintf(s->id, sizeof(s->id), "%s", id);
	atomic_store(&s->rpm, 0);
	atomic_store(&s->tpm, 0);
	atomic_store(&s->parallel, 0);
	atomic_store(&s->period_start, period_start);
	atomic_store(&s->spend_nano, 0);
	atomic_store(&s->requests, 0);
	atomic_store(&s->tokens, 0);
	atomic_store(&s->prompt, 0);
	atomic_store(&s->completion, 0);
	atomic_store(&s->estimated, 0);
	atomic_store(&s->cost_nano, 0);
	for (int i = 0; i < 5; i++)
		atomic_store(&s->refused[i], 0);
	for (int i = 0; i < CLIENT_LIMITS_CELLS; i++)
		atomic_store(&s->cell[i], 0);
}

/* A slot for a new id: a never-used one, else the one retired longest ago. */
static long free_slot(void)
{
	long best = -1;
	uint64_t best_seq = UINT64_MAX;

	if (table->high < CLIENT_LIMITS_SLOTS)
		return (long)table->high++;
	for (size_t i = 0; i < table->high; i++) {
		struct limit_slot *s = &table->slots[i];
		uint32_t st = atomic_load(&s->state);

		if (st == SLOT_RETIRED && atomic_load(&s->retired_seq) < best_seq) {
			best_seq = atomic_load(&s->retired_seq);
			best = (long)i;
		}
	}
	return best;
}

static int by_id(const void *a, const void *b)
{
	return strcmp(table->slots[*(const uint32_t *)a].id, table->slots[*(const uint32_t *)b].id);
}

/* The slot holding ID among the SORTED (by id) N slots in use, or NO_SLOT. */
static uint32_t find_slot(const uint32_t *sorted, size_t n, const char *id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(table->slots[sorted[mid]].id, id);

		if (c == 0)
			return sorted[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return CLIENT_KEY_NO_SLOT;
}

int client_limits_attach(struct client_keys *keys, int64_t now)
{
	static bool wanted[CLIENT_LIMITS_SLOTS];
	static uint32_t sorted[CLIENT_LIMITS_SLOTS];
	size_t n_sorted = 0;
	int r = 0;

	if (!table)
		return -ENODEV;
	memset(wanted, 0, sizeof(wanted));
	/* the slots in use (or retired) by id, so that each key finds its own
	 * in log time: a reload of thousands of keys stays quick */
	for (uint32_t i = 0; i < table->high; i++)
		if (atomic_load(&table->slots[i].state) != SLOT_FREE)
			sorted[n_sorted++] = i;
	qsort(sorted, n_sorted, sizeof(*sorted), by_id);
	/* first every key that has a slot, so that none of those is given away */
	for (size_t k = 0; keys && k < keys->n; k++) {
		struct client_key *key = &keys->keys[k];

		key->slot = find_slot(sorted, n_sorted, key->id);
		if (key->slot != CLIENT_KEY_NO_SLOT) {
			wanted[key->slot] = true;
			atomic_store(&table->slots[key->slot].state, SLOT_USED);
		}
	}
	/* then the new ones: a never-used slot, else a retired one, cleared */
	for (size_t k = 0; keys && k < keys->n; k++) {
		struct client_key *key = &keys->keys[k];
		long i;

		if (key->slot != CLIENT_KEY_NO_SLOT)
			continue;
		i = free_slot();
		if (i < 0 || wanted[i]) {
			r = -ENOSPC;
			continue;
		}
		slot_clear(&table->slots[i], key->id, budget_period_first(&key->period, now));
		key->slot = (uint32_t)i;
		wanted[i] = true;
		atomic_store(&table->slots[i].state, SLOT_USED);
	}
	for (size_t i = 0; i < table->high; i++) {
		struct limit_slot *s = &table->slots[i];

		if (!wanted[i] && atomic_load(&s->state) == SLOT_USED) {
			atomic_store(&s->retired_seq, ++table->retire_seq);
			atomic_store(&s->state, SLOT_RETIRED);
		}
	}
	return r;
}

int client_limits_cell_take(void)
{
	if (!table)
		return CLIENT_LIMITS_NO_CELL;
	for (int i = 0; i < CLIENT_LIMITS_CELLS; i++)
		if (!table->cell_used[i]) {
			table->cell_used[i] = true;
			return i;
		}
	return CLIENT_LIMITS_NO_CELL;
}

void client_limits_cell_release(int cell)
{
	if (!table || cell < 0 || cell >= CLIENT_LIMITS_CELLS)
		return;
	for (size_t i = 0; i < table->high; i++) {
		struct limit_slot *s = &table->slots[i];
		int32_t left = atomic_exchange(&s->cell[cell], 0);

		if (left)
			atomic_fetch_sub(&s->parallel, left);
	}
	table->cell_used[cell] = false;
}

void client_limits_set_cell(int cell)
{
	my_cell = cell;
}

static struct limit_slot *slot_of(uint32_t slot)
{
	return table && slot < CLIENT_LIMITS_SLOTS ? &table->slots[slot] : NULL;
}

/* Takes one of LIMIT in WORD's minute (0: no limit, counted only);
 * returns the count before, or -1 when full. */
static long window_take(_Atomic uint64_t *word, uint32_t minute, long limit, long amount,
                        bool strict)
{
	uint64_t w = atomic_load(word);

	for (;;) {
		uint64_t used = (uint32_t)(w >> 32) == minute ? (uint32_t)w : 0;
		uint64_t next = used + (uint64_t)amount;

		if (limit > 0 && (strict ? next > (uint64_t)limit : used >= (uint64_t)limit))
			return -1;
		if (next > UINT32_MAX)
			next = UINT32_MAX;
		if (atomic_compare_exchange_weak(word, &w, (uint64_t)minute << 32 | next))
			return (long)used;
	}
}

/* Adds DELTA (may be negative) to WORD if it is still in MINUTE. */
static void window_adjust(_Atomic uint64_t *word, uint32_t minute, long delta)
{
	uint64_t w = atomic_load(word);

	for (;;) {
		int64_t used;

		if ((uint32_t)(w >> 32) != minute)
			return;
		used = (int64_t)(uint32_t)w + delta;
		if (used < 0)
			used = 0;
		if (used > UINT32_MAX)
			used = UINT32_MAX;
		if (atomic_compare_exchange_weak(word, &w, (uint64_t)minute << 32 | (uint64_t)used))
			return;
	}
}

static long window_used(_Atomic uint64_t *word, uint32_t minute)
{
	uint64_t w = atomic_load(word);

	return (uint32_t)(w >> 32) == minute ? (long)(uint32_t)w : 0;
}

/* The budget period's spend, after rolling the period when it is over. */
static int64_t period_spend(struct limit_slot *s, const struct client_key *key, int64_t now)
{
	int64_t start = atomic_load(&s->period_start);

	if (key->period.unit != BUDGET_NONE && budget_period_end(&key->period, start) <= now) {
		int64_t next = budget_period_roll(&key->period, start, now);

		if (next != start && atomic_compare_exchange_strong(&s->period_start, &start, next))
			atomic_store(&s->spend_nano, 0);
	}
	return atomic_load(&s->spend_nano);
}

static void parallel_release(struct limit_slot *s, int cell)
{
	atomic_fetch_sub(&s->parallel, 1);
	if (cell >= 0 && cell < CLIENT_LIMITS_CELLS)
		atomic_fetch_sub(&s->cell[cell], 1);
}

enum client_limit_verdict client_limits_admit(const struct client_key *key, int64_t now_ms,
                                              long tokens, struct client_limit_info *info,
                                              struct client_limit_hold *hold)
{
	struct limit_slot *s = slot_of(key->slot);
	uint32_t minute = (uint32_t)(now_ms / 60000);
	int64_t now = now_ms / 1000;
	long before;
	int32_t p;

	*hold = (struct client_limit_hold){.slot = CLIENT_KEY_NO_SLOT};
	*info = (struct client_limit_info){
	        .limit_requests = key->rpm > 0 ? key->rpm : -1,
	        .remaining_requests = key->rpm > 0 ? key->rpm : -1,
	        .limit_tokens = key->tpm > 0 ? key->tpm : -1,
	        .remaining_tokens = key->tpm > 0 ? key->tpm : -1,
	        .reset_ms = 60000 - now_ms % 60000,
	};
	if (!s)
		return CLIENT_LIMIT_PARALLEL; /* no slot: nothing can be counted */
	if (tokens < 0)
		tokens = 0;

	info->spend_nano = period_spend(s, key, now);
	if (key->period.unit != BUDGET_NONE)
		info->period_end = budget_period_end(&key->period, atomic_load(&s->period_start));
	if (key->max_budget_nano >= 0 && info->spend_nano >= key->max_budget_nano) {
		atomic_fetch_add(&s->refused[CLIENT_LIMIT_BUDGET], 1);
		return CLIENT_LIMIT_BUDGET;
	}

	/* the worker's cell first, so that a reap never misses a count */
	if (my_cell >= 0)
		atomic_fetch_add(&s->cell[my_cell], 1);
	p = atomic_load(&s->parallel);
	do {
		if (key->max_parallel > 0 && p >= key->max_parallel) {
			if (my_cell >= 0)
				atomic_fetch_sub(&s->cell[my_cell], 1);
			atomic_fetch_add(&s->refused[CLIENT_LIMIT_PARALLEL], 1);
			return CLIENT_LIMIT_PARALLEL;
		}
	} while (!atomic_compare_exchange_weak(&s->parallel, &p, p + 1));

	before = window_take(&s->rpm, minute, key->rpm, 1, false);
	if (before < 0) {
		parallel_release(s, my_cell);
		info->remaining_requests = 0;
		if (key->tpm > 0)
			info->remaining_tokens = key->tpm - window_used(&s->tpm, minute);
		atomic_fetch_add(&s->refused[CLIENT_LIMIT_RPM], 1);
		return CLIENT_LIMIT_RPM;
	}
	if (key->rpm > 0)
		info->remaining_requests = key->rpm - before - 1;

	before = window_take(&s->tpm, minute, key->tpm, tokens, false);
	if (before < 0) {
		window_adjust(&s->rpm, minute, -1);
		parallel_release(s, my_cell);
		if (key->rpm > 0)
			info->remaining_requests++;
		info->remaining_tokens = 0;
		atomic_fetch_add(&s->refused[CLIENT_LIMIT_TPM], 1);
		return CLIENT_LIMIT_TPM;
	}
	if (key->tpm > 0) {
		info->remaining_tokens = key->tpm - before - tokens;
		if (info->remaining_tokens < 0)
			info->remaining_tokens = 0;
	}
	atomic_fetch_add(&s->requests, 1);
	*hold = (struct client_limit_hold){
	        .slot = key->slot, .minute = minute, .reserved_tokens = tokens};
	return CLIENT_LIMIT_OK;
}

static uint64_t count_of(int64_t n)
{
	return n > 0 ? (uint64_t)n : 0;
}

void client_limits_finish(struct client_limit_hold *hold, const struct usage *used,
                          int64_t cost_nano)
{
	struct limit_slot *s = slot_of(hold->slot);

	if (!s)
		return;
	parallel_release(s, my_cell);
	if (used && used->known) {
		long tokens = used->total > 0 ? (long)used->total : 0;

		window_adjust(&s->tpm, hold->minute, tokens - hold->reserved_tokens);
		atomic_fetch_add(&s->tokens, (uint64_t)tokens);
		atomic_fetch_add(&s->prompt, count_of(used->prompt));
		atomic_fetch_add(&s->completion, count_of(used->completion));
	} else {
		atomic_fetch_add(&s->tokens, count_of(hold->reserved_tokens));
		atomic_fetch_add(&s->estimated, count_of(hold->reserved_tokens));
	}
	if (cost_nano > 0) {
		atomic_fetch_add(&s->spend_nano, cost_nano);
		atomic_fetch_add(&s->cost_nano, (uint64_t)cost_nano);
	}
	hold->slot = CLIENT_KEY_NO_SLOT;
}

void client_limits_view(const struct client_key *key, int64_t now_ms, struct client_limit_view *ret)
{
	struct limit_slot *s = slot_of(key->slot);
	uint32_t minute = (uint32_t)(now_ms / 60000);

	*ret = (struct client_limit_view){0};
	if (!s)
		return;
	ret->found = true;
	ret->rpm_used = window_used(&s->rpm, minute);
	ret->tpm_used = window_used(&s->tpm, minute);
	ret->parallel = atomic_load(&s->parallel);
	ret->spend_nano = period_spend(s, key, now_ms / 1000);
	ret->period_start = atomic_load(&s->period_start);
	ret->requests = atomic_load(&s->requests);
	ret->tokens = atomic_load(&s->tokens);
	ret->prompt = atomic_load(&s->prompt);
	ret->completion = atomic_load(&s->completion);
	ret->estimated = atomic_load(&s->estimated);
	ret->cost_nano = atomic_load(&s->cost_nano);
	for (int i = 0; i < 5; i++)
		ret->refused[i] = atomic_load(&s->refused[i]);
}

void client_limits_restore(const struct client_key *key, int64_t period_start, int64_t spend_nano)
{
	struct limit_slot *s = slot_of(key->slot);

	if (!s)
		return;
	atomic_store(&s->period_start, period_start);
	atomic_store(&s->spend_nano, spend_nano);
}

void client_limits_each(void (*fn)(void *ctx, const char *id, int64_t period_start,
                                   int64_t spend_nano),
                        void *ctx)
{
	for (size_t i = 0; table && i < table->high; i++) {
		struct limit_slot *s = &table->slots[i];

		if (atomic_load(&s->state) == SLOT_USED)
			fn(ctx, s->id, atomic_load(&s->period_start), atomic_load(&s->spend_nano));
	}
}

uint32_t client_limits_deployment_slot(const char *id)
{
	if (!table || strlen(id) >= sizeof(table->ceilings[0].id))
		return CLIENT_KEY_NO_SLOT;
	for (uint32_t i = 0; i < table->n_ceilings; i++)
		if (strcmp(table->ceilings[i].id, id) == 0)
			return i;
	if (table->n_ceilings >= CLIENT_LIMITS_DEPLOYMENTS)
		return CLIENT_KEY_NO_SLOT;
	snprintf(table->ceilings[table->n_ceilings].id, sizeof(table->ceilings[0].id), "%s", id);
	return table->n_ceilings++;
}

static struct ceiling_slot *ceiling_of(uint32_t slot)
{
	return table && slot < CLIENT_LIMITS_DEPLOYMENTS ? &table->ceilings[slot] : NULL;
}

bool client_limits_deployment_take(uint32_t slot, long rpm, long tpm, long tokens, int64_t now_ms,
                                   struct ceiling_hold *hold, long *ret_reset_ms)
{
	struct ceiling_slot *s = ceiling_of(slot);
	uint32_t minute = (uint32_t)(now_ms / 60000);

	*hold = (struct ceiling_hold){.slot = CLIENT_KEY_NO_SLOT};
	*ret_reset_ms = 60000 - now_ms % 60000;
	if (!s)
		return true;
	if (tokens < 0)
		tokens = 0;
	/* a deployment takes requests while under its rpm (strictly) and while
	 * this minute's tokens are under its tpm */
	if (window_take(&s->rpm, minute, rpm, 1, false) < 0)
		return false;
	if (window_take(&s->tpm, minute, tpm, tokens, false) < 0) {
		window_adjust(&s->rpm, minute, -1);
		return false;
	}
	*hold = (struct ceiling_hold){.slot = slot, .minute = minute, .reserved_tokens = tokens};
	return true;
}

void client_limits_deployment_settle(struct ceiling_hold *hold, long tokens)
{
	struct ceiling_slot *s = ceiling_of(hold->slot);

	if (s && tokens >= 0)
		window_adjust(&s->tpm, hold->minute, tokens - hold->reserved_tokens);
	hold->slot = CLIENT_KEY_NO_SLOT;
}

void client_limits_deployment_view(uint32_t slot, int64_t now_ms, long *ret_rpm, long *ret_tpm)
{
	struct ceiling_slot *s = ceiling_of(slot);
	uint32_t minute = (uint32_t)(now_ms / 60000);

	*ret_rpm = s ? window_used(&s->rpm, minute) : 0;
	*ret_tpm = s ? window_used(&s->tpm, minute) : 0;
}

const char *client_limit_verdict_name(enum client_limit_verdict v)
{
	static const char *const names[] = {"ok", "budget", "parallel", "rpm", "tpm"};

	return (unsigned)v < 5 ? names[v] : "?";
}
