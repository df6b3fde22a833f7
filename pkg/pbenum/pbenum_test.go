package pbenum_test

import (
	"testing"

	"github.com/landscape-dev/landscape/pkg/pbenum"
)

type color string

type colorPB int32

var colors = pbenum.New(map[color]colorPB{"red": 1, "green": 2})

func TestMapsBothWays(t *testing.T) {
	t.Parallel()
	for d, p := range map[color]colorPB{"red": 1, "green": 2} {
		if got := colors.Proto(d); got != p {
			t.Errorf("Proto(%q) = %d, want %d", d, got, p)
		}
		if got := colors.Domain(p); got != d {
			t.Errorf("Domain(%d) = %q, want %q", p, got, d)
		}
	}
}

func TestUnknownValuesMapToZero(t *testing.T) {
	t.Parallel()
	if got := colors.Proto("blue"); got != 0 {
		t.Errorf("Proto(blue) = %d, want 0", got)
	}
	if got := colors.Domain(7); got != "" {
		t.Errorf("Domain(7) = %q, want empty", got)
	}
	if d, ok := colors.Lookup(7); ok || d != "" {
		t.Errorf("Lookup(7) = %q, %v; want empty, false", d, ok)
	}
	if d, ok := colors.Lookup(2); !ok || d != "green" {
		t.Errorf("Lookup(2) = %q, %v; want green, true", d, ok)
	}
}

func TestNewRefusesATableThatCannotBeReadBackwards(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("New did not panic on two domain values with one proto value")
		}
	}()
	pbenum.New(map[color]colorPB{"red": 1, "crimson": 1})
}
