/*
 * outcome: how one upstream attempt ended, as counted per deployment for the
 * global fallback decision (SPEC 7) and as acted on by the request that made
 * it. Shared by workers (who count and retry), the IPC codec (which carries
 * the counts) and the supervisor (which decides). OUTCOME_TABLE is the one
 * list: every outcome's name (metrics labels, status output), whether it is
 * the deployment's failure, and its retry class.
 */
#pragma once

#include <stdbool.h>

/* What a request does after an attempt with that outcome (proxy_plan.h). */
enum outcome_retry {
	OUTCOME_RETRY_NONE,       /* no retry: the answer goes to the client */
	OUTCOME_RETRY_DEPLOYMENT, /* another deployment while the group's retries last */
	OUTCOME_RETRY_GROUP,      /* this group is misconfigured: the next group */
};

/*
 * X(ENUM, name, failure, retry class). CONNECT: refused, reset, DNS, TLS, a
 * body cut short; TIMEOUT: no answer in time (or a 408); 5XX: 500-599 (and
 * answers we refuse: a redirect, a 2xx that is not JSON); AUTH: 401, 403;
 * NOT_FOUND: an Azure 404 (DeploymentNotFound), which names the deployment of
 * the config, not anything the client sent: a misconfigured group, like a
 * wrong key; AUTH_TOKEN: a keyless Azure deployment (Entra ID) had no valid
 * token, so nothing was sent: counted like a 401 for the global fallback;
 * CLIENT: other 4xx, the client's fault, passed on as it came.
 * The failures are one run, FAILURE_FIRST to FAILURE_LAST (test_outcome).
 */
#define OUTCOME_TABLE(X)                                       \
	X(SUCCESS, "success", false, OUTCOME_RETRY_NONE)       \
	X(CONNECT, "connect", true, OUTCOME_RETRY_DEPLOYMENT)  \
	X(TIMEOUT, "timeout", true, OUTCOME_RETRY_DEPLOYMENT)  \
	X(5XX, "5xx", true, OUTCOME_RETRY_DEPLOYMENT)          \
	X(429, "429", true, OUTCOME_RETRY_DEPLOYMENT)          \
	X(AUTH, "auth", true, OUTCOME_RETRY_GROUP)             \
	X(NOT_FOUND, "not_found", true, OUTCOME_RETRY_GROUP)   \
	X(AUTH_TOKEN, "auth_token", true, OUTCOME_RETRY_GROUP) \
	X(CLIENT, "client_error", false, OUTCOME_RETRY_NONE)

enum outcome {
#define OUTCOME_ENUM(id, name, failure, retry) OUTCOME_##id,
	OUTCOME_TABLE(OUTCOME_ENUM)
#undef OUTCOME_ENUM
	        OUTCOME__COUNT,
};

#define OUTCOME_FAILURE_FIRST OUTCOME_CONNECT
#define OUTCOME_FAILURE_LAST  OUTCOME_AUTH_TOKEN

const char *outcome_name(enum outcome outcome);
bool outcome_is_failure(enum outcome outcome);
enum outcome_retry outcome_retry_class(enum outcome outcome);
/* The outcome of an HTTP answer from a deployment of that provider. */
enum outcome outcome_from_status(long status, bool is_azure);
