/*
 * test_client_keys: the keys file parser, the lookup by SHA-256, the pure
 * budget-period arithmetic with synthetic time, and the shared counters
 * (client_limits) driven with synthetic clocks: rpm windows, parallel
 * counts and their release by a reaped worker's cell, tpm reservations and
 * settlement, budgets and their rollover. Ends with a micro-bench of
 * admit + finish (ns per request, as a TAP comment).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client_keys.h"
#include "client_limits.h"
#include "config.h"
#include "tap.h"

#define KEY_A "sk-llmgate-unit-test-key-a-0123456789"
#define KEY_B "sk-llmgate-unit-test-key-b-0123456789"

/* What an answer reported: P prompt and C completion tokens. */
#define USED(p, c) \
	(&(struct usage){.known = true, .prompt = (p), .completion = (c), .total = (p) + (c)})

static struct group groups[2];
static struct group_alias aliases[1];
static struct config config;

static void setup(void)
{
	groups[0].name = (char *)"gpt-4o";
	groups[1].name = (char *)"gpt-4o-mini";
	aliases[0] = (struct group_alias){.name = (char *)"fast", .group = 1};
	config.groups = groups;
	config.n_groups = 2;
	config.aliases = aliases;
	config.n_aliases = 1;
}

static int parse(const char *text, struct client_keys **ret, struct diag_list *d)
{
	memset(d, 0, sizeof(*d));
	return client_keys_parse(&config, "keys.yaml", text, strlen(text), ret, d);
}

static bool has(const struct diag_list *d, int line, const char *text)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].line == line && strstr(d->items[i].message, text))
			return true;
	for (size_t i = 0; i < d->n; i++)
		printf("#   %d:%d: %s\n", d->items[i].line, d->items[i].col, d->items[i].message);
	return false;
}

static int64_t at(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = s};

	return (int64_t)timegm(&tm);
}

static void test_parse(void)
{
	char hex_a[65], hex_b[65], text[2048];
	struct client_keys *keys = NULL;
	struct diag_list d;
	const struct client_key *k;

	client_key_sha256_hex(KEY_A, strlen(KEY_A), hex_a);
	client_key_sha256_hex(KEY_B, strlen(KEY_B), hex_b);
	tap_str(hex_a, hex_a[0] ? hex_a : NULL, "a SHA-256 in hex");
	client_key_sha256_hex("test", 4, hex_b);
	tap_str(hex_b, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	        "SHA-256 of 'test' (the issue's example)");
	client_key_sha256_hex(KEY_B, strlen(KEY_B), hex_b);

	snprintf(text, sizeof(text),
	         "keys:\n"
	         "  - id: team-a\n"
	         "    key_sha256: %s\n"
	         "    alias: Team A\n"
	         "    models: [gpt-4o, fast]\n"
	         "    rpm: 600\n"
	         "    tpm: 200000\n"
	         "    max_parallel_requests: 20\n"
	         "    max_budget: 50.0\n"
	         "    budget_duration: 30d\n"
	         "    expires: 2027-06-30T00:00:00Z\n"
	         "    disabled: false\n"
	         "  - id: team-b\n"
	         "    key_sha256: %s\n"
	         "    models: []\n",
	         hex_a, hex_b);
	tap_ok(parse(text, &keys, &d) == 0 && keys && keys->n == 2, "the issue's contract parses");
	diag_free(&d);
	if (!keys)
		return;
	k = client_keys_find(keys, KEY_A, strlen(KEY_A));
	tap_ok(k && strcmp(k->id, "team-a") == 0 && k->rpm == 600 && k->tpm == 200000 &&
	               k->max_parallel == 20 && k->max_budget_nano == 50000000000LL &&
	               k->period.unit == BUDGET_SECONDS && k->period.n == 30 * 86400 &&
	               k->expires == at(2027, 6, 30, 0, 0, 0) && !k->disabled &&
	               strcmp(k->alias, "Team A") == 0,
	       "every field of team-a");
	tap_ok(k && k->n_groups == 2 && client_key_allows(k, 0) && client_key_allows(k, 1),
	       "models by name and by alias");
	k = client_keys_find(keys, KEY_B, strlen(KEY_B));
	tap_ok(k && strcmp(k->id, "team-b") == 0 && !k->groups && client_key_allows(k, 1) &&
	               k->max_budget_nano == -1 && k->rpm == 0,
	       "team-b: models [] is every model (as in LiteLLM), no limits");
	tap_ok(!client_keys_find(keys, "sk-llmgate-unit-test-key-c-0123456789", 37) &&
	               !client_keys_find(keys, KEY_A, strlen(KEY_A) - 1) &&
	               !client_keys_find(keys, "", 0),
	       "other keys are not found");
	client_keys_free(keys);

	snprintf(text, sizeof(text),
	         "keys:\n"
	         "  - id: team-a\n"
	         "    key_sha256: %s\n"
	         "    models: [gpt-5]\n"
	         "    rpm: -3\n"
	         "    budget_duration: 3x\n"
	         "    colour: blue\n"
	         "  - id: team-a\n"
	         "    key_sha256: abc\n"
	         "  - id: bad id\n"
	         "    key_sha256: %s\n"
	         "    max_budget: lots\n"
	         "    expires: tomorrow\n"
	         "  - alias: none\n",
	         hex_a, hex_b);
	tap_ok(parse(text, &keys, &d) == -EINVAL && !keys, "a bad keys file is refused");
	tap_ok(has(&d, 4, "'gpt-5' is neither a model_name nor an alias") &&
	               has(&d, 5, "rpm must be a whole number") &&
	               has(&d, 6, "budget_duration must be") &&
	               has(&d, 7, "unknown key 'colour'") && has(&d, 9, "64 hex digits") &&
	               has(&d, 10, "id must be") && has(&d, 12, "max_budget must be") &&
	               has(&d, 13, "expires must be") && has(&d, 14, "has no id"),
	       "each problem at its line");
	diag_free(&d);

	snprintf(text, sizeof(text),
	         "keys:\n  - id: a\n    key_sha256: %s\n  - id: a\n    key_sha256: %s\n"
	         "  - id: c\n    key_sha256: %s\n",
	         hex_a, hex_b, hex_b);
	tap_ok(parse(text, &keys, &d) == -EINVAL && has(&d, 2, "same key_sha256") &&
	               has(&d, 2, "two keys have the id 'a'"),
	       "duplicate ids and hashes");
	diag_free(&d);
	tap_ok(parse("- a\n", &keys, &d) == -EINVAL && has(&d, 1, "must be a mapping with 'keys:'"),
	       "not a mapping");
	diag_free(&d);
	tap_ok(parse("keys:\n", &keys, &d) == 0 && keys && keys->n == 0, "no keys is fine");
	client_keys_free(keys);
	diag_free(&d);
}

static void test_periods(void)
{
	struct budget_period p;
	int64_t start;

	tap_ok(budget_period_parse("30d", &p) == 0 && p.unit == BUDGET_SECONDS && p.n == 30 * 86400,
	       "30d");
	tap_ok(budget_period_parse("1mo", &p) == 0 && p.unit == BUDGET_MONTHS && p.n == 1, "1mo");
	tap_ok(budget_period_parse("7d", &p) == 0 && p.n == 7 * 86400 &&
	               budget_period_parse("1w", &p) == 0 && p.n == 7 * 86400 &&
	               budget_period_parse("12h", &p) == 0 && p.n == 43200 &&
	               budget_period_parse("90s", &p) == 0 && p.n == 90,
	       "7d, 1w, 12h, 90s");
	tap_ok(budget_period_parse("0d", &p) < 0 && budget_period_parse("d", &p) < 0 &&
	               budget_period_parse("1y", &p) < 0 && budget_period_parse("-1d", &p) < 0 &&
	               budget_period_parse("99999999d", &p) < 0,
	       "bad periods");

	budget_period_parse("1d", &p);
	start = budget_period_first(&p, at(2026, 12, 6, 8, 30, 0));
	tap_ok(start == at(2026, 12, 6, 0, 0, 0), "a daily period starts at midnight UTC");
	tap_ok(budget_period_end(&p, start) == at(2026, 12, 7, 0, 0, 0), "and ends the next");
	tap_ok(budget_period_roll(&p, start, at(2026, 12, 6, 23, 59, 59)) == start,
	       "no roll within the day");
	tap_ok(budget_period_roll(&p, start, at(2026, 12, 9, 3, 0, 0)) == at(2026, 12, 9, 0, 0, 0),
	       "three days later: that day's midnight");
	tap_ok(budget_period_roll(&p, start, at(2026, 12, 1, 0, 0, 0)) == start,
	       "a clock set back keeps the start");

	budget_period_parse("30d", &p);
	start = at(2026, 1, 1, 12, 0, 0);
	tap_ok(budget_period_roll(&p, start, start + 40 * 86400) == start + 30 * 86400,
	       "30d: day 40 is in the second period");

	budget_period_parse("1mo", &p);
	start = budget_period_first(&p, at(2026, 2, 17, 9, 0, 0));
	tap_ok(start == at(2026, 2, 1, 0, 0, 0), "a monthly period starts on the 1st");
	tap_ok(budget_period_end(&p, start) == at(2026, 3, 1, 0, 0, 0), "February ends on March 1");
	tap_ok(budget_period_roll(&p, start, at(2027, 5, 31, 23, 0, 0)) == at(2027, 5, 1, 0, 0, 0),
	       "15 months later: that month's 1st");
	budget_period_parse("3mo", &p);
	tap_ok(budget_period_roll(&p, at(2026, 1, 1, 0, 0, 0), at(2026, 7, 15, 0, 0, 0)) ==
	               at(2026, 7, 1, 0, 0, 0),
	       "quarterly");
}

/* A key without limits or budget (the test sets what it needs). */
static struct client_key unlimited(void)
{
	return (struct client_key){.id = (char *)"k", .max_budget_nano = -1};
}

static void test_limits(void)
{
	struct client_keys keys = {0};
	struct client_key k[2] = {unlimited(), unlimited()};
	struct client_limit_info info;
	struct client_limit_hold holds[8], h;
	int64_t now = at(2026, 12, 6, 8, 0, 10) * 1000LL;
	int ok = 0, cell;

	k[0].id = (char *)"team-a";
	k[1].id = (char *)"team-b";
	keys.keys = k;
	keys.n = 2;
	tap_ok(client_limits_init() == 0, "the table maps");
	tap_ok(client_limits_attach(&keys, now / 1000) == 0 && k[0].slot != k[1].slot &&
	               k[0].slot != CLIENT_KEY_NO_SLOT,
	       "two keys, two slots");

	/* rpm: exactly the limit in a minute, then the next minute */
	k[0].rpm = 5;
	for (int i = 0; i < 8; i++)
		if (client_limits_admit(&k[0], now + i, 0, &info, &h) == CLIENT_LIMIT_OK) {
			ok++;
			client_limits_finish(&h, NULL, 0);
		}
	tap_ok(ok == 5, "rpm 5: 5 of 8 admitted (%d)", ok);
	tap_ok(client_limits_admit(&k[0], now, 0, &info, &h) == CLIENT_LIMIT_RPM &&
	               info.remaining_requests == 0 && info.reset_ms == 50000,
	       "the 6th: refused, 0 left, resets in 50 s (at :10)");
	tap_ok(client_limits_admit(&k[0], now + 50000, 0, &info, &h) == CLIENT_LIMIT_OK &&
	               info.remaining_requests == 4 && info.reset_ms == 60000,
	       "the next minute admits again");
	client_limits_finish(&h, NULL, 0);
	k[0].rpm = 0;

	/* parallel: the limit, released by finish and by a reaped cell */
	cell = client_limits_cell_take();
	client_limits_set_cell(cell);
	k[1].max_parallel = 3;
	ok = 0;
	for (int i = 0; i < 5; i++)
		ok += client_limits_admit(&k[1], now, 0, &info, &holds[ok]) == CLIENT_LIMIT_OK;
	tap_ok(ok == 3, "parallel 3: 3 of 5 in flight");
	client_limits_finish(&holds[0], NULL, 0);
	tap_ok(client_limits_admit(&k[1], now, 0, &info, &holds[0]) == CLIENT_LIMIT_OK,
	       "one finished: one more admitted");
	tap_ok(client_limits_admit(&k[1], now, 0, &info, &h) == CLIENT_LIMIT_PARALLEL,
	       "and the limit holds again");
	client_limits_cell_release(cell); /* its worker died with 3 in flight */
	ok = 0;
	for (int i = 0; i < 5; i++)
		ok += client_limits_admit(&k[1], now, 0, &info, &holds[ok]) == CLIENT_LIMIT_OK;
	tap_ok(ok == 3, "the dead worker's 3 released: 3 admitted again");
	client_limits_set_cell(CLIENT_LIMITS_NO_CELL);
	for (int i = 0; i < 3; i++)
		client_limits_finish(&holds[i], NULL, 0);
	k[1].max_parallel = 0;

	/* tpm: admitted while under, the estimate reserved, settled to usage */
	k[0].tpm = 1000;
	now += 60000;
	tap_ok(client_limits_admit(&k[0], now, 5000, &info, &h) == CLIENT_LIMIT_OK &&
	               info.remaining_tokens == 0,
	       "tpm 1000: a 5000-token estimate is admitted under the limit, nothing left");
	tap_ok(client_limits_admit(&k[0], now, 10, &info, &holds[0]) == CLIENT_LIMIT_TPM,
	       "the next is refused while the estimate stands");
	client_limits_finish(&h, USED(30, 10), 0);
	tap_ok(client_limits_admit(&k[0], now, 10, &info, &h) == CLIENT_LIMIT_OK &&
	               info.remaining_tokens == 950,
	       "settled to 40 tokens: admitted, 950 left");
	client_limits_finish(&h, NULL, 0);
	k[0].tpm = 0;
	{
		struct client_limit_view v;

		client_limits_view(&k[0], now, &v);
		tap_ok(v.prompt == 30 && v.completion == 10 && v.estimated == 10 && v.tokens == 50,
		       "tokens by type: 30 prompt and 10 completion reported, 10 estimated (%llu %llu "
		       "%llu)",
		       (unsigned long long)v.prompt, (unsigned long long)v.completion,
		       (unsigned long long)v.estimated);
	}

	/* budget: spend settles, refuses at the max, rolls over with the period */
	k[1].max_budget_nano = 2000000000;
	budget_period_parse("1d", &k[1].period);
	client_limits_restore(&k[1], budget_period_first(&k[1].period, now / 1000), 0);
	tap_ok(client_limits_admit(&k[1], now, 0, &info, &h) == CLIENT_LIMIT_OK, "under budget");
	client_limits_finish(&h, USED(6, 4), 1500000000);
	tap_ok(client_limits_admit(&k[1], now, 0, &info, &h) == CLIENT_LIMIT_OK, "1.5 of 2 spent");
	client_limits_finish(&h, USED(6, 4), 600000000);
	tap_ok(client_limits_admit(&k[1], now, 0, &info, &h) == CLIENT_LIMIT_BUDGET &&
	               info.spend_nano == 2100000000 && info.period_end == at(2026, 12, 7, 0, 0, 0),
	       "2.1 of 2: over budget until midnight");
	tap_ok(client_limits_admit(&k[1], at(2026, 12, 7, 0, 0, 1) * 1000LL, 0, &info, &h) ==
	                       CLIENT_LIMIT_OK &&
	               info.spend_nano == 0,
	       "the next day: a new period, nothing spent");
	client_limits_finish(&h, NULL, 0);
	{
		struct client_limit_view v;

		client_limits_view(&k[1], at(2026, 12, 7, 0, 0, 1) * 1000LL, &v);
		tap_ok(v.spend_nano == 0 && v.cost_nano == 2100000000 && v.prompt == 12 &&
		               v.completion == 8,
		       "the cost counts every period: 2.1 after the spend's reset");
	}

	/* a reload keeps a key's counters by id; a removed key's slot is retired */
	{
		struct client_key again[1] = {unlimited()};
		struct client_keys next = {.keys = again, .n = 1};
		struct client_limit_view v;
		uint32_t old = k[1].slot;

		again[0].id = (char *)"team-b";
		again[0].max_budget_nano = -1;
		client_limits_attach(&next, now / 1000);
		client_limits_view(&again[0], now, &v);
		tap_ok(again[0].slot == old && v.requests > 0, "reload: team-b keeps its slot");
	}

	/* micro-bench: admit + finish of a key with every limit */
	{
		struct timespec t0, t1;
		const int n = 200000;
		double ns;

		k[0] = unlimited();
		k[0].id = (char *)"team-a";
		client_limits_attach(&keys, now / 1000);
		k[0].rpm = 1000000000;
		k[0].tpm = 1000000000;
		k[0].max_parallel = 100;
		k[0].max_budget_nano = INT64_MAX;
		client_limits_set_cell(client_limits_cell_take());
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < n; i++) {
			if (client_limits_admit(&k[0], now, 100, &info, &h) == CLIENT_LIMIT_OK)
				client_limits_finish(&h, USED(60, 30), 1);
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) /
		     n;
		printf("# admit + finish: %.1f ns per request (single process)\n", ns);
	}
	client_limits_free();
}

/* A full table: a new id takes the slot retired longest ago, cleared;
 * ids still wanted keep theirs. */
static void test_slot_reuse(void)
{
	enum { N = CLIENT_KEYS_MAX };
	static struct client_key a[N], b[N], c[1];
	static char ids[2 * N + 1][16];
	struct client_keys ka = {a, N, NULL}, kb = {b, N, NULL}, kc = {c, 1, NULL};
	struct client_limit_info info;
	struct client_limit_hold h;
	struct client_limit_view v;
	uint32_t first;

	client_limits_init();
	for (int i = 0; i < N; i++) {
		snprintf(ids[i], sizeof(ids[i]), "a%d", i);
		snprintf(ids[N + i], sizeof(ids[N + i]), "b%d", i);
		a[i] = (struct client_key){.id = ids[i], .max_budget_nano = -1};
		b[i] = (struct client_key){.id = ids[N + i], .max_budget_nano = -1};
	}
	snprintf(ids[2 * N], sizeof(ids[2 * N]), "c0");
	c[0] = (struct client_key){.id = ids[2 * N], .max_budget_nano = -1};
	tap_ok(client_limits_attach(&ka, 0) == 0, "%d keys attached", N);
	first = a[0].slot;
	client_limits_admit(&a[0], 0, 0, &info, &h);
	client_limits_finish(&h, NULL, 0);
	client_limits_admit(&a[1], 0, 0, &info, &h);
	client_limits_finish(&h, NULL, 0);
	tap_ok(client_limits_attach(&kb, 0) == 0, "%d others: the first retired, none reused", N);
	tap_ok(client_limits_attach(&kc, 0) == 0 && c[0].slot == first,
	       "a new id takes the slot retired longest ago");
	client_limits_view(&c[0], 0, &v);
	tap_ok(v.requests == 0, "cleared");
	/* a new key listed before an old one whose slot is the oldest retired:
	 * the old one gets its slot (and counters) back, the new one another */
	{
		struct client_key d[2] = {{.id = (char *)"d0", .max_budget_nano = -1},
		                          {.id = ids[1], .max_budget_nano = -1}};
		struct client_keys kd = {d, 2, NULL};
		uint32_t a1 = a[1].slot; /* retired second, after a0 (now c0's) */

		client_limits_attach(&kd, 0);
		client_limits_view(&d[1], 0, &v);
		tap_ok(d[1].slot == a1 && v.requests == 1 && d[0].slot != a1,
		       "an old key keeps its slot though a new one comes first");
	}
	client_limits_free();
}

/* Exact across processes: 4 forked workers race for a key's rpm of 1000 in
 * one minute (4000 tries) and for a parallel limit of 3 (admit, check,
 * finish); the admitted count is the limit, in flight never exceeds 3, and
 * ends at 0. */
static void test_processes(void)
{
	struct client_key k = {.id = (char *)"race", .max_budget_nano = -1, .rpm = 1000};
	struct client_key p = {.id = (char *)"par", .max_budget_nano = -1, .max_parallel = 3};
	struct client_key both[2];
	struct client_keys keys = {both, 2, NULL};
	struct client_limit_view v;
	int64_t now = at(2026, 12, 6, 9, 0, 1) * 1000LL;
	int admitted = 0, over = 0;

	client_limits_init();
	both[0] = k;
	both[1] = p;
	client_limits_attach(&keys, now / 1000);
	k.slot = both[0].slot;
	p.slot = both[1].slot;
	fflush(stdout); /* the children must not print the TAP lines again */
	for (int w = 0; w < 4; w++) {
		pid_t pid = fork();

		if (pid == 0) {
			struct client_limit_info info;
			struct client_limit_hold h;
			int bad = 0;

			client_limits_set_cell(w);
			for (int i = 0; i < 1000; i++)
				if (client_limits_admit(&k, now, 0, &info, &h) == CLIENT_LIMIT_OK)
					client_limits_finish(&h, NULL, 0);
			for (int i = 0; i < 20000; i++)
				if (client_limits_admit(&p, now, 0, &info, &h) == CLIENT_LIMIT_OK) {
					struct client_limit_view pv;

					client_limits_view(&p, now, &pv);
					bad += pv.parallel > 3;
					client_limits_finish(&h, NULL, 0);
				}
			_exit(bad ? 0x80 : 0);
		}
	}
	for (int w = 0; w < 4; w++) {
		int status;

		wait(&status);
		over += (WEXITSTATUS(status) & 0x80) != 0;
	}
	client_limits_view(&k, now, &v);
	admitted = (int)v.requests;
	tap_ok(admitted == 1000 && v.rpm_used == 1000 && v.refused[CLIENT_LIMIT_RPM] == 3000,
	       "4 processes, 4000 tries, rpm 1000: exactly 1000 admitted (%d)", admitted);
	client_limits_view(&p, now, &v);
	tap_ok(over == 0 && v.parallel == 0,
	       "parallel 3 across 4 processes: never over, 0 at the end");
	client_limits_free();
}

/* 1000 keys: the last one found by its SHA-256; ns per lookup */
static void test_lookup_1000(void)
{
	size_t cap = 1000 * 120 + 16, used;
	char *text = malloc(cap), key[64], hex[65];
	struct client_keys *keys = NULL;
	struct timespec t0, t1;
	const struct client_key *k = NULL;
	struct diag_list d;
	const int n = 200000;

	used = (size_t)snprintf(text, cap, "keys:\n");
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "sk-llmgate-bench-%04d-0123456789abcdef", i);
		client_key_sha256_hex(key, strlen(key), hex);
		used += (size_t)snprintf(text + used, cap - used,
		                         "  - id: k%d\n    key_sha256: %s\n    rpm: 1000000\n", i,
		                         hex);
	}
	tap_ok(parse(text, &keys, &d) == 0 && keys && keys->n == 1000, "1000 keys parse");
	diag_free(&d);
	free(text);
	if (!keys)
		return;
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "sk-llmgate-bench-%04d-0123456789abcdef", i);
		k = client_keys_find(keys, key, strlen(key));
		if (!k || atoi(k->id + 1) != i)
			break;
	}
	tap_ok(k && strcmp(k->id, "k999") == 0, "each of 1000 keys is found as itself");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		k = client_keys_find(keys, key, strlen(key));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# lookup among 1000 keys (SHA-256 + search): %.1f ns\n",
	       ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / n);
	client_keys_free(keys);
}

int main(void)
{
	setup();
	test_parse();
	test_periods();
	test_limits();
	test_slot_reuse();
	test_processes();
	test_lookup_1000();
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
