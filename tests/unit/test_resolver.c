/*
 * Unit tests of worker/upstream/resolver.c: the freshness rule, and lookups through
 * its helper thread on a real event loop for names /etc/hosts and numeric
 * parsing answer without a network (localhost, 127.0.0.1): answers, the
 * cache, shared lookups, cancelling, and freeing with a lookup in flight.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "resolver.h"
#include "tap.h"

struct answer {
	int calls, err;
	size_t n;
	struct sockaddr_storage addr;
	socklen_t len;
	struct resolver *cancel_other_r;
	struct resolver_query *cancel_other;
};

static void on_answer(void *ctx, int err, const struct resolver_answer *answer)
{
	struct answer *a = ctx;

	a->calls++;
	a->err = err;
	if (answer) {
		a->n = answer->n;
		memcpy(&a->addr, &answer->addr[0], answer->len[0]);
		a->len = answer->len[0];
	}
	if (a->cancel_other) {
		resolver_cancel(a->cancel_other);
		a->cancel_other = NULL;
	}
}

static bool is_loopback(const struct answer *a, uint16_t port)
{
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;

		return ntohl(in->sin_addr.s_addr) >> 24 == 127 && ntohs(in->sin_port) == port;
	}
	if (a->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->addr;

		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) && ntohs(in6->sin6_port) == port;
	}
	return false;
}

/* Runs the loop until every answer in A[0..N) came, or 10 s. */
static void wait_answers(struct event_base *base, struct answer *a, int n)
{
	for (int round = 0; round < 1000; round++) {
		int missing = 0;

		for (int i = 0; i < n; i++)
			missing += a[i].calls == 0;
		if (!missing)
			return;
		struct timeval tv = {.tv_sec = 0, .tv_usec = 10000};
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void test_fresh(void)
{
	tap_ok(resolver_fresh(1000, 1000), "an answer is fresh when it comes");
	tap_ok(resolver_fresh(1000, 1000 + RESOLVER_TTL_MS - 1), "fresh until the TTL");
	tap_ok(!resolver_fresh(1000, 1000 + RESOLVER_TTL_MS), "stale at the TTL");
	tap_ok(!resolver_fresh(5000, 1000), "stale if the clock went backwards");
}

static void test_lookups(void)
{
	struct event_base *base = event_base_new();
	struct resolver *r = resolver_new(base);
	struct answer a[3] = {{0}};
	struct resolver_query *q;
	struct resolver_answer cached;
	char long_name[RESOLVER_NAME_MAX + 2];

	tap_ok(r != NULL, "resolver_new");
	tap_ok(!resolver_cached(r, "localhost", 8080, &cached), "nothing cached at first");

	/* two lookups of one name share one answer; neither runs inside lookup */
	tap_ok(resolver_lookup(r, "localhost", 8080, on_answer, &a[0]) != NULL, "lookup starts");
	tap_ok(resolver_lookup(r, "localhost", 8080, on_answer, &a[1]) != NULL,
	       "second lookup joins");
	tap_ok(a[0].calls == 0 && a[1].calls == 0, "no callback from inside resolver_lookup");
	wait_answers(base, a, 2);
	tap_ok(a[0].calls == 1 && a[0].err == 0 && is_loopback(&a[0], 8080),
	       "localhost resolves to a loopback address with the port");
	tap_ok(a[0].n >= 1 && a[0].n <= RESOLVER_MAX_ADDRS, "with 1 to %d addresses",
	       RESOLVER_MAX_ADDRS);
	tap_ok(a[1].calls == 1 && a[1].len == a[0].len &&
	               memcmp(&a[1].addr, &a[0].addr, a[0].len) == 0,
	       "the joined lookup gets the same answer");
	tap_ok(resolver_cached(r, "localhost", 8080, &cached) && cached.n == a[0].n &&
	               cached.len[0] == a[0].len &&
	               memcmp(&cached.addr[0], &a[0].addr, a[0].len) == 0,
	       "the answer is cached");
	tap_ok(!resolver_cached(r, "localhost", 8081, &cached), "the cache is per port");

	/* a cancelled query never gets its callback; the other one does */
	memset(a, 0, sizeof(a));
	q = resolver_lookup(r, "127.0.0.1", 443, on_answer, &a[0]);
	resolver_lookup(r, "127.0.0.1", 443, on_answer, &a[1]);
	resolver_cancel(q);
	wait_answers(base, &a[1], 1);
	tap_ok(a[0].calls == 0 && a[1].calls == 1 && is_loopback(&a[1], 443),
	       "a cancelled query is forgotten, the other is answered");

	/* a callback that cancels a query answered in the same round */
	memset(a, 0, sizeof(a));
	resolver_lookup(r, "127.0.0.2", 80, on_answer, &a[0]);
	a[1].cancel_other = resolver_lookup(r, "127.0.0.2", 80, on_answer, &a[2]);
	a[1].cancel_other_r = r;
	resolver_lookup(r, "127.0.0.2", 80, on_answer, &a[1]);
	wait_answers(base, a, 2);
	tap_ok(a[0].calls == 1 && a[1].calls == 1, "the round's other queries are answered");

	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	tap_ok(resolver_lookup(r, long_name, 80, on_answer, &a[0]) == NULL,
	       "a name over 253 bytes is refused");

	/* freed with a lookup in flight: no callback, no leak (ASan/valgrind) */
	memset(a, 0, sizeof(a));
	resolver_lookup(r, "localhost", 9, on_answer, &a[0]);
	resolver_free(r);
	tap_ok(a[0].calls == 0, "freeing drops pending queries without callbacks");
	event_base_free(base);
	/* a detached thread ends by itself: give it the time, so that the
	 * process does not exit under it (valgrind would see its stack) */
	usleep(300 * 1000);
}

int main(void)
{
	test_fresh();
	test_lookups();
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}
