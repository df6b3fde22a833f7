// Package redisconn opens Redis clients with the timeouts Landscape relies
// on, and classifies Redis failures: a Redis that cannot be reached becomes
// an UNAVAILABLE error, so a caller fails fast instead of hanging.
package redisconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Timeouts bound every Redis call, whatever the caller's deadline.
const (
	DialTimeout  = 2 * time.Second
	ReadTimeout  = 2 * time.Second
	WriteTimeout = 2 * time.Second
)

// Open returns a client for a redis:// or rediss:// URL (or a
// redis-sentinel style URL understood by ParseURL), with timeouts set.
// It does not dial; Ping checks reachability.
func Open(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.DialTimeout = DialTimeout
	opt.ReadTimeout = ReadTimeout
	opt.WriteTimeout = WriteTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = 1
	if opt.PoolSize == 0 {
		opt.PoolSize = 64
	}
	return redis.NewClient(opt), nil
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
