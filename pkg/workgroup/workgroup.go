// Package workgroup runs a process's long-lived workers (outbox relays,
// event consumers, servers) with one rule: every worker runs until it is
// told to stop, and a worker that stops by itself — with an error or
// without one — is a failure that stops all the others. A service never
// goes on without its relay or its consumers.
package workgroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// ErrStoppedEarly is the failure of a worker that returned nil before it
// was told to stop.
var ErrStoppedEarly = errors.New("stopped unexpectedly")

// Worker is one piece of background work: Run runs until its context ends.
type Worker struct {
	Name string
	Run  func(context.Context) error
}

// Group runs workers, each with a context of its own, so that Stop can
// stop them one after the other in the order they were started.
type Group struct {
	logger *slog.Logger

	mu      sync.Mutex
	workers []*worker

	failed   chan struct{}
	failOnce sync.Once
	failErr  error

	stopOnce sync.Once
}

type worker struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns an empty group. A failure is logged at error level on
// logger (nil: not logged).
func New(logger *slog.Logger) *Group {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Group{logger: logger, failed: make(chan struct{})}
}

// Go starts w. Its context ends when Stop reaches it.
func (g *Group) Go(w Worker) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &worker{cancel: cancel, done: make(chan struct{})}
	g.mu.Lock()
	g.workers = append(g.workers, r)
	g.mu.Unlock()
	go func() {
		defer close(r.done)
		err := w.Run(ctx)
		if ctx.Err() != nil {
			return // told to stop: whatever it returned is no failure
		}
		if err == nil {
			err = ErrStoppedEarly
		}
		g.logger.Error("worker stopped; stopping the others", "worker", w.Name, "error", err.Error())
		g.fail(fmt.Errorf("%s: %w", w.Name, err))
	}()
}

func (g *Group) fail(err error) {
	g.failOnce.Do(func() {
		g.failErr = err
		close(g.failed)
	})
}

// Failed is closed when a worker has stopped by itself.
func (g *Group) Failed() <-chan struct{} { return g.failed }

// Stop stops the workers in the order they were started, each one after
// the one before it has returned, and returns the first failure (nil when
// no worker stopped by itself). It is safe to call more than once.
func (g *Group) Stop() error {
	g.stopOnce.Do(func() {
		g.mu.Lock()
		ws := g.workers
		g.mu.Unlock()
		for _, w := range ws {
			w.cancel()
			<-w.done
		}
	})
	select {
	case <-g.failed:
		return g.failErr
	default:
		return nil
	}
}

// Run runs workers until ctx ends or one of them stops by itself, then
// stops them all in order (see Group.Stop). It returns nil when ctx ended
// and every worker was running, else the first failure.
func Run(ctx context.Context, logger *slog.Logger, workers ...Worker) error {
	g := New(logger)
	for _, w := range workers {
		g.Go(w)
	}
	select {
	case <-ctx.Done():
	case <-g.Failed():
	}
	return g.Stop()
}
