/*
 * key: llmgatectl's client-key commands (issue 20). `key create` makes a
 * new random key without the daemon and prints it once with the keys-file
 * entry that names its SHA-256; `key list` asks the daemon (control
 * command `keys`) and prints each key's limits beside its use.
 */
#pragma once

#include <jansson.h>

/* `llmgatectl key create|list ...`: ARGV[0] is "key". Exit status. */
int key_main(int argc, char **argv, const char *socket_path, int json);

/* The printer of the control command `keys` (ctl.c's printers[]). */
void print_keys(json_t *result);
