/*
 * Unit tests of the global fallback decision (common/health_policy): trips,
 * cooldown, probes, recovery, degraded, operator override and no flapping,
 * driven by synthetic time and counts.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "health_policy.h"
#include "ipc.h"
#include "tap.h"

static struct fallback_policy policy(void)
{
	return (struct fallback_policy){
	        .mode = FALLBACK_SETTING_AUTO,
	        .window_ms = 10000,
	        .min_requests = 10,
	        .failure_ratio = 0.5,
	        .consecutive_failures = 5,
	        .cooldown_ms = 30000,
	        .probe_interval_ms = 5000,
	        .recover_successes = 3,
	        .report_interval_ms = 250,
	};
}

static struct health_counts counts(unsigned ok, unsigned failed, enum outcome cls)
{
	struct health_counts c = {0};

	c.requests = ok + failed;
	c.failures = failed;
	c.by_outcome[OUTCOME_SUCCESS] = ok;
	c.by_outcome[cls] = failed;
	return c;
}

static struct health_input input(struct health_counts primary, unsigned consecutive,
                                 struct health_counts azure, unsigned azure_consecutive)
{
	return (struct health_input){
	        .group = "gpt-4o",
	        .primary = "litellm-proxy",
	        .primary_window = primary,
	        .primary_consecutive = consecutive,
	        .has_direct_azure = true,
	        .azure_window = azure,
	        .azure_consecutive = azure_consecutive,
	};
}

static void test_trips(void)
{
	struct fallback_policy p = policy();
	struct health_group g;
	struct health_input in;

	health_group_init(&g, 0);
	in = input(counts(2, 12, OUTCOME_AUTH), 0, counts(5, 0, OUTCOME_5XX), 0);
	tap_ok(health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 1000), "ratio trips");
	tap_ok(g.mode == MODE_FALLBACK && g.epoch == 1, "mode fallback, epoch 1");
	tap_ok(strstr(g.reason, "failed 12 of 14 requests in 10s (auth: 12)") != NULL,
	       "reason has the numbers: %s", g.reason);
	tap_ok(!health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 1250), "no second transition");
	tap_ok(g.epoch == 1, "epoch unchanged");

	health_group_init(&g, 0);
	in = input(counts(0, 5, OUTCOME_CONNECT), 5, counts(0, 0, OUTCOME_5XX), 0);
	tap_ok(health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 0) && g.mode == MODE_FALLBACK,
	       "5 in a row trip at low traffic (below min_requests)");

	health_group_init(&g, 0);
	in = input(counts(1, 8, OUTCOME_5XX), 4, counts(0, 0, OUTCOME_5XX), 0);
	tap_ok(!health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 0), "9 requests: below min");

	health_group_init(&g, 0);
	in = input(counts(11, 9, OUTCOME_5XX), 1, counts(0, 0, OUTCOME_5XX), 0);
	tap_ok(!health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 0), "45%% failures: no trip");

	health_group_init(&g, 0);
	in = input(counts(0, 20, OUTCOME_5XX), 20, counts(0, 0, OUTCOME_5XX), 0);
	in.has_direct_azure = false;
	tap_ok(!health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 0),
	       "no direct-Azure target: nothing to switch to");
}

static void test_no_flapping(void)
{
	struct fallback_policy p = policy();
	struct health_group g;
	int transitions = 0;

	health_group_init(&g, 0);
	/* success, failure, success, failure... for a minute: 50% with runs of 1 */
	for (long t = 0; t < 60000; t += 250) {
		struct health_input in =
		        input(counts(20, 19, OUTCOME_5XX), 1, counts(0, 0, OUTCOME_5XX), 0);
		transitions += health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, t);
	}
	tap_ok(transitions == 0, "alternating success/failure under the ratio never trips");
}

static void test_cooldown_probes_recovery(void)
{
	struct fallback_policy p = policy();
	struct health_group g;
	struct health_input in =
	        input(counts(0, 20, OUTCOME_AUTH), 20, counts(10, 0, OUTCOME_5XX), 0);

	health_group_init(&g, 0);
	health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 1000);
	tap_ok(!health_probe_grant(&g, &p, 1000 + 29999), "no probe before the cooldown");
	tap_ok(health_probe_grant(&g, &p, 31000), "a probe after the cooldown");
	tap_ok(!health_probe_grant(&g, &p, 32000), "one probe per interval");
	tap_ok(!health_probe_result(&g, false, &p, FALLBACK_SETTING_AUTO, 32500),
	       "failed probe: still fallback");
	tap_ok(!health_probe_grant(&g, &p, 40000), "failed probe restarts the cooldown");
	tap_ok(health_probe_grant(&g, &p, 62500), "probe after the new cooldown");
	tap_ok(!health_probe_result(&g, true, &p, FALLBACK_SETTING_AUTO, 62600), "1 success");
	tap_ok(health_probe_grant(&g, &p, 67500), "next probe after the interval");
	tap_ok(!health_probe_result(&g, true, &p, FALLBACK_SETTING_AUTO, 67600), "2 successes");
	tap_ok(health_probe_grant(&g, &p, 72600), "third probe");
	tap_ok(health_probe_result(&g, true, &p, FALLBACK_SETTING_AUTO, 72700),
	       "3 successes in a row recover");
	tap_ok(g.mode == MODE_NORMAL && g.epoch == 2, "back to normal, epoch 2");
	tap_ok(strstr(g.reason, "3 probes") != NULL, "reason: %s", g.reason);
	tap_ok(!health_probe_grant(&g, &p, 80000), "no probes in normal mode");
}

static void test_degraded(void)
{
	struct fallback_policy p = policy();
	struct health_group g;
	struct health_input in;

	health_group_init(&g, 0);
	in = input(counts(0, 20, OUTCOME_5XX), 20, counts(0, 20, OUTCOME_5XX), 20);
	tap_ok(health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 0) && g.mode == MODE_DEGRADED,
	       "both failing: degraded");
	in = input(counts(0, 20, OUTCOME_5XX), 20, counts(15, 5, OUTCOME_5XX), 0);
	tap_ok(health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 1000) && g.mode == MODE_FALLBACK,
	       "Azure answers again: back to fallback");
	in = input(counts(0, 20, OUTCOME_5XX), 20, counts(0, 20, OUTCOME_TIMEOUT), 20);
	tap_ok(health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 2000) && g.mode == MODE_DEGRADED,
	       "fallback -> degraded when Azure trips");
	in = input(counts(20, 0, OUTCOME_5XX), 0, counts(0, 20, OUTCOME_TIMEOUT), 20);
	tap_ok(health_decide(&g, &in, &p, FALLBACK_SETTING_AUTO, 3000) && g.mode == MODE_NORMAL,
	       "primary healthy again: normal");
}

static void test_override(void)
{
	struct fallback_policy p = policy();
	struct health_group g;
	struct health_input healthy =
	        input(counts(20, 0, OUTCOME_5XX), 0, counts(0, 0, OUTCOME_5XX), 0);
	struct health_input failing =
	        input(counts(0, 20, OUTCOME_5XX), 20, counts(5, 0, OUTCOME_5XX), 0);

	health_group_init(&g, 0);
	tap_ok(health_decide(&g, &healthy, &p, FALLBACK_SETTING_ON, 0) && g.mode == MODE_FALLBACK,
	       "override on forces fallback");
	tap_ok(strstr(g.reason, "operator") != NULL, "reason names the operator");
	tap_ok(health_probe_grant(&g, &p, 30000), "probes are granted while forced on");
	health_probe_result(&g, true, &p, FALLBACK_SETTING_ON, 30001);
	health_probe_result(&g, true, &p, FALLBACK_SETTING_ON, 30002);
	tap_ok(!health_probe_result(&g, true, &p, FALLBACK_SETTING_ON, 30003) &&
	               g.mode == MODE_FALLBACK,
	       "forced on: probes never recover it");
	tap_ok(health_decide(&g, &failing, &p, FALLBACK_SETTING_OFF, 31000) &&
	               g.mode == MODE_NORMAL,
	       "override off forces normal");
	tap_ok(!health_decide(&g, &failing, &p, FALLBACK_SETTING_OFF, 32000), "off never trips");
	tap_ok(health_decide(&g, &failing, &p, FALLBACK_SETTING_AUTO, 33000) &&
	               g.mode == MODE_FALLBACK,
	       "auto hands it back to the policy");
}

static void test_window(void)
{
	struct health_window w;
	struct health_counts c = counts(1, 3, OUTCOME_429), total;

	health_window_init(&w, 10000);
	health_window_add(&w, 500, &c);
	health_window_add(&w, 4500, &c);
	health_window_total(&w, 5000, &total);
	tap_ok(total.requests == 8 && total.failures == 6 && total.by_outcome[OUTCOME_429] == 6,
	       "window sums its buckets");
	health_window_total(&w, 10500, &total);
	tap_ok(total.requests == 4, "the oldest bucket ages out");
	health_window_total(&w, 20000, &total);
	tap_ok(total.requests == 0, "everything ages out");
	health_window_add(&w, 20000, &c);
	health_window_clear(&w);
	health_window_total(&w, 20000, &total);
	tap_ok(total.requests == 0, "clear empties the window");
}

/* A worker's REPORT is checked in full: a compromised worker cannot make
 * the supervisor index past its tables or count nonsense. */
static void test_report_delta(void)
{
	struct ipc_report r = {.deployment = 2, .trailing = 1};
	struct health_counts d;

	r.counts[OUTCOME_SUCCESS] = 3;
	r.counts[OUTCOME_CONNECT] = 1;
	r.counts[OUTCOME_NOT_FOUND] = 1;
	tap_ok(health_report_delta(&r, 3, &d) == 0 && d.requests == 5 && d.failures == 2 &&
	               d.by_outcome[OUTCOME_CONNECT] == 1,
	       "a valid report becomes a delta");
	r.deployment = 3;
	tap_ok(health_report_delta(&r, 3, &d) == -EINVAL,
	       "a deployment past the config is refused");
	r.deployment = UINT32_MAX;
	tap_ok(health_report_delta(&r, 3, &d) == -EINVAL, "deployment UINT32_MAX is refused");
	r.deployment = 0;
	tap_ok(health_report_delta(&r, 0, &d) == -EINVAL,
	       "any deployment of an empty config is refused");
	r.probe = IPC_PROBE_FAILURE + 1;
	tap_ok(health_report_delta(&r, 3, &d) == -EINVAL, "an unknown probe result is refused");
	r.probe = IPC_PROBE_SUCCESS;
	r.trailing = 3;
	tap_ok(health_report_delta(&r, 3, &d) == -EINVAL,
	       "more trailing failures than failures are refused");
	for (int i = 0; i < OUTCOME__COUNT; i++)
		r.counts[i] = UINT32_MAX;
	r.trailing = UINT32_MAX;
	tap_ok(health_report_delta(&r, 3, &d) == 0 && d.failures >= UINT32_MAX,
	       "the largest counts add up without overflow");
}

int main(void)
{
	test_trips();
	test_no_flapping();
	test_cooldown_probes_recovery();
	test_degraded();
	test_override();
	test_window();
	test_report_delta();
	return tap_done();
}
