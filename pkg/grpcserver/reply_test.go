package grpcserver_test

import (
	"errors"
	"strconv"
	"testing"

	"github.com/landscape-dev/landscape/pkg/grpcserver"
)

func TestReplyConvertsOrPassesTheError(t *testing.T) {
	t.Parallel()
	reply := grpcserver.Reply(func(n int) *string { s := strconv.Itoa(n); return &s })
	got, err := reply(7, nil)
	if err != nil || got == nil || *got != "7" {
		t.Fatalf("reply(7, nil) = %v, %v; want 7, nil", got, err)
	}
	boom := errors.New("boom")
	got, err = reply(7, boom)
	if !errors.Is(err, boom) || got != nil {
		t.Fatalf("reply(7, boom) = %v, %v; want nil, boom", got, err)
	}
}

func TestEachConvertsInOrder(t *testing.T) {
	t.Parallel()
	got := grpcserver.Each([]int{1, 2, 3}, strconv.Itoa)
	if len(got) != 3 || got[0] != "1" || got[2] != "3" {
		t.Fatalf("Each = %v, want [1 2 3]", got)
	}
	if got := grpcserver.Each([]int(nil), strconv.Itoa); got == nil || len(got) != 0 {
		t.Fatalf("Each(nil) = %#v, want an empty, non-nil slice", got)
	}
}
