/*
 * control: the control socket of the supervisor (see control.h).
 *
 * Each client is a bufferevent with bounded input (one request line of at
 * most CONTROL_MAX_LINE bytes) and bounded output; idle and slow clients are
 * timed out. Requests are answered in order; `reload` answers only when the
 * supervisor reports the outcome, and the client stays readable meanwhile.
 * Who may run a mutating command is decided from SO_PEERCRED, never from
 * anything the client says.
 */
#include "control.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "build_config.h"
#include "control_commands.h"
#include "control_parse.h"
#include "keys_view.h"
#include "log.h"
#include "status.h"
#include "supervisor_int.h"

#define CONTROL_MAX_CLIENTS     32
#define CONTROL_MAX_LINE        (64 * 1024)
#define CONTROL_MAX_OUTPUT      (4 * 1024 * 1024)
#define CONTROL_READ_TIMEOUT_S  60
#define CONTROL_WRITE_TIMEOUT_S 10

struct control_client;

struct control {
	struct supervisor *sup;
	struct evconnlistener *listener;
	char *path;
	struct control_client *clients;
	size_t n_clients;
};

struct control_client {
	struct control *control;
	struct bufferevent *bev;
	struct ucred cred;
	bool waiting; /* a reload answer is due before the next request */
	bool closing; /* close once the output is flushed */
	struct control_client *next;
};

static void client_free(struct control_client *client)
{
	struct control *control = client->control;

	for (struct control_client **p = &control->clients; *p; p = &(*p)->next) {
		if (*p == client) {
			*p = client->next;
			break;
		}
	}
	control->n_clients--;
	if (client->waiting)
		reload_forget(control->sup, client);
	bufferevent_free(client->bev);
	free(client);
}

static void client_reply(struct control_client *client, json_t *reply)
{
	struct evbuffer *out = bufferevent_get_output(client->bev);
	char *text = json_dumps(reply, JSON_COMPACT);

	json_decref(reply);
	if (!text || evbuffer_get_length(out) > CONTROL_MAX_OUTPUT) {
		free(text);
		client->closing = true;
		return;
	}
	evbuffer_add(out, text, strlen(text));
	evbuffer_add(out, "\n", 1);
	free(text);
}

static json_t *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *reply_error(const char *fmt, ...)
{
	char message[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", message);
}

static json_t *reply_ok(json_t *result)
{
	return json_pack("{s:b, s:o}", "ok", 1, "result", result ? result : json_object());
}

static bool peer_may_mutate(const struct control_client *client)
{
	return client->cred.uid == 0 || client->cred.uid == geteuid();
}

static void on_reload_done(void *ctx, int result, const char *message,
                           const struct diag_list *diags)
{
	struct control_client *client = ctx;
	json_t *reply;

	client->waiting = false;
	if (result == 0) {
		reply = reply_ok(json_pack("{s:s, s:i}", "message", message, "generation",
		                           client->control->sup->serving->id));
	} else {
		json_t *errors = json_array();

		for (size_t i = 0; diags && i < diags->n; i++) {
			char line[2048];

			diag_format(&diags->items[i], line, sizeof(line));
			json_array_append_new(errors, json_string(line));
		}
		reply = json_pack("{s:b, s:s, s:o}", "ok", 0, "error", message, "diagnostics",
		                  errors);
	}
	client_reply(client, reply);
	/* More requests may have queued behind the reload. */
	bufferevent_trigger(client->bev, EV_READ, 0);
}

/*
 * The handlers, one per command of control_commands.h, bound by name in
 * handlers[] below: run_NAME answers the request, or returns NULL when the
 * answer comes later (reload). ARGS is an array or NULL.
 */
typedef json_t *control_handler(struct control_client *client, json_t *args);

static json_t *run_status(struct control_client *client, json_t *args)
{
	return reply_ok(status_json(client->control->sup));
}

static json_t *run_workers(struct control_client *client, json_t *args)
{
	return reply_ok(status_workers_json(client->control->sup));
}

static json_t *run_deployments(struct control_client *client, json_t *args)
{
	return reply_ok(status_deployments_json(client->control->sup));
}

static json_t *run_keys(struct control_client *client, json_t *args)
{
	const struct supervisor *sup = client->control->sup;

	return reply_ok(keys_view_json(sup->serving ? sup->serving->config : NULL));
}

static json_t *run_fallback(struct control_client *client, json_t *args)
{
	struct supervisor *sup = client->control->sup;
	const char *arg = json_string_value(json_array_get(args, 0));

	if (json_array_size(args) > 1)
		return reply_error("usage: fallback [auto|on|off]");
	if (arg) {
		int setting = -1;

		for (int i = 0; i < FALLBACK_SETTING__COUNT; i++)
			if (strcmp(arg, fallback_setting_name((enum fallback_setting)i)) == 0)
				setting = i;
		if (setting < 0)
			return reply_error("unknown fallback setting '%s': use auto, on or off",
			                   arg);
		supervisor_set_fallback_override(sup, (enum fallback_setting)setting,
		                                 client->cred.uid);
	}
	return reply_ok(status_fallback_json(sup));
}

static json_t *run_reload(struct control_client *client, json_t *args)
{
	client->waiting = true;
	reload_start(client->control->sup, on_reload_done, client);
	return NULL;
}

static json_t *run_log_level(struct control_client *client, json_t *args)
{
	const char *arg = json_string_value(json_array_get(args, 0));
	int level = arg ? log_level_from_name(arg) : -1;

	if (json_array_size(args) != 1 || level < 0)
		return reply_error("usage: log-level error|warning|notice|info|debug");
	supervisor_set_log_level(client->control->sup, level);
	return reply_ok(json_pack("{s:s}", "level", log_level_name(level)));
}

static json_t *run_version(struct control_client *client, json_t *args)
{
	return reply_ok(json_pack("{s:s}", "version", LLMGATE_VERSION));
}

static json_t *run_help(struct control_client *client, json_t *args)
{
	json_t *list = json_array();

	for (int i = 0; i < CONTROL_CMD__COUNT; i++) {
		const struct control_command_info *c =
		        control_command_info((enum control_command)i);
		char name[32];

		json_array_append_new(list, json_pack("{s:s, s:s, s:b, s:s}", "command",
		                                      control_command_shown((enum control_command)i,
		                                                            name, sizeof(name)),
		                                      "args", c->args, "mutating", c->mutating,
		                                      "help", c->help));
	}
	return reply_ok(list);
}

static control_handler *const handlers[CONTROL_CMD__COUNT] = {
#define CONTROL_HANDLER(n, m, a, h) [CONTROL_CMD_##n] = run_##n,
        CONTROL_COMMANDS(CONTROL_HANDLER)
#undef CONTROL_HANDLER
};

/* Handles one request line; returns NULL when the answer comes later. */
static json_t *handle_request(struct control_client *client, const char *line, size_t len)
{
	struct control_request req;
	json_t *reply;
	char why[512];

	if (control_parse(line, len, &req, why, sizeof(why)) < 0)
		return reply_error("%s", why);
	if (req.mutating && !peer_may_mutate(client)) {
		log_warning("control: uid %u (pid %d) refused '%s': not root or the daemon's user",
		            (unsigned)client->cred.uid, (int)client->cred.pid, req.name);
		reply = reply_error("permission denied: '%s' needs root or the daemon's user",
		                    req.name);
		control_request_clear(&req);
		return reply;
	}
	if (req.mutating)
		log_info("control: '%s' from uid %u (pid %d)", req.name, (unsigned)client->cred.uid,
		         (int)client->cred.pid);
	reply = handlers[req.command](client, req.args);
	control_request_clear(&req);
	return reply;
}

static void on_client_read(struct bufferevent *bev, void *arg)
{
	struct control_client *client = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!client->waiting && !client->closing) {
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
		json_t *reply;

		if (!line) {
			if (evbuffer_get_length(in) > CONTROL_MAX_LINE) {
				client_reply(client, reply_error("request line over %d bytes",
				                                 CONTROL_MAX_LINE));
				client->closing = true;
			}
			break;
		}
		reply = handle_request(client, line, len);
		free(line);
		if (reply)
			client_reply(client, reply);
	}
	if (client->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		client_free(client);
}

static void on_client_write(struct bufferevent *bev, void *arg)
{
	struct control_client *client = arg;

	if (client->closing)
		client_free(client);
}

static void on_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *client = arg;

	/* EOF with a reload pending: the client half-closed after its request;
	 * keep it until the answer is written. */
	if ((what & BEV_EVENT_EOF) && client->waiting && !(what & BEV_EVENT_ERROR)) {
		bufferevent_disable(bev, EV_READ);
		client->closing = true;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		client_free(client);
}

static void on_accept(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *sa,
                      int socklen, void *arg)
{
	struct control *control = arg;
	struct control_client *client;
	socklen_t len = sizeof(struct ucred);
	struct timeval rtv = {.tv_sec = CONTROL_READ_TIMEOUT_S};
	struct timeval wtv = {.tv_sec = CONTROL_WRITE_TIMEOUT_S};

	if (control->n_clients >= CONTROL_MAX_CLIENTS) {
		static const char busy[] =
		        "{\"ok\":false,\"error\":\"too many control clients\"}\n";

		(void)send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		close(fd);
		return;
	}
	client = calloc(1, sizeof(*client));
	if (!client) {
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &client->cred, &len) < 0) {
		free(client);
		close(fd);
		return;
	}
	client->control = control;
	client->bev = bufferevent_socket_new(control->sup->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!client->bev) {
		free(client);
		close(fd);
		return;
	}
	bufferevent_setcb(client->bev, on_client_read, on_client_write, on_client_event, client);
	bufferevent_set_timeouts(client->bev, &rtv, &wtv);
	bufferevent_setwatermark(client->bev, EV_READ, 0, CONTROL_MAX_LINE + 1);
	bufferevent_enable(client->bev, EV_READ | EV_WRITE);
	client->next = control->clients;
	control->clients = client;
	control->n_clients++;
}

/* A socket file at PATH: replace it when nobody answers, refuse otherwise. */
static int clear_stale(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_error("control socket '%s' exists and is not a socket; not touching it", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	close(fd);
	if (r == 0) {
		log_error("control socket '%s' is in use by a running llmgated", path);
		return -EADDRINUSE;
	}
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	log_info("replaced the stale control socket '%s'", path);
	return 0;
}

/* Who the socket goes to: USER (or nobody when it does not exist), when we
 * run as root and USER is not root; else NULL, and it stays ours. */
static const struct passwd *socket_owner(const char *user)
{
	const struct passwd *pw;

	if (geteuid() != 0 || !user || strcmp(user, "root") == 0)
		return NULL;
	pw = getpwnam(user);
	return pw ? pw : getpwnam("nobody");
}

/* Creates the socket's directory when missing (/run/llmgate without systemd's
 * RuntimeDirectory=) as RuntimeDirectory= would: 0750 and OWNER's, so that its
 * group reaches the socket and the daemon, no longer root, can remove it. An
 * existing directory is left as it is. */
static void make_parent(const char *path, const struct passwd *owner)
{
	char *dir = strdup(path);
	char *slash = dir ? strrchr(dir, '/') : NULL;

	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) == 0) {
			log_info("created '%s' for the control socket", dir);
			if (owner && chown(dir, owner->pw_uid, owner->pw_gid) < 0)
				log_warning("cannot give '%s' to '%s': %s", dir, owner->pw_name,
				            strerror(errno));
		}
	}
	free(dir);
}

int control_open(struct supervisor *sup, const char *path, const char *user, struct control **ret)
{
	const struct passwd *owner = socket_owner(user);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct control *control;
	mode_t old_umask;
	int fd, r;

	*ret = NULL;
	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("control socket path '%s' is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	make_parent(path, owner);
	r = clear_stale(path, &addr);
	if (r < 0) {
		if (r != -EEXIST && r != -EADDRINUSE)
			log_error("control socket '%s': %s", path, strerror(-r));
		return r;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Never world-accessible, not even for a moment. */
	old_umask = umask(0117);
	r = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (r < 0 || chmod(path, 0660) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		log_error("cannot create the control socket '%s': %s", path, strerror(-r));
		close(fd);
		return r;
	}
	if (owner && chown(path, owner->pw_uid, owner->pw_gid) < 0)
		log_warning("cannot give the control socket to '%s': %s", owner->pw_name,
		            strerror(errno));
	control = calloc(1, sizeof(*control));
	if (!control || !(control->path = strdup(path))) {
		free(control);
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	control->sup = sup;
	control->listener =
	        evconnlistener_new(sup->base, on_accept, control,
	                           LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (!control->listener) {
		close(fd);
		control_close(control);
		return -ENOMEM;
	}
	log_info("control socket on '%s'", path);
	*ret = control;
	return 0;
}

void control_close(struct control *control)
{
	if (!control)
		return;
	while (control->clients)
		client_free(control->clients);
	if (control->listener)
		evconnlistener_free(control->listener);
	if (control->path)
		unlink(control->path);
	free(control->path);
	free(control);
}
