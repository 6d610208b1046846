/*
 * fuzz_config: the config loader (YAML, anchors and merges, references,
 * includes, validation) on arbitrary files. The input is one or more files
 * separated by lines "#--- next file": the first is the main config, written
 * as main.yaml, the others as inc1.yaml, inc2.yaml... beside it, so includes
 * (and include cycles) are reached. Variables the input sets through
 * environment_variables are removed again after each input.
 *
 * Seeds: the multi-file inputs in corpus/config/ and every config fixture,
 * one file each (read by tests/fuzz/meson.build and scripts/fuzz):
 * fuzz-seeds: tests/fixtures
 *
 * fuzz-args: -max_len=16384
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#define SEPARATOR "\n#--- next file\n"
#define MAX_FILES 6

extern char **environ;

static char dir[64];
static char **saved_env; /* the environment before any input, "NAME=value" */

static void write_file(const char *name, const uint8_t *data, size_t len)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len)) {
		perror(path);
		exit(2);
	}
	close(fd);
}

static void remove_files(void)
{
	for (int i = 1; i < MAX_FILES; i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/inc%d.yaml", dir, i);
		unlink(path);
	}
}

static bool saved(const char *entry)
{
	for (char **e = saved_env; *e; e++)
		if (strcmp(*e, entry) == 0)
			return true;
	return false;
}

/* Puts the environment back as it was before the input. */
static void restore_env(void)
{
	for (;;) {
		char name[256];
		char **e;

		for (e = environ; *e && saved(*e); e++)
			;
		if (!*e)
			break;
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
		if (unsetenv(name) < 0 || name[0] == '\0')
			break;
	}
	for (char **e = saved_env; *e; e++)
		putenv(*e);
}

static void cleanup(void)
{
	char path[128];

	remove_files();
	snprintf(path, sizeof(path), "%s/main.yaml", dir);
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	size_t n = 0;

	snprintf(dir, sizeof(dir), "/tmp/llmgate-fuzz-config.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(2);
	}
	atexit(cleanup);
	while (environ[n])
		n++;
	saved_env = calloc(n + 1, sizeof(*saved_env));
	for (size_t i = 0; saved_env && i < n; i++)
		saved_env[i] = strdup(environ[i]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list diags = {0};
	struct config *config = NULL;
	const uint8_t *end = data + size;
	char path[128];
	int files = 0;

	remove_files();
	while (files < MAX_FILES) {
		const uint8_t *sep =
		        memmem(data, (size_t)(end - data), SEPARATOR, strlen(SEPARATOR));
		const uint8_t *stop = sep && files + 1 < MAX_FILES ? sep : end;
		char name[32];

		if (files == 0)
			snprintf(name, sizeof(name), "main.yaml");
		else
			snprintf(name, sizeof(name), "inc%d.yaml", files);
		write_file(name, data, (size_t)(stop - data));
		files++;
		if (stop == end)
			break;
		data = stop + strlen(SEPARATOR);
	}
	snprintf(path, sizeof(path), "%s/main.yaml", dir);
	if (config_load(path, &config, &diags) == 0) {
		/* a loaded config is consistent: what the daemon relies on */
		for (size_t i = 0; i < config->n_groups; i++) {
			const struct group *g = &config->groups[i];

			if (config_find_group(config, g->name) != g)
				abort();
			for (size_t k = 0; k < g->n_deployments; k++)
				if (g->deployments[k] >= config->n_deployments)
					abort();
		}
		config_free(config);
	}
	diag_sort(&diags);
	for (size_t i = 0; i < diags.n; i++) {
		char line[1024];

		diag_format(&diags.items[i], line, sizeof(line));
	}
	diag_free(&diags);
	restore_env();
	return 0;
}
