package redisconn_test

import (
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// TestOpenSentinel runs a real Redis and a real Sentinel that monitors it,
// and checks that a master_name URL reaches the primary through Sentinel.
func TestOpenSentinel(t *testing.T) {
	t.Parallel()
	rr := testkit.StartReplicatedRedis(t, 0, 5*time.Second)
	rdb, err := redisconn.Open(rr.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	testkit.Eventually(t, 10*time.Second, "a write through Sentinel", func() bool {
		return rdb.Set(t.Context(), "k", "v", 0).Err() == nil
	})
	if got := rdb.Get(t.Context(), "k").Val(); got != "v" {
		t.Fatalf("read back %q", got)
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://x", "redis://x:1?master_name=a&bogus=1", "::"} {
		if _, err := redisconn.Open(u); err == nil {
			t.Errorf("Open(%q) accepted", u)
		}
	}
}

func TestOpenErrorHidesThePassword(t *testing.T) {
	for _, u := range []string{
		"redis://:s3cret@127.0.0.1:6379/%zz",
		"redis://:s3cret@sentinel-0:26379/%zz?master_name=landscape",
	} {
		_, err := redisconn.Open(u)
		if err == nil {
			t.Fatalf("Open(%q): want an error", u)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open: the error shows the password: %v", err)
		}
	}
}
