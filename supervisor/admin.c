/*
 * admin: the /metrics HTTP listener (see admin.h). Runs in the supervisor,
 * on its event loop. The request head is read into a bounded buffer and
 * parsed with the worker's pure HTTP/1.1 parser (http_parser.c); the body
 * of the answer is rendered whole (metrics_render) and written by a
 * bufferevent, after which the connection closes.
 */
#include "admin.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "build_config.h"
#include "health.h"
#include "http_parser.h"
#include "listen.h"
#include "log.h"
#include "metrics.h"
#include "supervisor_int.h"
#include "tokens.h"

#define ADMIN_MAX_CONNECTIONS 16
#define ADMIN_MAX_HEAD        8192
#define ADMIN_TIMEOUT_S       5
#define ADMIN_MAX_HEADERS     32

struct admin_conn {
	struct admin *admin;
	struct bufferevent *bev;
	struct admin_conn *next;
	bool answered;
};

struct admin {
	struct supervisor *sup;
	int fd;
	struct event *accept_event;
	struct admin_conn *conns;
	size_t n_conns;
};

static void conn_free(struct admin_conn *c)
{
	struct admin *admin = c->admin;

	for (struct admin_conn **p = &admin->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	admin->n_conns--;
	bufferevent_free(c->bev);
	free(c);
}

/* The supervisor's state for /metrics, rendered to a malloc'd text. */
static char *render(struct admin *admin, size_t *ret_len)
{
	struct supervisor *sup = admin->sup;
	struct metrics_view view = {
	        .version = LLMGATE_VERSION,
	        .generation = sup->serving ? sup->serving->id : 0,
	        .start_time_seconds =
	                (double)time(NULL) - (double)supervisor_uptime_ms(sup) / 1000.0,
	        .restarts = sup->restarts_total,
	};
	char *text = NULL;
	FILE *out;

	for (struct generation *g = sup->generations; g; g = g->next)
		for (size_t i = 0; i < g->n_slots; i++)
			if ((unsigned)g->slots[i].state < WORKER_STATE__COUNT)
				view.workers[g->slots[i].state]++;
	struct metrics_token *tokens = NULL;

	if (sup->serving &&
	    tokens_metrics_view(sup->tokens, sup->serving->config, &tokens, &view.n_tokens) < 0)
		return NULL;
	view.tokens = tokens;
	if (health_metrics_view(sup->health, &view) < 0) {
		free(tokens);
		return NULL;
	}
	response_affinity_stats(&view.affinity);
	view.client_keys = sup->serving ? sup->serving->config->client_keys : NULL;
	out = open_memstream(&text, ret_len);
	if (out) {
		metrics_render(out, sup->metrics, &view);
		if (fclose(out) != 0) {
			free(text);
			text = NULL;
		}
	}
	health_metrics_free(&view);
	free(tokens);
	return text;
}

static void respond(struct admin_conn *c, int status, const char *reason, const char *extra,
                    const char *content_type, const char *body, size_t len, bool head_only)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	evbuffer_add_printf(out,
	                    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                    "Connection: close\r\n%s\r\n",
	                    status, reason, content_type, len, extra ? extra : "");
	if (!head_only)
		evbuffer_add(out, body, len);
	c->answered = true;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void text_response(struct admin_conn *c, int status, const char *reason, const char *extra,
                          const char *body)
{
	respond(c, status, reason, extra, "text/plain; charset=utf-8", body, strlen(body), false);
}

static void handle(struct admin_conn *c, char *head, size_t len)
{
	struct http_header headers[ADMIN_MAX_HEADERS];
	struct http_head h;
	bool get, head_only;
	char *body;
	size_t body_len;

	if (http_parse_head(head, len, headers, ADMIN_MAX_HEADERS, &h) < 0 ||
	    h.body != HTTP_BODY_NONE) {
		text_response(c, 400, "Bad Request", NULL, "bad request\n");
		return;
	}
	if (h.path_len != 8 || memcmp(h.path, "/metrics", 8) != 0) {
		text_response(c, 404, "Not Found", NULL, "not found: try /metrics\n");
		return;
	}
	get = strcmp(h.method, "GET") == 0;
	head_only = strcmp(h.method, "HEAD") == 0;
	if (!get && !head_only) {
		text_response(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
		              "method not allowed\n");
		return;
	}
	body = render(c->admin, &body_len);
	if (!body) {
		text_response(c, 500, "Internal Server Error", NULL, "out of memory\n");
		return;
	}
	respond(c, 200, "OK", NULL, "text/plain; version=0.0.4; charset=utf-8", body, body_len,
	        head_only);
	free(body);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct admin_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	struct http_scan scan = {0};
	size_t start, end;
	char *buf;
	int r;

	if (c->answered)
		return;
	if (len > ADMIN_MAX_HEAD) {
		text_response(c, 431, "Request Header Fields Too Large", NULL, "head too large\n");
		return;
	}
	buf = (char *)evbuffer_pullup(in, -1);
	r = http_scan_head(&scan, buf, len, &start, &end);
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		text_response(c, 400, "Bad Request", NULL, "bad request\n");
		return;
	}
	handle(c, buf + start, end - start);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct admin_conn *c = arg;

	if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	conn_free(arg); /* EOF, error or timeout: nothing more to do */
}

static void on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct admin *admin = arg;

	for (int i = 0; i < 16; i++) {
		int cfd = accept4(admin->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct timeval tv = {.tv_sec = ADMIN_TIMEOUT_S};
		struct admin_conn *c;

		if (cfd < 0)
			return;
		if (admin->n_conns >= ADMIN_MAX_CONNECTIONS) {
			close(cfd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || !(c->bev = bufferevent_socket_new(admin->sup->base, cfd,
		                                            BEV_OPT_CLOSE_ON_FREE))) {
			free(c);
			close(cfd);
			continue;
		}
		c->admin = admin;
		c->next = admin->conns;
		admin->conns = c;
		admin->n_conns++;
		bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
		bufferevent_set_timeouts(c->bev, &tv, &tv);
		bufferevent_setwatermark(c->bev, EV_READ, 0, ADMIN_MAX_HEAD + 1);
		bufferevent_enable(c->bev, EV_READ);
	}
}

int admin_open(struct supervisor *sup, const char *address, struct admin **ret)
{
	struct admin *admin;
	int fd = listen_open(address);

	*ret = NULL;
	if (fd < 0) {
		log_error("cannot listen on admin_listen '%s': %s", address, strerror(-fd));
		return fd;
	}
	admin = calloc(1, sizeof(*admin));
	if (!admin) {
		close(fd);
		return -ENOMEM;
	}
	admin->sup = sup;
	admin->fd = fd;
	admin->accept_event = event_new(sup->base, fd, EV_READ | EV_PERSIST, on_accept, admin);
	if (!admin->accept_event || event_add(admin->accept_event, NULL) < 0) {
		admin_close(admin);
		return -ENOMEM;
	}
	log_info("metrics on http://%s/metrics", address);
	*ret = admin;
	return 0;
}

void admin_close(struct admin *admin)
{
	if (!admin)
		return;
	while (admin->conns)
		conn_free(admin->conns);
	if (admin->accept_event)
		event_free(admin->accept_event);
	close(admin->fd);
	free(admin);
}
