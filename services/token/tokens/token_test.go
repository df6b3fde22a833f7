package tokens

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/resource"
)

func TestParseSubject(t *testing.T) {
	t.Parallel()
	ok := []string{"globalAccounts/acme/systems/sf-prod", "globalAccounts/a/systems/b"}
	bad := []string{"", "globalAccounts/acme", "globalAccounts/acme/systems/", "globalAccounts/Acme/systems/x",
		"globalAccounts/acme/formations/x", "globalAccounts/acme/systems/x/integrationTokens/y",
		"/globalAccounts/acme/systems/x", "globalAccounts/acme/systems/x-"}
	for _, s := range ok {
		sub, err := ParseSubject("subject", s)
		if err != nil || sub.Name != s {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range bad {
		_, err := ParseSubject("subject", s)
		var ae *apperr.Error
		if err == nil || !asErr(err, &ae) || ae.Violations[0].Field != "subject" {
			t.Errorf("%q: %v", s, err)
		}
	}
	sub, _ := ParseSubject("subject", "globalAccounts/acme/systems/s1")
	if sub.GlobalAccount != "acme" || sub.System != "s1" {
		t.Fatalf("%+v", sub)
	}
	if !sub.OwnsTokenName(sub.TokenName("k1")) || sub.OwnsTokenName("globalAccounts/acme/systems/s2/integrationTokens/k1") ||
		sub.OwnsTokenName(sub.TokenName("")) {
		t.Fatal("OwnsTokenName")
	}
}

func asErr(err error, ae **apperr.Error) bool {
	e, ok := err.(*apperr.Error)
	*ae = e
	return ok
}

func TestNewID(t *testing.T) {
	t.Parallel()
	for range 500 {
		id, err := NewID(rand.Reader)
		if err != nil || !resource.ValidID(id) || len(id) != idLen {
			t.Fatalf("id %q: %v", id, err)
		}
	}
}

func TestCheckConsumable(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	tok := Token{Name: "n", State: StateUnused, ExpireTime: now.Add(time.Minute), Revision: 1}
	cases := []struct {
		name string
		t    Token
		at   time.Time
		want apperr.Reason
	}{
		{"unused", tok, now, ""},
		{"expired", tok, now.Add(time.Minute), apperr.TokenExpired},
		{"used", tok.Consumed(now), now, apperr.TokenAlreadyUsed},
		{"used and expired", tok.Consumed(now), now.Add(time.Hour), apperr.TokenAlreadyUsed},
		{"revoked", tok.Revoked(now), now, apperr.TokenRevoked},
		{"revoked and expired", tok.Revoked(now), now.Add(time.Hour), apperr.TokenRevoked},
	}
	for _, c := range cases {
		err := c.t.CheckConsumable(c.at)
		if (err == nil) != (c.want == "") || (err != nil && apperr.ReasonOf(err) != c.want) {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	c := tok.Consumed(now)
	if c.Revision != 2 || c.State != StateConsumed || !c.EndTime.Equal(now) || tok.State != StateUnused {
		t.Fatalf("Consumed: %+v", c)
	}
	if tok.Revocable(now.Add(time.Minute)) || !tok.Revocable(now) || c.Revocable(now) {
		t.Fatal("Revocable")
	}
}
