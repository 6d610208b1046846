/*
 * Unit tests of the outcome table (common/outcome.c): the failures are the
 * run the supervisor iterates, each outcome's retry class is what a request
 * does with it, and HTTP statuses map as SPEC 7 counts them.
 */
#include "outcome.h"
#include "tap.h"

int main(void)
{
	bool run = true;

	for (int i = 0; i < OUTCOME__COUNT; i++)
		run = run && outcome_is_failure((enum outcome)i) ==
		                     (i >= OUTCOME_FAILURE_FIRST && i <= OUTCOME_FAILURE_LAST);
	tap_ok(run, "the failures are OUTCOME_FAILURE_FIRST..LAST");
	tap_ok(!outcome_is_failure(OUTCOME__COUNT) && !outcome_is_failure((enum outcome) - 1),
	       "out of range is no failure");
	tap_str(outcome_name(OUTCOME_CLIENT), "client_error", "names from the table");
	tap_str(outcome_name(OUTCOME__COUNT), "unknown", "out of range has a name");

	tap_ok(outcome_retry_class(OUTCOME_SUCCESS) == OUTCOME_RETRY_NONE &&
	               outcome_retry_class(OUTCOME_CLIENT) == OUTCOME_RETRY_NONE,
	       "success and a client error go to the client");
	tap_ok(outcome_retry_class(OUTCOME_CONNECT) == OUTCOME_RETRY_DEPLOYMENT &&
	               outcome_retry_class(OUTCOME_TIMEOUT) == OUTCOME_RETRY_DEPLOYMENT &&
	               outcome_retry_class(OUTCOME_5XX) == OUTCOME_RETRY_DEPLOYMENT &&
	               outcome_retry_class(OUTCOME_429) == OUTCOME_RETRY_DEPLOYMENT,
	       "transport errors, timeouts, 5xx and 429 retry another deployment");
	tap_ok(outcome_retry_class(OUTCOME_AUTH) == OUTCOME_RETRY_GROUP &&
	               outcome_retry_class(OUTCOME_NOT_FOUND) == OUTCOME_RETRY_GROUP,
	       "auth and an Azure 404 skip the group");

	tap_ok(outcome_from_status(200, false) == OUTCOME_SUCCESS &&
	               outcome_from_status(302, false) == OUTCOME_SUCCESS,
	       "2xx and 3xx are answers");
	tap_ok(outcome_from_status(401, false) == OUTCOME_AUTH &&
	               outcome_from_status(403, true) == OUTCOME_AUTH,
	       "401 and 403 are auth");
	tap_ok(outcome_from_status(429, false) == OUTCOME_429, "429");
	tap_ok(outcome_from_status(408, false) == OUTCOME_TIMEOUT, "408 is a timeout");
	tap_ok(outcome_from_status(404, true) == OUTCOME_NOT_FOUND &&
	               outcome_from_status(404, false) == OUTCOME_CLIENT,
	       "404 is a failure only from Azure");
	tap_ok(outcome_from_status(503, false) == OUTCOME_5XX, "5xx");
	tap_ok(outcome_from_status(400, false) == OUTCOME_CLIENT, "other 4xx are the client's");
	return tap_done();
}
