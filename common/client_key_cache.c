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

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "client_keys.h"

struct slot {
	uint32_t index; /* into keys->keys */
	uint32_t len;   /* 0: empty */
	unsigned char key[CLIENT_KEY_CACHE_KEY_MAX];
};

struct client_key_cache {
	const struct client_keys *keys;
	uint64_t k0, k1; /* the SipHash key */
	size_t mask;     /* n_slots - 1 */
	struct client_key_cache_stats stats;
	struct slot slots[];
};

/* ---- SipHash-1-3 (Aumasson and Bernstein), 64-bit output ---------------- */

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13);
	v[1] ^= v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16);
	v[3] ^= v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21);
	v[3] ^= v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17);
	v[1] ^= v[2];
	v[2] = rotl(v[2], 32);
}

static inline uint64_t load_le64(const unsigned char *p)
{
	uint64_t x = 0;

	for (int i = 7; i >= 0; i--)
		x = x << 8 | p[i];
	return x;
}

static uint64_t siphash13(uint64_t k0, uint64_t k1, const unsigned char *data, size_t len)
{
	uint64_t v[4] = {k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
	                 k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL};
	size_t whole = len & ~(size_t)7;
	uint64_t m, last = (uint64_t)len << 56;

	for (size_t i = 0; i < whole; i += 8) {
		m = load_le64(data + i);
		v[3] ^= m;
		sip_round(v);
		v[0] ^= m;
	}
	for (size_t i = 0; i < (len & 7); i++)
		last |= (uint64_t)data[whole + i] << (8 * i);
	v[3] ^= last;
	sip_round(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	sip_round(v);
	sip_round(v);
	sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
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
	c->k1 = seed[1];
	c->mask = n_slots - 1;
	explicit_bzero(seed, sizeof(seed));
	return c;
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
	s = &c->slots[siphash13(c->k0, c->k1, (const unsigned char *)key, len) & c->mask];
	/* the length is compared in the clear; the bytes in constant time */
	if (s->len == len && CRYPTO_memcmp(s->key, key, len) == 0 && s->index < keys->n) {
		c->stats.hits++;
		return &keys->keys[s->index];
	}
	c->stats.misses++;
	k = client_keys_find(keys, key, len);
	if (!k)
		return NULL; /* never cached: wrong keys must not evict good ones */
	if (s->len != len)
		explicit_bzero(s->key, sizeof(s->key));
	memcpy(s->key, key, len);
	s->len = (uint32_t)len;
	s->index = (uint32_t)(k - keys->keys);
	return k;
}

struct client_key_cache_stats client_key_cache_stats(const struct client_key_cache *c)
{
	return c ? c->stats : (struct client_key_cache_stats){0};
}
