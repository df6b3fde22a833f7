package outbox_test

import (
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestTxCommitsStateAndEventAtomically(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	ctx := t.Context()
	ob := outbox.New(rdb, prefix, "registry")
	rec := prefix + ":registry:{ga}:system:a"
	idx := prefix + ":registry:{ga}:name:a"
	msg, err := cloudevent.New(cloudevent.Spec{Context: "registry", Name: "system.created"}, "ga", "globalAccounts/ga/systems/a", wrapperspb.String("x"), time.Now())
	if err != nil {
		t.Fatal(err)
	}

	err = ob.Tx().ExpectRevision(rec, 0).ExpectAbsentOr(idx, "a").
		PutRecord(rec, 1, []byte("v1")).Set(idx, "a", 0).Emit(msg).Commit(ctx)
	if err != nil {
		t.Fatalf("first commit: %v", err)
	}
	// A second create must fail on the revision and write nothing.
	err = ob.Tx().ExpectRevision(rec, 0).PutRecord(rec, 1, []byte("v2")).Emit(msg).Commit(ctx)
	c, ok := outbox.IsConflict(err)
	if !ok || c.Index != 0 || c.Key != rec {
		t.Fatalf("second commit: got %v, want conflict on %s", err, rec)
	}
	rev, data, err := outbox.GetRecord(ctx, rdb, rec)
	if err != nil || rev != 1 || string(data) != "v1" {
		t.Fatalf("record = %d %q %v, want 1 v1", rev, data, err)
	}
	if n := rdb.XLen(ctx, ob.Key()).Val(); n != 1 {
		t.Fatalf("outbox holds %d entries, want 1", n)
	}
	// The index that points at another resource refuses.
	err = ob.Tx().ExpectRevision(rec, 1).ExpectAbsentOr(idx, "b").PutRecord(rec, 2, []byte("v2")).Commit(ctx)
	if c, ok := outbox.IsConflict(err); !ok || c.Index != 1 {
		t.Fatalf("index commit: got %v, want conflict 1", err)
	}
	// Missing records read as revision 0.
	revs, datas, err := outbox.GetRecords(ctx, rdb, []string{rec, rec + "x"})
	if err != nil || revs[0] != 1 || revs[1] != 0 || datas[1] != nil {
		t.Fatalf("GetRecords = %v %q %v", revs, datas, err)
	}
}
