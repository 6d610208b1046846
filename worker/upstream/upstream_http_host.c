/*
 * upstream_http_host: the own client's host table (see upstream_http.h).
 * Runs in a worker. One entry per scheme and authority of the URLs seen,
 * never removed (they come from the config): where new connections go, the
 * pool of idle ones, and whether the host chose HTTP/2. A named host's
 * addresses are its last resolver answer; new connections keep to the one
 * that last worked, and move on to the next when one cannot be made.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "upstream_http_int.h"

struct uh_host *uh_host_find(const struct upstream_http *uh, const struct upstream_url *u)
{
	for (struct uh_host *h = uh->hosts; h; h = h->next)
		if (h->tls == u->tls && strcmp(h->key, u->authority) == 0)
			return h;
	return NULL;
}

struct uh_host *uh_host_get(struct upstream_http *uh, const struct upstream_url *u)
{
	struct uh_host *h = uh_host_find(uh, u);

	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	memcpy(h->key, u->authority, sizeof(h->key));
	memcpy(h->name, u->host, sizeof(h->name));
	h->tls = u->tls;
	h->resolve = u->resolve;
	h->port = u->port;
	h->addr = u->addr;
	h->addr_len = u->addr_len;
	h->next = uh->hosts;
	uh->hosts = h;
	return h;
}

static bool answer_same(const struct resolver_answer *a, const struct resolver_answer *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] || memcmp(&a->addr[i], &b->addr[i], a->len[i]) != 0)
			return false;
	return true;
}

void uh_host_use(struct uh_host *h, size_t pick)
{
	h->pick = pick;
	memcpy(&h->addr, &h->addrs.addr[pick], h->addrs.len[pick]);
	h->addr_len = h->addrs.len[pick];
}

/* H's addresses are A; an unchanged answer keeps the address that last worked. */
static void host_take_answer(struct uh_host *h, const struct resolver_answer *a)
{
	if (answer_same(&h->addrs, a)) {
		uh_host_use(h, h->pick);
		return;
	}
	h->addrs = *a;
	uh_host_use(h, 0);
}

/* Whether H has a fresh address (in h->addr) for a new connection. */
bool uh_host_resolved(struct upstream_http *uh, struct uh_host *h)
{
	struct resolver_answer a;

	if (!uh->resolver || !resolver_cached(uh->resolver, h->name, h->port, &a))
		return false;
	host_take_answer(h, &a);
	return true;
}

static void transfer_on_resolved(void *ctx, int err, const struct resolver_answer *answer)
{
	struct uh_transfer *t = ctx;
	struct uh_host *h = t->host;
	struct uh_conn *c;
	char what[RESOLVER_NAME_MAX + 96];

	t->query = NULL;
	if (err) {
		snprintf(what, sizeof(what), "could not resolve host '%s': %s", h->name,
		         resolver_strerror(err));
		uh_transfer_finish(t, UPSTREAM_ERR_DNS, what);
		return;
	}
	host_take_answer(h, answer);
	c = uh_conn_new(t->uh, h);
	if (!c) {
		uh_transfer_finish(t, UPSTREAM_ERR_INTERNAL, "cannot open a new connection");
		return;
	}
	if (uh_transfer_attach(t, c) < 0) {
		uh_transfer_release(t, false);
		uh_transfer_finish(t, UPSTREAM_ERR_INTERNAL, "out of memory");
	}
}

/* T waits for its host's name to resolve; it connects from the answer. */
int uh_host_resolve(struct uh_transfer *t)
{
	struct upstream_http *uh = t->uh;

	if (!uh->resolver && !(uh->resolver = resolver_new(uh->base)))
		return -ENOMEM;
	t->state = UH_RESOLVE;
	t->query = resolver_lookup(uh->resolver, t->host->name, t->host->port, transfer_on_resolved,
	                           t);
	return t->query ? 0 : -ENOMEM;
}
