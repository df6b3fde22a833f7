package main

import (
	"slices"
	"testing"
)

// Without a gateway address, a filter of REST scenarios only runs nothing.
func TestRestlessFilter(t *testing.T) {
	keys := []string{"baseline-healthz-rest", "register-grpc", "register-rest", "pair-rest", "events", "memory"}
	for _, tc := range []struct {
		scenarios string
		want      []string
	}{
		{"all", []string{"register-grpc", "events", "memory"}},
		{"register-rest,pair-rest", nil},
	} {
		b := &bench{filter: restless(splitList(tc.scenarios))}
		var got []string
		for _, k := range keys {
			if b.want(k) {
				got = append(got, k)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("--scenarios %s without a gateway: runs %v, want %v", tc.scenarios, got, tc.want)
		}
	}
}
