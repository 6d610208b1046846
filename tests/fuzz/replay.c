/*
 * replay: runs a fuzz target over files without libFuzzer, so the committed
 * corpus is a regression test in every build (gcc, ASan, valgrind). Each
 * argument is a file or a directory, read with its subdirectories as
 * libFuzzer reads a corpus; each file is one input, given in a buffer of
 * exactly its size so that an overread is caught. Prints TAP:
 * one "ok" per input; a crash shows as a missing plan.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int count;

static int read_file(const char *path, uint8_t **ret_data, size_t *ret_len)
{
	FILE *f = fopen(path, "rbe");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0;

	if (!f)
		return -errno;
	for (;;) {
		if (len == cap) {
			uint8_t *bigger = realloc(data, cap ? cap * 2 : 4096);

			if (!bigger) {
				free(data);
				fclose(f);
				return -ENOMEM;
			}
			data = bigger;
			cap = cap ? cap * 2 : 4096;
		}
		size_t n = fread(data + len, 1, cap - len, f);

		if (n == 0)
			break;
		len += n;
	}
	fclose(f);
	/* exactly LEN bytes, so reading past the input is caught */
	uint8_t *exact = malloc(len ? len : 1);

	if (!exact) {
		free(data);
		return -ENOMEM;
	}
	memcpy(exact, data, len);
	free(data);
	*ret_data = exact;
	*ret_len = len;
	return 0;
}

static void run_file(const char *path)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int r = read_file(path, &data, &len);

	count++;
	if (r < 0) {
		printf("not ok %d - %s: %s\n", count, path, strerror(-r));
		return;
	}
	fflush(stdout);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	printf("ok %d - %s\n", count, path);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static void run_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n;

	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		run_file(path);
		return;
	}
	n = scandir(path, &names, NULL, by_name);
	if (n < 0) {
		printf("not ok %d - %s: %s\n", ++count, path, strerror(errno));
		return;
	}
	for (int i = 0; i < n; i++) {
		char file[4096];

		if (names[i]->d_name[0] != '.') {
			snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
			run_path(file);
		}
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		run_path(argv[i]);
	if (count == 0)
		printf("not ok %d - no input files given\n", ++count);
	printf("1..%d\n", count);
	return 0;
}
