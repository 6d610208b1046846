/*
 * shm_lock: a mutex for memory shared by the supervisor's forked processes
 * (a MAP_SHARED mapping made before the fork). A process-shared, robust
 * pthread mutex, taken with a bound on the wait:
 *
 * - a holder that dies (SIGKILL, crash) does not wedge the others: the next
 *   caller gets the lock with *ret_recovered set and must repair what the
 *   dead holder may have left half-written before unlocking;
 * - a holder that stops without dying (SIGSTOP, a debugger) costs every
 *   other caller at most SHM_LOCK_WAIT_MS per attempt: shm_lock() then
 *   returns -ETIMEDOUT and the caller goes on without the shared state.
 *
 * Pure library code: no logging, no allocation.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>

/* Longer than a loaded machine keeps a preempted holder off the CPU (5 ms
 * lost calls in a 4-writer test on 2 busy cores), short next to an upstream
 * round trip. */
#define SHM_LOCK_WAIT_MS 20

struct shm_lock {
	pthread_mutex_t mutex;
};

/* LOCK lies in memory every process that uses it maps shared. 0 or -errno. */
int shm_lock_init(struct shm_lock *lock);
void shm_lock_destroy(struct shm_lock *lock);

/*
 * 0 with the lock held (*RET_RECOVERED true when its previous holder died
 * holding it: the caller repairs the state first), -ETIMEDOUT after
 * SHM_LOCK_WAIT_MS, or another -errno (a lock made unusable by an earlier
 * failed repair: -ENOTRECOVERABLE).
 */
int shm_lock(struct shm_lock *lock, bool *ret_recovered);
void shm_unlock(struct shm_lock *lock);
