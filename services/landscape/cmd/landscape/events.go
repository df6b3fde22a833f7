package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/config"
)

// eventsSubject matches every Landscape event subject.
const eventsSubject = "landscape.>"

// eventLine is one line of `landscape events`.
type eventLine struct {
	Subject string          `json:"subject"`
	Event   json.RawMessage `json:"event"`
}

func eventsCommand() (*config.FlagSet, func(context.Context, env) error) {
	var natsURL string
	var fromStart bool
	var log logFlags
	var natsAuth natsAuthFlags
	fs := config.New("landscape events", "landscape events: "+commands()["events"].summary)
	fs.String(&natsURL, "nats-url", "LANDSCAPE_NATS_URL", defaultNATSURL, "NATS URL (landscape dev prints it)")
	fs.Bool(&fromStart, "from-start", "LANDSCAPE_EVENTS_FROM_START", false, "also print the events already in the streams (LANDSCAPE_REGISTRY, _TOKEN, _FORMATION), then follow")
	natsAuth.define(fs)
	log.define(fs)
	return fs, func(ctx context.Context, e env) error {
		logger, err := log.logger(e)
		if err != nil {
			return err
		}
		nc, js, err := connectNATS(natsURL, "events", natsAuth.auth, logger)
		if err != nil {
			return err
		}
		defer nc.Close()
		var mu sync.Mutex
		enc := json.NewEncoder(e.stdout)
		print := func(subject string, data []byte) {
			line := eventLine{Subject: subject, Event: data}
			if !json.Valid(data) {
				q, _ := json.Marshal(string(data))
				line.Event = q
			}
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(line)
		}
		if !fromStart {
			sub, err := nc.Subscribe(eventsSubject, func(m *nats.Msg) { print(m.Subject, m.Data) })
			if err != nil {
				return fmt.Errorf("subscribe %s: %w", eventsSubject, err)
			}
			defer func() { _ = sub.Unsubscribe() }()
			logger.Info("following events", "subject", eventsSubject)
			<-ctx.Done()
			return nil
		}
		for _, c := range []string{"registry", "token", "formation"} {
			name := cloudevent.StreamName(c)
			cons, err := js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy})
			if err != nil {
				logger.Warn("stream not readable; skipping it", "stream", name, "error", err.Error())
				continue
			}
			cc, err := cons.Consume(func(m jetstream.Msg) { print(m.Subject(), m.Data()) })
			if err != nil {
				logger.Warn("stream not readable; skipping it", "stream", name, "error", err.Error())
				continue
			}
			defer cc.Stop()
		}
		<-ctx.Done()
		return nil
	}
}
