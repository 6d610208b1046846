/*
 * Unit tests of the shared response-id table (common/response_affinity.c)
 * and its lock (common/shm_lock.c): lookups after learning, capacity,
 * eviction order, overwrite, the limits, the disabled table, and, with
 * fork()ed processes (a few thousand operations each; a 60 s alarm is only a
 * safety net for slow runs under valgrind), cross-process visibility, no
 * lost updates under contention, and that a process killed while holding
 * the lock wedges nobody.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "response_affinity.h"
#include "shm_lock.h"
#include "tap.h"

static bool has(const char *id, const char *want)
{
	char dep[RESPONSE_AFFINITY_DEPLOYMENT_MAX + 1] = "";
	bool hit = response_affinity_lookup(id, strlen(id), dep, sizeof(dep));

	return want ? hit && strcmp(dep, want) == 0 : !hit;
}

static void learn(const char *id, const char *dep)
{
	response_affinity_learn(id, strlen(id), dep);
}

static struct response_affinity_stats stats(void)
{
	struct response_affinity_stats s;

	response_affinity_stats(&s);
	return s;
}

static void test_disabled(void)
{
	struct response_affinity_stats s;

	learn("resp_1", "dep-a");
	tap_ok(has("resp_1", NULL), "not initialised: lookup misses, learn does nothing");
	s = stats();
	tap_ok(s.capacity == 0 && s.entries == 0 && s.misses == 0 && s.learned == 0,
	       "not initialised: all figures 0");
	tap_ok(response_affinity_init(0) == 0, "capacity 0 (off) initialises nothing");
	learn("resp_1", "dep-a");
	tap_ok(has("resp_1", NULL) && stats().capacity == 0, "off: still a miss, uncounted");
	tap_ok(response_affinity_init(RESPONSE_AFFINITY_MAX_ENTRIES + 1) == -EINVAL,
	       "over the maximum capacity: -EINVAL");
}

static void test_basic(void)
{
	char dep[8];
	struct response_affinity_stats s;

	tap_ok(response_affinity_init(4) == 0, "init 4 entries");
	tap_ok(response_affinity_init(4) == -EBUSY, "a second init: -EBUSY");
	learn("resp_a", "dep-a");
	learn("resp_b", "dep-b");
	tap_ok(has("resp_a", "dep-a") && has("resp_b", "dep-b"), "lookup after learn");
	tap_ok(has("resp_c", NULL), "unknown id misses");
	tap_ok(!response_affinity_lookup("resp_a", 5, dep, sizeof(dep)),
	       "a prefix of a known id misses");
	tap_ok(!response_affinity_lookup("resp_a", 6, dep, 5), "a name that does not fit misses");
	s = stats();
	tap_ok(s.capacity == 4 && s.entries == 2 && s.learned == 2 && s.hits == 2 &&
	               s.misses == 3 && s.evicted == 0,
	       "stats: 2 entries, 2 hits, 3 misses (%llu, %llu, %llu)",
	       (unsigned long long)s.entries, (unsigned long long)s.hits,
	       (unsigned long long)s.misses);

	/* overwrite: the new deployment, the same age */
	learn("resp_a", "dep-z");
	tap_ok(has("resp_a", "dep-z") && stats().entries == 2, "learning a known id updates it");
	learn("resp_c", "dep-c");
	learn("resp_d", "dep-d");
	learn("resp_e", "dep-e");
	tap_ok(has("resp_a", NULL) && has("resp_b", "dep-b") && has("resp_e", "dep-e"),
	       "full: the oldest (resp_a, though updated later) is evicted first");
	learn("resp_f", "dep-f");
	learn("resp_g", "dep-g");
	tap_ok(has("resp_b", NULL) && has("resp_c", NULL) && has("resp_d", "dep-d") &&
	               has("resp_f", "dep-f") && has("resp_g", "dep-g"),
	       "then resp_b and resp_c, in learning order");
	s = stats();
	tap_ok(s.entries == 4 && s.evicted == 3 && s.learned == 8,
	       "4 entries, 3 evicted, 8 learned");
	response_affinity_free();
	tap_ok(has("resp_g", NULL) && stats().capacity == 0, "freed: off again");
}

static void test_limits(void)
{
	char id[RESPONSE_AFFINITY_ID_MAX + 2], dep[RESPONSE_AFFINITY_DEPLOYMENT_MAX + 2];
	char out[RESPONSE_AFFINITY_DEPLOYMENT_MAX + 1];

	response_affinity_init(8);
	memset(id, 'i', sizeof(id));
	memset(dep, 'd', sizeof(dep));
	dep[RESPONSE_AFFINITY_DEPLOYMENT_MAX] = '\0';
	response_affinity_learn(id, RESPONSE_AFFINITY_ID_MAX + 1, "dep-a");
	tap_ok(stats().entries == 0, "an id over %d bytes is not learned",
	       RESPONSE_AFFINITY_ID_MAX);
	tap_ok(!response_affinity_lookup(id, RESPONSE_AFFINITY_ID_MAX + 1, out, sizeof(out)),
	       "nor found");
	response_affinity_learn(id, RESPONSE_AFFINITY_ID_MAX, dep);
	tap_ok(response_affinity_lookup(id, RESPONSE_AFFINITY_ID_MAX, out, sizeof(out)) &&
	               strcmp(out, dep) == 0,
	       "an id of %d bytes and a deployment of %d are kept", RESPONSE_AFFINITY_ID_MAX,
	       RESPONSE_AFFINITY_DEPLOYMENT_MAX);
	dep[RESPONSE_AFFINITY_DEPLOYMENT_MAX] = 'd';
	dep[RESPONSE_AFFINITY_DEPLOYMENT_MAX + 1] = '\0';
	learn("resp_long_dep", dep);
	learn("resp_empty_dep", "");
	response_affinity_learn("", 0, "dep-a");
	tap_ok(stats().entries == 1, "a longer or empty deployment and an empty id are ignored");
	response_affinity_free();
}

/* Many more ids than slots: exactly the newest CAPACITY remain findable (the
 * index survives thousands of backward-shift deletions). */
static void test_churn(void)
{
	enum { CAP = 1000, N = 50000 };
	char id[32], dep[32], out[32];
	int found_new = 0, found_old = 0, right = 0;

	response_affinity_init(CAP);
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "resp_%08x", (unsigned)i * 2654435761u);
		snprintf(dep, sizeof(dep), "dep-%d", i % 7);
		response_affinity_learn(id, strlen(id), dep);
	}
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "resp_%08x", (unsigned)i * 2654435761u);
		snprintf(dep, sizeof(dep), "dep-%d", i % 7);
		if (response_affinity_lookup(id, strlen(id), out, sizeof(out))) {
			if (i >= N - CAP)
				found_new++;
			else
				found_old++;
			right += strcmp(out, dep) == 0;
		}
	}
	tap_ok(found_new == CAP && found_old == 0 && right == CAP,
	       "after %d learns into %d slots: the newest %d found (%d), no older (%d)", N, CAP,
	       CAP, found_new, found_old);
	tap_ok(stats().entries == CAP && stats().evicted == N - CAP, "%d entries, %d evicted", CAP,
	       N - CAP);
	response_affinity_free();
}

/* The lock alone: a holder that dies hands it over marked; one that stops
 * costs a bounded wait. */
static void test_lock(void)
{
	struct shm_lock *lock = mmap(NULL, sizeof(*lock), PROT_READ | PROT_WRITE,
	                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct timespec t0, t1;
	bool recovered;
	int p[2], status;
	pid_t pid;
	char c;

	if (!tap_ok(lock != MAP_FAILED && shm_lock_init(lock) == 0 && pipe(p) == 0, "lock set up"))
		return;
	fflush(stdout); /* or the child's exit prints the TAP lines again */
	pid = fork();
	if (pid == 0) {
		shm_lock(lock, &recovered);
		_exit(0); /* dies holding it */
	}
	waitpid(pid, &status, 0);
	tap_ok(shm_lock(lock, &recovered) == 0 && recovered,
	       "the holder died: the next caller gets the lock, marked recovered");
	shm_unlock(lock);
	tap_ok(shm_lock(lock, &recovered) == 0 && !recovered, "then it is an ordinary lock again");
	shm_unlock(lock);

	fflush(stdout); /* or the child's exit prints the TAP lines again */
	pid = fork();
	if (pid == 0) {
		shm_lock(lock, &recovered);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause(); /* stops holding it */
		_exit(0);
	}
	tap_ok(read(p[0], &c, 1) == 1, "the child holds the lock");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = shm_lock(lock, &recovered);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long waited_ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	tap_ok(r == -ETIMEDOUT && waited_ms >= SHM_LOCK_WAIT_MS - 1 && waited_ms < 1000,
	       "a stopped holder: -ETIMEDOUT after %ld ms", waited_ms);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	tap_ok(shm_lock(lock, &recovered) == 0 && recovered, "killed: the lock comes back");
	shm_unlock(lock);
	close(p[0]);
	close(p[1]);
	shm_lock_destroy(lock);
	munmap(lock, sizeof(*lock));
}

/*
 * WRITERS processes learn PER ids each, all at once, looking up each other's
 * as they go; the parent then finds every one of them with its writer. A
 * call may give up on the lock after SHM_LOCK_WAIT_MS when a loaded machine
 * preempts its holder (by design: a miss, or nothing learned), so a writer
 * whose learn waited that long checks the id and learns it again if needed,
 * counting the retries; an id lost to a concurrent writer is never retried,
 * and must never happen.
 */
enum { WRITERS = 4, PER = 4000 };

struct shared_counts {
	uint64_t lookups, retries;
};

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void learn_surely(const char *id, const char *dep, struct shared_counts *shared)
{
	char out[32];

	for (int tries = 0; tries < 100; tries++) {
		long t0 = now_ms();

		response_affinity_learn(id, strlen(id), dep);
		if (now_ms() - t0 < SHM_LOCK_WAIT_MS / 2)
			return; /* it did not wait for the lock: learned */
		__atomic_fetch_add(&shared->retries, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&shared->lookups, 1, __ATOMIC_RELAXED);
		if (response_affinity_lookup(id, strlen(id), out, sizeof(out)))
			return;
	}
}

static void writer(int w, struct shared_counts *shared)
{
	char id[32], dep[32], out[32];

	alarm(60);
	snprintf(dep, sizeof(dep), "dep-%d", w);
	for (int i = 0; i < PER; i++) {
		snprintf(id, sizeof(id), "resp_%d_%d", w, i);
		learn_surely(id, dep, shared);
		snprintf(id, sizeof(id), "resp_%d_%d", (w + 1) % WRITERS, i);
		__atomic_fetch_add(&shared->lookups, 1, __ATOMIC_RELAXED);
		(void)response_affinity_lookup(id, strlen(id), out, sizeof(out));
	}
	_exit(0);
}

static void test_processes(void)
{
	struct shared_counts *shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE,
	                                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char id[32], dep[32], out[32];
	int ok = 0, p[2], status, clean = 0;
	pid_t pids[WRITERS];

	if (!tap_ok(shared != MAP_FAILED, "counters mapped"))
		return;
	response_affinity_init(WRITERS * PER);
	for (int w = 0; w < WRITERS; w++) {
		fflush(stdout); /* or the child's exit prints the TAP lines again */
		pids[w] = fork();
		if (pids[w] == 0)
			writer(w, shared);
	}
	for (int w = 0; w < WRITERS; w++)
		if (waitpid(pids[w], &status, 0) == pids[w] && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			clean++;
	tap_ok(clean == WRITERS, "%d writer processes finished (%llu calls gave up on the lock)",
	       WRITERS, (unsigned long long)shared->retries);
	for (int w = 0; w < WRITERS; w++)
		for (int i = 0; i < PER; i++) {
			snprintf(id, sizeof(id), "resp_%d_%d", w, i);
			snprintf(dep, sizeof(dep), "dep-%d", w);
			ok += response_affinity_lookup(id, strlen(id), out, sizeof(out)) &&
			      strcmp(out, dep) == 0;
		}
	struct response_affinity_stats s = stats();
	tap_ok(ok == WRITERS * PER, "every id learned in a child is seen by the parent (%d of %d)",
	       ok, WRITERS * PER);
	tap_ok(s.entries == WRITERS * PER && s.learned >= WRITERS * PER &&
	               s.learned <= WRITERS * PER + shared->retries && s.evicted == 0,
	       "no lost updates: %llu entries, %llu learned", (unsigned long long)s.entries,
	       (unsigned long long)s.learned);
	tap_ok(s.hits + s.misses == shared->lookups + WRITERS * PER,
	       "every lookup counted once (%llu hits + %llu misses)", (unsigned long long)s.hits,
	       (unsigned long long)s.misses);

	/* the other way round: the parent learns after the fork, the child sees it */
	if (pipe(p) == 0) {
		fflush(stdout); /* or the child's exit prints the TAP lines again */
		pid_t pid = fork();
		char c = 0;

		if (pid == 0) {
			alarm(60);
			if (read(p[0], &c, 1) != 1)
				_exit(2);
			_exit(response_affinity_lookup("resp_late", 9, out, sizeof(out)) &&
			                      strcmp(out, "dep-late") == 0
			              ? 0
			              : 1);
		}
		learn("resp_late", "dep-late");
		if (write(p[1], "x", 1) != 1)
			kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		       "an id learned by the parent after the fork is seen by the child");
		close(p[0]);
		close(p[1]);
	}
	response_affinity_free();
	munmap(shared, sizeof(*shared));
}

/*
 * A writer stopped in the middle of learning, then SIGKILLed, round after
 * round. While it is stopped the parent's calls must not wait for it (a miss
 * when it holds the lock: that is how a round knows it caught the lock
 * held); once it is dead the table must work again and still hold the ids
 * the writer had finished learning.
 */
static void test_killed_writers(void)
{
	enum { CAP = 64, ROUNDS = 200, CHECK = 50 };
	volatile unsigned *progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
	                                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int rounds = 0, caught = 0, usable = 0, kept = 0;
	char id[48], out[32];

	if (!tap_ok(progress != MAP_FAILED, "progress counter mapped"))
		return;
	response_affinity_init(CAP);
	for (int round = 0; round < ROUNDS && caught < 20; round++, rounds++) {
		struct timespec nap = {0, 100000};
		unsigned done;
		int status;
		pid_t pid;

		*progress = 0;
		fflush(stdout); /* or the child's exit prints the TAP lines again */
		pid = fork();
		if (pid == 0) {
			alarm(60);
			for (unsigned i = 0;; i++) {
				snprintf(id, sizeof(id), "resp_k%d_%u", round, i);
				response_affinity_learn(id, strlen(id), "dep-k");
				*progress = i + 1;
			}
		}
		while (*progress < 200)
			nanosleep(&nap, NULL);
		kill(pid, SIGSTOP);
		waitpid(pid, &status, WUNTRACED);
		alarm(60);
		snprintf(id, sizeof(id), "resp_probe_%d", round);
		learn(id, "dep-probe");
		caught += !response_affinity_lookup(id, strlen(id), out, sizeof(out));
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		done = *progress;

		snprintf(id, sizeof(id), "resp_after_%d", round);
		learn(id, "dep-after");
		usable += response_affinity_lookup(id, strlen(id), out, sizeof(out)) &&
		          strcmp(out, "dep-after") == 0;
		bool all = true;
		for (unsigned i = done - CHECK; i < done; i++) {
			snprintf(id, sizeof(id), "resp_k%d_%u", round, i);
			all = all && response_affinity_lookup(id, strlen(id), out, sizeof(out)) &&
			      strcmp(out, "dep-k") == 0;
		}
		kept += all;
		alarm(0);
	}
	struct response_affinity_stats s = stats();
	tap_ok(caught >= 1,
	       "a writer was caught holding the lock (%d of %d rounds): the others "
	       "missed instead of waiting",
	       caught, rounds);
	tap_ok(usable == rounds, "after each kill the next learn and lookup work (%d of %d)",
	       usable, rounds);
	tap_ok(kept == rounds, "and the last %d ids the dead writer learned are found (%d of %d)",
	       CHECK, kept, rounds);
	tap_ok(s.entries <= CAP && s.learned > (uint64_t)rounds,
	       "figures stay sane: %llu entries of %d, %llu learned", (unsigned long long)s.entries,
	       CAP, (unsigned long long)s.learned);
	response_affinity_free();
	munmap((void *)progress, sizeof(*progress));
}

int main(void)
{
	test_disabled();
	test_basic();
	test_limits();
	test_churn();
	test_lock();
	test_processes();
	test_killed_writers();
	return tap_done();
}
