/*
 * resolver: asynchronous getaddrinfo() with a small cache, for the worker's
 * own upstream client (see resolver.h).
 *
 * The loop side owns the cache (one entry per name and port: resolving, or
 * an answer with the time it came) and the waiting queries. The helper
 * thread only ever sees a shared block: a queue of names to resolve, a queue
 * of answers, and the eventfd that wakes the loop. The block is reference
 * counted (loop and thread), so the thread may still be inside getaddrinfo()
 * when the worker frees its resolver: it is then detached, finishes, finds no
 * one listening and frees the block, eventfd included, itself. An idle thread
 * is joined.
 */
#include "resolver.h"

#include <errno.h>
#include <event2/event.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "clock.h"

#define RESOLVER_MAX_ENTRIES 1024

/* One name to resolve, then its answer. */
struct job {
	struct job *next;
	char name[RESOLVER_NAME_MAX + 1];
	uint16_t port;
	int err;
	struct resolver_answer answer;
};

/* What the loop and the thread share; every field under LOCK. */
struct shared {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct job *todo, *todo_tail;
	struct job *done;
	int efd;
	int refs;
	bool stopping;
	bool busy; /* the thread is inside getaddrinfo() */
};

struct resolver_query {
	struct resolver_query *next;
	struct entry *entry;
	resolver_cb cb;
	void *ctx;
};

struct entry {
	struct entry *next;
	char name[RESOLVER_NAME_MAX + 1];
	uint16_t port;
	bool resolving;
	int64_t stored_ms;
	struct resolver_answer answer;
	struct resolver_query *waiting;
};

struct resolver {
	struct event_base *base;
	struct shared *shared;
	struct event *ev;
	bool thread_started;
	pthread_t thread;
	struct entry *entries;
	size_t n_entries;
};

bool resolver_fresh(int64_t stored_ms, int64_t now)
{
	return now >= stored_ms && now - stored_ms < RESOLVER_TTL_MS;
}

const char *resolver_strerror(int err)
{
	return err == EAI_SYSTEM ? "system error while resolving" : gai_strerror(err);
}

static void shared_unref(struct shared *s)
{
	bool last;

	pthread_mutex_lock(&s->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (!last)
		return;
	while (s->todo) {
		struct job *j = s->todo;

		s->todo = j->next;
		free(j);
	}
	while (s->done) {
		struct job *j = s->done;

		s->done = j->next;
		free(j);
	}
	if (s->efd >= 0)
		close(s->efd);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* The thread's part of a job: the first addresses, in getaddrinfo()'s order. */
static void job_resolve(struct job *j)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char port[8];

	snprintf(port, sizeof(port), "%u", (unsigned)j->port);
	j->err = getaddrinfo(j->name, port, &hints, &res);
	for (struct addrinfo *ai = j->err ? NULL : res; ai; ai = ai->ai_next) {
		struct resolver_answer *a = &j->answer;

		if (a->n == RESOLVER_MAX_ADDRS)
			break;
		if (ai->ai_addrlen > sizeof(a->addr[0]))
			continue;
		memcpy(&a->addr[a->n], ai->ai_addr, ai->ai_addrlen);
		a->len[a->n++] = ai->ai_addrlen;
	}
	if (!j->err && j->answer.n == 0)
		j->err = EAI_FAIL;
	if (res)
		freeaddrinfo(res);
}

static void *thread_main(void *arg)
{
	struct shared *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct job *j;
		uint64_t one = 1;

		while (!s->todo && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (s->stopping)
			break;
		j = s->todo;
		s->todo = j->next;
		if (!s->todo)
			s->todo_tail = NULL;
		s->busy = true;
		pthread_mutex_unlock(&s->lock);
		job_resolve(j);
		pthread_mutex_lock(&s->lock);
		s->busy = false;
		j->next = s->done;
		s->done = j;
		/* fails only when the counter is full: the loop is woken anyway */
		(void)!write(s->efd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&s->lock);
	shared_unref(s);
	return NULL;
}

/* The thread takes no signals: they are the loop's. */
static int thread_start(struct resolver *r)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int err;

	if (pthread_attr_init(&attr))
		return -ENOMEM;
	/* NSS modules may want stack; only what is touched becomes resident */
	pthread_attr_setstacksize(&attr, 1024 * 1024);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r->shared->refs++; /* the loop does not share it yet: no lock needed */
	err = pthread_create(&r->thread, &attr, thread_main, r->shared);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err) {
		r->shared->refs--;
		return -err;
	}
	r->thread_started = true;
	return 0;
}

static struct entry *entry_find(struct resolver *r, const char *name, uint16_t port)
{
	for (struct entry *e = r->entries; e; e = e->next)
		if (e->port == port && strcmp(e->name, name) == 0)
			return e;
	return NULL;
}

static void entry_unlink(struct resolver *r, struct entry *e)
{
	for (struct entry **p = &r->entries; *p; p = &(*p)->next) {
		if (*p == e) {
			*p = e->next;
			r->n_entries--;
			return;
		}
	}
}

/* Forgets stale answers nobody waits for, to keep room. */
static void entries_prune(struct resolver *r, int64_t now)
{
	struct entry **p = &r->entries;

	while (*p) {
		struct entry *e = *p;

		if (!e->resolving && !resolver_fresh(e->stored_ms, now)) {
			*p = e->next;
			r->n_entries--;
			free(e);
		} else {
			p = &e->next;
		}
	}
}

/* An answer for the entry that asked: every waiting query gets it. */
static void job_answered(struct resolver *r, struct job *j)
{
	struct entry *e = entry_find(r, j->name, j->port);
	struct resolver_query *q;

	if (!e || !e->resolving)
		return;
	e->resolving = false;
	q = e->waiting;
	e->waiting = NULL;
	for (struct resolver_query *d = q; d; d = d->next)
		d->entry = NULL; /* being answered: a cancel only marks it */
	if (j->err) {
		entry_unlink(r, e);
		free(e);
	} else {
		e->answer = j->answer;
		e->stored_ms = clock_now_ms();
	}
	while (q) {
		struct resolver_query *next = q->next;

		if (q->cb)
			q->cb(q->ctx, j->err, j->err ? NULL : &j->answer);
		free(q);
		q = next;
	}
}

static void on_answers(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;
	struct shared *s = r->shared;
	struct job *done, *rev = NULL;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warning("resolver: reading the eventfd: %s", strerror(errno));
	pthread_mutex_lock(&s->lock);
	done = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->lock);
	while (done) { /* oldest first */
		struct job *next = done->next;

		done->next = rev;
		rev = done;
		done = next;
	}
	while (rev) {
		struct job *next = rev->next;

		job_answered(r, rev);
		free(rev);
		rev = next;
	}
}

struct resolver *resolver_new(struct event_base *base)
{
	struct resolver *r = calloc(1, sizeof(*r));
	struct shared *s = calloc(1, sizeof(*s));

	if (!r || !s)
		goto fail;
	s->efd = -1;
	s->refs = 1;
	r->shared = s;
	r->base = base;
	if (pthread_mutex_init(&s->lock, NULL)) {
		free(s);
		r->shared = NULL;
		goto fail;
	}
	pthread_cond_init(&s->wake, NULL);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0)
		goto fail;
	r->ev = event_new(base, s->efd, EV_READ | EV_PERSIST, on_answers, r);
	if (!r->ev || event_add(r->ev, NULL) < 0)
		goto fail;
	return r;
fail:
	resolver_free(r);
	if (!r)
		free(s);
	return NULL;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	if (r->ev)
		event_free(r->ev);
	while (r->entries) {
		struct entry *e = r->entries;

		r->entries = e->next;
		while (e->waiting) {
			struct resolver_query *q = e->waiting;

			e->waiting = q->next;
			free(q);
		}
		free(e);
	}
	if (r->shared) {
		bool busy;

		pthread_mutex_lock(&r->shared->lock);
		r->shared->stopping = true;
		busy = r->shared->busy;
		pthread_cond_signal(&r->shared->wake);
		pthread_mutex_unlock(&r->shared->lock);
		/* An idle thread ends at once; one inside getaddrinfo() may take the
		 * resolver's whole timeout, so it is left to end by itself. */
		if (r->thread_started) {
			if (busy)
				pthread_detach(r->thread);
			else
				pthread_join(r->thread, NULL);
		}
		shared_unref(r->shared);
	}
	free(r);
}

bool resolver_cached(struct resolver *r, const char *name, uint16_t port,
                     struct resolver_answer *answer)
{
	struct entry *e = entry_find(r, name, port);

	if (!e || e->resolving || !resolver_fresh(e->stored_ms, clock_now_ms()))
		return false;
	*answer = e->answer;
	return true;
}

/* Hands NAME to the thread. */
static int job_queue(struct resolver *r, const char *name, uint16_t port)
{
	struct shared *s = r->shared;
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->port = port;
	if (!r->thread_started) {
		int err = thread_start(r);

		if (err) {
			free(j);
			return err;
		}
	}
	pthread_mutex_lock(&s->lock);
	if (s->todo_tail)
		s->todo_tail->next = j;
	else
		s->todo = j;
	s->todo_tail = j;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* A fresh entry for NAME that is being resolved. */
static struct entry *entry_start(struct resolver *r, const char *name, uint16_t port)
{
	struct entry *e;

	if (r->n_entries >= RESOLVER_MAX_ENTRIES)
		entries_prune(r, clock_now_ms());
	if (r->n_entries >= RESOLVER_MAX_ENTRIES)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->port = port;
	e->resolving = true;
	if (job_queue(r, name, port) < 0) {
		free(e);
		return NULL;
	}
	e->next = r->entries;
	r->entries = e;
	r->n_entries++;
	return e;
}

struct resolver_query *resolver_lookup(struct resolver *r, const char *name, uint16_t port,
                                       resolver_cb cb, void *ctx)
{
	struct resolver_query *q;
	struct entry *e;

	if (strlen(name) > RESOLVER_NAME_MAX)
		return NULL;
	e = entry_find(r, name, port);
	if (e && !e->resolving) { /* stale (callers ask the cache first): resolve again */
		entry_unlink(r, e);
		free(e);
		e = NULL;
	}
	if (!e && !(e = entry_start(r, name, port)))
		return NULL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return NULL; /* the entry resolves anyway; its answer is cached */
	q->entry = e;
	q->cb = cb;
	q->ctx = ctx;
	q->next = e->waiting;
	e->waiting = q;
	return q;
}

void resolver_cancel(struct resolver_query *q)
{
	if (!q)
		return;
	if (!q->entry) { /* its answer is being delivered: job_answered frees it */
		q->cb = NULL;
		return;
	}
	for (struct resolver_query **p = &q->entry->waiting; *p; p = &(*p)->next) {
		if (*p == q) {
			*p = q->next;
			break;
		}
	}
	free(q);
}
