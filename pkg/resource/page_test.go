package resource

import (
	"encoding/base64"
	"testing"
	"time"
)

func TestPageSize(t *testing.T) {
	t.Parallel()
	for in, want := range map[int]int{0: 50, 1: 1, 50: 50, 999: 999, 1000: 1000, 1001: 1000, 1 << 30: 1000} {
		if got, err := PageSize(in); err != nil || got != want {
			t.Errorf("PageSize(%d) = %d, %v; want %d", in, got, err, want)
		}
	}
	_, err := PageSize(-1)
	if v := violation(t, err); v.Field != "pageSize" || v.Description != "must not be negative" {
		t.Errorf("PageSize(-1): %+v", v)
	}
}

func TestIndexMembersAndPageTokens(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	m := IndexMember(t0, "sf-prod")
	if m != "01767323045000000006/sf-prod" || MemberID(m) != "sf-prod" {
		t.Fatalf("member %q, id %q", m, MemberID(m))
	}
	if later := IndexMember(t0.Add(time.Nanosecond), "a"); later <= m {
		t.Errorf("members do not order by create time: %q <= %q", later, m)
	}
	if other := IndexMember(t0, "sf-test"); other <= m {
		t.Errorf("members of one create time do not order by id: %q <= %q", other, m)
	}
	got, err := ParsePageToken(PageToken(m))
	if err != nil || got != m {
		t.Fatalf("ParsePageToken(PageToken(%q)) = %q, %v", m, got, err)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, bad := range []string{
		"", "!!", "bm90LWEtdG9rZW4", base64.StdEncoding.EncodeToString([]byte(m)),
		enc("01767323045000000006/"), enc("01767323045000000006sf-prod"), enc("0176732304500000000/sf-prod"),
		enc("-1767323045000000006/sf-prod"), enc("+1767323045000000006/sf-prod"), enc("99999999999999999999/sf-prod"),
		enc("01767323045000000006/SF"), enc("01767323045000000006/a/b"),
	} {
		_, err := ParsePageToken(bad)
		if v := violation(t, err); v.Field != "pageToken" || v.Description != "is not a page token of this list" {
			t.Errorf("ParsePageToken(%q): %+v", bad, v)
		}
	}
	if MemberID("short") != "" {
		t.Error("MemberID of a short string")
	}
}
