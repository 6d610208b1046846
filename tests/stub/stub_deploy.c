/*
 * stub_deploy: the stub's set of Azure deployment names (see stub_deploy.h). A short list
 * searched linearly: tests name a handful.
 */
#include "stub_deploy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int stub_deploy_add(struct stub_deploy *d, const char *name, size_t len)
{
	char *copy;

	if (len == 0 || len > STUB_DEPLOY_NAME_MAX || memchr(name, '/', len) ||
	    memchr(name, ',', len) || memchr(name, '\0', len))
		return -EINVAL;
	for (size_t i = 0; i < d->n; i++)
		if (strlen(d->names[i]) == len && memcmp(d->names[i], name, len) == 0)
			return 0;
	if (d->n == STUB_DEPLOY_MAX)
		return -ENOSPC;
	copy = strndup(name, len);
	if (!copy)
		return -ENOMEM;
	d->names[d->n++] = copy;
	return 0;
}

int stub_deploy_add_list(struct stub_deploy *d, const char *list)
{
	const char *p = list;

	for (;;) {
		size_t len = strcspn(p, ",");
		int r = stub_deploy_add(d, p, len);

		if (r < 0)
			return r;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

bool stub_deploy_has(const struct stub_deploy *d, const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->names[i], name) == 0)
			return true;
	return false;
}

void stub_deploy_clear(struct stub_deploy *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->names[i]);
	d->n = 0;
}
