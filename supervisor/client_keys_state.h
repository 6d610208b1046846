/*
 * client_keys_state: the supervisor's side of the client keys (issue 20):
 * the shared counter table (common/client_limits.h), each config's keys
 * given their slots, and the keys' spend kept across restarts in
 * STATE_DIR/client-keys.json. Supervisor process only.
 */
#pragma once

#include <stdbool.h>

struct config;
struct supervisor;
struct event_base;

#define CLIENT_KEYS_STATE_FILE        "client-keys.json"
#define CLIENT_KEYS_STATE_INTERVAL_MS 5000 /* a crash loses at most this much spend */

/* Before any fork and before dropping privileges: maps the counter table,
 * and creates a missing CONFIG->state_dir as StateDirectory= would (0750,
 * llmgate.user's) when there is a keys file. Logs; 0 or -errno. */
int client_keys_state_init(const struct config *config);
/* A config about to get a generation: its keys get their slots (and, for
 * the first keys file a reload brings, their saved spend). Logs. */
void client_keys_state_attach(struct config *config);
/* After the first generation's config is attached, before its workers
 * fork: restores the spend saved in CONFIG's state dir and starts saving
 * it every CLIENT_KEYS_STATE_INTERVAL_MS (with the first keys file, which
 * may come with a reload). A state file that cannot be read or parsed at
 * start is an error (logged, naming the file): -EINVAL or -errno. The state
 * dir is the first one's: a restart to change. */
int client_keys_state_open(struct supervisor *sup, const struct config *config);
/* Saves once more (at stop) and stops the timer; unmaps the table. */
void client_keys_state_close(struct supervisor *sup);

/* Parses a state file's text into the keys of CONFIG (whose slots are
 * attached). 0 or -EINVAL with a reason in WHY. */
int client_keys_state_parse(const struct config *config, const char *text, char *why,
                            unsigned long why_len);
/* Writes the keys' spend (those of the latest attached config) to PATH
 * atomically: a temporary file, fsync, rename, fsync of the directory. 0
 * or -errno. */
int client_keys_state_save(const char *path);
