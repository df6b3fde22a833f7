package servicedeps

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/redisconn"
)

func TestResolve(t *testing.T) {
	var c Common
	if err := c.Resolve("token"); err == nil || err.Error() != "token: Deps.Redis is required" {
		t.Fatalf("without Redis: %v", err)
	}
	c.Redis = redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer c.Redis.Close()
	if err := c.Resolve("token"); err != nil {
		t.Fatal(err)
	}
	if c.KeyPrefix != redisconn.DefaultKeyPrefix || c.Logger == nil {
		t.Fatalf("defaults not filled: prefix %q, logger %v", c.KeyPrefix, c.Logger)
	}
	c.KeyPrefix = "t1"
	if err := c.Resolve("token"); err != nil || c.KeyPrefix != "t1" {
		t.Fatalf("a given prefix is kept: %q, %v", c.KeyPrefix, err)
	}
}
