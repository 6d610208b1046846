/*
 * client_key_cache: recently presented client keys of one worker (see
 * client_key_cache.h). Runs in a worker on the request path; pure apart
 * from the seed (getrandom) and its one allocation.
 *
 * SECRETS: the slots hold client keys in clear; every slot is wiped with
 * explicit_bzero before it is reused for another length, when the table
 * changes, and when the cache is freed.
 */
#include "client_key_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <sys/random.h>

#include "client_keys.h"

struct slot {
	uint32_t index; /* into keys->keys */
	uint32_t len;   /* 0: empty */
	unsigned char key[CLIENT_KEY_CACHE_KEY_MAX];
};

struct client_key_cache {
	const struct client_keys *keys;
	uint64_t k0, k1; /* the seed of slot_hash() */
	size_t mask;     /* n_slots - 1 */
	struct client_key_cache_stats stats;
	struct slot slots[];
};

/* ---- the slot hash ------------------------------------------------------ */

__extension__ typedef unsigned __int128 u128;

/* The 128-bit product of A and B folded to 64 bits. */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
	u128 m = (u128)a * b;

	return (uint64_t)m ^ (uint64_t)(m >> 64);
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t x;

	memcpy(&x, p, 8);
	return le64toh(x);
}

/* A keyed hash of DATA: each 8-byte word, XOR-ed with the secret seed, is
 * multiplied into the state (128-bit product, folded), then the length.
 * Without the seed (random, per worker) a client cannot tell which keys
 * share a slot; it is no MAC and guards nothing else. */
static uint64_t slot_hash(uint64_t k0, uint64_t k1, const unsigned char *data, size_t len)
{
	uint64_t h = k0 ^ len, tail = 0;
	size_t whole = len & ~(size_t)7;

	for (size_t i = 0; i < whole; i += 8)
		h = mix(h ^ load_le64(data + i), k1);
	for (size_t i = 0; i < (len & 7); i++)
		tail |= (uint64_t)data[whole + i] << (8 * i);
	h = mix(h ^ tail ^ 0x9e3779b97f4a7c15ULL, k1);
	return mix(h, k0 | 1);
}

/* Whether A and B (LEN bytes each) differ, in a time that depends on LEN
 * only: every byte is read, differences are OR-ed, never branched on, a
 * word at a time (CRYPTO_memcmp goes a byte at a time, which costs more
 * than the rest of a cache hit). The empty asm keeps the compiler from
 * proving the result early and leaving the loop. */
static int differ(const unsigned char *a, const unsigned char *b, size_t len)
{
	uint64_t acc = 0, x, y;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&x, a + i, 8);
		memcpy(&y, b + i, 8);
		acc |= x ^ y;
		__asm__("" : "+r"(acc));
	}
	for (; i < len; i++) {
		acc |= (uint64_t)(a[i] ^ b[i]);
		__asm__("" : "+r"(acc));
	}
	return acc != 0;
}

/* ---- the cache ----------------------------------------------------------- */

struct client_key_cache *client_key_cache_new(const struct client_keys *keys, size_t n_slots)
{
	struct client_key_cache *c;
	uint64_t seed[2];

	if (n_slots == 0 || (n_slots & (n_slots - 1)) != 0)
		return NULL;
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		return NULL; /* no seed: no cache, rather than predictable slots */
	c = calloc(1, sizeof(*c) + n_slots * sizeof(struct slot));
	if (!c) {
		explicit_bzero(seed, sizeof(seed));
		return NULL;
	}
	c->keys = keys;
	c->k0 = seed[0];
	c->k1 = seed[1] | 1; /* an odd multiplier */
	c->mask = n_slots - 1;
	explicit_bzero(seed, sizeof(seed));
	return c;
}

/* A slot's key bytes, wiped (out of line: GCC's -Wnonnull, under the
 * sanitizers, takes the slot's address inside the cache for a maybe-null). */
static __attribute__((noinline)) void wipe_key(struct slot *s)
{
	explicit_bzero(s->key, sizeof(s->key));
}

static void wipe_slots(struct client_key_cache *c)
{
	explicit_bzero(c->slots, (c->mask + 1) * sizeof(struct slot));
}

void client_key_cache_free(struct client_key_cache *c)
{
	if (!c)
		return;
	wipe_slots(c);
	explicit_bzero(&c->k0, sizeof(c->k0));
	explicit_bzero(&c->k1, sizeof(c->k1));
	free(c);
}

const struct client_key *client_key_cache_find(struct client_key_cache *c,
                                               const struct client_keys *keys, const char *key,
                                               size_t len)
{
	const struct client_key *k;
	struct slot *s;

	if (!c || !keys || len == 0 || len > CLIENT_KEY_CACHE_KEY_MAX)
		return client_keys_find(keys, key, len);
	if (c->keys != keys) {
		/* another table: nothing cached holds for it */
		wipe_slots(c);
		c->keys = keys;
	}
	s = &c->slots[slot_hash(c->k0, c->k1, (const unsigned char *)key, len) & c->mask];
	/* the length is compared in the clear; the bytes in constant time */
	if (s->len == len && !differ(s->key, (const unsigned char *)key, len) &&
	    s->index < keys->n) {
		c->stats.hits++;
		return &keys->keys[s->index];
	}
	c->stats.misses++;
	k = client_keys_find(keys, key, len);
	if (!k)
		return NULL; /* never cached: wrong keys must not evict good ones */
	if (s->len != len)
		wipe_key(s);
	memcpy(s->key, key, len);
	s->len = (uint32_t)len;
	s->index = (uint32_t)(k - keys->keys);
	return k;
}

struct client_key_cache_stats client_key_cache_stats(const struct client_key_cache *c)
{
	return c ? c->stats : (struct client_key_cache_stats){0};
}
