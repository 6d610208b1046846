/*
 * http_server: the accept side and life cycle of a worker's HTTP server
 * (see http_server.h; connections and their exchanges live in
 * http_conn.c, the wire format of responses in http_response.c).
 *
 * Every worker of a generation accepts on the one listening socket the
 * supervisor owns. accept4() runs in a bounded loop (non-blocking, CLOEXEC)
 * so that no worker hogs a burst; at max_connections the listening event is
 * removed and comes back once a connection closes. On drain this process's
 * copy of the listening fd is closed: what the kernel has queued but we have
 * not accepted goes to the new generation, and what we have accepted we
 * serve to the end.
 */
#include "http_conn.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define ACCEPT_BURST    64
#define ACCEPT_RETRY_MS 100 /* after EMFILE, ENFILE, ENOBUFS, ENOMEM */

const char *http_request_header(const struct http_request *req, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < req->n_headers; i++)
		if (req->headers[i].name_len == n &&
		    http_ascii_caseeq(req->headers[i].name, name, n))
			return req->headers[i].value;
	return NULL;
}

bool http_request_path_is(const struct http_request *req, const char *path)
{
	size_t n = strlen(path);

	return req->path_len == n && memcmp(req->path, path, n) == 0;
}

void http_server_options_default(struct http_server_options *opts, size_t max_body, long header_ms,
                                 long body_ms)
{
	*opts = (struct http_server_options){
	        .max_body = max_body,
	        .max_connections = HTTP_SERVER_MAX_CONNECTIONS,
	        .header_timeout_ms = header_ms,
	        .body_timeout_ms = body_ms,
	        .idle_timeout_ms = HTTP_SERVER_IDLE_TIMEOUT_MS,
	        .send_timeout_ms = HTTP_SERVER_SEND_TIMEOUT_MS,
	};
}

static void set_accepting(struct http_server *srv, bool on)
{
	if (on == srv->accepting || !srv->ev_accept)
		return;
	if (on && event_add(srv->ev_accept, NULL) < 0)
		return;
	if (!on)
		event_del(srv->ev_accept);
	srv->accepting = on;
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;

	if (!srv->draining && srv->n_conns < srv->opts.max_connections)
		set_accepting(srv, true);
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;

	for (int i = 0; i < ACCEPT_BURST; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd;

		if (srv->n_conns >= srv->opts.max_connections) {
			log_warning("%zu connections open, not accepting more for now",
			            srv->n_conns);
			set_accepting(srv, false);
			return;
		}
		cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN)
				return;
			log_warning("accept: %s", strerror(errno));
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				struct timeval tv = {.tv_usec = ACCEPT_RETRY_MS * 1000};

				set_accepting(srv, false);
				evtimer_add(srv->ev_accept_retry, &tv);
			}
			return;
		}
		if (http_conn_new(srv, cfd, &ss) < 0) {
			struct http_peer p;
			char peer[HTTP_PEER_MAX];

			http_peer_set(&p, &ss);
			log_warning("client %s: out of memory, connection dropped",
			            http_peer_format(&p, peer));
			close(cfd);
		}
	}
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	http_conn_run_deferred(arg);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
	http_conn_expire_idle(arg);
}

void http_server_conn_closed(struct http_server *srv)
{
	if (!srv->accepting && !srv->draining && srv->listen_fd >= 0 &&
	    srv->n_conns < srv->opts.max_connections &&
	    !evtimer_pending(srv->ev_accept_retry, NULL))
		set_accepting(srv, true);
}

int http_server_new(struct event_base *base, const struct http_server_options *opts, int listen_fd,
                    struct http_server **ret)
{
	struct http_server *srv;
	int flags = fcntl(listen_fd, F_GETFL);

	/* The accept loop runs until EAGAIN: a blocking listener would hang a
	 * worker that lost the race for a connection to another one. */
	if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->base = base;
	srv->opts = *opts;
	srv->listen_fd = listen_fd;
	srv->date_sec = -1;
	srv->ev_accept = event_new(base, listen_fd, EV_READ | EV_PERSIST, on_accept, srv);
	srv->ev_accept_retry = evtimer_new(base, on_accept_retry, srv);
	srv->ev_defer = event_new(base, -1, 0, on_defer, srv);
	srv->ev_idle = evtimer_new(base, on_idle, srv);
	if (!srv->ev_accept || !srv->ev_accept_retry || !srv->ev_defer || !srv->ev_idle) {
		http_server_free(srv);
		return -ENOMEM;
	}
	set_accepting(srv, true);
	if (!srv->accepting) {
		http_server_free(srv);
		return -EIO;
	}
	*ret = srv;
	return 0;
}

void http_server_stop_accepting(struct http_server *srv)
{
	struct http_conn *c, *next;

	if (srv->draining)
		return;
	srv->draining = true;
	set_accepting(srv, false);
	evtimer_del(srv->ev_accept_retry);
	event_free(srv->ev_accept);
	srv->ev_accept = NULL;
	if (srv->listen_fd >= 0)
		close(srv->listen_fd); /* our copy: the supervisor keeps the socket */
	srv->listen_fd = -1;
	for (c = srv->conns; c; c = next) {
		next = c->next;
		http_conn_drain(c);
	}
}

bool http_server_draining(const struct http_server *srv)
{
	return srv->draining;
}

size_t http_server_connections(const struct http_server *srv)
{
	return srv->n_conns;
}

void http_server_free(struct http_server *srv)
{
	if (!srv)
		return;
	srv->draining = true; /* no accept resumes while connections close */
	while (srv->conns)
		http_conn_close(srv->conns);
	http_conn_free_pool(srv);
	if (srv->ev_accept)
		event_free(srv->ev_accept);
	if (srv->ev_accept_retry)
		event_free(srv->ev_accept_retry);
	if (srv->ev_defer)
		event_free(srv->ev_defer);
	if (srv->ev_idle)
		event_free(srv->ev_idle);
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	free(srv);
}
