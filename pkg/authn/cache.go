package authn

import (
	"slices"
	"sync"
	"time"
)

// maxCached bounds the verified-JWT cache: about 4096 × 1 KiB at most.
const maxCached = 4096

// verifiedCache remembers JWTs that verified, so that a client calling
// many times with one JWT pays for the signature check (ES256, RS256) once.
// Only accepted credentials are cached, keyed by the whole JWT string; an
// entry is used only until the JWT's exp (plus ClockSkew), like the JWT
// itself. It is bounded: when full, arbitrary entries are dropped.
type verifiedCache struct {
	mu sync.RWMutex
	m  map[string]cachedCaller
}

type cachedCaller struct {
	caller Caller
	until  time.Time // exp + ClockSkew
}

// get returns the caller of a JWT that verified before and has not expired.
func (c *verifiedCache) get(raw string, now time.Time) (Caller, bool) {
	c.mu.RLock()
	e, ok := c.m[raw]
	c.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Caller{}, false
	}
	cl := e.caller
	cl.Roles = slices.Clone(cl.Roles) // callers may not change the cached entry
	return cl, true
}

// put remembers a verified JWT until exp + ClockSkew.
func (c *verifiedCache) put(raw string, caller Caller, exp time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]cachedCaller)
	}
	if len(c.m) >= maxCached {
		n := 0
		for k := range c.m { // map order is random: drop about an eighth
			delete(c.m, k)
			if n++; n >= maxCached/8 {
				break
			}
		}
	}
	caller.Roles = slices.Clone(caller.Roles)
	c.m[raw] = cachedCaller{caller: caller, until: exp.Add(ClockSkew)}
}
