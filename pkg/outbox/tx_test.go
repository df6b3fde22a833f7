package outbox_test

// The tests of tx.go: transactions, records and the small write ops.

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/eventctx"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

func TestTxCommitsStateAndEventAtomically(t *testing.T) {
	t.Parallel()
	ob, rdb, prefix := newOutbox(t)
	ctx := t.Context()
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

// TestCommitWritesTheContextsAttrs: Commit writes the extension attributes
// of its context into each event's envelope, in the outbox entry itself;
// with no actor in the context the service itself acts. A traceparent
// attribute of the context is not copied: only a span makes one.
func TestCommitWritesTheContextsAttrs(t *testing.T) {
	t.Parallel()
	rdb, prefix := testkit.Redis(t)
	ob := outbox.New(rdb, prefix, "formation")
	newMsg := func() cloudevent.Message {
		m, err := cloudevent.New(cloudevent.Spec{Context: "formation", Name: "formation.created"}, "ga", "globalAccounts/ga/formations/f", wrapperspb.String("x"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	ctx := eventctx.Reaction(t.Context(), "cause-1", "user:alice")
	ctx = eventctx.With(ctx, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	if err := ob.Tx().Emit(newMsg()).Emit(newMsg()).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ob.Tx().Emit(newMsg()).Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	entries := rdb.XRange(t.Context(), ob.Key(), "-", "+").Val()
	if len(entries) != 3 {
		t.Fatalf("%d entries, want 3", len(entries))
	}
	for i, e := range entries {
		ev, err := cloudevent.Decode([]byte(e.Values["b"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		want := cloudevent.Event{Actor: "user:alice", CausedBy: "cause-1"}
		if i == 2 {
			want = cloudevent.Event{Actor: "service:formation"}
		}
		if ev.Actor != want.Actor || ev.CausedBy != want.CausedBy {
			t.Errorf("entry %d: actor %q causedby %q, want %q %q", i, ev.Actor, ev.CausedBy, want.Actor, want.CausedBy)
		}
		// A traceparent names the commit's span; without a span in the
		// context, one that the context carries does not pass.
		if tp := cloudevent.TraceparentOf([]byte(e.Values["b"].(string))); tp != "" {
			t.Errorf("entry %d: traceparent %q without a span: %s", i, tp, e.Values["b"])
		}
	}
}

// A record is read back whole whatever its size, also after a shorter or
// longer write, and from the earlier form {rev, data} with all the data in
// one field; the hash stays a compact listpack when Redis keeps the default
// hash-max-listpack-value.
func TestRecordChunks(t *testing.T) {
	t.Parallel()
	ob, rdb, prefix := newOutbox(t)
	ctx := t.Context()
	k := prefix + ":rec"
	data := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + i%26)
		}
		return b
	}
	for rev, size := range []int{0, 1, outbox.RecordChunk, outbox.RecordChunk + 1, 300, 70, 1000, 5} {
		want := data(size)
		if err := ob.Tx().PutRecord(k, int64(rev+1), want).Commit(ctx); err != nil {
			t.Fatal(err)
		}
		gotRev, got, err := outbox.GetRecord(ctx, rdb, k)
		if err != nil || gotRev != int64(rev+1) || !bytes.Equal(got, want) {
			t.Fatalf("size %d: read rev %d, %d bytes (%v); want rev %d and the bytes written", size, gotRev, len(got), err, rev+1)
		}
	}
	if lim := rdb.ConfigGet(ctx, "hash-max-listpack-value").Val()["hash-max-listpack-value"]; lim == "64" {
		k2 := prefix + ":big"
		if err := ob.Tx().PutRecord(k2, 1, data(400)).Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if enc := rdb.ObjectEncoding(ctx, k2).Val(); enc != "listpack" {
			t.Errorf("a 400-byte record is a %s, want a listpack", enc)
		}
	}
	// The earlier form, and several records at once.
	old := prefix + ":old"
	rdb.HSet(ctx, old, "rev", 7, "data", data(500))
	revs, datas, err := outbox.GetRecords(ctx, rdb, []string{old, k, prefix + ":missing"})
	if err != nil {
		t.Fatal(err)
	}
	if revs[0] != 7 || !bytes.Equal(datas[0], data(500)) || revs[1] != 8 || !bytes.Equal(datas[1], data(5)) || revs[2] != 0 || datas[2] != nil {
		t.Errorf("GetRecords: revs %v, sizes %d %d %d", revs, len(datas[0]), len(datas[1]), len(datas[2]))
	}
	// A version from before chunks reads data alone: it must fail on a
	// chunked record, never read part of it.
	if d := rdb.HGet(ctx, k, "data").Val(); len(d) != 1 || d[0] != 0xff {
		t.Errorf("data of a chunked record is %q, want the one byte 0xff (no proto message)", d)
	}
	// Rewriting the earlier form keeps it readable.
	if err := ob.Tx().ExpectRevision(old, 7).PutRecord(old, 8, data(130)).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if rev, got, _ := outbox.GetRecord(ctx, rdb, old); rev != 8 || !bytes.Equal(got, data(130)) {
		t.Errorf("rewritten earlier form: rev %d, %d bytes", rev, len(got))
	}
	// A version from before chunks that writes a chunked record leaves the
	// chunks behind: its data is read, not them.
	rdb.HSet(ctx, old, "rev", 9, "data", data(90))
	if rev, got, _ := outbox.GetRecord(ctx, rdb, old); rev != 9 || !bytes.Equal(got, data(90)) {
		t.Errorf("earlier version's write over chunks: rev %d, %d bytes", rev, len(got))
	}
}

func TestExpireAtLeastAndHIncrBy(t *testing.T) {
	t.Parallel()
	ob, rdb, prefix := newOutbox(t)
	ctx := t.Context()
	k, h := prefix+":z", prefix+":h"
	now := time.Now()
	// A key without expiry gets one; a missing key stays missing.
	err := ob.Tx().ZAdd(k, 1, "a").ExpireAtLeast(k, now.Add(time.Hour)).
		ExpireAtLeast(prefix+":missing", now.Add(time.Hour)).HIncrBy(h, "rev", 1).HIncrBy(h, "rev", 2).Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, k).Val(); ttl < 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL %v, want about an hour", ttl)
	}
	if rdb.Exists(ctx, prefix+":missing").Val() != 0 {
		t.Fatal("ExpireAtLeast created a key")
	}
	if v := rdb.HGet(ctx, h, "rev").Val(); v != "3" {
		t.Fatalf("rev %s, want 3", v)
	}
	// Sooner never shortens; later extends.
	if err := ob.Tx().ExpireAtLeast(k, now.Add(time.Minute)).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, k).Val(); ttl < 59*time.Minute {
		t.Fatalf("TTL shortened to %v", ttl)
	}
	if err := ob.Tx().ExpireAtLeast(k, now.Add(2*time.Hour)).Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, k).Val(); ttl < 119*time.Minute {
		t.Fatalf("TTL %v, want about two hours", ttl)
	}
}

// TestExpectCountBelowCountsEverySet: the members of several sorted sets
// count together, from the minimum score, and a failure names the first
// set and writes nothing.
func TestExpectCountBelowCountsEverySet(t *testing.T) {
	t.Parallel()
	ob, rdb, prefix := newOutbox(t)
	ctx := t.Context()
	a, b, c := prefix+":{q}:a", prefix+":{q}:b", prefix+":{q}:c"
	if err := ob.Tx().ZAdd(a, 0, "1").ZAdd(a, 0, "2").ZAdd(b, 0, "3").ZAdd(b, -1, "old").Commit(ctx); err != nil {
		t.Fatal(err)
	}
	sets := []string{a, b, c}
	// Three members score at least 0: below 4 holds, below 3 does not.
	if err := ob.Tx().ExpectCountBelow(sets, 0, 4).ZAdd(c, 0, "4").Commit(ctx); err != nil {
		t.Fatalf("4 members, limit 4: %v", err)
	}
	err := ob.Tx().ExpectCountBelow(sets, 0, 4).ZAdd(c, 0, "5").Commit(ctx)
	if cf, ok := outbox.IsConflict(err); !ok || cf.Index != 0 || cf.Key != a {
		t.Fatalf("5th member: got %v, want a conflict on %s", err, a)
	}
	if n := rdb.ZCard(ctx, c).Val(); n != 1 {
		t.Fatalf("%s holds %d members after the refused step, want 1", c, n)
	}
	// One set alone, from a minimum score.
	if err := ob.Tx().ExpectCountBelow([]string{b}, -1, 2).Commit(ctx); err == nil {
		t.Fatal("two members from score -1 passed a limit of 2")
	}
}

// GetIndexed reads a hash's revision and the records an index names, in
// score order from the minimum given, a gone record as revision 0.
func TestGetIndexed(t *testing.T) {
	t.Parallel()
	ob, rdb, prefix := newOutbox(t)
	ctx := t.Context()
	revKey, index, recs := prefix+":sys", prefix+":idx", prefix+":rec:"
	empty, err := outbox.GetIndexed(ctx, rdb, revKey, index, "-inf", recs)
	if err != nil || empty.Rev != 0 || len(empty.Members) != 0 {
		t.Fatalf("nothing stored: %+v, %v", empty, err)
	}
	long := bytes.Repeat([]byte("x"), 3*outbox.RecordChunk+5)
	tx := ob.Tx().HIncrBy(revKey, "rev", 3).
		PutRecord(recs+"a", 1, []byte("first")).ZAdd(index, 10, "a").
		PutRecord(recs+"b", 2, long).ZAdd(index, 20, "b").
		ZAdd(index, 30, "gone").
		PutRecord(recs+"old", 1, []byte("expired")).ZAdd(index, 5, "old")
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := outbox.GetIndexed(ctx, rdb, revKey, index, "(5", recs)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rev != 3 || len(got.Members) != 3 || got.Members[0] != "a" || got.Members[1] != "b" || got.Members[2] != "gone" {
		t.Fatalf("got rev %d, members %v; want 3, [a b gone]", got.Rev, got.Members)
	}
	if got.Revs[0] != 1 || string(got.Datas[0]) != "first" || got.Revs[1] != 2 || !bytes.Equal(got.Datas[1], long) || got.Revs[2] != 0 || got.Datas[2] != nil {
		t.Errorf("records: revs %v, sizes %d %d %d", got.Revs, len(got.Datas[0]), len(got.Datas[1]), len(got.Datas[2]))
	}
}
