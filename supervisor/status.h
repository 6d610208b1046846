/*
 * status: JSON views of the supervisor's state for the control socket
 * (status, workers, deployments, fallback). Read-only; never contains a secret
 * (keys are shown masked).
 */
#pragma once

#include <jansson.h>

struct supervisor;

json_t *status_json(struct supervisor *sup);
json_t *status_workers_json(struct supervisor *sup);
json_t *status_deployments_json(struct supervisor *sup);
json_t *status_fallback_json(struct supervisor *sup);
