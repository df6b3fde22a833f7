package keyspace

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/redisconn"
)

// The list indexes earlier versions also kept: every resource of a global
// account (idx:all) and those of a type (idx:type:<t>). Nothing reads or
// writes them now; a filter without a state merges the indexes of every
// state instead.
//
// retiredMark, a key of the context, says that they are gone: once a
// RetireIndexes pass has removed them all, later starts skip the scan.
const retiredMark = "idx:retired"

// retired reports whether key, one of the context's account keys, is a
// retired index.
func (s Space) retired(key string) bool {
	rest, ok := strings.CutPrefix(key, s.base+"{")
	if !ok {
		return false
	}
	_, part, ok := strings.Cut(rest, "}:")
	if !ok {
		return false
	}
	return part == "idx:all" || (strings.HasPrefix(part, "idx:type:") && !strings.Contains(part[len("idx:type:"):], ":"))
}

// RetireIndexes removes the retired list indexes of every global account
// of the store's context, once: it scans for them (SCAN, a page at a time,
// so Redis serves others between pages), unlinks them and marks the
// context, and returns how many it removed. A context already marked costs
// one GET.
func (st Store) RetireIndexes(ctx context.Context) (int, error) {
	s, rdb := st.Keys, st.Redis
	mark := s.Key(retiredMark)
	switch err := rdb.Get(ctx, mark).Err(); err {
	case nil:
		return 0, nil
	case redis.Nil:
	default:
		return 0, redisconn.Classify(err)
	}
	removed := 0
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, s.base+"{*}:idx:*", 1000).Result()
		if err != nil {
			return removed, redisconn.Classify(err)
		}
		gone := keys[:0]
		for _, k := range keys {
			if s.retired(k) {
				gone = append(gone, k)
			}
		}
		if len(gone) > 0 {
			n, err := rdb.Unlink(ctx, gone...).Result()
			if err != nil {
				return removed, redisconn.Classify(err)
			}
			removed += int(n)
		}
		if cursor = next; cursor == 0 {
			break
		}
	}
	if err := rdb.Set(ctx, mark, time.Now().UTC().Format(time.RFC3339), 0).Err(); err != nil {
		return removed, redisconn.Classify(err)
	}
	return removed, nil
}

// retireRetry is how long RemoveRetiredIndexes waits after a failed pass.
const retireRetry = time.Minute

// RemoveRetiredIndexes is a worker (see pkg/workgroup): it runs
// RetireIndexes at start, again a minute after a failure (logged) until
// one pass succeeds, and then waits for ctx to end.
func (st Store) RemoveRetiredIndexes(logger *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		for {
			n, err := st.RetireIndexes(ctx)
			if err == nil {
				if n > 0 {
					logger.Info("removed the list indexes earlier versions kept (idx:all, idx:type)", "keys", n)
				}
				<-ctx.Done()
				return nil
			}
			if ctx.Err() != nil {
				return nil
			}
			logger.Warn("removing the list indexes earlier versions kept failed; retrying", "error", err, "retry_in", retireRetry.String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(retireRetry):
			}
		}
	}
}
