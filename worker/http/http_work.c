/*
 * http_work: what a connection of the HTTP server holds only while it is
 * busy (struct http_work, see http_conn.h) and the server's free list of
 * them; and the server's list of idle keep-alive connections under one
 * timer. Runs in a worker, from http_conn.c's events. Invariants: a work
 * in the free list is reset (no request, no pending event, its read buffer
 * at most the initial size) and belongs to no connection (it remembers
 * the last one only to skip setting up the same events again); the idle list
 * holds exactly the connections with IDLE_LISTED, in the order they went
 * idle, and the server's idle timer is pending while it is not empty.
 */
#include <assert.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "http_conn.h"

/* The idle list's clock: monotonic (a wall clock step moves no deadline),
 * and coarse: a few ms are nothing to an idle timeout. */
static int64_t idle_now_ms(void)
{
	return clock_coarse_ms();
}

static void idle_arm(struct http_server *srv, int64_t now_ms)
{
	int64_t ms = srv->idle_head->idle_ms + srv->opts.idle_timeout_ms - now_ms;
	struct timeval tv = clock_tv_ms(ms > 0 ? (long)ms + 1 : 1);

	evtimer_add(srv->ev_idle, &tv);
	srv->idle_armed = true;
}

void http_idle_add(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	c->idle_ms = idle_now_ms();
	c->idle_next = NULL;
	c->idle_prev = srv->idle_tail;
	if (srv->idle_tail)
		srv->idle_tail->idle_next = c;
	else
		srv->idle_head = c;
	srv->idle_tail = c;
	c->idle_listed = true;
	/* armed while the list is not empty; a timer that fires for one that
	 * left the list meanwhile only sets itself for the next */
	if (!srv->idle_armed)
		idle_arm(srv, c->idle_ms);
}

void http_idle_remove(struct http_conn *c)
{
	struct http_server *srv = c->srv;

	if (c->idle_prev)
		c->idle_prev->idle_next = c->idle_next;
	else
		srv->idle_head = c->idle_next;
	if (c->idle_next)
		c->idle_next->idle_prev = c->idle_prev;
	else
		srv->idle_tail = c->idle_prev;
	c->idle_prev = c->idle_next = NULL;
	c->idle_listed = false;
}

void http_conn_expire_idle(struct http_server *srv)
{
	int64_t now = idle_now_ms();

	srv->idle_armed = false; /* it fired */

	while (srv->idle_head && srv->idle_head->idle_ms + srv->opts.idle_timeout_ms <= now)
		http_conn_close(srv->idle_head); /* quietly: no request was on its way */
	if (srv->idle_head)
		idle_arm(srv, now);
}

static struct http_work *work_new(struct http_server *srv)
{
	struct http_work *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->in.body_limit = srv->opts.body_limit; /* per path, at each head */
	w->in.body_limit_ctx = srv->opts.ctx;
	w->in.body_spool = srv->opts.body_spool;
	w->in.spool_dir = srv->opts.spool_dir;
	w->in.spool_fd = -1;
	w->out = evbuffer_new();
	if (!w->out) {
		free(w);
		return NULL;
	}
	return w;
}

static void work_free(struct http_work *w)
{
	http_reader_free(&w->in);
	http_header_block_free(&w->ex.headers);
	if (w->ex.chunk)
		evbuffer_free(w->ex.chunk);
	evbuffer_free(w->out);
	free(w);
}

int http_work_attach(struct http_conn *c, event_callback_fn on_timer)
{
	struct http_server *srv = c->srv;
	struct http_work *w = srv->free_work;

	if (w) {
		srv->free_work = w->next_free;
		srv->n_free_work--;
	} else if (!(w = work_new(srv))) {
		return -ENOMEM;
	}
	w->next_free = NULL;
	w->ex.conn = c;
	w->ex.state = HTTP_EXCHANGE_DONE;
	w->start_us = 0;
	w->head_timer = false;
	if (w->owner != c || w->owner_fd != c->fd) {
		/* (a connection at the same address and fd would set up the
		 * same events: what they hold is only that) */
		w->owner = c;
		w->owner_fd = c->fd;
		w->write_assigned = false;
		evtimer_assign(&w->timer, srv->base, on_timer, c);
	}
	c->w = w;
	/* busy: the timeouts are the work's timer now; an idle keep-alive
	 * connection keeps its place in the idle list until a byte of a
	 * request comes (http_conn.c's on_read) */
	if (!c->idle_listed)
		event_remove_timer(&c->ev_read);
	return 0;
}

void http_work_detach(struct http_conn *c)
{
	struct http_server *srv = c->srv;
	struct http_work *w = c->w;

	if (!w)
		return;
	assert(w->ex.state == HTTP_EXCHANGE_DONE);
	c->w = NULL;
	evtimer_del(&w->timer);
	if (c->writing)
		event_del(&w->ev_write);
	c->writing = false;
	c->tls_read_wants_write = false;
	c->flush_due = false;
	c->writable_due = false;
	w->ex.conn = NULL;
	if (srv->n_free_work >= HTTP_WORK_POOL_MAX) {
		work_free(w);
		return;
	}
	http_reader_recycle(&w->in);
	evbuffer_drain(w->out, evbuffer_get_length(w->out));
	if (w->ex.chunk)
		evbuffer_drain(w->ex.chunk, evbuffer_get_length(w->ex.chunk));
	w->ex.headers.len = 0;
	w->next_free = srv->free_work;
	srv->free_work = w;
	srv->n_free_work++;
}

void http_conn_free_pool(struct http_server *srv)
{
	while (srv->free_work) {
		struct http_work *w = srv->free_work;

		srv->free_work = w->next_free;
		work_free(w);
	}
	srv->n_free_work = 0;
}
