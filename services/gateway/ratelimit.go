package gateway

import (
	"log/slog"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/ratelimit"
)

// Limiter is the pairing rate limit per client address (package
// ratelimit), shared by every gateway replica through Redis.
type Limiter = ratelimit.Limiter

// NewLimiter allows rate requests per second per client address with
// bursts of burst, keyed <prefix>:gateway:ratelimit:<address>.
func NewLimiter(rdb redis.UniversalClient, prefix string, rate float64, burst int, logger *slog.Logger) *Limiter {
	return ratelimit.New(rdb, prefix+":gateway:ratelimit:", rate, burst, logger)
}
