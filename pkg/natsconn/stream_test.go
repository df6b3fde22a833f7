package natsconn_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// TestEnsureStreamOnACluster runs on a 3-node JetStream cluster: a stream
// is created with the replicas asked for, scaled up and down to them, kept
// at an operator's count when none is asked for, and its other settings
// brought in line without touching the count.
func TestEnsureStreamOnACluster(t *testing.T) {
	t.Parallel()
	url := testkit.NATSCluster(t, 3)
	nc, js, err := natsconn.Connect(url, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cfg := func(replicas int, maxAge time.Duration) jetstream.StreamConfig {
		return jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage,
			MaxAge: maxAge, Duplicates: time.Minute, Replicas: replicas}
	}
	ensure := func(want jetstream.StreamConfig) {
		t.Helper()
		// Right after the cluster forms, a request may find no stream
		// leader yet; the relay and the subscriber retry the same way.
		var last string
		testkit.Eventually(t, 10*time.Second, fmt.Sprintf("EnsureStream(%d replicas)", want.Replicas), func() bool {
			err := natsconn.EnsureStream(ctx, js, want)
			if err != nil && err.Error() != last {
				last = err.Error()
				t.Logf("EnsureStream(%d replicas): %v", want.Replicas, err)
			}
			return err == nil
		})
	}
	check := func(what string, replicas int, maxAge time.Duration) {
		t.Helper()
		testkit.Eventually(t, 20*time.Second, what, func() bool {
			s, err := js.Stream(ctx, "T")
			if err != nil {
				return false
			}
			info := s.CachedInfo()
			if info.Config.Replicas != replicas || info.Config.MaxAge != maxAge || info.Cluster == nil {
				return false
			}
			current := 0
			for _, p := range info.Cluster.Replicas {
				if p.Current {
					current++
				}
			}
			return info.Cluster.Leader != "" && current == replicas-1
		})
	}

	ensure(cfg(0, time.Hour)) // none asked: the server's default
	check("created with one replica", 1, time.Hour)
	ensure(cfg(3, time.Hour))
	check("scaled to three replicas", 3, time.Hour)
	ensure(cfg(0, 2*time.Hour)) // none asked: keeps 3, takes the max age
	check("three replicas kept, max age updated", 3, 2*time.Hour)
	ensure(cfg(3, 2*time.Hour)) // already so: no update
	check("unchanged", 3, 2*time.Hour)
	ensure(cfg(1, 2*time.Hour))
	check("scaled down to one replica", 1, 2*time.Hour)
}
