/*
 * fuzz: what every fuzz target shares. A target is one fuzz_<name>.c that
 * defines LLVMFuzzerTestOneInput() (and LLVMFuzzerInitialize() if it needs
 * setup); it is linked twice: with libFuzzer in a -Dfuzz=true build, and
 * with replay.c everywhere, which runs the committed corpus through it as a
 * unit test. A target must not keep state between inputs that changes what
 * an input does, so every crash reproduces from its one file.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* tests/fixtures/NAME loaded once; a fixture that does not load is a broken
 * harness, not a finding: it exits. The secrets it names are set first. */
static inline struct config *fuzz_fixture_config(const char *name)
{
	struct diag_list diags = {0};
	struct config *config;
	char path[4096];

	setenv("LLMGATE_TEST_AZURE_KEY", "azure-key-0000", 1);
	setenv("LLMGATE_TEST_PROXY_KEY", "proxy-key-0000", 1);
	setenv("LLMGATE_TEST_OPENAI_KEY", "openai-key-0000", 1);
	setenv("LLMGATE_TEST_MASTER_KEY", "master-key-0000", 1);
	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	if (config_load(path, &config, &diags) < 0) {
		diag_print(&diags, stderr);
		fprintf(stderr, "fuzz: cannot load the fixture %s\n", path);
		exit(2);
	}
	diag_free(&diags);
	return config;
}
