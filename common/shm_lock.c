/*
 * shm_lock: a robust, process-shared mutex with a bounded wait (see
 * shm_lock.h). Used by the workers on the supervisor's shared tables; the
 * fast path is one uncontended trylock.
 */
#include "shm_lock.h"

#include <errno.h>
#include <time.h>

int shm_lock_init(struct shm_lock *lock)
{
	pthread_mutexattr_t attr;
	int r;

	r = pthread_mutexattr_init(&attr);
	if (r != 0)
		return -r;
	r = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (r == 0)
		r = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (r == 0)
		r = pthread_mutex_init(&lock->mutex, &attr);
	pthread_mutexattr_destroy(&attr);
	return -r;
}

void shm_lock_destroy(struct shm_lock *lock)
{
	pthread_mutex_destroy(&lock->mutex);
}

int shm_lock(struct shm_lock *lock, bool *ret_recovered)
{
	struct timespec until;
	int r;

	*ret_recovered = false;
	r = pthread_mutex_trylock(&lock->mutex);
	if (r == EBUSY) {
		/* timedlock measures against CLOCK_REALTIME; a clock step only
		 * changes how long this one wait lasts */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += SHM_LOCK_WAIT_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		r = pthread_mutex_timedlock(&lock->mutex, &until);
	}
	if (r == EOWNERDEAD) {
		/* the caller repairs, then the lock is usable again */
		pthread_mutex_consistent(&lock->mutex);
		*ret_recovered = true;
		return 0;
	}
	return -r;
}

void shm_unlock(struct shm_lock *lock)
{
	pthread_mutex_unlock(&lock->mutex);
}
