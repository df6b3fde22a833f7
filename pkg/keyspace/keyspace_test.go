package keyspace_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/keyspace"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

func TestKeys(t *testing.T) {
	t.Parallel()
	s := keyspace.New("ls", "registry")
	a := s.Account("acme")
	for got, want := range map[string]string{
		s.Key("deliveries:due"):      "ls:registry:deliveries:due",
		a.Key("system", "s1"):        "ls:registry:{acme}:system:s1",
		a.Name("My System"):          "ls:registry:{acme}:name:" + resource.NameKey("My System"),
		a.Index("PENDING", ""):       "ls:registry:{acme}:idx:state:PENDING",
		a.Index("PENDING", "t1"):     "ls:registry:{acme}:idx:state:PENDING:type:t1",
		a.Key("applied", "s1", "f1"): "ls:registry:{acme}:applied:s1:f1",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
	e := a.Entry("READY", "t1", time.Unix(0, 42), "f1")
	if e.Keys != [2]string{a.Index("READY", ""), a.Index("READY", "t1")} {
		t.Errorf("entry keys %v", e.Keys)
	}
	states := []string{"READY", "ERROR"}
	for _, c := range []struct {
		state, typ string
		want       []string
	}{
		{"", "", []string{a.Index("READY", ""), a.Index("ERROR", "")}},
		{"", "t1", []string{a.Index("READY", "t1"), a.Index("ERROR", "t1")}},
		{"ERROR", "", []string{a.Index("ERROR", "")}},
		{"ERROR", "t1", []string{a.Index("ERROR", "t1")}},
	} {
		if got := a.Indexes(states, c.state, c.typ); !slices.Equal(got, c.want) {
			t.Errorf("indexes of %q %q: %v, want %v", c.state, c.typ, got, c.want)
		}
	}
	if e.Member != "00000000000000000042/f1" {
		t.Errorf("member %q", e.Member)
	}
}

// TestIndexesAndPages writes ten resources through their entries, moves
// some to another state, removes one, and reads every filter page by page:
// those without a state merge the indexes of the states.
func TestIndexesAndPages(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	ctx := t.Context()
	a := keyspace.New(prefix, "test").Account("ga")
	ob := outbox.New(rdb, prefix, "test")
	commit := func(tx *outbox.Tx) {
		t.Helper()
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	}
	record := func(id string) string { return a.Key("rec", id) }
	decode := func(rev int64, data []byte) (string, error) {
		return string(data) + "@" + strconv.FormatInt(rev, 10), nil
	}
	var ids []string
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 10 {
		id := fmt.Sprintf("r%d", 9-i) // ids against create order: the time orders
		ids = append(ids, id)
		tx := ob.Tx().PutRecord(record(id), 1, []byte(id))
		a.Entry("A", "t", t0.Add(time.Duration(i)*time.Second), id).Add(tx)
		commit(tx)
	}
	// r8 and r6 move to state B; r5 is removed (its record stays: the
	// index decides what is listed).
	for _, i := range []int{1, 3} {
		created := t0.Add(time.Duration(i) * time.Second)
		tx := ob.Tx()
		a.Entry("B", "t", created, ids[i]).Move(tx, a.Entry("A", "t", created, ids[i]))
		commit(tx)
	}
	tx := ob.Tx()
	a.Entry("A", "t", t0.Add(4*time.Second), ids[4]).Remove(tx)
	commit(tx)

	states := []string{"A", "B", "C"}
	all := func(indexes []string, size int) []string {
		t.Helper()
		var out []string
		token := ""
		for range 20 {
			items, next, err := keyspace.List(ctx, rdb, indexes, size, token, record, decode)
			if err != nil {
				t.Fatal(err)
			}
			if len(items) > size {
				t.Fatalf("page of %d, size %d", len(items), size)
			}
			out = append(out, items...)
			if next == "" {
				return out
			}
			token = next
		}
		t.Fatal("no last page")
		return nil
	}
	want := func(ids ...string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, id+"@1")
		}
		return out
	}
	for _, c := range []struct {
		state, typ string
		want       []string
	}{
		{"", "", want("r9", "r8", "r7", "r6", "r4", "r3", "r2", "r1", "r0")},
		{"", "t", want("r9", "r8", "r7", "r6", "r4", "r3", "r2", "r1", "r0")},
		{"", "u", nil},
		{"A", "", want("r9", "r7", "r4", "r3", "r2", "r1", "r0")},
		{"B", "t", want("r8", "r6")},
		{"C", "", nil},
	} {
		for _, size := range []int{1, 2, 4, 100} {
			if got := all(a.Indexes(states, c.state, c.typ), size); !slices.Equal(got, c.want) {
				t.Errorf("state %q type %q by %d: %v, want %v", c.state, c.typ, size, got, c.want)
			}
		}
	}

	// A record deleted after the index named it is left out.
	commit(ob.Tx().Del(record("r9")))
	items, _, err := keyspace.List(ctx, rdb, a.Indexes(states, "", ""), 2, "", record, decode)
	if err != nil || !slices.Equal(items, want("r8")) {
		t.Errorf("after delete: %v, %v", items, err)
	}

	// A token that is not one of this list's is INVALID_ARGUMENT.
	if _, _, err := keyspace.Page(ctx, rdb, a.Indexes(states, "", ""), 2, "not-a-token"); apperr.ReasonOf(err) != apperr.InvalidArgument {
		t.Errorf("bad token: %v", err)
	}
}

// TestRetireIndexes: the indexes earlier versions also kept (idx:all,
// idx:type:<t>) go, in every global account of the context and nowhere
// else; a second pass finds the context marked and scans nothing.
func TestRetireIndexes(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	ctx := t.Context()
	st := keyspace.NewStore(rdb, prefix, "test")
	other := keyspace.New(prefix, "other").Account("ga1")
	retired, kept := []string{}, []string{}
	for _, ga := range []string{"ga1", "ga:2"} {
		a := st.Keys.Account(ga)
		retired = append(retired, a.Key("idx", "all"), a.Key("idx", "type", "t1"), a.Key("idx", "type", "t2"))
		kept = append(kept, a.Index("A", ""), a.Index("A", "t1"), a.Key("audit", "idx", "all"), a.Key("audit", "idx", "type", "x"))
	}
	kept = append(kept, other.Key("idx", "all"), st.Keys.Key("idx:all"))
	for _, k := range append(slices.Clone(retired), kept...) {
		rdb.ZAdd(ctx, k, redis.Z{Member: "m"})
	}
	n, err := st.RetireIndexes(ctx)
	if err != nil || n != len(retired) {
		t.Fatalf("removed %d, %v; want %d", n, err, len(retired))
	}
	if left := rdb.Exists(ctx, retired...).Val(); left != 0 {
		t.Errorf("%d retired indexes left", left)
	}
	if have := rdb.Exists(ctx, kept...).Val(); have != int64(len(kept)) {
		t.Errorf("%d of the %d other keys left", have, len(kept))
	}
	// Marked: a retired index written now (say, by a replica of an earlier
	// version) is not looked for again.
	rdb.ZAdd(ctx, retired[0], redis.Z{Member: "m"})
	if n, err := st.RetireIndexes(ctx); err != nil || n != 0 {
		t.Fatalf("second pass removed %d, %v", n, err)
	}
}
