package outbox_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/subscriber"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// TestAgainstExternalNATS runs the relay and a subscriber against the NATS
// server at LANDSCAPE_TEST_NATS_URL (e.g. the machine's 2.9 server on
// nats://127.0.0.1:4222), on a stream of its own that it deletes at the end.
// It checks that nothing needs a newer server than 2.9.
func TestAgainstExternalNATS(t *testing.T) {
	url := os.Getenv("LANDSCAPE_TEST_NATS_URL")
	if url == "" {
		t.Skip("LANDSCAPE_TEST_NATS_URL is not set (an external NATS server to check compatibility against)")
	}
	rdb, prefix := testkit.Redis(t)
	js := testkit.JetStream(t, url)
	testkit.Eventually(t, 5*time.Second, "connected", js.Conn().IsConnected)
	t.Logf("NATS server version %s", js.Conn().ConnectedServerVersion())
	context_ := "compat" + testkit.RandomID(4)
	ob := outbox.New(rdb, prefix, context_)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = js.DeleteStream(ctx, cloudevent.StreamName(context_))
	})
	testkit.Go(t, outbox.NewRelay(ob, js, testkit.Logger(t), outbox.RelayOptions{}).Run)
	var mu sync.Mutex
	got := map[string]int{}
	testkit.Go(t, func(ctx context.Context) error {
		return subscriber.Run(ctx, js, subscriber.Config{
			Service: "registry", Stream: cloudevent.StreamName(context_), Durable: "compat",
			FilterSubject: "landscape." + context_ + ".>",
			Delays:        []time.Duration{10 * time.Millisecond},
		}, func(_ context.Context, ev cloudevent.Event) error {
			mu.Lock()
			defer mu.Unlock()
			got[ev.ID]++
			if strings.HasSuffix(ev.Subject, "/poison") {
				return errShort
			}
			return nil
		}, testkit.Logger(t))
	})
	spec := cloudevent.Spec{Context: context_, Name: "system.updated"}
	var ids []string
	for i, name := range []string{"a", "b", "poison"} {
		m, err := cloudevent.New(spec, "ga", "globalAccounts/ga/systems/"+name, rawJSON(`{"revision":"1"}`), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := ob.Tx().Emit(m).Commit(t.Context()); err != nil {
			t.Fatal(i, err)
		}
		ids = append(ids, m.ID)
	}
	testkit.Eventually(t, 20*time.Second, "events handled and the poison dead-lettered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got[ids[0]] == 1 && got[ids[1]] == 1 && got[ids[2]] == 5
	})
	s, err := js.Stream(t.Context(), natsconn.DeadLetterStream("registry"))
	if err != nil {
		t.Fatal(err)
	}
	dl, err := s.GetLastMsgForSubject(t.Context(), natsconn.DeadLetterSubject("registry", "compat"))
	if err != nil || dl.Header.Get(subscriber.HeaderOriginalSubject) != spec.NATSSubject("ga") {
		t.Fatalf("dead letter: %v %v", dl, err)
	}
}

type shortError string

func (e shortError) Error() string { return string(e) }

const errShort = shortError("poison")
