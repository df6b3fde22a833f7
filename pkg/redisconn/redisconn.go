// Package redisconn opens Redis clients with the timeouts Landscape relies
// on, and classifies Redis failures: a Redis that cannot be reached becomes
// an UNAVAILABLE error, so a caller fails fast instead of hanging.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// DefaultKeyPrefix starts every Redis key of a deployment that names no
// prefix of its own (ls:registry:…); tests use a prefix per test.
const DefaultKeyPrefix = "ls"

// Timeouts bound every Redis call, whatever the caller's deadline.
const (
	DialTimeout  = 2 * time.Second
	ReadTimeout  = 2 * time.Second
	WriteTimeout = 2 * time.Second
)

// Open returns a client for a redis:// or rediss:// URL, with timeouts set.
// A URL with a master_name query parameter names Sentinels instead of a
// server (redis://sentinel-0:26379?master_name=landscape&addr=sentinel-1:26379):
// the client asks them for the current primary and follows failovers.
// It does not dial; Ping checks reachability. Concurrent callers' commands
// share round trips (see batcher).
//
// Through Sentinel, every new connection goes to the primary Sentinel
// names at that moment, and a failover Sentinel announces closes the
// connections to the old one: after a failover the client reaches the new
// primary by itself, within a second or so of the promotion. Meanwhile
// commands fail fast (connection refused, or READONLY from a demoted
// primary), which Classify turns into UNAVAILABLE.
func Open(url string) (*redis.Client, error) {
	c, _, err := open(url, Durability{})
	return c, err
}

// open builds the client and installs its batcher, which waits for d's
// replicas after durable writes.
func open(url string, d Durability) (*redis.Client, *batcher, error) {
	var c *redis.Client
	if strings.Contains(url, "master_name=") {
		opt, err := redis.ParseFailoverURL(url)
		if err != nil {
			return nil, nil, fmt.Errorf("redis sentinel url: %w", withoutURL(err))
		}
		tune(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.ContextTimeoutEnabled, &opt.MaxRetries, &opt.PoolSize)
		c = redis.NewFailoverClient(opt)
	} else {
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, fmt.Errorf("redis url: %w", withoutURL(err))
		}
		tune(&opt.DialTimeout, &opt.ReadTimeout, &opt.WriteTimeout, &opt.ContextTimeoutEnabled, &opt.MaxRetries, &opt.PoolSize)
		c = redis.NewClient(opt)
	}
	return c, batch(c, d), nil
}

// withoutURL drops the URL from a parse error (url.Parse quotes it whole,
// password included), keeping what is wrong with it.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// tune sets the options both kinds of client share.
func tune(dial, read, write *time.Duration, ctxTimeout *bool, retries, pool *int) {
	*dial, *read, *write = DialTimeout, ReadTimeout, WriteTimeout
	*ctxTimeout = true
	*retries = 1
	if *pool == 0 {
		*pool = 64
	}
}

// Classify turns a Redis client error into an apperr error: connection
// failures and deadlines into UNAVAILABLE, anything else into INTERNAL.
// redis.Nil is returned as is; so is an error that is already an apperr.
func Classify(err error) error {
	if err == nil || errors.Is(err, redis.Nil) {
		return err
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	if IsConnectionError(err) {
		return apperr.UnavailableErr("redis", err)
	}
	return apperr.Internalf("redis: %w", err)
}

// IsConnectionError reports whether err means Redis could not be reached in
// time (as opposed to a command error).
func IsConnectionError(err error) bool {
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout):
		return true
	case errors.As(err, &ne), errors.As(err, &oe):
		return true
	}
	msg := err.Error()
	for _, s := range []string{"LOADING", "MASTERDOWN", "READONLY", "connection", "EOF", "i/o timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
