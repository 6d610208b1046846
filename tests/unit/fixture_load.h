/*
 * fixture_load: loading a config fixture (tests/fixtures/NAME) and looking
 * at its diagnostics, for the unit tests of the loader.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "diag.h"

#ifndef FIXTURES_DIR
#error "FIXTURES_DIR must point at tests/fixtures"
#endif

/* config_load() of fixture NAME, its diagnostics sorted into D. */
static inline int load(const char *name, struct config **ret, struct diag_list *d)
{
	char path[512];
	int r;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	memset(d, 0, sizeof(*d));
	r = config_load(path, ret, d);
	diag_sort(d);
	return r;
}

/* A diagnostic of severity SEV at LINE:COL whose message contains TEXT. */
static inline bool has_diag(const struct diag_list *d, enum diag_severity sev, int line, int col,
                            const char *text)
{
	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].severity == sev && d->items[i].line == line &&
		    d->items[i].col == col && strstr(d->items[i].message, text))
			return true;
	return false;
}

/* Every diagnostic as a TAP comment. */
static inline void show(const struct diag_list *d)
{
	for (size_t i = 0; i < d->n; i++)
		printf("#   %d:%d: %s\n", d->items[i].line, d->items[i].col, d->items[i].message);
}
