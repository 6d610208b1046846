/*
 * response_affinity: which deployment created a Responses API response, by
 * its id, in a bounded table every worker of the instance shares (issue 16,
 * "Stored state follows its deployment"). A follow-up that names a response
 * (previous_response_id, GET/DELETE/cancel/input_items by id) is sent first
 * to the deployment the table names; a miss (the table is off, the id is
 * older than what it holds, the instance restarted, another instance created
 * it) costs only the not-found walk over the group's deployments. The table
 * makes affinity fast, never correct.
 *
 * Lifetime: the supervisor maps it (response_affinity_init()) before it forks
 * the first worker and keeps it until it exits, so the workers of every
 * generation, before and after reloads, see the one table; its size is fixed
 * at start (llmgate.response_affinity_entries, a restart to change).
 *
 * Design: one MAP_SHARED|MAP_ANONYMOUS mapping: a header, a ring of
 * CAPACITY fixed-size entries in the order they were learned (a new id takes
 * the slot of the oldest: oldest evicted first) and a hash index over the
 * ring (linear probing, at least twice as many buckets as entries, deletion
 * by backward shift, a per-instance random seed). Keys are response ids of
 * 1 to RESPONSE_AFFINITY_ID_MAX bytes (longer ones are neither learned nor
 * looked up); values a deployment's model_info.id, stable across reloads, of
 * 1 to RESPONSE_AFFINITY_DEPLOYMENT_MAX bytes. Learning an id the table holds
 * updates its deployment, not its age.
 *
 * Concurrency: one robust, process-shared mutex (shm_lock.h) around each
 * lookup and learn. A critical section is one index probe and a copy of at
 * most ~300 bytes, so a mutex costs less than a seqlock's retry logic and
 * keeps eviction (which moves index entries) simple; contention between a
 * handful of workers is negligible next to an upstream round trip. A worker
 * killed while holding it does not wedge the others: the next one gets the
 * lock marked "owner died" and rebuilds the index from the ring, where every
 * entry is marked invalid while it is being written. A holder that is stopped
 * rather than killed costs the others at most SHM_LOCK_WAIT_MS per call, after
 * which they go on without the table (a miss, or nothing learned), until the
 * supervisor kills the silent worker (10 s without a PONG), which frees it.
 * Counters (hits, misses, learned, evicted, entries) are atomics, so the
 * supervisor reads them for /metrics without ever taking the lock: a wedged
 * worker cannot stall it.
 *
 * Everything read from the shared mapping is validated before use (indexes,
 * lengths): a misbehaving worker can cost the others an entry, not a crash.
 * Not initialised (or initialised with capacity 0: the table is off), lookup
 * misses without counting and learn does nothing.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESPONSE_AFFINITY_ID_MAX         128 /* bytes of a response id */
#define RESPONSE_AFFINITY_DEPLOYMENT_MAX 127 /* bytes of a model_info.id, without NUL */
#define RESPONSE_AFFINITY_MAX_ENTRIES    1048576

/* Supervisor, before any fork: maps a table of CAPACITY entries (0: off).
 * 0, -EINVAL (capacity over RESPONSE_AFFINITY_MAX_ENTRIES), -EBUSY (already
 * initialised) or the mmap/mutex -errno. */
int response_affinity_init(size_t capacity);

/* Supervisor at exit (and tests): unmaps this process's view. */
void response_affinity_free(void);

/* The deployment that created RESPONSE_ID (ID_LEN bytes, no NUL needed),
 * copied NUL-terminated into DEPLOYMENT_ID; false when the table does not
 * know it (or the name does not fit SIZE). */
bool response_affinity_lookup(const char *response_id, size_t id_len, char *deployment_id,
                              size_t size);

/* Records that DEPLOYMENT_ID (NUL-terminated) created RESPONSE_ID, evicting
 * the oldest entry when the table is full. Ids or names over the limits are
 * ignored. */
void response_affinity_learn(const char *response_id, size_t id_len, const char *deployment_id);

struct response_affinity_stats {
	uint64_t entries, capacity, hits, misses, learned, evicted;
};

/* Current figures (all 0 when the table is off). Never blocks. */
void response_affinity_stats(struct response_affinity_stats *out);
