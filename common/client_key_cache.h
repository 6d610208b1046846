/*
 * client_key_cache: a worker's small cache of the client keys it was
 * recently presented, so that a key seen again costs a keyed hash and a
 * constant-time compare instead of a SHA-256 (client_keys_find()).
 *
 * Direct-mapped: a slot is chosen by a keyed multiply-fold hash of the key
 * bytes under a random per-cache seed (getrandom), so a client cannot aim
 * keys at one slot. A slot holds the key's bytes and its index in the key table; a hit
 * is confirmed by a constant-time compare of the whole key (a different length is a
 * miss). A miss takes the SHA-256 path and, for a key of the table only,
 * fills the slot (replacing whatever was there): unknown keys are never
 * cached, so a flood of wrong keys neither evicts good ones nor grows
 * memory (the cache is one allocation, made once).
 *
 * Only the key's identity is cached: whether it is disabled or expired is
 * read from the table entry by the caller on every request.
 *
 * The cache belongs to one key table (one config generation): asked with
 * another table it forgets everything first. A reload makes new workers
 * with their own config, so in practice the table never changes.
 *
 * SECRETS: the slots hold presented client keys in clear. They are wiped
 * (explicit_bzero) when replaced by a key of another length, when the
 * table changes and when the cache is freed; never logged or exposed.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct client_key;
struct client_keys;
struct client_key_cache;

#define CLIENT_KEY_CACHE_SLOTS   128 /* a worker's cache */
#define CLIENT_KEY_CACHE_KEY_MAX 128 /* longer keys are looked up, not cached */

/* A cache of N_SLOTS slots (a power of two, 1 or more) for KEYS; NULL when
 * memory or the random seed is short (client_key_cache_find() then always
 * looks up). */
struct client_key_cache *client_key_cache_new(const struct client_keys *keys, size_t n_slots);

/* Wipes and frees C (NULL: nothing). */
void client_key_cache_free(struct client_key_cache *c);

/* client_keys_find(KEYS, KEY, LEN) through C (NULL: straight lookup). */
const struct client_key *client_key_cache_find(struct client_key_cache *c,
                                               const struct client_keys *keys, const char *key,
                                               size_t len);

/* Counts, for tests: lookups answered from a slot, and the others. */
struct client_key_cache_stats {
	uint64_t hits, misses;
};
struct client_key_cache_stats client_key_cache_stats(const struct client_key_cache *c);
