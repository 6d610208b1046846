/*
 * proxy_walk: which deployments a request that names a stored response tries,
 * in which order (issue 16, "stored state follows its deployment"). A response
 * lives on the deployment (the Azure resource, the OpenAI project) that
 * created it; a follow-up (previous_response_id on create, or GET, DELETE,
 * cancel, input_items of /v1/responses/{id}) must reach it. The deployment
 * known for the id comes first, then the candidates in turn, each tried
 * until one does not answer "not found": so a follow-up is answered right
 * with no shared state at all (another instance, a restart), and the
 * deployment known for an id only saves the extra attempts.
 *
 * Pure logic over the config, no I/O: unit-tested alone.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "proxy.h"
#include "response_affinity.h"

struct config;

#define PROXY_WALK_MAX        64                       /* deployments one walk tries, at most */
#define PROXY_RESPONSE_ID_MAX RESPONSE_AFFINITY_ID_MAX /* a response id, 128 bytes */

struct proxy_walk {
	bool active;
	size_t deps[PROXY_WALK_MAX]; /* indexes into config->deployments, in order */
	size_t n, next;
	int not_found; /* "not found" answers so far: the attempts the known deployment saves */
	int failed;    /* attempts that failed otherwise (connect, 5xx...) */
	char id[PROXY_RESPONSE_ID_MAX + 1];
};

/*
 * Plans the walk for ID (valid). GROUP >= 0: that group's deployments (a
 * create with previous_response_id); -1: the deployments of every group
 * that serves the Responses API (a deployment with model_info.mode
 * responses), or of every group when no deployment says so (an id route
 * carries no model). The deployment known for ID comes first.
 */
void proxy_walk_init(struct proxy_walk *w, const struct config *config, long group, const char *id,
                     size_t len);

/* The next deployment to try, or -1 when the walk is over. */
long proxy_walk_next(struct proxy_walk *w);

/* Whether an upstream's answer (STATUS and BODY, LEN bytes) to OP says that
 * the response it names is not there: 404 to an op by id; for a create,
 * OpenAI's previous_response_not_found (400, or 404). */
bool proxy_walk_not_found(enum proxy_op op, long status, const char *body, size_t len);

/*
 * The one place where a response id is seen on a deployment: a create's
 * answer (its id found by common/response_id_scan.h), or a follow-up that
 * found it. Recorded in the instance-wide id table for the next follow-up.
 */
void proxy_walk_learn(const struct config *config, size_t dep, const char *id, size_t len);
