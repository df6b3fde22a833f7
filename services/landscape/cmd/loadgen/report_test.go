package main

import (
	"strings"
	"testing"
)

// The targets of the open-loop, idle, token and Redis rows are judged
// against the baselines of the same run.
func TestJudgeRatiosOfTheSameRun(t *testing.T) {
	t.Parallel()
	rs := []Result{
		{Scenario: systemTypesBaseline, Transport: "REST", Clients: 64, Throughput: 10000, Baseline: true},
		{Scenario: idleGetScenario, Transport: "REST", Clients: 1, P50ms: 0.5},
		{Scenario: idleRegisterScenario, Transport: "REST", Clients: 1, P50ms: 1.2, Ops: 10},
		{Scenario: "RegisterSystem", Transport: "REST", Clients: 64, Throughput: 3600},
		{Scenario: "GenerateIntegrationToken", Transport: "REST", Clients: 64, Throughput: 4000},
		{Scenario: "RegisterSystem", Transport: "REST", Mode: "open", Rate: 1440, Clients: openWorkers, P99ms: 9, Ops: 100},
		{Scenario: "PairSystem", Transport: "REST", Mode: "open", Rate: 1440, Clients: openWorkers, P99ms: 13, Ops: 100},
		{Scenario: redisPendingScenario, Value: 1900, Unit: "B"},
		{Scenario: redisRegisteredScenario, Value: 1100, Unit: "B"},
		{Scenario: redisAuditScenario, Value: 1400, Unit: "B"},
	}
	judge(rs, nil)
	want := []string{"", "", "misses", "holds", "misses", "holds", "misses", "holds", "misses", ""}
	for i, r := range rs {
		if r.Verdict != want[i] {
			t.Errorf("%s %s: verdict %q (%s), want %q", r.Scenario, r.load(), r.Verdict, r.Target, want[i])
		}
	}
	if !strings.Contains(rs[3].Target, "0.36×") {
		t.Errorf("RegisterSystem target %q does not show the ratio of the run", rs[3].Target)
	}
}
