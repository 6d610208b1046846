/*
 * test_client_key_cache: a worker's cache of presented client keys
 * (client_key_cache.h): a miss fills a slot and the next lookup hits; a
 * wrong key of the same length in the slot is no hit; unknown keys are
 * never cached (and evict nothing); a known key in a taken slot replaces
 * it; keys too long to cache are still found; another key table forgets
 * everything. One slot makes every key collide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_key_cache.h"
#include "client_keys.h"
#include "config.h"
#include "tap.h"

#define KEY_A "sk-llmgate-cache-test-key-a-0123456789"
#define KEY_B "sk-llmgate-cache-test-key-b-0123456789" /* the length of A */
#define KEY_C "sk-llmgate-cache-test-key-c-0123456789" /* the length of A; unknown */

static struct config config;
static char long_key[CLIENT_KEY_CACHE_KEY_MAX + 20];

static struct client_keys *table(const char *a, const char *b)
{
	char text[1024], hex_a[65], hex_b[65];
	struct client_keys *keys = NULL;
	struct diag_list d = {0};

	client_key_sha256_hex(a, strlen(a), hex_a);
	client_key_sha256_hex(b, strlen(b), hex_b);
	snprintf(text, sizeof(text),
	         "keys:\n"
	         "  - id: team-a\n"
	         "    key_sha256: %s\n"
	         "  - id: team-b\n"
	         "    key_sha256: %s\n",
	         hex_a, hex_b);
	if (client_keys_parse(&config, "keys.yaml", text, strlen(text), &keys, &d) < 0)
		keys = NULL;
	diag_free(&d);
	return keys;
}

static const char *id_of(struct client_key_cache *c, const struct client_keys *keys,
                         const char *key, size_t len)
{
	const struct client_key *k = client_key_cache_find(c, keys, key, len);

	return k ? k->id : NULL;
}

static bool is(const char *got, const char *want)
{
	return got && strcmp(got, want) == 0;
}

static void test_one_slot(void)
{
	struct client_keys *keys = table(KEY_A, KEY_B);
	struct client_key_cache *c = keys ? client_key_cache_new(keys, 1) : NULL;
	struct client_key_cache_stats st;
	size_t n = strlen(KEY_A);

	tap_ok(c != NULL, "a one-slot cache");
	if (!c) {
		client_keys_free(keys);
		return;
	}
	tap_ok(is(id_of(c, keys, KEY_A, n), "team-a"), "a miss finds the key");
	st = client_key_cache_stats(c);
	tap_ok(st.misses == 1 && st.hits == 0, "the first lookup is a miss");
	tap_ok(is(id_of(c, keys, KEY_A, n), "team-a") && client_key_cache_stats(c).hits == 1,
	       "the second lookup of the key is a hit");

	tap_ok(id_of(c, keys, KEY_C, n) == NULL && client_key_cache_stats(c).hits == 1,
	       "a wrong key of the same length in the slot is no hit and not found");
	tap_ok(id_of(c, keys, KEY_C, n) == NULL && client_key_cache_stats(c).hits == 1,
	       "an unknown key is not cached: asked again, still a miss");
	tap_ok(is(id_of(c, keys, KEY_A, n), "team-a") && client_key_cache_stats(c).hits == 2,
	       "unknown keys evict nothing: the good key still hits");
	tap_ok(id_of(c, keys, KEY_A, n - 1) == NULL && id_of(c, keys, KEY_A "x", n + 1) == NULL,
	       "a prefix of the cached key, or the key with more bytes, is not found");

	st = client_key_cache_stats(c);
	tap_ok(is(id_of(c, keys, KEY_B, n), "team-b") &&
	               client_key_cache_stats(c).misses == st.misses + 1,
	       "another known key in the same slot: a miss, found");
	tap_ok(is(id_of(c, keys, KEY_B, n), "team-b") &&
	               client_key_cache_stats(c).hits == st.hits + 1,
	       "it replaced the slot: it hits");
	tap_ok(is(id_of(c, keys, KEY_A, n), "team-a") &&
	               client_key_cache_stats(c).misses == st.misses + 2,
	       "the replaced key is a miss again, and still found");

	keys->keys[0].disabled = true;
	{
		const struct client_key *k = client_key_cache_find(c, keys, KEY_A, n);

		tap_ok(k && k->disabled, "a hit gives the table's entry (its state as it is now)");
	}
	keys->keys[0].disabled = false;
	client_key_cache_free(c);
	client_keys_free(keys);
}

static void test_many_slots(void)
{
	struct client_keys *keys = table(KEY_A, long_key);
	struct client_keys *other = table(KEY_B, KEY_C);
	struct client_key_cache *c =
	        keys ? client_key_cache_new(keys, CLIENT_KEY_CACHE_SLOTS) : NULL;
	struct client_key_cache_stats st;
	size_t n = strlen(KEY_A);

	tap_ok(c && other, "a worker-sized cache");
	if (!c || !other) {
		client_key_cache_free(c);
		client_keys_free(keys);
		client_keys_free(other);
		return;
	}
	tap_ok(client_key_cache_new(keys, 3) == NULL && client_key_cache_new(keys, 0) == NULL,
	       "a slot count that is not a power of two is refused");
	(void)id_of(c, keys, KEY_A, n);
	tap_ok(is(id_of(c, keys, KEY_A, n), "team-a") && client_key_cache_stats(c).hits == 1,
	       "a known key hits the second time");
	st = client_key_cache_stats(c);
	tap_ok(is(id_of(c, keys, long_key, strlen(long_key)), "team-b") &&
	               is(id_of(c, keys, long_key, strlen(long_key)), "team-b") &&
	               client_key_cache_stats(c).hits == st.hits,
	       "a key longer than a slot is found, never cached");
	tap_ok(id_of(c, other, KEY_A, n) == NULL && is(id_of(c, other, KEY_B, n), "team-a"),
	       "asked with another table, the cache answers from it");
	st = client_key_cache_stats(c);
	tap_ok(id_of(c, keys, KEY_A, n) != NULL &&
	               client_key_cache_stats(c).misses == st.misses + 1,
	       "back to the first table: it was forgotten (a miss)");
	tap_ok(client_key_cache_find(NULL, keys, KEY_A, n) == &keys->keys[0],
	       "no cache: a straight lookup");
	client_key_cache_free(c);
	client_keys_free(keys);
	client_keys_free(other);
}

int main(void)
{
	memset(long_key, 'k', sizeof(long_key) - 1);
	memcpy(long_key, "sk-llmgate-", 11);
	test_one_slot();
	test_many_slots();
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
