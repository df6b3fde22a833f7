package gateway_test

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

func itoa(i int) string { return strconv.Itoa(i) }

func rdbWith(o *redis.Options) *redis.Client {
	o.MaxRetries = -1
	o.DialTimeout = 100e6
	return redis.NewClient(o)
}
