/*
 * client_keys_state: the supervisor's side of the client keys (see
 * client_keys_state.h). The counter table is mapped once, before the first
 * fork, and kept until exit; each loaded config's keys are attached to
 * their slots by id before its generation forks. Spend survives restarts
 * in a small JSON file, written every CLIENT_KEYS_STATE_INTERVAL_MS and at
 * stop, always atomically (a temporary file, fsync, rename, fsync of the
 * directory): a crash loses at most one interval of spend, never the file.
 * The file holds the keys of the latest config attached (the table's used
 * slots), so a key removed from the keys file loses its spend at the next
 * save after the reload.
 *
 * {"version":1,"saved":1733443200,
 *  "keys":{"team-a":{"period_start":1733011200,"spend_nano":1250000000}}}
 */
#include "client_keys_state.h"
#include "supervisor_int.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client_keys.h"
#include "client_limits.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "privdrop.h"

#define STATE_MAX (4 * 1024 * 1024)

static struct {
	struct event_base *base; /* set by client_keys_state_open() */
	struct event *timer;
	char path[4096];
	bool warned; /* a failed save is logged once until one succeeds */
} st;

/* The state dir without systemd's StateDirectory=: made as it would, 0750
 * and owned by the account the daemon runs as once it leaves root
 * (privdrop_account(): llmgate.user, or `nobody` when that user does not
 * exist), so that the supervisor, no longer root, can write there. An
 * existing directory is left as it is. */
static void make_state_dir(const struct config *config)
{
	const struct passwd *owner;
	bool fallback;

	if (!config->client_keys || !config->state_dir || mkdir(config->state_dir, 0750) < 0)
		return;
	log_info("created '%s' for the client keys' spend", config->state_dir);
	owner = privdrop_account(config->user, &fallback);
	if (owner && chown(config->state_dir, owner->pw_uid, owner->pw_gid) < 0)
		log_warning("cannot give '%s' to '%s': %s", config->state_dir, owner->pw_name,
		            strerror(errno));
}

static int start_saving(const struct config *config, bool at_start);

int client_keys_state_init(const struct config *config)
{
	int r = client_limits_init();

	if (r < 0) {
		log_error("cannot map the client keys' counters: %s", strerror(-r));
		return r;
	}
	make_state_dir(config);
	return 0;
}

void client_keys_state_attach(struct config *config)
{
	int r;

	for (size_t i = 0; i < config->n_deployments; i++) {
		struct deployment *d = &config->deployments[i];

		d->ceiling_slot = config->deployment_ceilings && (d->rpm > 0 || d->tpm > 0)
		                          ? client_limits_deployment_slot(d->id)
		                          : CLIENT_KEY_NO_SLOT;
		if (config->deployment_ceilings && (d->rpm > 0 || d->tpm > 0) &&
		    d->ceiling_slot == CLIENT_KEY_NO_SLOT)
			log_warning("deployment '%s': its rpm/tpm ceiling cannot be counted (%d "
			            "deployments at most, ids of at most 127 bytes)",
			            d->id, CLIENT_LIMITS_DEPLOYMENTS);
	}
	if (!config->client_keys)
		return;
	r = client_limits_attach(config->client_keys, (int64_t)time(NULL));
	if (r == -ENOSPC)
		log_error("client keys: the counter table is full (%d slots); keys without a "
		          "slot are refused until a restart",
		          CLIENT_LIMITS_SLOTS);
	else if (r < 0)
		log_error("client keys: cannot attach their counters: %s", strerror(-r));
	start_saving(config, false); /* a keys file a reload added: from now on */
}

static const struct client_key *find_key(const struct config *config, const char *id)
{
	for (size_t i = 0; config->client_keys && i < config->client_keys->n; i++)
		if (strcmp(config->client_keys->keys[i].id, id) == 0)
			return &config->client_keys->keys[i];
	return NULL;
}

int client_keys_state_parse(const struct config *config, const char *text, char *why,
                            unsigned long why_len)
{
	json_error_t error;
	json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &error), *keys, *entry;
	const char *id;

	if (!root) {
		snprintf(why, why_len, "not JSON (line %d: %s)", error.line, error.text);
		return -EINVAL;
	}
	keys = json_object_get(root, "keys");
	if (!json_is_object(root) || json_integer_value(json_object_get(root, "version")) != 1 ||
	    !json_is_object(keys)) {
		snprintf(why, why_len,
		         "not a version 1 state file (\"version\":1, \"keys\":{...})");
		json_decref(root);
		return -EINVAL;
	}
	/* everything is checked before anything is restored */
	json_object_foreach(keys, id, entry)
	{
		json_t *start = json_object_get(entry, "period_start");
		json_t *spend = json_object_get(entry, "spend_nano");

		if (!json_is_integer(start) || !json_is_integer(spend) ||
		    json_integer_value(start) < 0 || json_integer_value(spend) < 0) {
			snprintf(
			        why, why_len,
			        "key '%.64s' needs integers period_start and spend_nano, both >= 0",
			        id);
			json_decref(root);
			return -EINVAL;
		}
	}
	json_object_foreach(keys, id, entry)
	{
		const struct client_key *k = find_key(config, id);

		if (k)
			client_limits_restore(
			        k,
			        (int64_t)json_integer_value(json_object_get(entry, "period_start")),
			        (int64_t)json_integer_value(json_object_get(entry, "spend_nano")));
	}
	json_decref(root);
	return 0;
}

static void add_key(void *ctx, const char *id, int64_t period_start, int64_t spend_nano)
{
	json_object_set_new(ctx, id,
	                    json_pack("{s:I, s:I}", "period_start", (json_int_t)period_start,
	                              "spend_nano", (json_int_t)spend_nano));
}

/* The keys of the latest attached config, from the table itself: the
 * generations may be gone at stop. */
static char *state_text(void)
{
	json_t *root = json_object(), *keys = json_object();
	char *text;

	client_limits_each(add_key, keys);
	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "saved", json_integer((json_int_t)time(NULL)));
	json_object_set_new(root, "keys", keys);
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	return text;
}

int client_keys_state_save(const char *path)
{
	char tmp[4200], dir[4096];
	char *text = state_text(), *slash;
	size_t len, off = 0;
	int fd, r = 0;

	if (!text)
		return -ENOMEM;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(text);
		return -errno;
	}
	len = strlen(text);
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		off += (size_t)n;
	}
	free(text);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash) {
		*(slash == dir ? slash + 1 : slash) = '\0';
		fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
	return 0;
}

static void save_now(void)
{
	int r;

	if (!st.path[0])
		return;
	r = client_keys_state_save(st.path);
	if (r < 0 && !st.warned) {
		log_warning("cannot save the client keys' spend to '%s': %s", st.path,
		            strerror(-r));
		st.warned = true;
	} else if (r == 0) {
		st.warned = false;
	}
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	save_now();
}

/* Reads PATH into a string: NULL with *RET_ERR 0 when there is none. */
static char *read_state(const char *path, int *ret_err)
{
	FILE *f = fopen(path, "re");
	char *text;
	size_t n;

	*ret_err = 0;
	if (!f) {
		if (errno != ENOENT)
			*ret_err = -errno;
		return NULL;
	}
	text = malloc(STATE_MAX + 1);
	if (!text) {
		fclose(f);
		*ret_err = -ENOMEM;
		return NULL;
	}
	n = fread(text, 1, STATE_MAX + 1, f);
	if (ferror(f) || n > STATE_MAX) {
		*ret_err = ferror(f) ? -EIO : -EFBIG;
		free(text);
		fclose(f);
		return NULL;
	}
	fclose(f);
	text[n] = '\0';
	return text;
}

/* Restores the spend saved for CONFIG's keys and starts saving it. AT_START:
 * a state file that cannot be used stops the daemon (-errno); later (a
 * keys file added by a reload) it is logged and the spend not saved, so
 * that the file stays for repair. */
static int start_saving(const struct config *config, bool at_start)
{
	struct timeval tv = clock_tv_ms(CLIENT_KEYS_STATE_INTERVAL_MS);
	char why[256];
	char *text;
	int r;

	if (st.timer || !st.base || !config->client_keys || !config->state_dir)
		return 0;
	snprintf(st.path, sizeof(st.path), "%s/%s", config->state_dir, CLIENT_KEYS_STATE_FILE);
	text = read_state(st.path, &r);
	if (r < 0) {
		log_error("cannot read the client keys' state '%s': %s%s", st.path, strerror(-r),
		          at_start ? "" : "; the keys' spend is not saved");
		st.path[0] = '\0';
		return at_start ? r : 0;
	}
	if (text) {
		r = client_keys_state_parse(config, text, why, sizeof(why));
		free(text);
		if (r < 0) {
			log_error(
			        "the client keys' state '%s' is corrupt: %s; %s: repair or remove it",
			        st.path, why,
			        at_start ? "llmgated will not start and lose the keys' spend"
			                 : "the keys' spend is not saved");
			st.path[0] = '\0';
			return at_start ? r : 0;
		}
		log_info("client keys: spend restored from '%s'", st.path);
	}
	st.timer = event_new(st.base, -1, EV_PERSIST, on_timer, NULL);
	if (!st.timer || event_add(st.timer, &tv) < 0) {
		log_error("out of memory");
		st.path[0] = '\0';
		return -ENOMEM;
	}
	save_now(); /* an unwritable state dir shows now, not at the first save */
	return 0;
}

int client_keys_state_open(struct supervisor *sup, const struct config *config)
{
	st.base = sup->base;
	return start_saving(config, true);
}

void client_keys_state_close(struct supervisor *sup)
{
	if (st.timer) {
		save_now();
		event_free(st.timer);
	}
	st.timer = NULL;
	st.base = NULL;
	st.path[0] = '\0';
	client_limits_free();
}
