/*
 * response_affinity: the shared response-id -> deployment table (see
 * response_affinity.h for the design). The supervisor maps it; workers
 * inherit the mapping through fork() and read and write it under its lock;
 * the supervisor only reads its atomic counters.
 *
 * Invariants, held whenever the lock is free:
 * - ring[i].valid is 1 exactly for the slots that hold an entry, and the
 *   index has exactly one bucket naming each of them (value i + 1; 0 is an
 *   empty bucket, so a fresh zero-filled mapping is an empty table);
 * - `tail` is the next slot to write, the oldest entry when the ring is full;
 * - `entries` counts the valid slots.
 * A holder that dies breaks them at most by a half-written slot (marked
 * invalid first) and a stale index: rebuild() restores them from the ring.
 *
 * Sizes (capacity, bucket count) are this process's copies, set at init and
 * inherited: nothing read from the shared mapping can make an index go out of
 * bounds.
 */
#include "response_affinity.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shm_lock.h"

struct entry {
	uint64_t hash;
	uint32_t valid; /* 0 while being written */
	uint8_t id_len;
	uint8_t deployment_len;
	char id[RESPONSE_AFFINITY_ID_MAX];
	char deployment[RESPONSE_AFFINITY_DEPLOYMENT_MAX + 1];
};

struct header {
	struct shm_lock lock;
	uint32_t tail;
	uint64_t entries, hits, misses, learned, evicted; /* atomics */
};

/* This process's view of the mapping. */
static struct {
	void *map;
	size_t map_size;
	struct header *head;
	struct entry *ring;
	uint32_t *index;
	uint32_t capacity;
	uint32_t mask; /* buckets - 1 */
	uint64_t seed;
} t;

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

static uint64_t hash_id(const char *id, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ t.seed;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)id[i];
		h *= 0x100000001b3ULL;
	}
	/* spread FNV's low bits, which pick the bucket */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static void count(uint64_t *counter)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/* The slot a bucket names, or -1 for an empty or corrupt bucket. */
static long bucket_slot(uint32_t b)
{
	uint32_t v = __atomic_load_n(&t.index[b], __ATOMIC_RELAXED);

	if (v == 0 || v > t.capacity)
		return -1;
	return (long)v - 1;
}

static bool slot_is(const struct entry *e, uint64_t hash, const char *id, size_t len)
{
	return e->valid && e->hash == hash && e->id_len == len && memcmp(e->id, id, len) == 0;
}

/* The bucket holding the key, or -1. Bounded by the bucket count. */
static long find(const char *id, size_t len, uint64_t hash)
{
	uint32_t b = (uint32_t)hash & t.mask;

	for (uint32_t n = 0; n <= t.mask; n++, b = (b + 1) & t.mask) {
		long slot = bucket_slot(b);

		if (slot < 0)
			return -1;
		if (slot_is(&t.ring[slot], hash, id, len))
			return (long)b;
	}
	return -1;
}

/* The index has twice as many buckets as the ring has slots, so a free one
 * exists; a bucket whose value names no slot (corrupt) counts as free. */
static void index_insert(uint32_t slot)
{
	uint32_t b = (uint32_t)t.ring[slot].hash & t.mask;

	for (uint32_t n = 0; n <= t.mask; n++, b = (b + 1) & t.mask)
		if (bucket_slot(b) < 0) {
			t.index[b] = slot + 1;
			return;
		}
}

/* Empties bucket B, shifting later members of its cluster back so that every
 * key stays reachable from its home bucket (Knuth's algorithm R). */
static void index_remove(uint32_t b)
{
	uint32_t hole = b, j = b;

	for (;;) {
		long slot;
		uint32_t home;

		j = (j + 1) & t.mask;
		slot = bucket_slot(j);
		if (slot < 0)
			break;
		home = (uint32_t)t.ring[slot].hash & t.mask;
		/* leave it when its home lies cyclically in (hole, j] */
		if (hole <= j ? (hole < home && home <= j) : (hole < home || home <= j))
			continue;
		t.index[hole] = t.index[j];
		hole = j;
	}
	t.index[hole] = 0;
}

/* The bucket that names SLOT, or -1. */
static long bucket_of(uint32_t slot)
{
	uint32_t b = (uint32_t)t.ring[slot].hash & t.mask;

	for (uint32_t n = 0; n <= t.mask; n++, b = (b + 1) & t.mask) {
		uint32_t v = t.index[b];

		if (v == 0)
			return -1;
		if (v == slot + 1)
			return (long)b;
	}
	return -1;
}

static bool entry_sane(const struct entry *e)
{
	return e->id_len >= 1 && e->id_len <= RESPONSE_AFFINITY_ID_MAX && e->deployment_len >= 1 &&
	       e->deployment_len <= RESPONSE_AFFINITY_DEPLOYMENT_MAX &&
	       e->deployment[e->deployment_len] == '\0';
}

/* After a holder died: the index again from the ring's valid entries. */
static void rebuild(void)
{
	uint64_t n = 0;

	memset(t.index, 0, ((size_t)t.mask + 1) * sizeof(*t.index));
	for (uint32_t i = 0; i < t.capacity; i++) {
		struct entry *e = &t.ring[i];

		if (!e->valid)
			continue;
		if (!entry_sane(e) || e->hash != hash_id(e->id, e->id_len) ||
		    find(e->id, e->id_len, e->hash) >= 0) {
			e->valid = 0;
			continue;
		}
		index_insert(i);
		n++;
	}
	if (t.head->tail >= t.capacity)
		t.head->tail = 0;
	__atomic_store_n(&t.head->entries, n, __ATOMIC_RELAXED);
}

static bool lock(void)
{
	bool recovered;

	if (shm_lock(&t.head->lock, &recovered) < 0)
		return false;
	if (recovered)
		rebuild();
	return true;
}

int response_affinity_init(size_t capacity)
{
	size_t ring_off, index_off, buckets = 2;
	void *map;
	int r;

	if (t.map)
		return -EBUSY;
	if (capacity == 0)
		return 0;
	if (capacity > RESPONSE_AFFINITY_MAX_ENTRIES)
		return -EINVAL;
	while (buckets < 2 * capacity)
		buckets *= 2;
	ring_off = align_up(sizeof(struct header), 64);
	index_off = align_up(ring_off + capacity * sizeof(struct entry), 64);
	t.map_size = index_off + buckets * sizeof(uint32_t);
	/* zero-filled: an empty table; pages are only backed once written */
	map = mmap(NULL, t.map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	t.head = map;
	r = shm_lock_init(&t.head->lock);
	if (r < 0) {
		munmap(map, t.map_size);
		t.head = NULL;
		return r;
	}
	if (getrandom(&t.seed, sizeof(t.seed), GRND_NONBLOCK) != (ssize_t)sizeof(t.seed)) {
		struct timespec now;

		clock_gettime(CLOCK_MONOTONIC, &now);
		t.seed = (uint64_t)now.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	}
	t.ring = (struct entry *)((char *)map + ring_off);
	t.index = (uint32_t *)((char *)map + index_off);
	t.capacity = (uint32_t)capacity;
	t.mask = (uint32_t)(buckets - 1);
	t.map = map;
	return 0;
}

void response_affinity_free(void)
{
	if (!t.map)
		return;
	munmap(t.map, t.map_size);
	memset(&t, 0, sizeof(t));
}

bool response_affinity_lookup(const char *response_id, size_t id_len, char *deployment_id,
                              size_t size)
{
	uint64_t hash;
	bool hit = false;
	long b;

	if (!t.map)
		return false;
	if (id_len == 0 || id_len > RESPONSE_AFFINITY_ID_MAX || size == 0) {
		count(&t.head->misses);
		return false;
	}
	hash = hash_id(response_id, id_len);
	if (lock()) {
		b = find(response_id, id_len, hash);
		if (b >= 0) {
			const struct entry *e = &t.ring[bucket_slot((uint32_t)b)];

			if (entry_sane(e) && e->deployment_len < size) {
				memcpy(deployment_id, e->deployment, e->deployment_len + 1u);
				hit = true;
			}
		}
		shm_unlock(&t.head->lock);
	}
	count(hit ? &t.head->hits : &t.head->misses);
	return hit;
}

/* Writes slot E, invalid while its bytes change. */
static void write_entry(struct entry *e, uint64_t hash, const char *id, size_t id_len,
                        const char *deployment, size_t deployment_len)
{
	__atomic_store_n(&e->valid, 0, __ATOMIC_RELEASE);
	e->hash = hash;
	e->id_len = (uint8_t)id_len;
	memcpy(e->id, id, id_len);
	e->deployment_len = (uint8_t)deployment_len;
	memcpy(e->deployment, deployment, deployment_len + 1);
	__atomic_store_n(&e->valid, 1, __ATOMIC_RELEASE);
}

void response_affinity_learn(const char *response_id, size_t id_len, const char *deployment_id)
{
	size_t deployment_len;
	uint64_t hash;
	uint32_t slot;
	long b;

	if (!t.map || id_len == 0 || id_len > RESPONSE_AFFINITY_ID_MAX || !deployment_id)
		return;
	deployment_len = strnlen(deployment_id, RESPONSE_AFFINITY_DEPLOYMENT_MAX + 1);
	if (deployment_len == 0 || deployment_len > RESPONSE_AFFINITY_DEPLOYMENT_MAX)
		return;
	hash = hash_id(response_id, id_len);
	if (!lock())
		return;
	b = find(response_id, id_len, hash);
	if (b >= 0) {
		/* known: a new deployment, the same age */
		write_entry(&t.ring[bucket_slot((uint32_t)b)], hash, response_id, id_len,
		            deployment_id, deployment_len);
	} else {
		slot = t.head->tail < t.capacity ? t.head->tail : 0;
		if (t.ring[slot].valid) {
			/* the oldest entry makes room */
			long old = bucket_of(slot);

			if (old >= 0)
				index_remove((uint32_t)old);
			__atomic_store_n(&t.ring[slot].valid, 0, __ATOMIC_RELEASE);
			__atomic_fetch_sub(&t.head->entries, 1, __ATOMIC_RELAXED);
			count(&t.head->evicted);
		}
		write_entry(&t.ring[slot], hash, response_id, id_len, deployment_id,
		            deployment_len);
		index_insert(slot);
		t.head->tail = (slot + 1) % t.capacity;
		count(&t.head->entries);
	}
	count(&t.head->learned);
	shm_unlock(&t.head->lock);
}

void response_affinity_stats(struct response_affinity_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!t.map)
		return;
	out->capacity = t.capacity;
	out->entries = __atomic_load_n(&t.head->entries, __ATOMIC_RELAXED);
	out->hits = __atomic_load_n(&t.head->hits, __ATOMIC_RELAXED);
	out->misses = __atomic_load_n(&t.head->misses, __ATOMIC_RELAXED);
	out->learned = __atomic_load_n(&t.head->learned, __ATOMIC_RELAXED);
	out->evicted = __atomic_load_n(&t.head->evicted, __ATOMIC_RELAXED);
}
