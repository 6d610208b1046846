/*
 * stub_deploy: the deployments the stub's Azure resource has. Azure answers DeploymentNotFound
 * (404) for a deployments-path URL or a v1 body "model" that names none of them, and so does the
 * stub: a stub that accepted any name would hide a gateway that sends the wrong one.
 */
#ifndef STUB_DEPLOY_H
#define STUB_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>

#define STUB_DEPLOY_MAX      256 /* deployments per stub */
#define STUB_DEPLOY_NAME_MAX 255

struct stub_deploy {
	char *names[STUB_DEPLOY_MAX];
	size_t n;
};

/* Adds NAME (LEN bytes) unless present. 0, -EINVAL (empty or too long, or with a '/' or ','),
 * -ENOSPC (full) or -ENOMEM. */
int stub_deploy_add(struct stub_deploy *d, const char *name, size_t len);
/* Adds each name of a comma-separated LIST; the first error stops it. */
int stub_deploy_add_list(struct stub_deploy *d, const char *list);
bool stub_deploy_has(const struct stub_deploy *d, const char *name);
void stub_deploy_clear(struct stub_deploy *d);

#endif
